"""Where the engine's shadow stack lies in its linear memory, read from the wasm binary.

Rust compiles to wasm with the stack first: the shadow stack occupies addresses
``[0, S)``, where ``S`` is the initial value of the module's one mutable global
(``__stack_pointer``); static data follows from ``S``, then the heap. Between two
calls into the engine the stack is empty (the stack pointer is back at ``S``), so
the bytes below ``S`` are dead: nothing reads them before writing them. A restore
of a snapshot therefore need not copy them (they are two thirds of a small patch's
memory).

Only the binary's own sections are read (the global and data sections); when the
layout is not exactly this (no single mutable ``i32`` global, or a data segment
below ``S``), :func:`dead_stack_end` returns 0 and every byte is restored.
"""

from __future__ import annotations

import functools
from pathlib import Path

__all__ = ["dead_stack_end"]

_GLOBAL_SECTION = 6
_DATA_SECTION = 11
_I32 = 0x7F
_I32_CONST = 0x41
_END = 0x0B


def _leb(b: bytes, i: int, signed: bool = False) -> tuple[int, int]:
    """A LEB128 integer at ``b[i]`` (signed or not) and the index after it."""
    out = shift = 0
    while True:
        byte = b[i]
        i += 1
        out |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            if signed and byte & 0x40:
                out -= 1 << shift
            return out, i


def _i32_const(b: bytes, i: int) -> tuple[int | None, int]:
    """An ``i32.const N; end`` expression's ``N`` (None for any other expression)."""
    if b[i] != _I32_CONST:
        return None, i
    value, i = _leb(b, i + 1, signed=True)
    if b[i] != _END:
        return None, i
    return value, i + 1


def _sections(b: bytes) -> dict[int, bytes]:
    if b[:4] != b"\0asm":
        raise ValueError("not a wasm binary")
    out: dict[int, bytes] = {}
    i = 8
    while i < len(b):
        sid = b[i]
        size, i = _leb(b, i + 1)
        if sid:  # custom sections (id 0) may repeat; they are not needed
            out[sid] = b[i : i + size]
        i += size
    return out


def stack_end_of(wasm: bytes) -> int:
    """``S`` for a stack-first binary (the stack is ``[0, S)``), else 0. See the module docs."""
    try:
        sec = _sections(wasm)
        glob = sec.get(_GLOBAL_SECTION, b"")
        stack: list[int] = []
        if glob:
            n, i = _leb(glob, 0)
            for _ in range(n):
                valtype, mutable = glob[i], glob[i + 1]
                value, i = _i32_const(glob, i + 2)
                if value is None:
                    return 0  # an initialiser this reader does not know
                if mutable:
                    if valtype != _I32:
                        return 0
                    stack.append(value)
        if len(stack) != 1 or stack[0] <= 0:
            return 0
        top = stack[0]
        data = sec.get(_DATA_SECTION, b"")
        if data:
            n, i = _leb(data, 0)
            for _ in range(n):
                flags, i = _leb(data, i)
                if flags == 2:
                    _, i = _leb(data, i)  # memory index
                if flags in (0, 2):
                    offset, i = _i32_const(data, i)
                    if offset is None or offset < top:
                        return 0
                elif flags != 1:
                    return 0
                size, i = _leb(data, i)
                i += size
        return top
    except (IndexError, ValueError):
        return 0


@functools.lru_cache(maxsize=4)
def dead_stack_end(wasm_path: Path) -> int:
    """:func:`stack_end_of` the binary at ``wasm_path`` (read once per process)."""
    return stack_end_of(Path(wasm_path).read_bytes())
