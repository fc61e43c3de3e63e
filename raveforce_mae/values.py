"""Numbers, notes and expressions as scenarios write them and Glicol reads them.

The small, pure pieces under :mod:`raveforce_mae.params`: formatting a value so that
Glicol parses it, note names and MIDI numbers, and the whitelisted arithmetic of
``rel`` parameters (parsed with :mod:`ast`, never ``eval``-ed).
"""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from .errors import ParameterError

__all__ = ["compile_expr", "format_number", "hz_to_midi", "midi_to_hz", "note_number", "show_short"]


# -- numbers --------------------------------------------------------------------------------


def format_number(value: float) -> str:
    """Format a number so that Glicol parses it.

    Glicol rejects exponents (``5e-1``) and a leading dot (``.5``). The rule here: six
    significant digits, written out positionally; integers without a decimal point;
    never ``-0``. A nonzero value never becomes ``0``: ``1e-9`` gives
    ``0.000000001``.

    Args:
        value: A finite number.

    Returns:
        The text, e.g. ``"440"``, ``"0.0001"``, ``"55.5"``, ``"-0.25"``.

    Raises:
        ParameterError: if ``value`` is NaN or infinite.
    """
    s = f"{value:.6g}"
    if "e" in s or "n" in s:  # exponent, or nan/inf
        v = float(value)
        if not math.isfinite(v):
            raise ParameterError(f"cannot format {value!r} for Glicol: expected a finite number")
        s = np.format_float_positional(v, precision=6, unique=False, fractional=False, trim="-")
    if s == "-0":
        return "0"
    return s


def _finite(v: Any) -> bool:
    """Whether a real number is finite (a huge int is not: it has no float)."""
    try:
        return math.isfinite(v)
    except OverflowError:
        return False


def _float(v: Any) -> float:
    """``float(v)``, with ints beyond the float range as infinities (refused as non-finite)."""
    try:
        return float(v)
    except OverflowError:
        return math.inf if v > 0 else -math.inf


def show_short(v: Any) -> str:
    """``repr(v)`` cut to 120 characters, for error messages."""
    text = repr(v)
    return text if len(text) < 120 else text[:117] + "..."


def midi_to_hz(note: float) -> float:
    """Frequency in Hz of a MIDI note number (A4 = 69 = 440 Hz)."""
    return 440.0 * 2.0 ** ((note - 69.0) / 12.0)


def hz_to_midi(freq: float) -> float:
    """MIDI note number (not rounded) of a frequency in Hz."""
    return 69.0 + 12.0 * math.log2(freq / 440.0)


_NOTE = re.compile(r"^([a-gA-G])([#sb]?)(-?\d+)$")
_PC = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}


def note_number(note: Any) -> int:
    """A MIDI note number from an int or a note name (``"A1"`` = 33, ``"c#3"``, ``"Bb2"``).

    Octaves follow the MIDI convention C4 = 60 (so A1 = 33, 55 Hz).

    Raises:
        ValueError: if ``note`` is neither an integral number nor a note name.
    """
    if isinstance(note, str):
        m = _NOTE.match(note.strip())
        if not m:
            raise ValueError(f"not a note name: {note!r}; expected e.g. 'A1', 'c#3' or 'Bb2'")
        acc = {"#": 1, "s": 1, "b": -1, "": 0}[m.group(2)]
        return 12 * (int(m.group(3)) + 1) + _PC[m.group(1).lower()] + acc
    if isinstance(note, bool) or not isinstance(note, (int, float, np.integer, np.floating)):
        raise ValueError(f"not a note: {note!r}; expected a MIDI number or a name like 'A1'")
    try:
        whole = float(note).is_integer()
    except OverflowError:  # an int beyond the float range
        raise ValueError(f"not a MIDI note: {show_short(note)}; expected a number within 0..127") from None
    if not whole:
        raise ValueError(f"a MIDI note must be a whole number, got {note!r}")
    return int(note)


# -- the safe expression evaluator ----------------------------------------------------------

_BINOPS: dict[type, Callable[[float, float], float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
}


def _clip(x: float, lo: float, hi: float) -> float:
    return lo if x < lo else hi if x > hi else x


_FUNCS: dict[str, tuple[Callable[..., float], int, int]] = {
    # name: (function, min args, max args)
    "min": (min, 2, 64),
    "max": (max, 2, 64),
    "abs": (abs, 1, 1),
    "clip": (_clip, 3, 3),
}
_MAX_EXPR = 500


def compile_expr(
    text: str, names: Sequence[str] | None = None
) -> tuple[Callable[[Mapping[str, float]], float], tuple[str, ...]]:
    """Compile a small arithmetic expression into a function of a name -> value mapping.

    Allowed: numbers, names, ``+ - * / **``, unary ``-``/``+``, parentheses and the
    functions ``min``, ``max``, ``abs`` and ``clip(x, lo, hi)``. The text is parsed
    with :mod:`ast` and only those nodes are accepted; nothing is ever ``eval``-ed.

    Args:
        text: The expression, e.g. ``"dur - 0.0001 - attack"``.
        names: If given, the names the expression may use; any other name is an error.

    Returns:
        ``(fn, used)``: ``fn(env)`` computes the value (a float) from a mapping that
        holds every used name; ``used`` are the names in order of first use.

    Raises:
        ValueError: on a syntax error, a disallowed construct or an unknown name. The
            message says what is allowed.
    """
    if not isinstance(text, str):
        raise ValueError(f"an expression must be a string, got {type(text).__name__}")
    if len(text) > _MAX_EXPR:
        raise ValueError(f"expression longer than {_MAX_EXPR} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as e:
        raise ValueError(f"cannot parse expression {text!r}: {e.msg}") from None
    allowed = None if names is None else set(names)
    used: list[str] = []

    def build(node: ast.AST) -> Callable[[Mapping[str, float]], float]:
        if isinstance(node, ast.Constant):
            v = node.value
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ValueError(f"in {text!r}: only numbers are allowed as constants, got {v!r}")
            c = float(v)
            return lambda env: c
        if isinstance(node, ast.Name):
            name = node.id
            if name in _FUNCS:
                raise ValueError(f"in {text!r}: {name} is a function; call it as {name}(...)")
            if allowed is not None and name not in allowed:
                raise ValueError(f"in {text!r}: unknown name {name!r}; expected one of {sorted(allowed)}")
            if name not in used:
                used.append(name)
            return lambda env: env[name]
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            op = _BINOPS[type(node.op)]
            a, b = build(node.left), build(node.right)
            return lambda env: op(a(env), b(env))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            a = build(node.operand)
            if isinstance(node.op, ast.USub):
                return lambda env: -a(env)
            return a
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCS:
            fn, lo, hi = _FUNCS[node.func.id]
            if node.keywords or not lo <= len(node.args) <= hi:
                raise ValueError(
                    f"in {text!r}: {node.func.id}() takes "
                    f"{lo if lo == hi else f'{lo} or more'} positional arguments"
                )
            args = [build(x) for x in node.args]
            return lambda env: fn(*[f(env) for f in args])
        raise ValueError(
            f"in {text!r}: {type(node).__name__} is not allowed; expressions may use numbers, "
            "names, + - * / **, parentheses, min, max, abs and clip"
        )

    body = build(tree.body)

    def run(env: Mapping[str, float]) -> float:
        try:
            return float(body(env))
        except (ZeroDivisionError, OverflowError, TypeError) as e:
            raise ParameterError(f"expression {text!r} failed: {e}") from None

    return run, tuple(used)


# -- Param ----------------------------------------------------------------------------------
