"""The wasmtime boundary: every call into wasmtime-py, typed once.

wasmtime-py types a linker look-up as the union of every kind of extern and a
call's result as ``Any``. This module narrows them at the one place they are
used (with checks that say which export had the wrong kind, should a different
Glicol build be loaded), so the rest of the package is type-checked without
casts or ``type: ignore``. It holds:

* :data:`LOOP_WAT`, the block loop compiled next to the engine;
* :class:`Instance`, one wasm instance of the engine with its reused buffers and a
  numpy view of its linear memory;
* :class:`I32Call`, a lean caller for the loop's ``run`` export, through the C API.

The engine's exports (npm glicol@0.4.0, a raw C ABI, one global engine per
instance): ``alloc(n_floats)``, ``alloc_uint8array(n_bytes)`` (never freed),
``process(in, out, size, res)`` rendering one block of 128 frames as planar stereo
float32 and writing a 256-byte result buffer, ``update(ptr, len)`` (applied inside
the next ``process``), ``live_coding_mode``, ``set_sr``, ``set_bpm``, ``set_seed``
(each taking an f32), ``add_sample(name_ptr, name_len, data_ptr, n_floats,
channels, sr)``. Its one import is ``env.now() -> f64``.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import wasmtime

from .errors import GlicolError

__all__ = [
    "BLOCK",
    "LOOP_WAT",
    "I32Call",
    "Instance",
    "Modules",
    "SampleData",
    "Trap",
    "WasmtimeError",
    "i32_caller",
]

BLOCK = 128
"""Frames per engine block."""

Trap = wasmtime.Trap
WasmtimeError = wasmtime.WasmtimeError

_CODE_CAPACITY = 1 << 16  # bytes of code the reused buffer holds; grown if needed
DST_BLOCKS = 256  # blocks one call of the wasm loop may write (256 KiB)

# The block loop: runs `n` blocks of `process` inside wasm, copying each block's
# planar stereo output (256 float32 = 1024 bytes) to dst + i * 1024. If `msg_len` is
# non-zero, the `msg_len` bytes after the code in the code buffer are sent with
# `send_msg` first (applied at once); if `code_len` is non-zero, the code at the code
# buffer is submitted with `update` (applied by the next `process`). So one call from
# Python changes the code or its numbers and renders a whole step. It stops at the first block
# whose result buffer reports an error and returns that block's index, or -1. The
# buffer addresses are set once per instance with `setup`: every argument of a call
# from Python costs a type check in wasmtime-py, so `run` takes only three.
LOOP_WAT = """
(module
 (import "g" "memory" (memory 1))
 (import "g" "process" (func $process (param i32 i32 i32 i32)))
 (import "g" "update" (func $update (param i32 i32)))
 (import "g" "send_msg" (func $send_msg (param i32 i32)))
 (import "g" "alloc" (func $alloc (param i32) (result i32)))
 (import "g" "live_coding_mode" (func $live (param i32)))
 (import "g" "set_sr" (func $set_sr (param f32)))
 (import "g" "set_bpm" (func $set_bpm (param f32)))
 (import "g" "set_seed" (func $set_seed (param f32)))
 (global $in (mut i32) (i32.const 0))
 (global $out (mut i32) (i32.const 0))
 (global $res (mut i32) (i32.const 0))
 (global $dst (mut i32) (i32.const 0))
 (global $code (mut i32) (i32.const 0))
 ;; One call sets up a fresh instance: one allocation for every buffer (in 1 KiB,
 ;; out 1 KiB, result 256 B, dst $dst_bytes, code $code_bytes), live-coding mode off,
 ;; then sample rate, bpm and seed, all before any code. Returns the base address.
 (func (export "init") (param $sr f32) (param $bpm f32) (param $seed f32)
  (param $dst_bytes i32) (param $code_bytes i32) (result i32)
  (local $base i32)
  (local.set $base (call $alloc (i32.shr_u
   (i32.add (i32.add (i32.const 2304) (local.get $dst_bytes)) (local.get $code_bytes))
   (i32.const 2))))
  (global.set $in (local.get $base))
  (global.set $out (i32.add (local.get $base) (i32.const 1024)))
  (global.set $res (i32.add (local.get $base) (i32.const 2048)))
  (global.set $dst (i32.add (local.get $base) (i32.const 2304)))
  (global.set $code (i32.add (i32.add (local.get $base) (i32.const 2304)) (local.get $dst_bytes)))
  (call $live (i32.const 0))
  (call $set_sr (local.get $sr))
  (call $set_bpm (local.get $bpm))
  (call $set_seed (local.get $seed))
  (local.get $base))
 (func (export "setup") (param i32 i32 i32 i32 i32)
  (global.set $in (local.get 0)) (global.set $out (local.get 1))
  (global.set $res (local.get 2)) (global.set $dst (local.get 3))
  (global.set $code (local.get 4)))
 (func (export "run") (param $n i32) (param $code_len i32) (param $msg_len i32) (result i32)
  (local $i i32)
  (if (local.get $msg_len) (then
   (call $send_msg (i32.add (global.get $code) (local.get $code_len)) (local.get $msg_len))))
  (if (local.get $code_len) (then (call $update (global.get $code) (local.get $code_len))))
  (block $done
   (loop $next
    (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
    (call $process (global.get $in) (global.get $out) (i32.const 256) (global.get $res))
    (memory.copy
     (i32.add (global.get $dst) (i32.shl (local.get $i) (i32.const 10)))
     (global.get $out) (i32.const 1024))
    (if (i32.load8_u (global.get $res)) (then (return (local.get $i))))
    (local.set $i (i32.add (local.get $i) (i32.const 1)))
    (br $next)))
  (i32.const -1)))
"""


@dataclass(frozen=True)
class Modules:
    """The compiled engine and loop modules, shared by every instance in the process."""

    engine: wasmtime.Engine
    glicol: wasmtime.Module
    loop: wasmtime.Module


@dataclass
class SampleData:
    """A sample as the engine takes it."""

    data: np.ndarray  # planar float32: all L then all R
    channels: int
    sample_rate: int


def _as_int(value: object, what: str) -> int:
    # wasmtime-py returns a call's single i32 result as a Python int.
    if not isinstance(value, int):
        raise GlicolError(f"the engine's {what} returned {value!r}, expected an i32")
    return value


class I32Call:
    """Call a wasm function taking ``nparams`` i32 and returning one i32.

    wasmtime-py's ``Func.__call__`` rebuilds the function's type and converts every
    argument through generic checks on each call: measured here, about 80 us for a
    call whose wasm work takes 7 us. ``run`` is called once per track per step, so
    that overhead is a large part of a short step. This class makes the same C API
    call (``wasmtime_func_call``) with pre-built argument buffers. It uses
    wasmtime-py's ``_ffi`` module, which is not public API: :func:`i32_caller` checks
    that the pieces it needs exist and falls back to the public call otherwise.
    """

    __slots__ = ("_ffi", "_store", "_func", "_params", "_results", "_n", "_trap_t")

    def __init__(self, store: wasmtime.Store, func: wasmtime.Func, nparams: int) -> None:
        from wasmtime import _ffi  # not public: see the class docs

        # The ctypes structures below come from wasmtime-py's private bindings, whose
        # generated types do not describe these uses; they are held as Any here.
        ffi: Any = _ffi
        self._ffi = ffi
        self._store = store
        self._func: Any = ctypes.byref(func._func)
        self._n = nparams
        self._params: Any = (ffi.wasmtime_val_t * nparams)()
        for p in self._params:
            p.kind = ffi.WASMTIME_I32.value
        self._results: Any = (ffi.wasmtime_val_t * 1)()
        self._trap_t: Any = ctypes.POINTER(ffi.wasm_trap_t)

    def __call__(self, *args: int) -> int:
        """Call the function; raises ``wasmtime.Trap`` or ``wasmtime.WasmtimeError``."""
        ffi = self._ffi
        params = self._params
        for i, a in enumerate(args):
            params[i].of.i32 = a
        trap = self._trap_t()
        error = ffi.wasmtime_func_call(
            self._store._context(), self._func, params, self._n, self._results, 1, ctypes.byref(trap)
        )
        if error:
            raise wasmtime.WasmtimeError._from_ptr(error)
        if trap:
            raise wasmtime.Trap._from_ptr(trap)
        return int(self._results[0].of.i32)


def i32_caller(store: wasmtime.Store, func: wasmtime.Func, nparams: int) -> Callable[..., int]:
    """A function calling ``func(store, *args)``, through :class:`I32Call` when possible.

    ``GLICOL_WASM_PUBLIC_CALLS=1`` forces wasmtime-py's public call; both paths give
    identical results, which the tests check.
    """
    if os.environ.get("GLICOL_WASM_PUBLIC_CALLS") != "1":
        try:
            ty = func.type(store)
            i32 = wasmtime.ValType.i32()
            if len(ty.params) == nparams and all(p == i32 for p in ty.params) and list(ty.results) == [i32]:
                return I32Call(store, func, nparams)
        except (AttributeError, ImportError, TypeError):  # wasmtime-py internals changed
            pass

    def public(*args: int) -> int:
        return _as_int(func(store, *args), "loop")

    return public


class Instance:
    """One wasm instance of the engine, its reused buffers and a view of its memory.

    Buffers are allocated once and reused: the engine has no free export, and a fresh
    allocation per update leaks.
    """

    __slots__ = (
        "store",
        "memory",
        "run",
        "_setup",
        "_mem",
        "_size",
        "_linker",
        "in_ptr",
        "out_ptr",
        "res_ptr",
        "dst_ptr",
        "code_ptr",
        "code_cap",
        "last_code",
    )

    def __init__(self, modules: Modules, sample_rate: int, bpm: float, seed: float) -> None:
        s = self.store = wasmtime.Store(modules.engine)
        linker = self._linker = wasmtime.Linker(modules.engine)
        # `now` is only read by rhai's timestamp(); a constant keeps renders reproducible.
        linker.define_func("env", "now", wasmtime.FuncType([], [wasmtime.ValType.f64()]), lambda: 0.0)
        inst = linker.instantiate(s, modules.glicol)
        linker.define_instance(s, "g", inst)
        lx = linker.instantiate(s, modules.loop).exports(s)
        self.run = i32_caller(s, _func(lx["run"], "run"), 3)
        self._setup = _func(lx["setup"], "setup")
        mem = linker.get(s, "g", "memory")
        if not isinstance(mem, wasmtime.Memory):
            raise GlicolError(f"the engine's export 'memory' is a {type(mem).__name__}, expected a Memory")
        self.memory = mem
        # `init` allocates every buffer in one block, sets live-coding mode off, sample
        # rate, bpm and seed, in one call (each call from Python costs tens of us).
        self.code_cap = _CODE_CAPACITY
        init = _func(lx["init"], "init")
        base = _as_int(
            init(s, float(sample_rate), float(bpm), float(seed), DST_BLOCKS * 1024, self.code_cap), "init"
        )
        self.in_ptr = base
        self.out_ptr = base + 1024
        self.res_ptr = base + 2048
        self.dst_ptr = base + 2304
        self.code_ptr = self.dst_ptr + DST_BLOCKS * 1024
        self.last_code: bytes | None = None
        self._size = -1
        self._mem = np.zeros(0, np.uint8)

    def call(self, name: str, *args: int | float) -> int | None:
        """Call an export of the engine instance, looked up on demand (rarely used ones)."""
        result = _func(self._linker.get(self.store, "g", name), name)(self.store, *args)
        return None if result is None else _as_int(result, name)

    def alloc_bytes(self, n: int) -> int:
        """Allocate ``n`` bytes in the engine's memory (never freed); returns the address."""
        ptr = self.call("alloc_uint8array", n)
        assert ptr is not None  # alloc_uint8array returns an i32
        return ptr

    def setup(self) -> None:
        """Tell the loop module the current buffer addresses."""
        self._setup(self.store, self.in_ptr, self.out_ptr, self.res_ptr, self.dst_ptr, self.code_ptr)

    def memory_size(self) -> int:
        """Current size of the linear memory in bytes."""
        return self.memory.data_len(self.store)

    def grow_to(self, nbytes: int) -> None:
        """Grow the linear memory to at least ``nbytes`` (whole 64 KiB pages)."""
        have = self.memory_size()
        if nbytes > have:
            self.memory.grow(self.store, -(-(nbytes - have) // 65536))

    def load_sample(self, name: str, sample: SampleData) -> None:
        """Register ``sample`` under ``name`` (which includes the leading backslash)."""
        raw_name = name.encode()
        data = sample.data.tobytes()
        name_ptr = self.alloc_bytes(len(raw_name))
        data_ptr = self.alloc_bytes(len(data))
        self.memory.write(self.store, raw_name, name_ptr)
        self.memory.write(self.store, data, data_ptr)
        self.call(
            "add_sample",
            name_ptr,
            len(raw_name),
            data_ptr,
            sample.data.size,
            sample.channels,
            sample.sample_rate,
        )

    def view(self) -> np.ndarray:
        """A uint8 numpy view of the whole linear memory, rebuilt when the memory grows.

        Reading and writing through a view avoids wasmtime-py's per-call checks; the view
        stays valid until the memory grows, which only changes its size.
        """
        size = self.memory.data_len(self.store)
        if size != self._size:
            ptr = self.memory.data_ptr(self.store)
            self._mem = np.ctypeslib.as_array(ptr, shape=(size,))
            self._size = size
        return self._mem

    def render_blocks(
        self, nblocks: int, code: bytes | None, messages: bytes = b""
    ) -> tuple[np.ndarray, bytes | None, int]:
        """Render ``nblocks`` blocks, sending ``messages`` and submitting ``code`` (if new) first.

        ``messages`` are ``send_msg`` commands (``chain,node,param,value;...``), applied
        at once; ``code`` is applied by the first block.

        Returns:
            (blocks as (n, 2, 128) float32, raw result buffer or None, failing block).

        Raises:
            wasmtime.Trap: if the engine panicked.
        """
        code_len = 0
        if code is not None and code != self.last_code:
            code_len = len(code)
            self.last_code = code
            if not code_len:
                # The loop reads code_len 0 as "no update", but empty code must still be
                # submitted: the engine then clears the graph (silence).
                self.call("update", self.code_ptr, 0)
        msg_len = len(messages)
        if code_len + msg_len:
            need = code_len + msg_len
            if need > self.code_cap:
                self.code_cap = 1 << (need - 1).bit_length()
                self.code_ptr = self.alloc_bytes(self.code_cap)
                self.setup()
            mem = self.view()
            if code_len:
                assert code is not None
                mem[self.code_ptr : self.code_ptr + code_len] = np.frombuffer(code, np.uint8)
            if msg_len:
                start = self.code_ptr + code_len
                mem[start : start + msg_len] = np.frombuffer(messages, np.uint8)
        out = np.empty((nblocks, 2, BLOCK), dtype=np.float32)
        done = 0
        while done < nblocks or code_len or msg_len:
            n = min(nblocks - done, DST_BLOCKS)
            failed = self.run(n, code_len, msg_len)
            code_len = msg_len = 0
            mem = self.view()  # the memory may have grown during the call
            if failed >= 0:
                res = mem[self.res_ptr : self.res_ptr + 256].tobytes()
                return out[:0], res, done + failed
            out[done : done + n] = (
                mem[self.dst_ptr : self.dst_ptr + n * 1024].view(np.float32).reshape(n, 2, BLOCK)
            )
            done += n
        return out, None, -1


def _func(ext: object, name: str) -> wasmtime.Func:
    if not isinstance(ext, wasmtime.Func):
        raise GlicolError(f"the engine's export {name!r} is a {type(ext).__name__}, expected a function")
    return ext
