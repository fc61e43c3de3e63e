"""Benchmark: three ways of driving the Glicol engine, plus start-up and stepping costs.

Renders the 3-track patch (glicol_wasm/patches/three_tracks.glicol) for 4 s at 44.1 kHz
(1379 blocks of 128 frames):

  (a) ``Engine.render``: the block loop runs inside wasm (one call from Python);
  (b) ``process`` called once per block from Python, output and result buffer read with
      ``memory.read`` (b1) or through a numpy view of the linear memory (b2);
  (c) the 2022 RaveForce loop: ``process`` per block from Python, then every sample
      unpacked on its own with ``struct.unpack('<f', ...)`` (RaveForce did this with
      wasmer; here on wasmtime memory).

Every way is checked to produce the same audio as (a), bit for bit. Also measured:
process start (compiling the module vs. deserializing the cached artefact, each in a
fresh subprocess), ``Engine()`` creation, and one RL-style step (``set_code`` then a
0.125 s ``render``) with unchanged code and with changed numbers, sent as messages
(``fast_updates``, the default) or parsed by Glicol.

Run from the repository root::

    PYTHONPATH=. python benchmarks/engine.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import ctypes
import importlib.metadata
import os
import platform
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import wasmtime

import glicol_wasm as gw
from glicol_wasm import BLOCK, binary
from glicol_wasm._module import compiled

ROOT = Path(__file__).resolve().parent.parent
PATCH = (ROOT / "glicol_wasm" / "patches" / "three_tracks.glicol").read_text()
SR = 44100
SECONDS = 4.0
FRAMES = int(SECONDS * SR)  # 176400
NBLOCKS = -(-FRAMES // BLOCK)  # 1379


class RawInstance:
    """A bare wasm instance of the engine, set up like glicol_wasm.engine._Instance."""

    def __init__(self, code: str) -> None:
        c = compiled()
        self.store = s = wasmtime.Store(c.engine)
        linker = wasmtime.Linker(c.engine)
        linker.define_func("env", "now", wasmtime.FuncType([], [wasmtime.ValType.f64()]), lambda: 0.0)
        self.exports = ex = linker.instantiate(s, c.glicol).exports(s)
        self.memory = ex["memory"]
        self.process = ex["process"]
        self.in_ptr = ex["alloc"](s, 256)
        self.out_ptr = ex["alloc"](s, 256)
        self.res_ptr = ex["alloc_uint8array"](s, 256)
        ex["live_coding_mode"](s, 0)
        ex["set_sr"](s, float(SR))
        ex["set_bpm"](s, 120.0)
        ex["set_seed"](s, 42.0)
        raw = code.encode()
        code_ptr = ex["alloc_uint8array"](s, len(raw))
        self.memory.write(s, raw, code_ptr)
        ex["update"](s, code_ptr, len(raw))


def way_a() -> tuple[np.ndarray, tuple[float, float]]:
    eng = gw.Engine(SR)
    eng.set_code(PATCH)
    t, c0 = time.perf_counter(), time.process_time()
    out = eng.render(FRAMES)
    return out, (time.perf_counter() - t, time.process_time() - c0)


def way_b1() -> tuple[np.ndarray, tuple[float, float]]:
    r = RawInstance(PATCH)
    s, mem, process = r.store, r.memory, r.process
    in_p, out_p, res_p = r.in_ptr, r.out_ptr, r.res_ptr
    out = np.empty((NBLOCKS, 2, BLOCK), np.float32)
    t, c0 = time.perf_counter(), time.process_time()
    for i in range(NBLOCKS):
        process(s, in_p, out_p, 256, res_p)
        if mem.read(s, res_p, res_p + 1)[0]:
            raise RuntimeError(f"engine error in block {i}")
        out[i] = np.frombuffer(mem.read(s, out_p, out_p + 1024), np.float32).reshape(2, BLOCK)
    dt = (time.perf_counter() - t, time.process_time() - c0)
    return out.transpose(1, 0, 2).reshape(2, -1)[:, :FRAMES], dt


def way_b2() -> tuple[np.ndarray, tuple[float, float]]:
    r = RawInstance(PATCH)
    s, mem, process = r.store, r.memory, r.process
    in_p, out_p, res_p = r.in_ptr, r.out_ptr, r.res_ptr
    out = np.empty((NBLOCKS, 2, BLOCK), np.float32)
    t, c0 = time.perf_counter(), time.process_time()
    view_len = -1
    for i in range(NBLOCKS):
        process(s, in_p, out_p, 256, res_p)
        # the memory may grow (and move) during process: re-take the view if so
        n = mem.data_len(s)
        if n != view_len:
            base = ctypes.addressof(mem.data_ptr(s).contents)
            view = np.frombuffer((ctypes.c_ubyte * n).from_address(base), np.uint8)
            view_len = n
        if view[res_p]:
            raise RuntimeError(f"engine error in block {i}")
        out[i] = view[out_p : out_p + 1024].view(np.float32).reshape(2, BLOCK)
    dt = (time.perf_counter() - t, time.process_time() - c0)
    return out.transpose(1, 0, 2).reshape(2, -1)[:, :FRAMES], dt


def way_c() -> tuple[np.ndarray, tuple[float, float]]:
    """RaveForce's 2022 ``Env.step`` loop (raveforce/core.py), on wasmtime instead of wasmer."""
    r = RawInstance(PATCH)
    s, mem, process = r.store, r.memory, r.process
    in_p, out_p, res_p = r.in_ptr, r.out_ptr, r.res_ptr
    audio: list[list[float]] = [[], []]
    t, c0 = time.perf_counter(), time.process_time()
    for _ in range(NBLOCKS):
        process(s, in_p, out_p, 256, res_p)
        # wasmer's memory.uint8_view(offset=ptr)[:1024] is a list of ints; so is this
        bufuint8 = mem.get_buffer_ptr(s, 1024, out_p)[:1024]
        nth = 0
        buf = []
        while nth < 1024:
            byte_arr = bytearray(bufuint8[nth : nth + 4])
            num = struct.unpack("<f", byte_arr)
            buf.append(num[0])
            nth += 4
        result = mem.get_buffer_ptr(s, 256, res_p)[:256]
        result_str = "".join(map(chr, filter(lambda x: x != 0, result)))
        if result_str:
            raise RuntimeError(f"engine error: {result_str}")
        audio[0].extend(buf[:128])
        audio[1].extend(buf[128:256])  # RaveForce kept only the left channel
    dt = (time.perf_counter() - t, time.process_time() - c0)
    return np.array(audio, np.float32)[:, :FRAMES], dt


def timed(ways, repeats: int) -> dict[str, tuple[list[tuple[float, float]], np.ndarray]]:
    """Run every way once to warm up, then ``repeats`` rounds, interleaved so that a
    change in the machine's load (it is shared) hits every way alike."""
    outs = {name: fn()[0] for name, fn in ways}
    times: dict[str, list[tuple[float, float]]] = {name: [] for name, _ in ways}
    for _ in range(repeats):
        for name, fn in ways:
            out, dt = fn()
            times[name].append(dt)
            outs[name] = out
    return {name: (times[name], outs[name]) for name, _ in ways}


START_PROBE = """
import time
t0 = time.perf_counter()
from glicol_wasm._module import compiled
t1 = time.perf_counter()
c = compiled()
t2 = time.perf_counter()
import glicol_wasm as gw
e = gw.Engine(); e.set_code("o: sin 440"); e.render(128)
t3 = time.perf_counter()
print(c.from_cache, t1 - t0, t2 - t1, t3 - t2)
"""


def process_start(repeats: int) -> dict[bool, list[tuple[float, float, float]]]:
    """Time module loading in fresh processes: compile (empty cache) vs deserialize."""
    wasm = binary.locate()
    res: dict[bool, list[tuple[float, float, float]]] = {False: [], True: []}
    for _ in range(repeats):
        with tempfile.TemporaryDirectory(prefix="glicol-bench-") as tmp:
            env = {**os.environ, "PYTHONPATH": str(ROOT), "GLICOL_WASM": str(wasm), "GLICOL_WASM_CACHE": tmp}
            for _ in range(2):  # first: compiles and writes; second: loads the artefact
                t = time.perf_counter()
                p = subprocess.run(
                    [sys.executable, "-c", START_PROBE], env=env, capture_output=True, text=True, check=True
                )
                wall = time.perf_counter() - t
                flag, _imp, load, first = p.stdout.split()
                res[flag == "True"].append((float(load), float(first), wall))
    return res


def step_costs(n: int) -> tuple[list[float], list[float], list[float]]:
    """Step times: unchanged code, changed numbers (fast updates), changed numbers re-parsed."""
    frames = int(0.125 * SR)  # 5512
    variants = [PATCH, PATCH.replace("saw 55", "saw 82.5").replace("lpf 800", "lpf 1200")]
    out = []
    for changed, fast in ((False, True), (True, True), (True, False)):
        eng = gw.Engine(SR, fast_updates=fast)
        eng.set_code(PATCH)
        eng.render(frames)
        times = []
        for i in range(n):
            t = time.perf_counter()
            eng.set_code(variants[(i + 1) % 2] if changed else PATCH)
            eng.render(frames)
            times.append(time.perf_counter() - t)
        out.append(times)
    return out[0], out[1], out[2]


def render_unguarded(eng: gw.Engine, frames: int) -> np.ndarray:
    """``Engine.render`` without its thread guard (same argument check, same work)."""
    if isinstance(frames, bool) or not isinstance(frames, (int, np.integer)) or frames < 0:
        raise ValueError(f"frames must be a non-negative int, got {frames!r}")
    return eng._render(int(frames))


def guard_costs(n: int) -> tuple[float, float, float]:
    """The thread guard's cost: one render of one block with and without it, interleaved.

    ``Engine.render`` checks ``frames``, then runs ``self._render(frames)`` under the
    guard; :func:`render_unguarded` does the same without the guard. Timing both on
    one engine, alternately, isolates the guard from the machine's load. Also the bare
    cost of entering and leaving a :class:`glicol_wasm.ConcurrentUseGuard`.
    """
    eng = gw.Engine(SR)
    eng.set_code(PATCH)
    eng.render(BLOCK)
    guarded, bare = [], []
    for i in range(n):
        # alternate which goes first, so that neither profits from the other's caches
        for first in (True, False) if i % 2 else (False, True):
            t = time.perf_counter()
            if first:
                eng.render(BLOCK)
            else:
                render_unguarded(eng, BLOCK)
            (guarded if first else bare).append(time.perf_counter() - t)
    guard = gw.ConcurrentUseGuard()
    reps = 100_000
    t = time.perf_counter()
    for _ in range(reps):
        with guard:
            pass
    enter_exit = (time.perf_counter() - t) / reps
    return statistics.median(guarded), statistics.median(bare), enter_exit


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    med = statistics.median
    c = compiled()
    print(
        f"Python {platform.python_version()}, wasmtime {importlib.metadata.version('wasmtime')}, "
        f"numpy {np.__version__}, {os.cpu_count()} CPUs, {platform.machine()}, "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    print(
        f"module: {'deserialized from cache' if c.from_cache else 'compiled'}; "
        f"3-track patch, {SECONDS:g} s = {FRAMES} frames = {NBLOCKS} blocks at {SR} Hz; "
        f"median of {args.repeats} interleaved rounds after 1 warm-up\n"
    )

    ways = [
        ("(a)  Engine.render (loop in wasm)", way_a),
        ("(b1) process per block, memory.read", way_b1),
        ("(b2) process per block, numpy view", way_b2),
        ("(c)  RaveForce: struct.unpack per sample", way_c),
    ]
    results = {}
    ref = None
    for name, (times, out) in timed(ways, args.repeats).items():
        if ref is None:
            ref = out
        assert np.array_equal(out, ref), f"{name}: audio differs from (a)"
        results[name] = (med(w for w, _ in times), med(cpu for _, cpu in times))
    ta = results[ways[0][0]][0]
    print(
        f"{'method':42s} {'median':>9s} {'(cpu)':>9s} {'x real time':>11s} {'per block':>10s} {'vs (a)':>7s}"
    )
    for name, _ in ways:
        t, cpu = results[name]
        print(
            f"{name:42s} {t * 1e3:6.1f} ms {cpu * 1e3:6.1f} ms {SECONDS / t:10.0f}x"
            f" {t / NBLOCKS * 1e6:7.1f} us {t / ta:6.1f}x"
        )
    tb, tc = results[ways[1][0]][0], results[ways[3][0]][0]
    print(
        f"\n(b1)/(a) = {tb / ta:.1f}x (target >= 4), (c)/(a) = {tc / ta:.1f}x (target >= 12); "
        "all outputs bit-identical to (a)"
    )

    r = RawInstance(PATCH)
    amp, calls = r.exports["set_track_amp"], []
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(NBLOCKS):
            amp(r.store, 1.0)
        calls.append((time.perf_counter() - t) / NBLOCKS)
    print(f"wasmtime-py overhead of one call to a trivial export (set_track_amp): {med(calls) * 1e6:.1f} us")

    print("\nprocess start (fresh subprocess; compiled() time / first Engine+render / whole process):")
    starts = process_start(3)
    for flag, label in ((False, "compile + write cache (empty)"), (True, "deserialize cached artefact")):
        rows = starts[flag]
        print(
            f"  {label:30s} {med(r[0] for r in rows) * 1e3:8.1f} ms / {med(r[1] for r in rows) * 1e3:6.1f} ms"
            f" / {med(r[2] for r in rows) * 1e3:7.0f} ms"
        )

    create = []
    gw.Engine()
    for _ in range(200):
        t = time.perf_counter()
        gw.Engine()
        create.append(time.perf_counter() - t)
    print(f"\nEngine() creation (instantiate + buffers): median {med(create) * 1e3:.2f} ms")

    same, changed, parsed = step_costs(300)
    print("step = set_code + render(5512 frames = 0.125 s, 44 blocks), median of 300:")
    print(f"  unchanged code: {med(same) * 1e3:.3f} ms ({0.125 / med(same):.0f}x real time)")
    print(
        f"  changed numbers, sent as messages (fast_updates, the default): {med(changed) * 1e3:.3f} ms "
        f"({0.125 / med(changed):.0f}x real time)"
    )
    print(
        f"  changed numbers, parsed by Glicol (fast_updates=False):         {med(parsed) * 1e3:.3f} ms "
        f"({0.125 / med(parsed):.0f}x real time)"
    )

    g, b, ee = guard_costs(3000)
    print("\nthread guard (ConcurrentUseGuard), render of one 128-frame block, median of 3000 interleaved:")
    print(f"  with guard {g * 1e6:.1f} us, without {b * 1e6:.1f} us, difference {(g - b) * 1e6:+.2f} us")
    print(f"  entering and leaving the guard alone: {ee * 1e6:.3f} us")
    return 0


if __name__ == "__main__":
    sys.exit(main())
