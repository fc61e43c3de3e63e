"""The seed's experiment on ``kick``: random search, then CMA-ES, default criterion vs ``mse``.

    python examples/search_kick.py [--iterations 2000] [--budget 300] [--seeds 5]

1. Random search: ``--iterations`` uniformly random kicks (attack, frequency; the decay
   fills the rest of the step), each scored by the scenario's default criterion
   (``mrstft+onset``) and by RaveForce's ``mse``. Prints what the best 5% of each
   look like: short attacks and low frequencies by the default criterion.
2. Black-box search (CMA-ES via :func:`raveforce_mae.baselines.search`, ``--budget``
   evaluations) against each criterion, over ``--seeds`` seeds: the relative error of
   the recovered parameters against the reference kick (attack 2 ms, 58 Hz). Target:
   within 10%, the frequency within 3%, with the default criterion.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from tqdm.auto import tqdm

import raveforce_mae
from raveforce_mae import baselines
from raveforce_mae.rewards import make_criterion
from raveforce_mae.vector import limit_blas_threads


def random_search(iterations: int, seed: int, progress: bool | None = None) -> dict[str, np.ndarray]:
    """Score random kicks in batches with :class:`raveforce_mae.Evaluator` (bit-identical to the env)."""
    sc = raveforce_mae.load_scenario("kick")
    track = sc.tracks[0]
    target = sc.targets.stems[track.name]
    rng = np.random.default_rng(seed)
    u = rng.uniform(-1.0, 1.0, (iterations, len(track.free)))
    default = raveforce_mae.Evaluator(sc).evaluate(u).tracks[:, 0]  # the kick's own criterion
    mse = raveforce_mae.Evaluator(sc, criterion="mse").evaluate(u).tracks[:, 0]
    values = [track.values(x) for x in u]
    # RMS (a render each) only where it is reported: the best 5% of each, and a sample of all
    n = max(1, int(round(0.05 * iterations)))
    rows = set(np.argsort(default)[::-1][:n]) | set(np.argsort(mse)[::-1][:n])
    rows |= set(rng.choice(iterations, min(iterations, 200), replace=False))
    renderer = baselines.StepRenderer(sc, [0])
    rms = np.full(iterations, np.nan)
    for i in tqdm(sorted(rows), desc="RMS of kicks", unit="kick", leave=False, disable=progress is False):
        audio = renderer.render([], 0, {track.agent: u[i]})[0]
        rms[i] = float(np.sqrt(np.mean(audio.astype(np.float64) ** 2)))
    return {
        "attack": np.array([v["attack"] for v in values]),
        "freq": np.array([v["freq"] for v in values]),
        "default": default,
        "mse": mse,
        "rms": rms,
        "target_rms": float(np.sqrt(np.mean(target.astype(np.float64) ** 2))),
    }


def describe(res: dict[str, np.ndarray], key: str, frac: float = 0.05) -> dict[str, float]:
    n = max(1, int(round(frac * len(res[key]))))
    top = np.argsort(res[key])[::-1][:n]
    return {
        "median attack (ms)": 1e3 * float(np.median(res["attack"][top])),
        "attack < 20 ms": float(np.mean(res["attack"][top] < 0.02)),
        "median freq (Hz)": float(np.median(res["freq"][top])),
        "freq < 120 Hz": float(np.mean(res["freq"][top] < 120)),
        "median RMS / target RMS": float(np.median(res["rms"][top]) / res["target_rms"]),
    }


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument("--iterations", type=int, default=2000, help="random kicks of part 1")
    p.add_argument("--budget", type=int, default=300, help="CMA-ES evaluations per search (part 2)")
    p.add_argument("--seeds", type=int, default=5, help="searches per criterion (part 2)")
    p.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bars (off anyway when stderr is not a terminal)",
    )
    args = p.parse_args()
    limit_blas_threads(1)

    t0 = time.perf_counter()
    show = False if args.no_progress else None  # None: bars only on a terminal
    res = random_search(args.iterations, seed=0, progress=show)
    print(f"## 1. Random search: {args.iterations} kicks ({time.perf_counter() - t0:.0f} s)\n")
    allr = {
        "median attack (ms)": 1e3 * float(np.median(res["attack"])),
        "attack < 20 ms": float(np.mean(res["attack"] < 0.02)),
        "median freq (Hz)": float(np.median(res["freq"])),
        "freq < 120 Hz": float(np.mean(res["freq"] < 120)),
        "median RMS / target RMS": float(np.nanmedian(res["rms"]) / res["target_rms"]),  # 200 of them
    }
    cols = {
        "all kicks": allr,
        "best 5% by default": describe(res, "default"),
        "best 5% by mse": describe(res, "mse"),
    }
    print("| | " + " | ".join(cols) + " |")
    print("|---|" + "---|" * len(cols))
    for k in allr:
        print(f"| {k} | " + " | ".join(f"{c[k]:.3g}" for c in cols.values()) + " |")
    for key in ("default", "mse"):
        i = int(np.argmax(res[key]))
        print(
            f"\nbest single kick by {key}: attack {1e3 * res['attack'][i]:.2f} ms, freq {res['freq'][i]:.1f} Hz"
        )

    sc0 = raveforce_mae.load_scenario("kick")
    ref = sc0.reference[0]["kick"]
    print(
        f"\n## 2. CMA-ES, budget {args.budget}, {args.seeds} seeds; reference: attack "
        f"{1e3 * ref['attack']:.2f} ms, freq {ref['freq']:.2f} Hz\n"
    )
    default_eval = make_criterion(sc0.criteria["kick"], sc0.sample_rate)
    target = sc0.targets.stems["kick"]
    print(
        "| criterion | seed | attack (ms) | attack error | freq (Hz) | freq error | "
        "default-criterion reward | seconds |"
    )
    print("|---|---|---|---|---|---|---|---|")
    summary = {}
    for crit in ("default", "mse"):
        sc = sc0 if crit == "default" else raveforce_mae.load_scenario("kick", criterion="mse")
        errs = []
        for seed in range(args.seeds):
            r = baselines.search(sc, budget=args.budget, seed=seed, progress=show)
            v = sc.tracks[0].values(r.actions[0]["kick_0"])
            ea = abs(v["attack"] - ref["attack"]) / ref["attack"]
            ef = abs(v["freq"] - ref["freq"]) / ref["freq"]
            renderer = baselines.StepRenderer(sc0, [0])
            audio = renderer.render([], 0, {"kick_0": r.actions[0]["kick_0"]})[0]
            rd = default_eval(audio, target)
            errs.append((ea, ef, rd))
            print(
                f"| {crit} | {seed} | {1e3 * v['attack']:.3f} | {100 * ea:.1f}% | {v['freq']:.2f} | "
                f"{100 * ef:.2f}% | {rd:.4f} | {r.seconds:.1f} |"
            )
        e = np.array(errs)
        summary[crit] = e
    print()
    for crit, e in summary.items():
        ok = np.mean((e[:, 0] <= 0.10) & (e[:, 1] <= 0.03))
        print(
            f"{crit}: median attack error {100 * np.median(e[:, 0]):.1f}%, median freq error "
            f"{100 * np.median(e[:, 1]):.2f}%, within 10%/3%: {100 * ok:.0f}% of seeds, "
            f"mean default-criterion reward {e[:, 2].mean():.4f}"
        )


if __name__ == "__main__":
    main()
