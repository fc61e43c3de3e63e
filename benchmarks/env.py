"""Environment speed against the engine floor, in one process and one run.

    python benchmarks/env.py [--steps 2000] [--repeats 5]

Prints, for the ensemble scenario with random actions:
* parallel steps per second and a per-step breakdown (action mapping, code formatting,
  engine render, features, rewards, the rest of the PettingZoo bookkeeping);
* the floor: one bare engine rendering the merged patch for the same frames, in
  step-sized chunks with one code update per step;
* the ratio env / floor, for the default settings and for ``criterion="mse"`` with
  the waveform observation (targets: at most 3x and 2x);
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


def _random_actions(env, rng, steps):
    dims = {a: env.action_space(a).shape for a in env.possible_agents}
    return [
        {a: rng.uniform(-1, 1, dims[a]).astype(np.float32) for a in env.possible_agents} for _ in range(steps)
    ]


def run_env(env, actions) -> float:
    """Seconds to play ``len(actions)`` steps (resetting at episode ends)."""
    env.reset(seed=0)
    t0 = time.perf_counter()
    for acts in actions:
        if not env.agents:
            env.reset()
        env.step(acts)
    return time.perf_counter() - t0


def run_floor(env, actions) -> float:
    """Seconds for a bare engine to render the merged patch for the same steps."""
    sc = env.scenario
    codes = []
    for acts in actions:
        values = {t.name: t.values(np.clip(acts[t.agent][: len(t.free)], -1, 1)) for t in sc.tracks}
        codes.append(sc.patch(values))
    n = sc.n_steps
    eng = glicol_wasm.Engine(sc.sample_rate, bpm=sc.bpm)
    t0 = time.perf_counter()
    for i, code in enumerate(codes):
        if i % n == 0 and i:
            eng.reset()
        a, b = sc.bounds[i % n]
        eng.set_code(code)
        eng.render(b - a)
    return time.perf_counter() - t0


def breakdown(env, actions) -> dict[str, float]:
    """Mean microseconds per step in each phase, timing the env's own components."""
    sc = env.scenario
    env.reset(seed=0)
    sess = env._session
    t = dict.fromkeys(["action mapping", "code formatting", "engine render", "features", "rewards"], 0.0)
    n = sc.n_steps
    for i, acts in enumerate(actions):
        k = i % n
        if k == 0:
            sess.reset()
            env._observer.reset()
        t0 = time.perf_counter()
        values, _ = env._map_actions(acts)
        t1 = time.perf_counter()
        for tr in sc.tracks:
            tr.code(values[tr.name])
        t2 = time.perf_counter()
        audio = sess.step(k, values)
        t3 = time.perf_counter()
        env._observer.observe(k, audio)
        t4 = time.perf_counter()
        env._scorer.score(k, audio)
        t5 = time.perf_counter()
        t["action mapping"] += t1 - t0
        t["code formatting"] += t2 - t1
        t["engine render"] += (t3 - t2) - (t2 - t1)  # session.step formats the code again
        t["features"] += t4 - t3
        t["rewards"] += t5 - t4
    return {k: v / len(actions) * 1e6 for k, v in t.items()}


def compare(label, env, actions, repeats):
    e, f = [], []
    for _ in range(repeats):
        f.append(run_floor(env, actions))
        e.append(run_env(env, actions))
    me, mf = statistics.median(e), statistics.median(f)
    return label, len(actions) / me, me / len(actions) * 1e6, mf / len(actions) * 1e6, me / mf


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=1600)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args(argv)
    rng = np.random.default_rng(0)

    rows = []
    env = raveforce_mae.parallel_env("ensemble")
    acts = _random_actions(env, rng, args.steps)
    run_env(env, acts[:64])  # warm up
    rows.append(compare("ensemble, default reward + obs", env, acts, args.repeats))
    bd = breakdown(env, acts)
    env_mse = raveforce_mae.parallel_env(
        "ensemble", criterion="mse", observation="waveform", agent_indicator=False
    )
    run_env(env_mse, acts[:64])
    rows.append(compare("ensemble, mse + waveform obs", env_mse, acts, args.repeats))

    sc = env.scenario
    print(
        f"\nensemble: {len(sc.tracks)} tracks, {sc.step_seconds:g} s steps "
        f"({sc.bounds[0][1] - sc.bounds[0][0]} frames), {args.steps} steps, median of {args.repeats}"
    )
    print(
        f"{'configuration':<34}{'steps/s':>10}{'env us/step':>14}"
        f"{'floor us/step':>15}{'env/floor':>11}{'target':>8}"
    )
    for (label, sps, eus, fus, ratio), target in zip(rows, (3.0, 2.0), strict=True):
        ok = "ok" if ratio <= target else "MISSED"
        print(f"{label:<34}{sps:>10.0f}{eus:>14.0f}{fus:>15.0f}{ratio:>10.2f}x {'<=' + str(target):>6} {ok}")
    total = sum(bd.values())
    step_us = rows[0][2]
    print("\nper-step breakdown (default settings), microseconds:")
    for k, v in bd.items():
        print(f"  {k:<18}{v:8.1f}")
    print(
        f"  {'the rest':<18}{max(0.0, step_us - total):8.1f}   (PettingZoo dicts, infos, observation packing)"
    )

    # single-step sound matching on kick
    kick = raveforce_mae.parallel_env("kick")
    a = kick.possible_agents[0]
    ka = _random_actions(kick, rng, 500)
    run_env(kick, ka[:20])
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
