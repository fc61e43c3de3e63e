"""Cold start: how long a new process takes to import raveforce_mae and play its first step.

Every measurement runs in a fresh Python subprocess. ``first use`` points numba's cache
(``NUMBA_CACHE_DIR``) at an empty directory, which is what a fresh install pays: librosa's
numba kernels compile when ``librosa.filters`` is first reached. ``warm`` reruns with that
directory filled, as every later process (vector-env workers, Ray actors) does.

The ``numpy mel`` rows run the same steps with the features' mel filterbank built by
``raveforce_mae.dsp`` instead of librosa (the proposed change; the two are equal, see
tests/test_dsp.py), and report whether librosa or numba got imported at all.

    python benchmarks/cold_start.py                 # this interpreter, 3 repeats
    python benchmarks/cold_start.py --fresh-venv    # also: a new venv with the project wheel

``--fresh-venv`` builds the project wheel, creates a virtual environment without system
site-packages, ``pip install``s the wheel (downloading its dependencies from PyPI), and
measures there; it takes minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = r"""
import json, sys, time
t0 = time.perf_counter()
import raveforce_mae
t1 = time.perf_counter()
if {numpy_mel!r}:
    import functools
    import numpy as np
    from raveforce_mae import dsp, features

    @functools.lru_cache(maxsize=32)
    def mel_filterbank(sample_rate, n_fft, n_mels, fmin=0.0, fmax=None):
        # the features' filterbank (unit-sum rows, empty bands take their centre bin), via dsp
        fb = dsp.mel_filterbank(sample_rate, n_fft, n_mels, fmin, fmax, norm=None).astype(np.float64)
        sums = fb.sum(axis=1, keepdims=True)
        empty = sums[:, 0] <= 0
        if empty.any():
            centres = dsp.mel_frequencies(n_mels + 2, fmin=fmin, fmax=fmax or sample_rate / 2)
            freqs = dsp.fft_frequencies(sample_rate, n_fft)
            for i in np.flatnonzero(empty):
                fb[i, np.argmin(np.abs(freqs - centres[i + 1]))] = 1.0
            sums = fb.sum(axis=1, keepdims=True)
        out = (fb / sums).astype(np.float32)
        out.flags.writeable = False
        return out

    features.mel_filterbank = mel_filterbank
t2 = time.perf_counter()
env = raveforce_mae.parallel_env({scenario!r})
t3 = time.perf_counter()
env.reset(seed=0)
import numpy as np
env.step({{a: np.zeros(env.action_space(a).shape, np.float32) for a in env.agents}})
t4 = time.perf_counter()
print(json.dumps({{
    "import": t1 - t0, "create": t3 - t2, "reset_step": t4 - t3, "total": (t1 - t0) + (t4 - t2),
    "librosa": "librosa" in sys.modules, "numba": "numba" in sys.modules,
}}))
"""


def _probe(python: str, scenario: str, numpy_mel: bool, numba_dir: str, cwd: str) -> dict:
    env = dict(os.environ, NUMBA_CACHE_DIR=numba_dir, PYTHONDONTWRITEBYTECODE="1")
    code = PROBE.format(scenario=scenario, numpy_mel=numpy_mel)
    out = subprocess.run([python, "-c", code], env=env, cwd=cwd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"probe failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _rows(python: str, scenario: str, repeats: int, cwd: str) -> list[tuple[str, dict]]:
    rows = []
    for numpy_mel in (False, True):
        label = "numpy mel" if numpy_mel else "librosa mel"
        first, warm = [], []
        for _ in range(repeats):
            with tempfile.TemporaryDirectory(prefix="numba-cache-") as d:
                first.append(_probe(python, scenario, numpy_mel, d, cwd))
                warm.append(_probe(python, scenario, numpy_mel, d, cwd))
        rows.append((f"{label}, first use", _median(first)))
        rows.append((f"{label}, warm", _median(warm)))
    return rows


def _median(runs: list[dict]) -> dict:
    out = {k: statistics.median(r[k] for r in runs) for k in ("import", "create", "reset_step", "total")}
    out["librosa"] = any(r["librosa"] for r in runs)
    out["numba"] = any(r["numba"] for r in runs)
    return out


def _fresh_venv(workdir: Path) -> str:
    wheels = workdir / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(wheels), str(ROOT)],
        check=True,
        capture_output=True,
    )
    wheel = next(wheels.glob("raveforce_mae-*.whl"))
    env_dir = workdir / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = str(env_dir / "bin" / "python")
    subprocess.run([python, "-m", "pip", "install", "-q", str(wheel)], check=True)
    return python


def _table(title: str, rows: list[tuple[str, dict]]) -> None:
    print(f"\n{title}")
    print(
        f"{'case':28s} {'import s':>9s} {'create s':>9s} {'reset+step s':>13s} {'total s':>8s}  librosa numba"
    )
    for name, r in rows:
        print(
            f"{name:28s} {r['import']:9.2f} {r['create']:9.2f} {r['reset_step']:13.2f} {r['total']:8.2f}"
            f"  {'yes' if r['librosa'] else 'no':7s} {'yes' if r['numba'] else 'no'}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenario", default="ensemble", help="scenario to create (default: %(default)s)")
    ap.add_argument(
        "--repeats", type=int, default=3, help="runs per case; the median is shown (default: %(default)s)"
    )
    ap.add_argument(
        "--fresh-venv", action="store_true", help="also measure in a new venv with the project wheel"
    )
    args = ap.parse_args()
    print(
        f"cold start of parallel_env({args.scenario!r}): import, create, first reset+step; "
        f"median of {args.repeats} fresh processes each"
    )
    with tempfile.TemporaryDirectory(prefix="cold-start-") as cwd:  # not the source tree
        _table(
            f"this interpreter ({sys.executable})", _rows(sys.executable, args.scenario, args.repeats, cwd)
        )
        if args.fresh_venv:
            python = _fresh_venv(Path(cwd))
            _table(f"fresh venv, project wheel ({python})", _rows(python, args.scenario, args.repeats, cwd))


if __name__ == "__main__":
    main()
