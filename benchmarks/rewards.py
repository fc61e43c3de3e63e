"""Cost of the reward criteria and observations, next to the engine's render time.

Run from the repository root::

    python benchmarks/rewards.py            # full table (about a minute)
    python benchmarks/rewards.py --quick    # fewer repeats

Prints, for every criterion, the cost of scoring one 0.125 s step (5,512 frames at
44.1 kHz) and 4 s of mono audio against a target prepared once; then the cost of
one ensemble step of the environment's hot path (one ``Analysis`` read by
``StepScorer.score_analysis`` and ``StepObserver.observe_analysis``, as the task does, on
3 stems and their mix); then the engine's render time
for the same audio (``glicol_wasm``; "engine unavailable" if it cannot be
imported). Times are medians over repeats (min in brackets), from
``time.perf_counter``. This is a measurement script, not a test.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from raveforce_mae.analysis import Analysis  # noqa: E402
from raveforce_mae.features import StepObserver  # noqa: E402
from raveforce_mae.rewards import StepScorer, make_criterion  # noqa: E402

SR = 44100
STEP = 5512  # 0.125 s
LONG = 4 * SR
PATCH = (
    "bass: saw 55 >> lpf 800 1.0 >> mul 0.3\n"
    "kick: sin 60 >> mul ~e\n"
    "~e: imp 2 >> envperc 0.001 0.2\n"
    "hat: noise 42 >> hpf 8000 1.0 >> mul ~h\n"
    "~h: imp 8 >> envperc 0.001 0.05"
)
TRACKS = {
    "bass": "bass: saw 55 >> lpf 800 1.0 >> mul 0.3",
    "kick": "kick: sin 60 >> mul ~e\n~e: imp 2 >> envperc 0.001 0.2",
    "hat": "hat: noise 42 >> hpf 8000 1.0 >> mul ~h\n~h: imp 8 >> envperc 0.001 0.05",
}
CRITERIA = ["mse", "mrstft", "mel", "mfcc", "onset", "pitch", "mrstft+pitch", "mrstft+onset"]


def timeit(fn: Callable[[], object], repeats: int, min_time: float = 0.0) -> tuple[float, float]:
    """Median and minimum wall time of ``fn()`` in seconds (after one warm-up call)."""
    fn()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < repeats or time.perf_counter() - start < min_time:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), min(times)


def fmt(t: tuple[float, float] | None) -> str:
    if t is None:
        return "n/a"
    med, lo = t
    if med < 1e-3:
        return f"{med * 1e6:7.0f} us ({lo * 1e6:.0f})"
    return f"{med * 1e3:7.2f} ms ({lo * 1e3:.2f})"


def synth_stems(n: int) -> np.ndarray:
    """Stand-in stems (bass, kick, hat) when the engine is unavailable."""
    t = np.arange(n) / SR
    bass = 0.3 * (2 * ((55 * t) % 1.0) - 1)
    beat = (t % 0.5) / 0.2
    kick = np.exp(-beat * 5) * np.sin(2 * np.pi * 60 * t)
    g = np.random.default_rng(42)
    hat = np.exp(-((t % 0.125) / 0.05) * 5) * np.diff(g.standard_normal(n + 1)) * 0.3
    return np.stack([bass, kick, hat]).astype(np.float32)


def engine_section(repeats: int) -> tuple[dict[str, tuple[float, float]], np.ndarray | None]:
    """Engine timings, and rendered stems (3, LONG + STEP) if the engine works."""
    try:
        import glicol_wasm
    except Exception as e:  # noqa: BLE001 - any failure means "no engine here"
        print(f"engine unavailable ({type(e).__name__}: {e})")
        return {}, None
    out: dict[str, tuple[float, float]] = {}
    try:
        out["render(patch, 4 s) one-shot"] = timeit(
            lambda: glicol_wasm.render(PATCH, 4.0, sample_rate=SR), max(3, repeats // 20)
        )
        out["render(patch, 0.125 s) one-shot"] = timeit(
            lambda: glicol_wasm.render(PATCH, 0.125, sample_rate=SR), max(5, repeats // 5)
        )
        merged = glicol_wasm.Engine(SR)
        merged.set_code(PATCH)
        out["Engine(patch).render(5512), running"] = timeit(lambda: merged.render(STEP), repeats)
        engines = []
        for code in TRACKS.values():
            e = glicol_wasm.Engine(SR)
            e.set_code(code)
            engines.append(e)
        out["3 track engines x render(5512), running"] = timeit(
            lambda: [e.render(STEP) for e in engines], repeats
        )
        stems = []
        for code in TRACKS.values():
            e = glicol_wasm.Engine(SR)
            e.set_code(code)
            stems.append(e.render(LONG + STEP)[0])
        return out, np.stack(stems).astype(np.float32)
    except Exception as e:  # noqa: BLE001
        print(f"engine unavailable ({type(e).__name__}: {e})")
        return out, None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parser.parse_args()
    repeats = 40 if args.quick else 200

    load = ""
    if hasattr(os, "getloadavg"):
        load = ", load average {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, "
        f"{platform.machine()}, {os.cpu_count()} CPUs{load}"
    )
    engine, stems = engine_section(repeats)
    source = "engine-rendered stems" if stems is not None else "synthetic stems"
    if stems is None:
        stems = synth_stems(LONG + STEP)
    mix = stems.sum(axis=0)
    # Target = the patch; "played" = the same patch, one step later (different audio).
    target_long, played_long = mix[:LONG], mix[STEP : STEP + LONG]

    print(f"\nCriteria, mono audio vs a prepared target ({source}); median (min)")
    print(f"{'criterion':<16}{'0.125 s step':>24}{'4 s':>24}")
    rows: dict[str, tuple[tuple[float, float], tuple[float, float]]] = {}
    for name in CRITERIA:
        c = make_criterion(name, SR)
        p_step = c.prepare(target_long[:STEP])
        p_long = c.prepare(target_long)
        step = timeit(lambda c=c, p=p_step: c.score(played_long[:STEP], p), repeats)
        long = timeit(lambda c=c, p=p_long: c.score(played_long, p), max(5, repeats // 20))
        rows[name] = (step, long)
        print(f"{name:<16}{fmt(step):>24}{fmt(long):>24}")
    c = make_criterion("mrstft", SR)
    naive = timeit(lambda: c(played_long, target_long), max(5, repeats // 20))
    print(f"{'mrstft uncached':<16}{'':>24}{fmt(naive):>24}")

    # Ensemble step: the environment's hot path.
    n_steps = 32
    bounds = [(round(i * 5512.5), round((i + 1) * 5512.5)) for i in range(n_steps)]
    total = bounds[-1][1]
    targets = np.concatenate([stems[:, :total], mix[None, :total]])
    a, b = bounds[5]
    played = stems[:, STEP + a : STEP + b]
    audio = np.concatenate([played, played.sum(axis=0, keepdims=True)])
    print(f"\nEnsemble step: 3 stems + mix, {b - a} frames; median (min)")
    results: dict[str, tuple[float, float]] = {}
    for label, crit in [
        ("mrstft (default)", "mrstft"),
        (
            "bass mrstft+pitch, kick/hat mrstft+onset",
            ["mrstft+pitch", "mrstft+onset", "mrstft+onset", "mrstft"],
        ),
    ]:
        scorer = StepScorer(crit, SR, targets, bounds)
        observer = StepObserver("default", SR, targets, bounds, 3)
        buf = audio.copy()

        def step(scorer=scorer, observer=observer, buf=buf) -> None:
            # As the task does: one analysis of the step, read by the reward and the observation.
            an = Analysis(buf, SR, mix_is_sum=True)
            scorer.score_analysis(5, an)
            observer.observe_analysis(5, an)

        results[label] = timeit(step, repeats * 2, min_time=1.0)
        t_score = timeit(
            lambda s=scorer, bf=buf: (
                bf.__setitem__((0, 0), -bf[0, 0]),
                bf.__setitem__((3, 0), bf[0, 0] + bf[1, 0] + bf[2, 0]),
                s.score(5, bf),
            ),
            repeats,
        )
        print(f"  {label:<44} score+observe {fmt(results[label])}   score only {fmt(t_score)}")
    t0 = time.perf_counter()
    StepScorer("mrstft", SR, targets, bounds)
    StepObserver("default", SR, targets, bounds, 3)
    print(
        f"  preparing all {n_steps} target steps (once per scenario): "
        f"{(time.perf_counter() - t0) * 1e3:.1f} ms"
    )

    print("\nEngine (glicol_wasm), same patch; median (min)")
    if not engine:
        print("  engine unavailable")
    for label, t in engine.items():
        print(f"  {label:<44}{fmt(t)}")
    ref = engine.get("3 track engines x render(5512), running")
    if ref:
        print("\nRatios (reward + observation cost / engine render cost of the same step)")
        for label, t in results.items():
            print(f"  {label:<44}{t[0] / ref[0]:6.2f}x (median), {t[1] / ref[1]:.2f}x (min)")
        long_ref = engine.get("render(patch, 4 s) one-shot")
        if long_ref:
            print("  criteria on 4 s vs one-shot 4 s render:")
            for name, (_, long) in rows.items():
                print(f"    {name:<16}{long[0] / long_ref[0]:6.2f}x")


if __name__ == "__main__":
    main()
