"""Target distributions: random but musical performances, reproducible on every machine.

A scenario can declare, per track and parameter, a distribution of reference
performances instead of (or beside) one fixed ``[tracks.<name>.reference]`` block::

    [tracks.bass.distribution]
    note = { kind = "notes", key = "A", scale = "minor", low = "E1", high = "E3",
             max_leap = 12, repeat = 0.25 }
    cutoff = { kind = "range", low = 200, high = 2400, max_step = 0.3 }

:class:`TargetSampler` validates such specs against the track's parameters and draws
performances in exactly the form of a reference block: ``{track: {param: [one value
per step]}}`` (notes as MIDI numbers, other values as floats). :class:`TargetSplits`
turns a sampler into two indexed, disjoint sets of targets, ``train`` and ``test``.

Randomness comes from :class:`Stream`, a SplitMix64 generator written out here in pure
Python and keyed by SHA-256, so that the targets depend on nothing but the key (scenario
name, split, index): not on numpy's version, the platform or global state. The
algorithm is documented in ``docs/targets.md`` and pinned by tests of exact values.

Spec kinds (``kind = ...``):

- ``notes``: a melody drawn from a key and scale within a range, a maximum leap and
  a probability of repeating the previous note; optional rests (``rest``) that set
  the track's level parameter to 0 and hold the note.
- ``hits``: per-step hit probabilities (a list of one per step, or a shorter pattern
  that repeats) and a level range for the hits; a step without a hit is 0.
- ``range``: a value per step (or one per episode with ``hold = true``) over a range,
  uniform in the parameter's own scaling (``lin``) or log-uniform (``exp``); with
  ``max_step`` a bounded random walk instead of independent draws.
- ``fixed``: one value at every step.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from .errors import ScenarioError
from .params import note_number
from .streams import Stream, hash_partition, stream_for

__all__ = [
    "SCALES",
    "Stream",
    "stream_for",
    "TargetSampler",
    "TargetSplits",
    "hash_partition",
    "scale_notes",
]


def _round6(v: float) -> float:
    # Six significant digits, as Glicol is given them (params.format_number); it also makes
    # the values robust to last-ulp differences of math.exp/log between C libraries.
    return float(f"{v:.6g}")


# -- scales ------------------------------------------------------------------------------------

SCALES: dict[str, tuple[int, ...]] = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "harmonic_minor": (0, 2, 3, 5, 7, 8, 11),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "phrygian": (0, 1, 3, 5, 7, 8, 10),
    "lydian": (0, 2, 4, 6, 7, 9, 11),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "pentatonic_major": (0, 2, 4, 7, 9),
    "pentatonic_minor": (0, 3, 5, 7, 10),
    "blues": (0, 3, 5, 6, 7, 10),
    "chromatic": tuple(range(12)),
}
"""Scales as semitone offsets from the key's root."""

_SCALE_ALIASES = {
    "ionian": "major",
    "aeolian": "minor",
    "natural_minor": "minor",
    "major_pentatonic": "pentatonic_major",
    "minor_pentatonic": "pentatonic_minor",
}

_KEYS = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}


def _scale_name(name: str) -> str | None:
    n = name.strip().lower().replace("-", "_").replace(" ", "_")
    n = _SCALE_ALIASES.get(n, n)
    return n if n in SCALES else None


def _key_pc(key: str) -> int | None:
    k = key.strip()
    if not 1 <= len(k) <= 2 or k[0].lower() not in _KEYS:
        return None
    acc = {"": 0, "#": 1, "s": 1, "b": -1}.get(k[1:])
    if acc is None:
        return None
    return (_KEYS[k[0].lower()] + acc) % 12


def scale_notes(key: str, scale: str, low: int, high: int) -> list[int]:
    """The MIDI notes of a key and scale between ``low`` and ``high`` (inclusive).

    Args:
        key: The root, ``"A"``, ``"F#"``, ``"Bb"`` (case-insensitive).
        scale: A name of :data:`SCALES` (or an alias: ``aeolian``, ``minor pentatonic``).
        low: Lowest MIDI note.
        high: Highest MIDI note.

    Raises:
        ValueError: on an unknown key or scale.
    """
    pc = _key_pc(key)
    if pc is None:
        raise ValueError(
            f"unknown key {key!r}; expected a note letter with an optional # or b, e.g. 'A', 'F#'"
        )
    sn = _scale_name(scale)
    if sn is None:
        raise ValueError(f"unknown scale {scale!r}; expected one of {sorted(SCALES)}")
    members = {(pc + o) % 12 for o in SCALES[sn]}
    return [m for m in range(low, high + 1) if m % 12 in members]


# -- specs -----------------------------------------------------------------------------------


class ParamLike(Protocol):
    """What the sampler needs of a parameter (:class:`raveforce_mae.params.Param` has it)."""

    name: str
    kind: str
    low: float | None
    high: float | None
    choices: tuple[float, ...]


_SPEC_KEYS: dict[str, tuple[str, ...]] = {
    "notes": ("kind", "key", "scale", "low", "high", "max_leap", "repeat", "rest", "rest_param", "doc"),
    "hits": ("kind", "p", "level", "doc"),
    "range": ("kind", "low", "high", "scale", "hold", "max_step", "doc"),
    "fixed": ("kind", "value", "doc"),
}


def _num(v: Any) -> bool:
    return not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v)


class _Err:
    def __init__(self, where: str) -> None:
        self.where = where

    def __call__(self, key: str, expected: str, got: Any = ...) -> ScenarioError:
        loc = f"{self.where}: " if self.where else ""
        g = "" if got is ... else f", got {got!r}"
        return ScenarioError(f"{loc}{key}: expected {expected}{g}")


@dataclass(frozen=True)
class _Draw:
    """A compiled spec: ``fn(stream, steps, out)`` fills ``out[param]``."""

    param: str
    kind: str
    fn: Callable[[Stream, int], list[Any]]
    discrete: bool  # part of the target's identity (notes, hit patterns)
    rest: tuple[float, str] | None = None  # (probability, level parameter) for notes


def _unit_value(p: ParamLike, lo: float, hi: float, scale: str) -> Callable[[float], float]:
    """A map from u in [0, 1) to a value of ``p`` in [lo, hi] (discrete kinds: uniform values)."""
    if p.kind in ("note", "int"):
        vals: list[float] = [float(v) for v in range(math.ceil(lo), math.floor(hi) + 1)]
    elif p.kind == "choose":
        vals = sorted(c for c in p.choices if lo <= c <= hi)
    else:
        vals = []
    if vals:
        n = len(vals)
        return lambda u: vals[min(int(u * n), n - 1)]
    if scale == "exp":
        ratio = hi / lo
        return lambda u: _round6(lo * ratio**u)
    return lambda u: _round6(lo + u * (hi - lo))


def _bounds(p: ParamLike) -> tuple[float, float]:
    if p.kind == "choose":
        return min(p.choices), max(p.choices)
    assert p.low is not None and p.high is not None
    return float(p.low), float(p.high)


def _valid(p: ParamLike, v: float) -> bool:
    if p.kind == "choose":
        return v in p.choices
    lo, hi = _bounds(p)
    if p.kind in ("note", "int") and not float(v).is_integer():
        return False
    return lo <= v <= hi


class TargetSampler:
    """Draws reference performances from per-track, per-parameter distribution specs.

    Args:
        specs: ``{track: {param: spec}}``, each spec a table as in TOML
            (``{"kind": "notes", "key": "A", ...}``). Parameters of a track without a
            spec are not drawn: the caller takes them from the track's reference block.
        params: ``{track: {param: Param}}``: the parameters of each track (objects with
            ``name``, ``kind``, ``low``, ``high`` and ``choices``, such as
            :class:`raveforce_mae.params.Param`). ``rel`` parameters cannot be drawn.
        steps: Steps per episode (length of every drawn list).
        where: A prefix for error messages (e.g. the scenario file).

    Raises:
        ScenarioError: naming the key, the value and what was expected, for an unknown
            track, parameter, kind or key, a value out of the parameter's range, an
            empty scale range, a leap too small to move, or probabilities outside [0, 1].
    """

    def __init__(
        self,
        specs: Mapping[str, Mapping[str, Mapping[str, Any]]],
        params: Mapping[str, Mapping[str, ParamLike]],
        steps: int,
        *,
        where: str = "",
    ) -> None:
        # kept to rebuild the compiled draws (closures) when unpickled
        self._args = (specs, params, steps, where)
        err = _Err(where)
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise err("steps", "a whole number >= 1", steps)
        self.steps = steps
        self._tracks: dict[str, list[_Draw]] = {}
        self._full: dict[str, dict[str, float]] = {}
        if not isinstance(specs, Mapping) or not specs:
            raise err("distribution", "a table of tracks, each a table of parameter specs", specs)
        for tname, tspec in specs.items():
            base = f"tracks.{tname}.distribution"
            if tname not in params:
                raise err(base, f"a track of the scenario ({list(params)})")
            if not isinstance(tspec, Mapping) or not tspec:
                raise err(base, "a table: parameter = { kind = ... }", tspec)
            tparams = params[tname]
            draws: list[_Draw] = []
            for pname, spec in tspec.items():
                key = f"{base}.{pname}"
                if pname not in tparams:
                    raise err(key, f"a parameter of track {tname!r} ({list(tparams)})")
                p = tparams[pname]
                if p.kind == "rel":
                    raise err(key, f"a free parameter: {pname!r} is 'rel' and is computed")
                draws.append(self._compile(err, key, p, spec))
            # rests of a notes spec write the level parameter after it is drawn
            for d in draws:
                if d.rest is not None:
                    prob, lvl = d.rest
                    key = f"{base}.{d.param}.rest_param"
                    if lvl not in tparams:
                        raise err(
                            key,
                            f"a level parameter of track {tname!r} for rests ({list(tparams)}); "
                            "a track without one cannot rest (set rest = 0)",
                            lvl,
                        )
                    if not _valid(tparams[lvl], 0.0):
                        raise err(key, f"a parameter that can be 0 (a rest); {lvl!r} cannot", lvl)
            self._tracks[tname] = draws
            self._full[tname] = {
                d.rest[1]: _bounds(tparams[d.rest[1]])[1] for d in draws if d.rest is not None
            }
        self._discrete = any(d.discrete for ds in self._tracks.values() for d in ds)

    def __reduce__(self) -> tuple[Any, ...]:
        specs, params, steps, where = self._args
        return (_rebuild_sampler, (specs, params, steps, where))

    # -- compile ---------------------------------------------------------------------------

    def _compile(self, err: _Err, key: str, p: ParamLike, spec: Any) -> _Draw:
        if not isinstance(spec, Mapping):
            raise err(key, 'a table such as { kind = "range" }', spec)
        kind = spec.get("kind")
        if kind not in _SPEC_KEYS:
            raise err(f"{key}.kind", f"one of {list(_SPEC_KEYS)}", kind)
        unknown = [k for k in spec if k not in _SPEC_KEYS[kind]]
        if unknown:
            raise err(f"{key}.{unknown[0]}", f"one of the keys of a '{kind}' spec ({list(_SPEC_KEYS[kind])})")
        return getattr(self, f"_c_{kind}")(err, key, p, spec)

    @staticmethod
    def _prob(err: _Err, key: str, v: Any) -> float:
        if not _num(v) or not 0.0 <= v <= 1.0:
            raise err(key, "a probability in [0, 1]", v)
        return float(v)

    def _c_fixed(self, err: _Err, key: str, p: ParamLike, spec: Mapping[str, Any]) -> _Draw:
        if "value" not in spec:
            raise err(f"{key}.value", "a value for a 'fixed' spec")
        v = spec["value"]
        if p.kind == "note":
            try:
                v = note_number(v)
            except ValueError:
                raise err(f"{key}.value", "a MIDI number or a note name", v) from None
        if not _num(v) or not _valid(p, float(v)):
            raise err(f"{key}.value", f"a value of parameter {p.name!r} ({_describe(p)})", spec["value"])
        val = int(v) if p.kind == "note" else float(v)
        return _Draw(p.name, "fixed", lambda s, n: [val] * n, discrete=False)

    def _range_bounds(
        self, err: _Err, key: str, p: ParamLike, spec: Mapping[str, Any]
    ) -> tuple[float, float]:
        plo, phi = _bounds(p)
        out = []
        for b, dflt in (("low", plo), ("high", phi)):
            v = spec.get(b, dflt)
            if p.kind == "note" and isinstance(v, str):
                try:
                    v = note_number(v)
                except ValueError:
                    raise err(f"{key}.{b}", "a MIDI number or a note name", v) from None
            if not _num(v):
                raise err(f"{key}.{b}", "a number", v)
            if not plo <= v <= phi:
                raise err(f"{key}.{b}", f"a value within the parameter's range {plo:g}..{phi:g}", v)
            out.append(float(v))
        if not out[0] <= out[1]:
            raise err(key, f"low <= high, got low={out[0]:g}, high={out[1]:g}")
        return out[0], out[1]

    def _c_range(self, err: _Err, key: str, p: ParamLike, spec: Mapping[str, Any]) -> _Draw:
        lo, hi = self._range_bounds(err, key, p, spec)
        scale = spec.get("scale", "exp" if p.kind == "exp" else "lin")
        if scale not in ("lin", "exp"):
            raise err(f"{key}.scale", "'lin' (uniform) or 'exp' (log-uniform)", scale)
        if scale == "exp" and lo <= 0:
            raise err(f"{key}.scale", f"'lin': 'exp' needs low > 0, got low={lo:g}", scale)
        hold = spec.get("hold", False)
        if not isinstance(hold, bool):
            raise err(f"{key}.hold", "true (one value per episode) or false (one per step)", hold)
        max_step = spec.get("max_step")
        if max_step is not None:
            if not _num(max_step) or not 0.0 < max_step <= 1.0:
                raise err(f"{key}.max_step", "a fraction of the range in (0, 1]", max_step)
            if hold:
                raise err(f"{key}.max_step", "no max_step with hold = true (the value never moves)", max_step)
        to_value = _unit_value(p, lo, hi, scale)
        if lo == hi:
            v0 = to_value(0.0)
            return _Draw(p.name, "range", lambda s, n: [v0] * n, discrete=False)
        if hold:

            def draw_hold(s: Stream, n: int) -> list[Any]:
                return [to_value(s.random())] * n

            return _Draw(p.name, "range", draw_hold, discrete=False)
        if max_step is None:

            def draw_each(s: Stream, n: int) -> list[Any]:
                return [to_value(s.random()) for _ in range(n)]

            return _Draw(p.name, "range", draw_each, discrete=False)
        step = float(max_step)

        def draw_walk(s: Stream, n: int) -> list[Any]:
            # a walk on the scaled position x in [0, 1), reflected at the ends so that it
            # does not pile up on a bound
            x = s.random()
            xs = [x]
            for _ in range(n - 1):
                x += step * (2.0 * s.random() - 1.0)
                x = -x if x < 0.0 else 2.0 - x if x > 1.0 else x
                x = min(max(x, 0.0), math.nextafter(1.0, 0.0))
                xs.append(x)
            return [to_value(x) for x in xs]

        return _Draw(p.name, "range", draw_walk, discrete=False)

    def _c_hits(self, err: _Err, key: str, p: ParamLike, spec: Mapping[str, Any]) -> _Draw:
        pat = spec.get("p")
        if _num(pat):
            pat = [pat]
        if not isinstance(pat, (list, tuple)) or not pat:
            raise err(
                f"{key}.p", "a hit probability, or a list of them (one per step or a repeating pattern)", pat
            )
        if self.steps % len(pat):
            raise err(
                f"{key}.p",
                f"a list of {self.steps} probabilities or of a length that divides {self.steps}",
                f"a list of {len(pat)}",
            )
        probs = [self._prob(err, f"{key}.p[{i}]", v) for i, v in enumerate(pat)]
        if not _valid(p, 0.0):
            raise err(key, f"a parameter that can be 0 (no hit); {p.name!r} is {_describe(p)}")
        lvl = spec.get("level")
        plo, phi = _bounds(p)
        if lvl is None:
            lo = hi = phi
        elif _num(lvl):
            lo = hi = float(lvl)
        elif isinstance(lvl, (list, tuple)) and len(lvl) == 2 and all(_num(x) for x in lvl):
            lo, hi = float(lvl[0]), float(lvl[1])
        else:
            raise err(f"{key}.level", "a level, or [low, high] for the hits", lvl)
        if not (plo <= lo <= hi <= phi) or lo <= 0:
            raise err(
                f"{key}.level",
                f"levels > 0 (0 is no hit), low <= high, within the parameter's range {plo:g}..{phi:g}",
                lvl,
            )
        if p.kind in ("int", "choose") and not any(
            _valid(p, v) and lo <= v <= hi for v in _discrete_values(p)
        ):
            raise err(f"{key}.level", f"a range that holds a value of {p.name!r} ({_describe(p)})", lvl)
        to_value = _unit_value(p, lo, hi, "lin")
        if lo == hi:
            v_hit = float(hi)
            level: Callable[[Stream], Any] = lambda s: v_hit  # noqa: E731
        else:
            level = lambda s: to_value(s.random())  # noqa: E731
        zero = 0.0
        m = len(probs)

        def draw_hits(s: Stream, n: int) -> list[Any]:
            out: list[Any] = []
            for i in range(n):
                out.append(level(s) if s.bernoulli(probs[i % m]) else zero)
            return out

        return _Draw(p.name, "hits", draw_hits, discrete=True)

    def _c_notes(self, err: _Err, key: str, p: ParamLike, spec: Mapping[str, Any]) -> _Draw:
        if p.kind not in ("note", "int"):
            raise err(key, f"a 'note' (or 'int') parameter for a 'notes' spec; {p.name!r} is '{p.kind}'")
        for k in ("key", "scale"):
            if k not in spec:
                raise err(f"{key}.{k}", f'a {k} for a \'notes\' spec (e.g. key = "A", scale = "minor")')
        keys = spec["key"] if isinstance(spec["key"], (list, tuple)) else [spec["key"]]
        if not keys or not all(isinstance(k, str) and _key_pc(k) is not None for k in keys):
            raise err(
                f"{key}.key",
                "a note letter with an optional # or b, e.g. 'A', 'F#', 'Bb' (or a list of them: one is "
                "drawn per episode)",
                spec["key"],
            )
        if not isinstance(spec["scale"], str) or _scale_name(spec["scale"]) is None:
            raise err(f"{key}.scale", f"one of {sorted(SCALES)}", spec["scale"])
        lo, hi = self._range_bounds(err, key, p, spec)
        leap = spec.get("max_leap", 12)
        if isinstance(leap, bool) or not isinstance(leap, int) or leap < 1:
            raise err(f"{key}.max_leap", "a whole number of semitones >= 1", leap)
        tables: list[tuple[list[int], dict[int, list[int]]]] = []
        for k in keys:
            pool = scale_notes(k, spec["scale"], int(lo), int(hi))
            if len(pool) < 2:
                raise err(key, f"at least two notes of {k} {spec['scale']} between {lo:g} and {hi:g}", pool)
            # every note needs somewhere to go, or a "move" could not be drawn
            moves = {n: [m for m in pool if m != n and abs(m - n) <= leap] for n in pool}
            stuck = [n for n, ms in moves.items() if not ms]
            if stuck:
                raise err(
                    f"{key}.max_leap",
                    f"a leap that reaches another note of the scale from every note (in {k} "
                    f"{spec['scale']}, from {stuck[0]} none is within {leap} semitones)",
                    leap,
                )
            tables.append((pool, moves))
        repeat = self._prob(err, f"{key}.repeat", spec.get("repeat", 0.0))
        rest = self._prob(err, f"{key}.rest", spec.get("rest", 0.0))
        if rest >= 1.0:
            raise err(f"{key}.rest", "a rest probability < 1 (a line needs a note)", rest)
        rest_param = spec.get("rest_param", "level")
        if not isinstance(rest_param, str):
            raise err(f"{key}.rest_param", "the name of the track's level parameter", rest_param)

        def draw_notes(s: Stream, n: int) -> list[Any]:
            # one key per episode; a single key takes no draw
            pool, moves = tables[s.below(len(tables))] if len(tables) > 1 else tables[0]
            cur = pool[s.below(len(pool))]
            out = [cur]
            for _ in range(n - 1):
                if not s.bernoulli(repeat):
                    ms = moves[cur]
                    cur = ms[s.below(len(ms))]
                out.append(cur)
            return out

        return _Draw(
            p.name, "notes", draw_notes, discrete=True, rest=(rest, rest_param) if rest > 0 else None
        )

    # -- sampling ---------------------------------------------------------------------------

    @property
    def tracks(self) -> tuple[str, ...]:
        """The tracks that have a distribution, in declaration order."""
        return tuple(self._tracks)

    def sample(self, stream: Stream) -> dict[str, dict[str, list[Any]]]:
        """Draw one performance.

        Draws happen in a fixed order: tracks and parameters in declaration order; for a
        ``notes`` spec with rests, the rest mask (one draw per step) before the notes.

        Args:
            stream: The random stream (consumed).

        Returns:
            ``{track: {param: values}}`` with ``steps`` values per list: MIDI numbers
            (int) for notes, floats otherwise (six significant digits), the form of a
            ``[tracks.<name>.reference]`` block.
        """
        n = self.steps
        out: dict[str, dict[str, list[Any]]] = {}
        for tname, draws in self._tracks.items():
            block: dict[str, list[Any]] = {}
            masks: list[tuple[list[bool], str]] = []
            for d in draws:
                if d.rest is None:
                    block[d.param] = d.fn(stream, n)
                    continue
                prob, lvl = d.rest
                mask = [stream.bernoulli(prob) for _ in range(n)]
                if all(mask):  # a line needs a note: the first step sounds
                    mask[0] = False
                sounding = d.fn(stream, n - sum(mask))
                # a rest holds the previous note (the first sounding one before any)
                notes, j = [], 0
                for m in mask:
                    notes.append(sounding[max(j - 1, 0)] if m else sounding[j])
                    j += not m
                block[d.param] = notes
                masks.append((mask, lvl))
            for mask, lvl in masks:
                if lvl not in block:  # no spec of its own: sounding steps at full level
                    block[lvl] = [self._full[tname][lvl]] * n
                block[lvl] = [0.0 if m else v for m, v in zip(mask, block[lvl], strict=True)]
            out[tname] = block
        return out

    def identity(self, target: Mapping[str, Mapping[str, Sequence[Any]]]) -> bytes:
        """Canonical bytes of what makes two targets "the same tune".

        If any spec is discrete (``notes`` or ``hits``), the identity is the notes, the
        hit patterns (hit or not, whatever the level) and the rest masks: a tune played
        with another cutoff or level is the same tune. Otherwise (only continuous
        parameters) it is every drawn value. JSON with sorted keys, no spaces.
        """
        ident: dict[str, dict[str, list[Any]]] = {}
        for tname, draws in self._tracks.items():
            t = target[tname]
            block: dict[str, list[Any]] = {}
            for d in draws:
                vals = list(t[d.param])
                if not self._discrete:
                    block[d.param] = [float(v) for v in vals]
                elif d.kind == "notes":
                    block[d.param] = [int(v) for v in vals]
                    if d.rest is not None:
                        block[d.rest[1] + "/rest"] = [int(v == 0) for v in t[d.rest[1]]]
                elif d.kind == "hits":
                    block[d.param] = [int(v != 0) for v in vals]
            ident[tname] = block
        return json.dumps(ident, sort_keys=True, separators=(",", ":")).encode()


def _rebuild_sampler(specs: Any, params: Any, steps: int, where: str) -> TargetSampler:
    return TargetSampler(specs, params, steps, where=where)


def _discrete_values(p: ParamLike) -> list[float]:
    if p.kind == "choose":
        return list(p.choices)
    lo, hi = _bounds(p)
    return [float(v) for v in range(int(lo), int(hi) + 1)]


def _describe(p: ParamLike) -> str:
    if p.kind == "choose":
        return f"one of {list(p.choices)}"
    lo, hi = _bounds(p)
    return f"'{p.kind}' in {lo:g}..{hi:g}"


# -- splits ----------------------------------------------------------------------------------


class TargetSplits:
    """Two disjoint, indexed sets of targets drawn from a :class:`TargetSampler`.

    Rule (``docs/targets.md``): a target is a *test* target when
    ``hash_partition(sampler.identity(target), modulus) == 0``, a *train* target
    otherwise, so the two can never share a tune.

    - ``test(k)``, ``0 <= k < n_test``: the k-th distinct test tune met when drawing
      one target from each of ``stream_for(scenario, "test", j)``, ``j = 0, 1, 2, ...``
      and keeping only test tunes. The set is fixed by the scenario name and the
      distribution.
    - ``train(k)``, any ``k`` in ``[0, 2**64)``: draws from ``stream_for(scenario,
      "train", k)`` until a target is not a test tune (on average
      ``modulus / (modulus - 1)`` draws) and returns it.

    Args:
        sampler: The distribution.
        scenario: The scenario's name (part of every stream's key).
        n_test: Size of the test split.
        modulus: One tune in ``modulus`` (by hash) is reserved for the test split.

    Raises:
        ScenarioError: when building the test split, if the distribution has too few
            distinct tunes to fill it.
    """

    def __init__(self, sampler: TargetSampler, scenario: str, *, n_test: int = 64, modulus: int = 16) -> None:
        if modulus < 2:
            raise ValueError(f"modulus must be >= 2, got {modulus}")
        if n_test < 1:
            raise ValueError(f"n_test must be >= 1, got {n_test}")
        self.sampler = sampler
        self.scenario = scenario
        self.n_test = n_test
        self.modulus = modulus
        self._test: list[dict[str, dict[str, list[Any]]]] | None = None

    def is_test(self, target: Mapping[str, Mapping[str, Sequence[Any]]]) -> bool:
        """Whether a target's tune belongs to the test split."""
        return hash_partition(self.sampler.identity(target), self.modulus) == 0

    def train(self, index: int) -> dict[str, dict[str, list[Any]]]:
        """Train target ``index`` (``0 <= index < 2**64``)."""
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < 1 << 64:
            raise ValueError(f"train target index must be an integer in [0, 2**64), got {index!r}")
        s = stream_for(self.scenario, "train", index)
        for _ in range(10_000):
            t = self.sampler.sample(s)
            if not self.is_test(t):
                return t
        raise ScenarioError(
            f"scenario {self.scenario!r}: 10000 draws of its distribution were all test tunes; "
            "the distribution has too few distinct tunes for a train split"
        )

    def test(self, index: int) -> dict[str, dict[str, list[Any]]]:
        """Test target ``index`` (``0 <= index < n_test``)."""
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < self.n_test:
            raise ValueError(f"test target index must be an integer in [0, {self.n_test}), got {index!r}")
        return self.test_set()[index]

    def get(self, split: str, index: int) -> dict[str, dict[str, list[Any]]]:
        """Target ``index`` of ``split`` (``"train"`` or ``"test"``)."""
        if split == "train":
            return self.train(index)
        if split == "test":
            return self.test(index)
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")

    def test_set(self) -> list[dict[str, dict[str, list[Any]]]]:
        """All ``n_test`` test targets, in order (computed once)."""
        if self._test is None:
            seen: set[bytes] = set()  # every tune met, of either split
            out: list[dict[str, dict[str, list[Any]]]] = []
            limit = 200 * self.modulus * self.n_test
            j = stale = 0
            while len(out) < self.n_test:
                # a small tune space is exhausted long before the limit: stop once no new
                # tune has appeared for a while
                if j >= limit or stale >= 5000:
                    raise ScenarioError(
                        f"scenario {self.scenario!r}: {j} draws of its distribution gave {len(seen)} "
                        f"distinct tunes and only {len(out)} distinct test tunes, fewer than the "
                        f"{self.n_test} of a test split; widen the distribution (more notes, less "
                        "certain hits)"
                    )
                t = self.sampler.sample(stream_for(self.scenario, "test", j))
                j += 1
                ident = self.sampler.identity(t)
                if ident in seen:
                    stale += 1
                    continue
                seen.add(ident)
                stale = 0
                if hash_partition(ident, self.modulus) == 0:
                    out.append(t)
            self._test = out
        return self._test
