"""Soak test: a long run of the ensemble env, watching memory and reproducibility.

    python benchmarks/soak.py --steps 100000 [--scenario ensemble] [--json out.json]

Plays ``--steps`` parallel steps with random actions (a new episode, and a new reset,
every ``n_steps``), and prints a table sampled every ``--sample-every`` steps:

* process RSS (``/proc/self/statm``) and peak RSS;
* the wasm linear memory of the env's engines (one instance per track);
* live Python objects (``gc.get_objects``), a cheap proxy for Python-side leaks.

Reproducibility: at fixed points of the run (the first episode boundary at or after
1% of the steps, then every 10%, and at or after 99%) the script plays a *probe*
episode: ``reset(seed=PROBE_SEED)`` and actions drawn from a generator seeded with
``PROBE_SEED``. Every probe's rewards, observations and mix audio must be bit-identical
to the first probe's. For ``--steps 100000`` the first probe is at step 1,000 and the
last at step 99,000.

Checks (exit status 1 if one fails, with the reason):

* every reward and observation is finite;
* all probes are bit-identical;
* RSS growth after warm-up (from the first probe to the end) is at most
  ``--max-rss-growth-mib`` (default 48 MiB, see docs/robustness.md);
* no engine's linear memory exceeds ``--max-wasm-mib`` (default 8 MiB).

Not a CI test: 100,000 ensemble steps take about 20-60 minutes on a shared 2-core
machine. Run it with ``nice``.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import raveforce_mae  # noqa: E402

PROBE_SEED = 12345
MIB = 1 << 20


def rss_bytes() -> int:
    """Current resident set size of this process."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_rss_bytes() -> int:
    """Peak resident set size of this process (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def wasm_bytes(env) -> list[int]:
    """Linear-memory size of each engine of the env."""
    session = env.task.session
    if session is None:
        return []
    return session.engine_memory()


def play_episode(env, seed: int, dims: dict[str, tuple[int, ...]], spread: float = 1.0):
    """One episode; returns (rewards (steps, agents), obs digest, mix digest, n_steps, nonfinite)."""
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    h_obs = hashlib.sha256()
    rewards = []
    bad = 0
    for a in env.possible_agents:
        h_obs.update(obs[a].tobytes())
    while env.agents:
        acts = {a: (rng.uniform(-spread, spread, dims[a])).astype(np.float32) for a in env.agents}
        obs, rew, _, _, infos = env.step(acts)
        row = np.array([rew[a] for a in env.possible_agents], dtype=np.float64)
        bad += int(not np.isfinite(row).all())
        for a in env.possible_agents:
            o = obs[a]
            bad += int(not np.isfinite(o).all())
            h_obs.update(o.tobytes())
            if "engine_error" in infos.get(a, {}):
                bad += 1
        rewards.append(row)
    mix = env.audio()["mix"]
    return (
        np.stack(rewards),
        h_obs.hexdigest(),
        hashlib.sha256(mix.tobytes()).hexdigest(),
        len(rewards),
        bad,
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    ap.add_argument("--steps", type=int, default=100_000, help="parallel steps in total")
    ap.add_argument("--scenario", default="ensemble", help="built-in scenario name or TOML path")
    ap.add_argument("--sample-every", type=int, default=None, help="steps between samples (default steps/20)")
    ap.add_argument("--max-rss-growth-mib", type=float, default=48.0, help="allowed RSS growth after warm-up")
    ap.add_argument("--max-wasm-mib", type=float, default=8.0, help="allowed linear memory per engine")
    ap.add_argument("--json", type=Path, default=None, help="also write the samples and verdict here")
    ap.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bars (off anyway when stderr is not a terminal)",
    )
    args = ap.parse_args(argv)

    env = raveforce_mae.parallel_env(args.scenario)
    dims = {a: env.action_space(a).shape for a in env.possible_agents}
    n_ep = env.scenario.n_steps
    total = args.steps
    every = args.sample_every or max(n_ep, total // 20)
    probe_at = sorted(
        {max(n_ep, total // 100)} | {total * k // 10 for k in range(1, 10)} | {total * 99 // 100}
    )

    samples = []
    probes: list[tuple[int, np.ndarray, str, str]] = []
    failures: list[str] = []
    nonfinite = 0
    step = 0
    episodes = 0
    next_sample = 0
    warm_rss = None
    t0 = time.perf_counter()
    header = (
        f"{'step':>8} {'episodes':>8} {'elapsed s':>9} {'steps/s':>8} {'RSS MiB':>8} {'peak MiB':>8} "
        f"{'wasm MiB':>9} {'py objects':>10}"
    )
    print(f"soak: scenario {args.scenario!r}, {total} steps, {n_ep} steps per episode, probes at {probe_at}")
    print(header)
    print("-" * len(header))

    def sample() -> None:
        gc.collect()
        el = time.perf_counter() - t0
        w = wasm_bytes(env)
        row = {
            "step": step,
            "episodes": episodes,
            "elapsed_s": round(el, 1),
            "steps_per_s": round(step / el, 1) if el > 0 else 0.0,
            "rss_mib": round(rss_bytes() / MIB, 2),
            "peak_rss_mib": round(peak_rss_bytes() / MIB, 2),
            "wasm_mib": round(sum(w) / MIB, 2),
            "wasm_max_engine_mib": round(max(w, default=0) / MIB, 2),
            "py_objects": len(gc.get_objects()),
        }
        samples.append(row)
        print(
            f"{row['step']:>8} {row['episodes']:>8} {row['elapsed_s']:>9} {row['steps_per_s']:>8} "
            f"{row['rss_mib']:>8} {row['peak_rss_mib']:>8} {row['wasm_mib']:>9} {row['py_objects']:>10}",
            flush=True,
        )
        if max(w, default=0) > args.max_wasm_mib * MIB:
            failures.append(f"an engine's linear memory is {max(w) / MIB:.2f} MiB > {args.max_wasm_mib} MiB")

    from tqdm.auto import tqdm

    # the bar goes to stderr, the table to stdout; a bar line between table rows is harmless
    bar = tqdm(total=total, desc="soak", unit="step", disable=True if args.no_progress else None)
    while step < total or probe_at:
        if probe_at and (step >= probe_at[0] or step >= total):
            while probe_at and step >= probe_at[0]:
                probe_at.pop(0)
            r, ho, hm, n, bad = play_episode(env, PROBE_SEED, dims)
            nonfinite += bad
            probes.append((step, r, ho, hm))
            same = np.array_equal(r, probes[0][1]) and (ho, hm) == probes[0][2:]
            print(
                f"  probe at step {step}: reward sum {r.sum():.12f}, "
                f"{'identical to the first probe' if same else 'DIFFERS from the first probe'}",
                flush=True,
            )
            if warm_rss is None:
                gc.collect()
                warm_rss = rss_bytes()
            step += n
            episodes += 1
        else:
            # ordinary episode: new seed each time, and 1 in 8 episodes with
            # out-of-range actions (exercising the clipping path)
            spread = 1.5 if episodes % 8 == 7 else 1.0
            _, _, _, n, bad = play_episode(env, episodes, dims, spread)
            nonfinite += bad
            step += n
            episodes += 1
        bar.update(min(step, total) - bar.n)
        if step >= next_sample:
            sample()
            next_sample += every
    bar.close()
    sample()
    elapsed = time.perf_counter() - t0

    # verdict
    if nonfinite:
        failures.append(f"{nonfinite} non-finite rewards/observations or engine errors")
    first = probes[0] if probes else None
    probe_rows = []
    for at, r, ho, hm in probes:
        same = first is not None and np.array_equal(r, first[1]) and ho == first[2] and hm == first[3]
        diff = float(np.max(np.abs(r - first[1]))) if first is not None else 0.0
        probe_rows.append(
            {
                "step": at,
                "identical": bool(same),
                "max_reward_diff": diff,
                "reward_sum": float(r.sum()),
            }
        )
        if not same:
            failures.append(
                f"probe at step {at} differs from the probe at step {first[0]} (max reward diff {diff:g})"
            )
    end_rss = samples[-1]["rss_mib"] * MIB
    growth = (end_rss - warm_rss) / MIB if warm_rss is not None else float("nan")
    if warm_rss is not None and growth > args.max_rss_growth_mib:
        failures.append(f"RSS grew by {growth:.1f} MiB after warm-up (> {args.max_rss_growth_mib} MiB)")

    print()
    print(f"probe episodes (seed {PROBE_SEED}):")
    print(f"{'at step':>8} {'identical':>9} {'max |dr|':>9} {'sum of rewards':>16}")
    for p in probe_rows:
        print(
            f"{p['step']:>8} {str(p['identical']):>9} {p['max_reward_diff']:>9.3g} {p['reward_sum']:>16.12f}"
        )
    print()
    print(f"steps {step}, episodes {episodes}, {elapsed:.0f} s, {step / elapsed:.1f} steps/s")
    print(
        f"RSS after warm-up {warm_rss / MIB if warm_rss else float('nan'):.1f} MiB, at end "
        f"{end_rss / MIB:.1f} MiB, growth {growth:+.1f} MiB (bound {args.max_rss_growth_mib} MiB); "
        f"peak {peak_rss_bytes() / MIB:.1f} MiB"
    )
    print(
        f"largest engine linear memory seen: {max(s['wasm_max_engine_mib'] for s in samples):.2f} MiB "
        f"(bound {args.max_wasm_mib} MiB)"
    )
    print("verdict:", "PASS" if not failures else "FAIL\n  " + "\n  ".join(failures))
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "scenario": args.scenario,
                    "steps": step,
                    "episodes": episodes,
                    "elapsed_s": elapsed,
                    "samples": samples,
                    "probes": probe_rows,
                    "rss_growth_mib": growth,
                    "failures": failures,
                },
                indent=1,
            )
        )
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
