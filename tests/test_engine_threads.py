"""Threads: one engine used by two threads is refused; engines in separate threads agree.

Two threads inside one wasm instance aborted the process (a panic in wasmtime's
unwinder) before :class:`glicol_wasm.ConcurrentUseGuard` was added, so the
hammering test runs in a subprocess: a regression shows as a dead process, not as
a dead test runner.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

import glicol_wasm as gw

ROOT = Path(__file__).resolve().parent.parent

HAMMER = r"""
import sys, threading, time
import numpy as np, glicol_wasm as gw

code = open(sys.argv[1]).read()
eng = gw.Engine(44100)
eng.set_code(code)
refused, done, other = [], [0], []
start = threading.Barrier(2)

def hammer(k):
    start.wait()
    t_end = time.monotonic() + 20.0
    i = 0
    while time.monotonic() < t_end and (len(refused) < 20 or i < 50):
        i += 1
        try:
            if i % 3 == 0:
                eng.set_code(code.replace("saw 55", f"saw {55 + (i + k) % 7}"))
            out = eng.render(4096)
            assert out.shape == (2, 4096) and np.isfinite(out).all()
            done[0] += 1
        except gw.ConcurrentUseError as e:
            refused.append(str(e))
        except BaseException as e:
            other.append(repr(e))

threads = [threading.Thread(target=hammer, args=(k,)) for k in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
after = eng.render(44100)  # the engine is still usable from one thread
print("REFUSED", len(refused), "DONE", done[0], "OTHER", len(other), "AFTER", float(np.abs(after).max()))
print("OTHER_ERRORS", other[:3])
print("MESSAGE", refused[0] if refused else "")
"""


def test_one_engine_hammered_by_two_threads_refuses_and_survives(tmp_path):
    patch = ROOT / "glicol_wasm" / "patches" / "three_tracks.glicol"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", HAMMER, str(patch)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, f"the process died ({proc.returncode}): {proc.stderr[-2000:]}"
    lines = dict(line.split(" ", 1) for line in proc.stdout.splitlines())
    counts = lines["REFUSED"].split()
    refused, done, other, peak = int(counts[0]), int(counts[2]), int(counts[4]), float(counts[6])
    assert other == 0, lines["OTHER_ERRORS"]
    assert refused >= 1 and done >= 50
    assert 0.1 < peak < 5.0
    msg = lines["MESSAGE"]
    assert "glicol_wasm.Engine is already in use by another thread" in msg
    assert "not thread-safe" in msg and "one Engine per thread" in msg


def _perform(code: str) -> np.ndarray:
    eng = gw.Engine(44100)
    out = []
    for i in range(12):
        eng.set_code(code.replace("saw 55", f"saw {55 + i}"))
        out.append(eng.render(3000 + 37 * i))
    return np.concatenate(out, axis=1)


def test_two_engines_in_two_threads_match_single_threaded_renders(three_tracks):
    codes = [three_tracks, three_tracks.replace("lpf 800", "lpf 1200")]
    expected = [_perform(c) for c in codes]
    results: list[list[np.ndarray]] = [[], []]
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def work(k: int) -> None:
        try:
            start.wait()
            for _ in range(4):
                results[k].append(_perform(codes[k]))
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for k in range(2):
        assert np.abs(expected[k]).mean() > 1e-3  # not silent
        for got in results[k]:
            np.testing.assert_array_equal(got, expected[k])
    assert not np.array_equal(expected[0], expected[1])


def test_guard_refuses_a_second_thread_and_allows_reentry():
    guard = gw.ConcurrentUseGuard("this environment", "create one environment per thread")
    inside, release = threading.Event(), threading.Event()

    def hold() -> None:
        with guard:
            inside.set()
            release.wait(10)

    t = threading.Thread(target=hold)
    t.start()
    assert inside.wait(10)
    with pytest.raises(gw.ConcurrentUseError) as ei:
        with guard:
            pass
    assert isinstance(ei.value, RuntimeError) and isinstance(ei.value, gw.GlicolError)
    assert str(ei.value) == (
        "this environment is already in use by another thread; it is not thread-safe and "
        "concurrent calls would corrupt it or abort the process. Instead, create one environment per thread."
    )
    release.set()
    t.join()
    with guard:  # free again, and re-entrant for the thread that holds it
        with guard:
            pass


def test_engine_reentry_from_its_own_thread_is_allowed():
    """A refused call leaves no lock behind, and nested internal calls are fine."""
    eng = gw.Engine()
    eng.set_code("o: sin 440")
    with eng._guard:  # as if this thread were inside a call
        out = eng.render(128)
    assert out.shape == (2, 128)
    eng.set_code("o: sin 440 >> pan 0.5")  # a trap: recovery runs inside render's guard
    with pytest.raises(gw.GlicolTrapError):
        eng.render(128)
    assert np.abs(eng.render(4410)).max() > 0.9
