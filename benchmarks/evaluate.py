"""Sound-matching evaluations per second: the env, the batch API and the bare-engine floor.

    python benchmarks/evaluate.py [--scenario kick] [--n 2000] [--repeats 3]

For the same random candidates (normalised actions for one step) it times, in one run:

* ``env``: ``reset()`` + ``step()`` of the parallel env per candidate;
* ``Evaluator, 1 core``: :class:`raveforce_mae.Evaluator` in this process;
* ``Evaluator, all cores``: the same with one worker process per core (the pool is
  started before timing);
* ``floor``: a bare engine per candidate -- a fresh instance, the candidate's code,
  one render of the step -- with no reward at all;
* ``floor, all cores``: the same bare-engine loop split over one worker process per
  core: how well this machine runs that work in parallel at all (two vCPUs of a
  shared host are not always two free cores), the ceiling for the Evaluator's
  all-cores speed-up.

Every rate is also printed as a ratio to the floor of the same run (medians of the
repeats), because the machine may be shared and absolute numbers move.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import time

import numpy as np

import raveforce_mae
from raveforce_mae.core import new_engine


def time_env(name: str, x: np.ndarray) -> float:
    env = raveforce_mae.parallel_env(name)
    agents = env.possible_agents
    t0 = time.perf_counter()
    for cand in x:
        env.reset()
        env.step({a: cand[i] for i, a in enumerate(agents)})
    return time.perf_counter() - t0


def time_evaluator(ev: raveforce_mae.Evaluator, x: np.ndarray) -> float:
    t0 = time.perf_counter()
    ev.evaluate(x)
    return time.perf_counter() - t0


def time_floor(sc: raveforce_mae.Scenario, x: np.ndarray) -> float:
    codes = _floor_codes(sc, x)
    a, b = sc.bounds[0]
    t0 = time.perf_counter()
    for code in codes:
        eng = new_engine(sc.sample_rate, sc.bpm, sc.seed, sc.samples)
        eng.set_code(code)
        eng.render(b - a)
    return time.perf_counter() - t0


def _floor_codes(sc: raveforce_mae.Scenario, x: np.ndarray) -> list[str]:
    codes = []
    for cand in x:
        values = {t.name: t.values(np.clip(cand[i][: len(t.free)], -1, 1)) for i, t in enumerate(sc.tracks)}
        codes.append(sc.patch(values))
    return codes


def _floor_worker(args: tuple[raveforce_mae.Scenario, list[str]]) -> int:
    sc, codes = args
    a, b = sc.bounds[0]
    for code in codes:
        eng = new_engine(sc.sample_rate, sc.bpm, sc.seed, sc.samples)
        eng.set_code(code)
        eng.render(b - a)
    return len(codes)


def time_floor_pool(pool, sc: raveforce_mae.Scenario, x: np.ndarray, cores: int) -> float:
    codes = _floor_codes(sc, x)
    parts = [(sc, list(c)) for c in np.array_split(np.array(codes, dtype=object), 2 * cores) if len(c)]
    t0 = time.perf_counter()
    pool.map(_floor_worker, parts)
    return time.perf_counter() - t0


def time_restores(ev: raveforce_mae.Evaluator, x: np.ndarray) -> tuple[float, float]:
    """Median microseconds to restore the engine between renders: a copy of the whole
    snapshot against :meth:`glicol_wasm.Engine.restore` (which leaves out the empty stack
    and the output buffer), alternating candidate by candidate."""
    ev.evaluate(x[:8])  # makes the engine pair of a one-track scenario
    twin = ev._twin
    session, state = (twin[0], twin[1]) if twin else (ev._session, ev._fresh)
    eng = session._engines[0]
    snap = state.engines[0]
    full, live = [], []
    for i, cand in enumerate(x[:512]):
        values = ev._values(cand)
        if twin:  # the track on both channels
            values = {twin[2]: values[twin[2]], twin[3]: values[twin[2]]}
        session.restore(state)
        session.step(0, values)
        t0 = time.perf_counter()
        if i % 2:
            eng._inst.view()[: snap._memory.size] = snap._memory
            full.append(time.perf_counter() - t0)
        else:
            eng.restore(snap)
            live.append(time.perf_counter() - t0)
    return statistics.median(full) * 1e6, statistics.median(live) * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scenario", default="kick")
    ap.add_argument("--n", type=int, default=2000, help="candidates per measurement")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    cores = multiprocessing.cpu_count()
    one = raveforce_mae.Evaluator(args.scenario)
    many = raveforce_mae.Evaluator(args.scenario, workers=cores)
    sc = one.scenario
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (args.n, len(one.agents), one.action_dim)).astype(np.float32)
    many.evaluate(x[: 4 * cores])  # start the pool
    one.evaluate(x[:8])
    times: dict[str, list[float]] = {"env (reset + step)": [], "Evaluator, 1 core": [], "floor": []}
    times[f"Evaluator, {cores} cores"] = []
    times[f"floor, {cores} cores"] = []
    floor_pool = multiprocessing.get_context("spawn").Pool(cores)
    time_floor_pool(floor_pool, sc, x[: 4 * cores], cores)  # start the pool
    for _ in range(args.repeats):
        times["floor"].append(time_floor(sc, x))
        times["env (reset + step)"].append(time_env(args.scenario, x))
        times["Evaluator, 1 core"].append(time_evaluator(one, x))
        times[f"Evaluator, {cores} cores"].append(time_evaluator(many, x))
        times[f"floor, {cores} cores"].append(time_floor_pool(floor_pool, sc, x, cores))
    many.close()
    floor_pool.close()
    rate = {k: args.n / statistics.median(v) for k, v in times.items()}
    print(f"{args.scenario}: {args.n} candidates, criteria {dict(sc.criteria)!r}, median of {args.repeats}")
    print(f"{'path':<24} {'evaluations/s':>14} {'x floor':>8}")
    for k, r in rate.items():
        print(f"{k:<24} {r:>14.0f} {r / rate['floor']:>8.2f}")
    print(f"batched features: {one.batch_features}")
    full, live = time_restores(one, x)
    print(
        f"engine restore between renders, median: whole snapshot copied {full:.0f} us, "
        f"Engine.restore {live:.0f} us ({full / live:.1f}x less)"
    )
    ev_gain = rate[f"Evaluator, {cores} cores"] / rate["Evaluator, 1 core"]
    floor_gain = rate[f"floor, {cores} cores"] / rate["floor"]
    print(
        f"{cores} cores against 1: Evaluator {ev_gain:.2f}x, floor {floor_gain:.2f}x "
        f"(the same bare-engine work: this machine's parallel ceiling)"
    )


if __name__ == "__main__":
    main()
