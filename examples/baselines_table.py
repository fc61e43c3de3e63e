"""Random, search and reference baselines on every built-in scenario, as a Markdown table.

    python examples/baselines_table.py [--random-seeds 10] [--budget auto] [scenario ...]

Mean reward per step and agent (the scale of a single reward: 1 = the target exactly,
for the default criteria) and the episode return per agent (the sum over the steps,
the unit of SB3's ``ep_rew_mean``). ``gap`` is the fraction of the random-to-reference
gap that the search closes.
"""

from __future__ import annotations

import argparse

import numpy as np

import raveforce_mae
from raveforce_mae import baselines
from raveforce_mae.vector import limit_blas_threads


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument("scenarios", nargs="*", help="scenario names (none: every built-in one)")
    p.add_argument("--random-seeds", type=int, default=10, help="random-policy episodes per scenario")
    p.add_argument("--budget", default="auto", help="search evaluations per step and track, or 'auto'")
    p.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bars (off anyway when stderr is not a terminal)",
    )
    args = p.parse_args()
    limit_blas_threads(1)
    names = args.scenarios or raveforce_mae.list_scenarios()
    print(
        "| scenario | agents | steps | random | search | reference | search gap closed | "
        "search budget | search time |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name in names:
        env = raveforce_mae.parallel_env(name)
        sc = env.scenario
        rnd = [
            baselines.play_episode(env, baselines.random_policy(env, seed=s), seed=s)
            for s in range(args.random_seeds)
        ]
        r_mean = float(np.mean([r.mean_reward for r in rnd]))
        r_ret = float(np.mean([r.mean_return for r in rnd]))
        budget = None if args.budget == "auto" else int(args.budget)
        pol = baselines.search_policy(
            env, budget=budget, seed=0, progress=False if args.no_progress else None
        )
        srch = baselines.play_episode(env, pol, seed=0)
        if sc.reference is not None:
            ref = baselines.play_episode(env, baselines.reference_policy(env), seed=0)
            ref_s = f"{ref.mean_reward:.3f} ({ref.mean_return:.2f})"
            gap = f"{(srch.mean_reward - r_mean) / (ref.mean_reward - r_mean):.0%}"
        else:
            ref_s, gap = "n/a", "n/a"
        print(
            f"| {name} | {len(env.possible_agents)} | {sc.n_steps} | {r_mean:.3f} ({r_ret:.2f}) | "
            f"{srch.mean_reward:.3f} ({srch.mean_return:.2f}) | {ref_s} | {gap} | "
            f"{budget or baselines.auto_budget(sc)} | {pol.result.seconds:.1f} s |",
            flush=True,
        )


if __name__ == "__main__":
    main()
