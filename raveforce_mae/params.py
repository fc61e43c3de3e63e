"""Parameters: the numbers an agent fills into its Glicol chain.

Every hole of a track's chain (``{cutoff}``) has a :class:`Param` that maps a
normalised action ``u`` in [-1, 1] to a value in the parameter's own units and formats
it as a number Glicol parses. Kinds:

- ``lin``: ``low + (u + 1) / 2 * (high - low)``.
- ``exp``: log-scaled between ``low`` and ``high`` (both > 0), as RaveForce's ``exp``.
- ``note``: an integer MIDI note in [low, high]; rendered in Hz (``unit="hz"``, for
  oscillators) or as the note number (``unit="midi"``, for ``seq``).
- ``int``: an integer in [low, high].
- ``choose``: one of ``choices``.
- ``rel``: derived from other parameters and constants, e.g.
  ``decay = dur - 0.0001 - attack``: a small arithmetic expression (a string, checked
  and compiled by :func:`compile_expr`, never ``eval``), or a Python callable.

``note``, ``int`` and ``choose`` split [-1, 1] into equal bins, one per value, so that a
uniformly random action picks every value equally often; :meth:`Param.to_unit`
returns the centre of the value's bin.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import ParameterError, ScenarioError
from .values import (
    _clip,
    _finite,
    _float,
    compile_expr,
    format_number,
    hz_to_midi,
    midi_to_hz,
    note_number,
    show_short,
)

__all__ = [
    "KINDS",
    "MAX_INT",
    "MAX_MAGNITUDE",
    "NOTE_RANGE",
    "Param",
    "compile_expr",
    "complete",
    "format_number",
    "midi_to_hz",
    "hz_to_midi",
    "note_number",
    "resolve",
    "rel_order",
]

KINDS = ("lin", "exp", "note", "choose", "int", "rel")
"""Valid parameter kinds."""

UNITS = ("hz", "midi")
"""Valid units of ``note`` parameters."""

MAX_MAGNITUDE = 1e9
"""Largest absolute value of a parameter's ``low``, ``high`` or choices. Glicol reads
numbers as 32-bit floats and no node takes a useful value beyond this; the bound keeps
``high - low`` finite, so that no value maps to ``inf``."""
NOTE_RANGE = (0, 127)
"""MIDI note numbers a ``note`` parameter may span (the MIDI range: 8.2 Hz to 12.5 kHz)."""
MAX_INT = 999_999
"""Largest absolute value of an ``int`` parameter's ``low`` and ``high``: numbers reach
Glicol with six significant digits, so larger integers would be written rounded. An
``int`` range has at most 1,999,999 values, none of them materialised: the value of an
action is computed from its bin."""


@dataclass(frozen=True, eq=False)
class Param:
    """One hole of a chain template.

    Attributes:
        name: The hole's name (a Python identifier), e.g. ``"cutoff"``.
        kind: One of ``lin``, ``exp``, ``note``, ``choose``, ``int``, ``rel``.
        low: Lower bound (MIDI note for ``note``); for ``rel``, an optional clamp.
        high: Upper bound, > ``low``; for ``rel``, an optional clamp.
        choices: The values of a ``choose`` parameter.
        unit: ``"hz"`` or ``"midi"`` for ``note`` (how the value is written into the
            code); ``""`` otherwise.
        expr: For ``rel``: an expression string over other parameters and constants,
            or a callable (see ``depends``).
        depends: For a callable ``rel``: the names whose values are passed to it, in
            order (``fn(*values)``); empty means ``fn(mapping)`` with every free value
            and constant. For an expression: the names it uses (filled in for you).
        doc: Optional description for humans.
    """

    name: str
    kind: str
    low: float | None = None
    high: float | None = None
    choices: tuple[float, ...] = ()
    unit: str = ""
    expr: str | Callable[..., float] | None = None
    depends: tuple[str, ...] = ()
    doc: str = ""
    _fn: Any = field(default=None, repr=False, compare=False)
    _map: Any = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        where = f"parameter {self.name!r}"
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ScenarioError(f"parameter name must be an identifier, got {self.name!r}")
        if self.kind not in KINDS:
            raise ScenarioError(f"{where}: kind must be one of {list(KINDS)}, got {self.kind!r}")
        set_ = object.__setattr__
        if self.kind == "rel":
            if isinstance(self.expr, str):
                try:
                    fn, used = compile_expr(self.expr)
                except ValueError as e:
                    raise ScenarioError(f"{where}: {e}") from None
                if self.name in used:
                    raise ScenarioError(f"{where}: the expression {self.expr!r} uses the parameter itself")
                set_(self, "depends", used)
                set_(self, "_fn", fn)
            elif callable(self.expr):
                set_(self, "depends", tuple(self.depends))
            else:
                raise ScenarioError(
                    f"{where}: a 'rel' parameter needs expr, an expression string such as "
                    f"'dur - 0.0001 - attack' or a callable, got {self.expr!r}"
                )
            if (self.low is None) != (self.high is None):
                raise ScenarioError(f"{where}: give both low and high to clamp a 'rel' value, or neither")
        if self.kind == "choose":
            if self.low is not None or self.high is not None:
                raise ScenarioError(f"{where}: 'choose' takes choices, not low/high")
            try:
                ch = tuple(float(c) for c in self.choices)
            except (TypeError, ValueError, OverflowError):
                raise ScenarioError(
                    f"{where}: choices must be a list of numbers, got {self.choices!r}"
                ) from None
            if not ch or not all(math.isfinite(c) and abs(c) <= MAX_MAGNITUDE for c in ch):
                raise ScenarioError(
                    f"{where}: choices must be a non-empty list of finite numbers within "
                    f"-{MAX_MAGNITUDE:g}..{MAX_MAGNITUDE:g}, got {show_short(self.choices)}"
                )
            set_(self, "choices", ch)
        elif self.choices:
            raise ScenarioError(f"{where}: only 'choose' parameters take choices")
        if self.kind in ("lin", "exp", "note", "int") or (self.kind == "rel" and self.low is not None):
            for k in ("low", "high"):
                v = getattr(self, k)
                if (
                    isinstance(v, bool)
                    or not isinstance(v, (int, float, np.integer, np.floating))
                    or not _finite(v)
                ):
                    raise ScenarioError(f"{where}: {k} must be a finite number, got {v!r}")
                if abs(v) > MAX_MAGNITUDE:
                    raise ScenarioError(
                        f"{where}: {k} must be within -{MAX_MAGNITUDE:g}..{MAX_MAGNITUDE:g}, got {v!r}"
                    )
                set_(self, k, float(v))
            assert self.low is not None and self.high is not None
            if not self.low < self.high:
                raise ScenarioError(f"{where}: expected low < high, got low={self.low:g}, high={self.high:g}")
            if self.kind == "exp" and self.low <= 0:
                raise ScenarioError(f"{where}: 'exp' needs 0 < low < high, got low={self.low:g}")
            if self.kind in ("note", "int") and not (self.low.is_integer() and self.high.is_integer()):
                raise ScenarioError(
                    f"{where}: '{self.kind}' needs whole-number low and high, got {self.low:g}, {self.high:g}"
                )
            if self.kind == "note" and not NOTE_RANGE[0] <= self.low < self.high <= NOTE_RANGE[1]:
                raise ScenarioError(
                    f"{where}: 'note' needs low and high within the MIDI range "
                    f"{NOTE_RANGE[0]}..{NOTE_RANGE[1]}, got {self.low:g}..{self.high:g}"
                )
            if self.kind == "int" and not -MAX_INT <= self.low < self.high <= MAX_INT:
                raise ScenarioError(
                    f"{where}: 'int' needs low and high within -{MAX_INT}..{MAX_INT} (Glicol is "
                    f"given six significant digits), got {self.low:g}..{self.high:g}"
                )
        if self.kind == "note":
            unit = self.unit or "hz"
            if unit not in UNITS:
                raise ScenarioError(f"{where}: unit must be 'hz' or 'midi', got {self.unit!r}")
            set_(self, "unit", unit)
        elif self.unit:
            raise ScenarioError(f"{where}: only 'note' parameters take a unit")
        if self.kind != "rel" and (self.expr is not None or self.depends):
            raise ScenarioError(f"{where}: only 'rel' parameters take expr")
        set_(self, "_map", self._build_map())

    # -- pickling: compiled expressions are rebuilt -------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_fn"] = None
        state["_map"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if self.kind == "rel" and isinstance(self.expr, str):
            object.__setattr__(self, "_fn", compile_expr(self.expr)[0])
        object.__setattr__(self, "_map", self._build_map())

    # -- properties ------------------------------------------------------------------------

    @property
    def free(self) -> bool:
        """True for parameters an agent sets (every kind but ``rel``)."""
        return self.kind != "rel"

    @property
    def n_values(self) -> int:
        """Number of distinct values of a discrete parameter (0 for continuous ones)."""
        if self.kind == "choose":
            return len(self.choices)
        if self.kind in ("note", "int"):
            assert self.low is not None and self.high is not None
            return int(self.high - self.low) + 1
        return 0

    # -- mapping -------------------------------------------------------------------------------

    def from_unit(self, u: float) -> float:
        """Map a normalised action ``u`` (clipped to [-1, 1]) to this parameter's value.

        Raises:
            ParameterError: if ``u`` is NaN, or for a ``rel`` parameter.
        """
        if not u == u:  # NaN; inf is clipped like any out-of-range value
            raise ParameterError(f"parameter {self.name!r}: action is NaN; expected a value in [-1, 1]")
        if self.kind == "rel":
            raise ParameterError(f"parameter {self.name!r} is 'rel': it is derived, not set by an action")
        return self._map(float(u))

    def mapper(self) -> Callable[[float], float]:
        """A fast ``u -> value`` function (clips ``u``; does not check for NaN)."""
        return self._map

    def _build_map(self) -> Callable[[float], float] | None:
        kind = self.kind
        if kind == "rel":
            return None
        if kind == "lin":
            assert self.low is not None and self.high is not None
            lo, half = self.low, (self.high - self.low) * 0.5

            def lin(u: float) -> float:
                u = -1.0 if u < -1.0 else 1.0 if u > 1.0 else u
                return lo + (u + 1.0) * half

            return lin
        if kind == "exp":
            assert self.low is not None and self.high is not None
            lo, ratio = self.low, self.high / self.low

            def exp(u: float) -> float:
                u = -1.0 if u < -1.0 else 1.0 if u > 1.0 else u
                return lo * ratio ** ((u + 1.0) * 0.5)

            return exp
        n = self.n_values
        half_n = n * 0.5
        last = n - 1
        if kind == "int":
            # Computed, not looked up: an int range may hold up to 2 * MAX_INT + 1 values.
            base = float(self.low)  # type: ignore[arg-type]

            def integer(u: float) -> float:
                u = -1.0 if u < -1.0 else 1.0 if u > 1.0 else u
                i = int((u + 1.0) * half_n)
                return base + (i if i < last else last)

            return integer
        if kind == "choose":
            table = self.choices
        elif kind == "note" and self.unit == "hz":  # at most 128 notes (NOTE_RANGE)
            table = tuple(midi_to_hz(self.low + i) for i in range(n))  # type: ignore[operator]
        else:
            table = tuple(float(self.low + i) for i in range(n))  # type: ignore[operator]

        def discrete(u: float) -> float:
            u = -1.0 if u < -1.0 else 1.0 if u > 1.0 else u
            i = int((u + 1.0) * half_n)
            return table[i if i < last else last]

        return discrete

    def discrete_units(self, bins: int = 11) -> tuple[float, ...]:
        """The normalised action of each index of this parameter's discrete action.

        ``note``, ``int`` and ``choose`` have one index per value: index ``i`` is the
        centre of value ``i``'s bin, so :meth:`from_unit` gives exactly value ``i``.
        ``lin`` and ``exp`` have ``bins`` indices on an evenly spaced grid of [-1, 1]
        that includes both ends, so the values run from ``low`` to ``high`` in the
        parameter's own scaling: evenly spaced for ``lin``, geometrically for ``exp``.

        Every number is a float32 value (returned as a Python float), so the same
        numbers given to the continuous ``Box(-1, 1, float32)`` action select the same
        values: a discrete action and its continuous equivalent render identical audio.

        Args:
            bins: Number of indices of a ``lin`` or ``exp`` parameter (>= 2).

        Returns:
            One ``u`` in [-1, 1] per index, in increasing order.

        Raises:
            ParameterError: for a ``rel`` parameter or fewer than 2 bins.
        """
        if self.kind == "rel":
            raise ParameterError(f"parameter {self.name!r} is 'rel': it has no action")
        if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 2:
            raise ParameterError(f"discrete_bins must be an int >= 2, got {bins!r}")
        n = self.n_values
        if n:
            grid = (2.0 * np.arange(n) + 1.0) / n - 1.0
        else:
            grid = np.linspace(-1.0, 1.0, int(bins))
        return tuple(float(u) for u in grid.astype(np.float32))

    def index_of(self, value: float) -> int:
        """Bin index of a value of a discrete parameter (nearest value)."""
        if self.kind == "choose":
            return int(np.argmin([abs(c - value) for c in self.choices]))
        assert self.low is not None
        v = hz_to_midi(value) if (self.kind == "note" and self.unit == "hz") else value
        return int(min(max(round(v - self.low), 0), self.n_values - 1))

    def to_unit(self, value: float) -> float:
        """The normalised action that gives ``value`` (the inverse of :meth:`from_unit`).

        Exact for ``lin`` and ``exp``; the centre of the value's bin for ``note``,
        ``int`` and ``choose``. Values outside the range map outside [-1, 1].

        Raises:
            ParameterError: for a ``rel`` parameter, or a non-finite value.
        """
        value = _float(value)
        if not math.isfinite(value):
            raise ParameterError(f"parameter {self.name!r}: value {value} is not finite")
        kind = self.kind
        if kind == "lin":
            return 2.0 * (value - self.low) / (self.high - self.low) - 1.0  # type: ignore[operator]
        if kind == "exp":
            if value <= 0:
                raise ParameterError(f"parameter {self.name!r}: 'exp' value must be > 0, got {value}")
            return 2.0 * math.log(value / self.low) / math.log(self.high / self.low) - 1.0  # type: ignore[operator]
        if kind == "rel":
            raise ParameterError(f"parameter {self.name!r} is 'rel': it has no action")
        n = self.n_values
        return -1.0 + (2 * self.index_of(value) + 1) / n

    def check(self, value: float) -> float:
        """Validate a value of this parameter (a reference value, say) and return it.

        Returns:
            The value, snapped to the exact note frequency for ``note`` in Hz.

        Raises:
            ValueError: if the value is outside the range or not one of the choices.
        """
        value = _float(value)
        if not math.isfinite(value):
            raise ValueError(f"expected a finite number, got {value}")
        if self.kind == "choose":
            if value not in self.choices:
                raise ValueError(f"expected one of {list(self.choices)}, got {value:g}")
            return value
        if self.kind in ("lin", "exp", "note", "int"):
            assert self.low is not None and self.high is not None
            if self.kind in ("int", "note") and not value.is_integer():
                raise ValueError(f"expected a whole number, got {value:g}")
            if not self.low <= value <= self.high:
                raise ValueError(f"expected a value in [{self.low:g}, {self.high:g}], got {value:g}")
        return value

    def describe(self) -> str:
        """One line for humans, e.g. ``cutoff: exp 100..4000``."""
        if self.kind == "choose":
            rng = "{" + ", ".join(format_number(c) for c in self.choices) + "}"
        elif self.kind == "rel":
            rng = f"= {self.expr if isinstance(self.expr, str) else getattr(self.expr, '__name__', 'fn')}"
            if self.low is not None:
                rng += f" clamped to {self.low:g}..{self.high:g}"
        elif self.kind == "note":
            rng = f"MIDI {self.low:g}..{self.high:g} ({self.unit})"
        else:
            rng = f"{self.low:g}..{self.high:g}"
        return f"{self.name}: {self.kind} {rng}" + (f"  // {self.doc}" if self.doc else "")

    # -- rel -------------------------------------------------------------------------------------

    def compute(self, env: Mapping[str, float]) -> float:
        """Compute a ``rel`` value from ``env`` (parameter values and constants), clamped."""
        if isinstance(self.expr, str):
            fn = self._fn
            if fn is None:  # pragma: no cover - rebuilt by __setstate__
                fn = compile_expr(self.expr)[0]
                object.__setattr__(self, "_fn", fn)
            v = fn(env)
        else:
            assert callable(self.expr)
            args = [env[d] for d in self.depends] if self.depends else [env]  # KeyError: a missing input
            try:
                out = self.expr(*args)
            except Exception as e:  # noqa: BLE001 - user code; report which parameter failed
                raise ParameterError(f"rel parameter {self.name!r}: its function raised {e!r}") from e
            if isinstance(out, bool) or not isinstance(out, (int, float, np.integer, np.floating)):
                raise ParameterError(
                    f"rel parameter {self.name!r}: its function returned {show_short(out)}; expected a number"
                )
            try:
                v = float(out)
            except OverflowError:  # an int beyond the float range
                v = math.inf
        if not math.isfinite(v):
            raise ParameterError(f"rel parameter {self.name!r} computed {v}; expected a finite number")
        if self.low is not None:
            v = _clip(v, self.low, self.high)  # type: ignore[arg-type]
        return v


# -- resolving rel parameters --------------------------------------------------------------------


def rel_order(params: Sequence[Param], known: Sequence[str] = ()) -> list[Param]:
    """The ``rel`` parameters in an order in which each one's inputs are computed first.

    Args:
        params: All parameters of a track.
        known: Other names that are available (constants).

    Raises:
        ScenarioError: on a cycle, or a ``rel`` that uses an unknown name.
    """
    by_name = {p.name: p for p in params}
    rels = [p for p in params if p.kind == "rel"]
    avail = set(known) | {p.name for p in params if p.kind != "rel"}
    order: list[Param] = []
    state: dict[str, int] = {}

    def visit(p: Param, path: list[str]) -> None:
        s = state.get(p.name)
        if s == 2:
            return
        if s == 1:
            cyc = path[path.index(p.name) :] + [p.name]
            raise ScenarioError(f"'rel' parameters form a cycle: {' -> '.join(cyc)}")
        state[p.name] = 1
        deps = p.depends if (isinstance(p.expr, str) or p.depends) else ()
        for d in deps:
            q = by_name.get(d)
            if q is not None and q.kind == "rel":
                visit(q, path + [p.name])
            elif d not in avail:
                raise ScenarioError(
                    f"'rel' parameter {p.name!r} uses {d!r}, which is neither a parameter "
                    f"nor a constant; known names: {sorted(avail | set(by_name))}"
                )
        state[p.name] = 2
        order.append(p)

    for p in rels:
        visit(p, [])
    return order


def resolve(
    params: Sequence[Param],
    free_values: Mapping[str, float],
    constants: Mapping[str, float] | None = None,
) -> dict[str, float]:
    """Compute every parameter value: the free ones as given, the ``rel`` ones derived.

    Args:
        params: All parameters of a track.
        free_values: A value for every non-``rel`` parameter.
        constants: Scenario constants that expressions may use.

    Returns:
        name -> value for every parameter, in the order of ``params``.

    Raises:
        ScenarioError: on a ``rel`` cycle or unknown name.
        ParameterError: if a free value is missing or a ``rel`` value is not finite.
    """
    constants = constants or {}
    env: dict[str, float] = dict(constants)
    for p in params:
        if p.kind != "rel":
            try:
                env[p.name] = float(free_values[p.name])
            except KeyError:
                raise ParameterError(
                    f"no value for parameter {p.name!r}; expected values for "
                    f"{[q.name for q in params if q.kind != 'rel']}"
                ) from None
    complete(rel_order(params, list(constants)), env, constants)
    return {p.name: env[p.name] for p in params}


def complete(
    rels: Sequence[Param],
    values: dict[str, float],
    constants: Mapping[str, float],
    given: Mapping[str, float] | None = None,
) -> dict[str, float]:
    """Add the ``rel`` values to ``values`` (in place): the one place they are computed.

    Args:
        rels: The ``rel`` parameters in computing order (:func:`rel_order`).
        values: The free values (name -> value); the ``rel`` values are added.
        constants: Constants the expressions may use.
        given: ``rel`` values to keep as they are instead of computing them.

    Returns:
        ``values``.
    """
    env = {**constants, **values}
    for p in rels:
        v = given[p.name] if given is not None and p.name in given else p.compute(env)
        env[p.name] = v
        values[p.name] = v
    return values
