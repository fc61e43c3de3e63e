"""Environment speed against the engine floor, in one process and one run.

    python benchmarks/env.py [--steps 2000] [--repeats 5]

Prints, for the ensemble scenario with random actions:
* parallel steps per second and a per-step breakdown (action mapping, code formatting,
  engine render, features, rewards, the rest of the PettingZoo bookkeeping);
* the floor: one bare engine rendering the merged patch for the same frames, in
  step-sized chunks with one code update per step, which Glicol parses
  (``fast_updates=False``: the engine as it comes);
* the ratio env / floor, for the default settings (engines rendered on one thread each,
  the default, and on one thread) and for ``criterion="mse"`` with the waveform
  observation (targets: at most 2x), in wall-clock time and in CPU time;
* the render session alone (no features, no rewards) against the same floor, with
  two tracks per engine (the default) and with one engine per track, and the floor
  engine with fast updates (numbers sent as messages, as the env's engines do);
* single-step sound-matching evaluations per second on ``kick``.

Ratios are computed within one run (medians of repeats), because the machine is shared.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import glicol_wasm
import raveforce_mae
from raveforce_mae.core import RenderSession


def _random_actions(env, rng, steps):
    dims = {a: env.action_space(a).shape for a in env.possible_agents}
    return [
        {a: rng.uniform(-1, 1, dims[a]).astype(np.float32) for a in env.possible_agents} for _ in range(steps)
    ]


def _episodes(env, actions):
    n = env.scenario.n_steps
    return [actions[i : i + n] for i in range(0, len(actions), n)]


def time_env_episode(env, episode) -> tuple[float, float]:
    """Seconds (wall clock, and CPU time of every thread) for the env to reset and play one episode."""
    t0, c0 = time.perf_counter(), time.process_time()
    env.reset()
    for acts in episode:
        env.step(acts)
    return time.perf_counter() - t0, time.process_time() - c0


def floor_codes(env, episode) -> list[str]:
    """The merged patch of every step, as the floor renders it."""
    sc = env.scenario
    codes = []
    for acts in episode:
        values = {t.name: t.values(np.clip(acts[t.agent][: len(t.free)], -1, 1)) for t in sc.tracks}
        codes.append(sc.patch(values))
    return codes


def time_floor_episode(env, eng, codes) -> float:
    """Seconds for one bare engine to render the merged patch of one episode."""
    sc = env.scenario
    t0 = time.perf_counter()
    eng.reset()
    for i, code in enumerate(codes):
        a, b = sc.bounds[i]
        eng.set_code(code)
        eng.render(b - a)
    return time.perf_counter() - t0


def breakdown(env, actions) -> dict[str, float]:
    """Mean microseconds per step in each phase, timing the env's own components."""
    sc = env.scenario
    env.reset(seed=0)
    task = env.task
    t = dict.fromkeys(["action mapping", "code formatting", "engine render", "features", "rewards"], 0.0)
    n = sc.n_steps
    for i, acts in enumerate(actions):
        k = i % n
        if k == 0:
            task.reset()
        t0 = time.perf_counter()
        values, _ = env._map_actions(acts)
        t1 = time.perf_counter()
        task.session.code(values)  # the session's compiled formatters
        t2 = time.perf_counter()
        audio = task.render(k, values)
        t3 = time.perf_counter()
        analysis = task.analyse(audio)
        task.observe(k, analysis)
        t4 = time.perf_counter()
        task.reward(k, analysis)
        t5 = time.perf_counter()
        t["action mapping"] += t1 - t0
        t["code formatting"] += t2 - t1
        t["engine render"] += (t3 - t2) - (t2 - t1)  # session.step formats the code again
        t["features"] += t4 - t3
        t["rewards"] += t5 - t4
    return {k: v / len(actions) * 1e6 for k, v in t.items()}


def compare(label, env, actions, repeats):
    """Env and floor, alternating episode by episode so that both see the same machine."""
    sc = env.scenario
    episodes = _episodes(env, actions)
    codes = [floor_codes(env, ep) for ep in episodes]
    eng = glicol_wasm.Engine(sc.sample_rate, bpm=sc.bpm, seed=sc.seed, fast_updates=False)
    env.reset(seed=0)
    e, c, f = [], [], []
    for _ in range(repeats):
        te = tc = tf = 0.0
        for ep, cs in zip(episodes, codes, strict=True):
            tf += time_floor_episode(env, eng, cs)
            wall, cpu = time_env_episode(env, ep)
            te += wall
            tc += cpu
        e.append(te)
        c.append(tc)
        f.append(tf)
    me, mf = statistics.median(e), statistics.median(f)
    ratio = statistics.median(x / y for x, y in zip(e, f, strict=True))
    cpu_ratio = statistics.median(x / y for x, y in zip(c, f, strict=True))
    return label, len(actions) / me, me / len(actions) * 1e6, mf / len(actions) * 1e6, ratio, cpu_ratio


def time_session_episode(session, values) -> float:
    """Seconds for a render session to reset and render one episode of values."""
    t0 = time.perf_counter()
    session.reset()
    for i, v in enumerate(values):
        session.step(i, v)
    return time.perf_counter() - t0


def compare_sessions(env, actions, repeats):
    """Render session packed and unpacked against the floor, alternating episode by episode."""
    sc = env.scenario
    episodes = _episodes(env, actions)
    codes = [floor_codes(env, ep) for ep in episodes]
    values = [
        [{t.name: t.values(np.clip(acts[t.agent][: len(t.free)], -1, 1)) for t in sc.tracks} for acts in ep]
        for ep in episodes
    ]
    eng = glicol_wasm.Engine(sc.sample_rate, bpm=sc.bpm, seed=sc.seed, fast_updates=False)
    fast = glicol_wasm.Engine(sc.sample_rate, bpm=sc.bpm, seed=sc.seed, fast_updates=True)
    # one thread each: this compares the engines' work, not the threads
    sessions = {
        True: RenderSession(sc, pack=True, threads=1),
        False: RenderSession(sc, pack=False, threads=1),
    }
    times: dict[str, list[float]] = {"floor": [], "fast floor": [], "packed": [], "unpacked": []}
    for _ in range(repeats):
        t = dict.fromkeys(times, 0.0)
        for cs, vs in zip(codes, values, strict=True):
            t["floor"] += time_floor_episode(env, eng, cs)
            t["fast floor"] += time_floor_episode(env, fast, cs)
            t["packed"] += time_session_episode(sessions[True], vs)
            t["unpacked"] += time_session_episode(sessions[False], vs)
        for k, v in t.items():
            times[k].append(v)
    per = {k: statistics.median(v) / len(actions) * 1e6 for k, v in times.items()}
    ratio = {
        k: statistics.median(x / y for x, y in zip(times[k], times["floor"], strict=True))
        for k in ("fast floor", "packed", "unpacked")
    }
    return per, ratio, sessions[True].packing


def thread_profile(env, actions) -> dict[str, float]:
    """Median microseconds of each engine's render, one after the other and on two threads at
    once, and how long after a step begins the pool thread starts its engine."""
    sc = env.scenario
    episodes = _episodes(env, actions)
    values = [
        [{t.name: t.values(np.clip(acts[t.agent][: len(t.free)], -1, 1)) for t in sc.tracks} for acts in ep]
        for ep in episodes
    ]
    out: dict[str, float] = {}
    for threads in (1, 2):
        session = RenderSession(sc, threads=threads)
        runs: dict[int, list[float]] = {}
        starts: list[float] = []
        step_start = [0.0]
        real = session._render_unit

        def timed(u, code, n, real=real, runs=runs, starts=starts, step_start=step_start, threads=threads):
            t0 = time.perf_counter()
            if u == 1 and threads == 2:
                starts.append(t0 - step_start[0])
            res = real(u, code, n)
            runs.setdefault(u, []).append(time.perf_counter() - t0)
            return res

        session._render_unit = timed
        for ep in values:
            session.reset()
            for i, v in enumerate(ep):
                step_start[0] = time.perf_counter()
                session.step(i, v)
        for u, ts in runs.items():
            out[f"{threads}:{u}"] = statistics.median(ts) * 1e6
        if starts:
            out["start"] = statistics.median(starts) * 1e6
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=1600, help="rounded down to whole episodes")
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args(argv)
    rng = np.random.default_rng(0)

    rows = []
    env = raveforce_mae.parallel_env("ensemble")
    n = env.scenario.n_steps
    acts = _random_actions(env, rng, max(n, args.steps // n * n))
    compare("warm-up", env, acts[:64], 1)
    rows.append(compare("ensemble, default reward + obs", env, acts, args.repeats))
    bd = breakdown(env, acts)
    env_one = raveforce_mae.parallel_env("ensemble")
    env_one.task.render_threads = 1
    compare("warm-up", env_one, acts[:64], 1)
    rows.append(compare("  the same, 1 render thread", env_one, acts, args.repeats))
    env_mse = raveforce_mae.parallel_env(
        "ensemble", criterion="mse", observation="waveform", agent_indicator=False
    )
    compare("warm-up", env_mse, acts[:64], 1)
    rows.append(compare("ensemble, mse + waveform obs", env_mse, acts, args.repeats))

    tp = thread_profile(env, acts) if len(env.task.session.packing) == 2 else None
    compare_sessions(env, acts[:64], 1)  # warm-up
    s_per, s_ratio, packing = compare_sessions(env, acts, args.repeats)

    sc = env.scenario
    print(
        f"\nensemble: {len(sc.tracks)} tracks, {sc.step_seconds:g} s steps "
        f"({sc.bounds[0][1] - sc.bounds[0][0]} frames), {args.steps} steps, median of {args.repeats}"
    )
    print(
        f"{'configuration':<34}{'steps/s':>10}{'env us/step':>14}"
        f"{'floor us/step':>15}{'env/floor':>11}{'cpu/floor':>11}{'target':>8}"
    )
    for (label, sps, eus, fus, ratio, cpu), target in zip(rows, (2.0, 2.0, 2.0), strict=True):
        ok = "ok" if ratio <= target else "MISSED"
        print(
            f"{label:<34}{sps:>10.0f}{eus:>14.0f}{fus:>15.0f}{ratio:>10.2f}x{cpu:>10.2f}x"
            f" {'<=' + str(target):>6} {ok}"
        )
    print(
        f"(env/floor: wall clock; cpu/floor: the env's CPU time over all its threads. The env renders its "
        f"{len(env.task.session.packing)} engines on {env.task.session.threads} threads.)"
    )
    print(
        f"\nrender session alone (no features, no rewards, one thread), us/step: floor {s_per['floor']:.0f}; "
        f"{len(packing)} engines {packing}: {s_per['packed']:.0f} ({s_ratio['packed']:.2f}x the floor); "
        f"one engine per track: {s_per['unpacked']:.0f} ({s_ratio['unpacked']:.2f}x); the floor's engine "
        f"with fast updates: {s_per['fast floor']:.0f} ({s_ratio['fast floor']:.2f}x)"
    )
    if tp is not None:
        names = [" + ".join(u) for u in env.task.session.packing]
        print(
            f"each engine's render, median us: one after the other {names[0]} {tp['1:0']:.0f}, "
            f"{names[1]} {tp['1:1']:.0f}; on two threads at once {tp['2:0']:.0f} and {tp['2:1']:.0f} "
            f"(the second thread starts {tp['start']:.0f} us after the step begins)"
        )
    total = sum(bd.values())
    step_us = rows[0][2]
    print(
        f"\nper-step breakdown (default settings, {env.task.session.threads} render threads), microseconds:"
    )
    for k, v in bd.items():
        print(f"  {k:<18}{v:8.1f}")
    print(
        f"  {'the rest':<18}{max(0.0, step_us - total):8.1f}   (PettingZoo dicts, infos, observation packing)"
    )

    # single-step sound matching on kick
    kick = raveforce_mae.parallel_env("kick")
    a = kick.possible_agents[0]
    ka = _random_actions(kick, rng, 500)
    for acts in ka[:20]:  # warm up
        kick.reset()
        kick.step(acts)
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        for acts in ka:
            kick.reset()
            kick.step(acts)
        times.append(time.perf_counter() - t0)
    per = statistics.median(times) / len(ka)
    print(
        f"\nkick: single-step sound-matching evaluations (reset + step + reward) per second: "
        f"{1 / per:,.0f}  ({kick.scenario.step_seconds:g} s of audio each; agent {a})"
    )
    print("      a torchsynth-based peer reports about 1,000 per second on a CPU")


if __name__ == "__main__":
    main()
