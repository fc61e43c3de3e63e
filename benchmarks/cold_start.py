"""Cold start: how long a new process takes to import raveforce_mae and play its first step.

Every measurement runs in a fresh Python subprocess and times ``import raveforce_mae``,
``parallel_env(scenario)``, then the first ``reset`` + ``step``; "first env" is their sum.

``first process`` is what the first run after installing pays: numba's cache
(``NUMBA_CACHE_DIR``) is an empty folder, and the engine's cache (``GLICOL_WASM_CACHE``)
holds what ``python -m glicol_wasm fetch`` leaves there (it is run, and timed, with the
verified binary already in place: it compiles the module into the cache).
``next processes`` reruns with the caches as the first process left them, as every
later process (vector-env workers, Ray actors) does. ``no compiled module`` skips
``fetch``'s compile: the first engine compiles the module in the process. The last
columns say whether librosa or numba got imported at all (they must not be: nothing
is JIT-compiled on the env's path).

``--compare-librosa`` adds the same rows with the features' mel filterbank built by
``librosa.filters.mel`` (what the package did before :mod:`raveforce_mae.dsp`; the two
are bit-identical, see tests/test_dsp.py), so the difference is measured in one run.

    python benchmarks/cold_start.py                       # this interpreter, 3 repeats
    python benchmarks/cold_start.py --fresh-venv          # also: a new venv with the wheel
    python benchmarks/cold_start.py --compare-librosa     # also: the librosa filterbank

``--fresh-venv`` builds the project wheel, creates a virtual environment without system
site-packages, ``pip install``s the wheel (its dependencies from the package index) and
measures there; it takes minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = r"""
import json, sys, time
t0 = time.perf_counter()
import raveforce_mae
t1 = time.perf_counter()
if {librosa_mel!r}:
    import types
    import librosa
    from raveforce_mae import analysis

    def mel_filterbank(sample_rate, n_fft, n_mels, fmin, fmax, norm=None):
        return librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, norm=norm)

    analysis.dsp = types.SimpleNamespace(
        mel_filterbank=mel_filterbank,
        mel_frequencies=lambda n, fmin, fmax: librosa.mel_frequencies(n, fmin=fmin, fmax=fmax),
    )
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


def _engine_binary(python: str) -> Path:
    out = subprocess.run(
        [python, "-c", "import glicol_wasm; print(glicol_wasm.locate())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(out.stdout.strip().splitlines()[-1])


def _env(caches: Path) -> dict[str, str]:
    env = dict(
        os.environ,
        NUMBA_CACHE_DIR=str(caches / "numba"),
        GLICOL_WASM_CACHE=str(caches / "glicol_wasm"),
        GLICOL_WASM_KEY_DIR=str(caches / "glicol_wasm_key"),
        PYTHONDONTWRITEBYTECODE="1",
    )
    env.pop("GLICOL_WASM", None)  # the binary comes from the (fresh) cache folder
    return env


def _fetch(python: str, caches: Path, cwd: str) -> float:
    """Run ``python -m glicol_wasm fetch`` (the binary is in place: verify and compile); its time."""
    t0 = time.perf_counter()
    subprocess.run(
        [python, "-m", "glicol_wasm", "fetch"], env=_env(caches), cwd=cwd, capture_output=True, check=True
    )
    return time.perf_counter() - t0


def _probe(python: str, scenario: str, librosa_mel: bool, caches: Path, cwd: str) -> dict:
    env = _env(caches)
    code = PROBE.format(scenario=scenario, librosa_mel=librosa_mel)
    out = subprocess.run([python, "-c", code], env=env, cwd=cwd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"probe failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _fresh_caches(root: Path, binary: Path) -> Path:
    """Empty numba and engine caches, with only the verified engine binary (as after fetch)."""
    d = Path(tempfile.mkdtemp(prefix="caches-", dir=root))
    (d / "numba").mkdir()
    (d / "glicol_wasm").mkdir(mode=0o700)
    shutil.copy2(binary, d / "glicol_wasm" / binary.name)
    return d


def _rows(python: str, scenario: str, repeats: int, cwd: str, librosa: bool) -> list[tuple[str, dict]]:
    binary = _engine_binary(python)
    rows = []
    fetch_times = []
    for librosa_mel in (False, True) if librosa else (False,):
        label = "librosa mel" if librosa_mel else "as shipped"
        first, warm, uncompiled = [], [], []
        for _ in range(repeats):
            caches = _fresh_caches(Path(cwd), binary)
            fetch_times.append(_fetch(python, caches, cwd))
            first.append(_probe(python, scenario, librosa_mel, caches, cwd))
            warm.append(_probe(python, scenario, librosa_mel, caches, cwd))
            shutil.rmtree(caches)
            if not librosa_mel:
                caches = _fresh_caches(Path(cwd), binary)
                uncompiled.append(_probe(python, scenario, librosa_mel, caches, cwd))
                shutil.rmtree(caches)
        rows.append((f"{label}, first process", _median(first)))
        rows.append((f"{label}, next processes", _median(warm)))
        if uncompiled:
            rows.append((f"{label}, no compiled module", _median(uncompiled)))
    print(
        f"python -m glicol_wasm fetch (binary in place: verify + compile): {statistics.median(fetch_times):.2f} s"
    )
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
    t0 = time.perf_counter()
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = str(env_dir / "bin" / "python")
    subprocess.run([python, "-m", "pip", "install", "-q", str(wheel)], check=True)
    print(f"fresh venv: created and the wheel installed in {time.perf_counter() - t0:.0f} s")
    return python


def _table(title: str, rows: list[tuple[str, dict]]) -> None:
    print(f"\n{title}")
    print(
        f"{'case':32s} {'import s':>9s} {'create s':>9s} {'reset+step s':>13s} {'first env s':>12s}"
        "  librosa numba"
    )
    for name, r in rows:
        print(
            f"{name:32s} {r['import']:9.2f} {r['create']:9.2f} {r['reset_step']:13.2f} {r['total']:12.2f}"
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
    ap.add_argument(
        "--compare-librosa",
        action="store_true",
        help="also measure with the mel filterbank from librosa (the package before raveforce_mae.dsp)",
    )
    args = ap.parse_args()
    print(
        f"cold start of parallel_env({args.scenario!r}): import, create, first reset+step; "
        f"median of {args.repeats} fresh processes each"
    )
    with tempfile.TemporaryDirectory(prefix="cold-start-") as cwd:  # not the source tree
        rows = _rows(sys.executable, args.scenario, args.repeats, cwd, args.compare_librosa)
        _table(f"this interpreter ({sys.executable})", rows)
        if args.fresh_venv:
            python = _fresh_venv(Path(cwd))
            rows = _rows(python, args.scenario, args.repeats, cwd, args.compare_librosa)
            _table(f"fresh venv, project wheel ({python})", rows)


if __name__ == "__main__":
    main()
