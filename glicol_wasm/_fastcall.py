"""A lean caller for the block loop's ``run`` export.

wasmtime-py's ``Func.__call__`` rebuilds the function's type and converts every
argument through generic checks on each call: measured here, about 80 us for a call
whose wasm work takes 7 us. ``run`` is called once per track per step, so that
overhead is a large part of a short step. :class:`I32Call` makes the same C API call
(``wasmtime_func_call``) with pre-built argument buffers.

It uses wasmtime-py's ``_ffi`` module, which is not public API. :func:`i32_caller`
therefore checks that the pieces it needs exist and falls back to the public call
when they do not (or when ``GLICOL_WASM_PUBLIC_CALLS=1`` is set); both paths give
identical results, which the tests check.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable
from typing import Any

import wasmtime

__all__ = ["i32_caller"]


class I32Call:
    """Call a wasm function taking ``nparams`` i32 and returning one i32."""

    __slots__ = ("_ffi", "_store", "_func", "_params", "_results", "_n", "_trap_t")

    def __init__(self, store: wasmtime.Store, func: wasmtime.Func, nparams: int) -> None:
        from wasmtime import _ffi as ffi  # not public: see the module docs

        self._ffi = ffi
        self._store = store
        self._func = ctypes.byref(func._func)
        self._n = nparams
        self._params = (ffi.wasmtime_val_t * nparams)()
        for p in self._params:
            p.kind = ffi.WASMTIME_I32.value
        self._results = (ffi.wasmtime_val_t * 1)()
        self._trap_t = ctypes.POINTER(ffi.wasm_trap_t)

    def __call__(self, *args: int) -> int:
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


def i32_caller(store: wasmtime.Store, func: wasmtime.Func, nparams: int) -> Callable[..., Any]:
    """A function calling ``func(store, *args)``, through :class:`I32Call` when possible."""
    if os.environ.get("GLICOL_WASM_PUBLIC_CALLS") != "1":
        try:
            ty = func.type(store)
            i32 = wasmtime.ValType.i32()
            if len(ty.params) == nparams and all(p == i32 for p in ty.params) and list(ty.results) == [i32]:
                return I32Call(store, func, nparams)
        except (AttributeError, ImportError, TypeError):  # wasmtime-py internals changed
            pass
    return lambda *args: func(store, *args)
