"""Scenarios: musical tasks, loaded from TOML files and validated.

A scenario says which tracks play (one agent each), each track's Glicol chain with
holes for the numbers its agent chooses, the timing, the targets and the reward and
observation settings. Built-in scenarios ship with the package (``list_scenarios()``);
any TOML file in the same format can be loaded by path. The file format is documented
in ``scenarios/README.md``.

>>> sc = load_scenario("ensemble")
>>> sc.agents
('bass_0', 'kick_0', 'hat_0')
>>> print(sc.patch(sc.reference[0]))       # the merged Glicol patch of step 0
"""

from __future__ import annotations

import copy
import functools
import math
import os
import re

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser, as a package
    import tomli as tomllib  # type: ignore[no-redef]
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import glicol_wasm

from .errors import EngineError, ParameterError, PatchError, ScenarioError
from .params import KINDS, Param, compile_expr, format_number, note_number, rel_order
from .patch import NAME, CodeLine, Template, compile_lines, fill_lines, merge, parse_template, split_code

__all__ = [
    "OBSERVATION_KINDS",
    "Scenario",
    "Targets",
    "Track",
    "list_scenarios",
    "load_scenario",
    "scenario_from_dict",
    "scenario_path",
]

OBSERVATION_KINDS = ("default", "mel", "waveform")
"""Valid ``[observation] kind`` values."""

DEFAULT_CRITERION = "mrstft"
DEFAULT_SHARED_WEIGHT = 0.5
DEFAULT_SEED = 42
MAX_EPISODE_SECONDS = 600.0
"""Longest episode a scenario may describe. Targets, features and the rendered audio
are held in memory for a whole episode (about 4 bytes per frame per track, several
times over), so a typo such as ``steps = 1000000`` is refused instead of exhausting
memory."""
LATENCY = 256
"""Frames by which the built-in clock is delayed: a step's new numbers reach the engine
at the next 128-frame block boundary, so a trigger 256 frames into the step always
hears them (see scenarios/README.md)."""

BUILTIN_CONSTANTS = ("sample_rate", "bpm", "steps", "step_seconds", "beat", "bar")
"""Constants every scenario has: ``beat`` = 60/bpm s, ``bar`` = 4 beats."""

_TOP_KEYS = (
    "name", "description", "seed", "timing", "constants", "shared", "samples",
    "tracks", "reward", "observation", "targets",
)  # fmt: skip
_TIMING_KEYS = ("sample_rate", "bpm", "steps", "step_beats", "step_seconds", "end")
_TRACK_KEYS = ("chain", "code", "refs", "params", "reference", "criterion", "role", "description")
_PARAM_KEYS = ("name", "kind", "low", "high", "choices", "unit", "expr", "depends", "doc")
_REWARD_KEYS = ("criterion", "mix_criterion", "shared_weight")
_OBS_KEYS = ("kind",)
_TARGET_KEYS_FIXED = ("mix", "per_track")
_ROLE = NAME.pattern.replace("_", "")  # roles have no underscore: agents are <role>_<n>
_AUDIO_EXT = (".wav", ".flac")

_OVERRIDE_KEYS = (
    "steps", "n_steps", "bpm", "sample_rate", "step_beats", "step_seconds", "end", "seed",
    "shared_weight", "criterion", "mix_criterion", "criteria", "observation", "per_track",
    "name", "description",
)  # fmt: skip


# -- small helpers ----------------------------------------------------------------------------


class _FrozenDict(dict):
    """A dict that refuses changes (and still pickles and compares like a dict)."""

    def _ro(self, *a: Any, **k: Any) -> None:
        raise TypeError("scenario mappings are read-only; use Scenario.replace() for a changed copy")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _ro  # type: ignore[assignment]

    def __reduce__(self) -> tuple:
        return (_FrozenDict, (dict(self),))

    def __copy__(self) -> _FrozenDict:
        return self

    def __deepcopy__(self, memo: dict) -> _FrozenDict:
        return _FrozenDict(copy.deepcopy(dict(self), memo))


class _Ctx:
    """Builds error messages that name the file, the track and the key."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.where = str(path) if path is not None else "<scenario dict>"

    def error(self, key: str, expected: str, got: Any = ..., track: str | None = None) -> ScenarioError:
        msg = f"{self.where}: "
        if track is not None:
            msg += f"track {track!r}, "
        msg += f"key '{key}': expected {expected}"
        if got is not ...:
            msg += f", got {_show(got)}"
        err = ScenarioError(msg)
        err.file = self.where  # type: ignore[attr-defined]
        err.track = track  # type: ignore[attr-defined]
        err.key = key  # type: ignore[attr-defined]
        return err

    def table(self, data: Any, key: str, allowed: Sequence[str], track: str | None = None) -> dict:
        if data is None:
            return {}
        if not isinstance(data, Mapping):
            raise self.error(key, "a table", data, track)
        unknown = [k for k in data if k not in allowed]
        if unknown:
            sub = f"{key}.{unknown[0]}" if key else unknown[0]
            raise self.error(
                sub,
                f"a known key (unknown key {unknown[0]!r}); valid keys: {', '.join(allowed)}",
                track=track,
            )
        return dict(data)


def _show(v: Any) -> str:
    if isinstance(v, np.ndarray):
        return f"an array of shape {v.shape}"
    text = repr(v)
    return text if len(text) < 120 else text[:117] + "..."


def _is_number(v: Any) -> bool:
    return not isinstance(v, bool) and isinstance(v, (int, float, np.integer, np.floating))


def _number(
    ctx: _Ctx,
    v: Any,
    key: str,
    track: str | None = None,
    *,
    lo: float | None = None,
    hi: float | None = None,
    integer: bool = False,
    what: str = "a number",
) -> float:
    try:
        ok = _is_number(v) and math.isfinite(float(v)) and (not integer or float(v).is_integer())
    except OverflowError:  # an integer beyond the float range (TOML integers are unbounded here)
        ok = False
    if not ok:
        raise ctx.error(key, what, v, track)
    v = float(v)
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise ctx.error(key, what, v, track)
    return v


# -- targets --------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Targets:
    """What the agents try to sound like.

    Attributes:
        kind: ``"reference"`` (rendered from a reference performance), ``"audio"``
            (loaded from files) or ``"mix-only"`` (a mix and no stems).
        mix: The target mix, mono float32 of shape (total_frames,).
        stems: Track name -> target stem, mono float32 (total_frames,), or ``None``
            where the scenario has no stem for that track.
        per_track_available: ``True`` when every track has a target stem, so that
            per-track rewards exist.
        files: Key (track name or ``"mix"``) -> the audio file it was loaded from.
    """

    kind: str
    mix: np.ndarray
    stems: Mapping[str, np.ndarray | None]
    per_track_available: bool
    files: Mapping[str, str] = field(default_factory=lambda: _FrozenDict())


# -- tracks -----------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Track:
    """One track of a scenario, played by one agent.

    Attributes:
        name: The track's name (lowercase), also its audible chain's name in the patch.
        agent: The PettingZoo agent name, ``<role>_<n>`` (e.g. ``bass_0``).
        role: The agent's role (the track name unless the file sets ``role``).
        template: The chain (or code) as written in the scenario.
        params: Every parameter, in the order its hole first appears in the code.
        free: The non-``rel`` parameters in declaration order: the agent's action
            dimensions.
        criterion: Reward criterion spec of this track's stem (rewards module).
        refs: The track's private refs as written: name -> chain template.
        shared: Names of the scenario's shared refs this track uses (directly or not).
        description: Optional text for humans.
    """

    name: str
    agent: str
    role: str
    template: str
    params: tuple[Param, ...]
    free: tuple[Param, ...]
    criterion: Any
    refs: Mapping[str, str]
    shared: tuple[str, ...]
    description: str = ""
    constants: Mapping[str, float] = field(default_factory=lambda: _FrozenDict(), repr=False)
    _own: tuple[CodeLine, ...] = field(default=(), repr=False)
    _shared_lines: tuple[CodeLine, ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        s = object.__setattr__
        s(self, "_rels", tuple(rel_order(self.params, list(self.constants))))
        s(self, "_free_names", tuple(p.name for p in self.free))
        s(self, "_maps", tuple((p.name, p.mapper()) for p in self.free))
        fmt, names = compile_lines(self._shared_lines + self._own)
        s(self, "_code_fmt", fmt)
        s(self, "_code_names", names)
        fmt, names = compile_lines(self._own)
        s(self, "_lines_fmt", fmt)
        s(self, "_lines_names", names)

    # the compiled state is rebuilt on unpickling
    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k in _TRACK_FIELDS}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.__post_init__()

    @property
    def param_names(self) -> tuple[str, ...]:
        """Names of all parameters."""
        return tuple(p.name for p in self.params)

    def param(self, name: str) -> Param:
        """The parameter called ``name``."""
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(f"track {self.name!r} has no parameter {name!r}; it has {list(self.param_names)}")

    def values(self, action: Any) -> dict[str, float]:
        """Map a normalised action to every parameter value (``rel`` ones included).

        Args:
            action: One value in [-1, 1] per free parameter (``len(self.free)``);
                values outside are clipped. A longer vector (padding) is accepted and
                its tail ignored.

        Returns:
            Parameter name -> value, free parameters first.

        Raises:
            ParameterError: if the action is too short or holds NaN or inf; the
                message names the agent, the track and the parameter.
        """
        a = action.tolist() if isinstance(action, np.ndarray) else list(action)
        free = self.free
        if isinstance(a, float) or len(a) < len(free):
            raise ParameterError(
                f"agent {self.agent!r} (track {self.name!r}): expected an action of length "
                f"{len(free)} (one value in [-1, 1] for each of {list(self._free_names)}), got {_show(action)}"
            )
        out: dict[str, float] = {}
        for (name, fn), u in zip(self._maps, a, strict=False):  # type: ignore[attr-defined]
            if not (-math.inf < u < math.inf):
                raise ParameterError(
                    f"agent {self.agent!r} (track {self.name!r}): parameter {name!r} got a "
                    f"non-finite action {u}; expected a value in [-1, 1]"
                )
            out[name] = fn(u)
        if self._rels:  # type: ignore[attr-defined]
            env = dict(self.constants)
            env.update(out)
            for p in self._rels:  # type: ignore[attr-defined]
                v = p.compute(env)
                env[p.name] = v
                out[p.name] = v
        return out

    def resolve(self, values: Mapping[str, float]) -> dict[str, float]:
        """Complete ``values`` (free parameters) with the ``rel`` ones."""
        env = dict(self.constants)
        for name in self._free_names:  # type: ignore[attr-defined]
            try:
                env[name] = float(values[name])
            except KeyError:
                raise ParameterError(
                    f"track {self.name!r}: no value for parameter {name!r}; expected values for "
                    f"{list(self._free_names)}"  # type: ignore[attr-defined]
                ) from None
        for p in self._rels:  # type: ignore[attr-defined]
            env[p.name] = p.compute(env) if p.name not in values else float(values[p.name])
        return {p.name: env[p.name] for p in self.params}

    def _fill(self, fmt: str, names: tuple[str, ...], values: Mapping[str, float]) -> str:
        try:
            return fmt.format(*[format_number(values[n]) for n in names])
        except KeyError:
            full = self.resolve(values)
            return fmt.format(*[format_number(full[n]) for n in names])

    def code(self, values: Mapping[str, float]) -> str:
        """The complete Glicol code for this track's own engine.

        It holds the track's audible chain (named after the track), its private refs
        (namespaced: ``~env`` -> ``~<track>_env``) and the shared refs it uses.

        Args:
            values: Parameter name -> value (``rel`` values are computed if missing).
        """
        return self._fill(self._code_fmt, self._code_names, values)  # type: ignore[attr-defined]

    def lines(self, values: Mapping[str, float]) -> list[str]:
        """This track's own lines of the merged patch (shared refs excluded)."""
        return self._fill(self._lines_fmt, self._lines_names, values).split("\n")  # type: ignore[attr-defined]

    def code_formatter(self) -> Callable[[Mapping[str, float]], str]:
        """A fast ``values -> code`` function (what :class:`~raveforce_mae.core.RenderSession` calls)."""
        fmt: str = self._code_fmt  # type: ignore[attr-defined]
        names: tuple[str, ...] = self._code_names  # type: ignore[attr-defined]
        fill = self._fill

        def code(values: Mapping[str, float]) -> str:
            # Fast path: "%.6g" is Glicol-safe unless it has an exponent, nan/inf or "-0";
            # those rare numbers take format_number's slow path.
            try:
                strs = [f"{values[n]:.6g}" for n in names]
            except KeyError:
                return fill(fmt, names, values)
            probe = " ".join(strs) + " "
            if "e" in probe or "n" in probe or "-0 " in probe:
                return fill(fmt, names, values)
            return fmt.format(*strs)

        return code

    def line_keys(self) -> list[str]:
        """For each line of :meth:`code`: the scenario key it comes from (for errors)."""
        return [ln.key for ln in self._shared_lines + self._own]

    def mid_values(self) -> dict[str, float]:
        """Every parameter at action 0 (mid-range)."""
        return self.values(np.zeros(len(self.free)))


_TRACK_FIELDS = (
    "name", "agent", "role", "template", "params", "free", "criterion", "refs", "shared",
    "description", "constants", "_own", "_shared_lines",
)  # fmt: skip


# -- scenario ------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Scenario:
    """A validated, immutable musical task. Create it with :func:`load_scenario`.

    Attributes:
        name: Scenario name (the file's stem unless the file sets ``name``).
        description: Text for humans.
        path: The TOML file, or ``None`` for a scenario built from a dict.
        sample_rate: Sample rate in Hz.
        bpm: Tempo in beats per minute.
        n_steps: Steps per episode.
        step_seconds: Nominal step length in seconds.
        step_beats: Step length in beats, if the scenario gave it in beats.
        bounds: ``(start, stop)`` frames of each step: ``start = round(i * step_seconds
            * sample_rate)``, so lengths may differ by one frame and never drift.
        total_frames: Frames of one episode (``bounds[-1][1]``).
        end: How an episode ends after its last step: ``"truncate"`` (default: the
            performance is cut off, so value bootstrapping continues) or
            ``"terminate"`` (the task is complete, e.g. a one-shot sound match).
        tracks: The tracks, one per agent.
        agents: Agent names, in track order.
        shared_refs: Refs shared by the tracks: name -> Glicol chain.
        constants: Named numbers usable in holes and expressions (built-ins included).
        targets: The target audio (:class:`Targets`).
        reference: The reference performance, if the targets come from one: per step,
            track name -> parameter values (as the engine plays them).
        criteria: Track name -> reward criterion spec, plus ``"mix"``.
        shared_weight: Weight of the shared (mix) reward in each agent's reward.
        observation: Observation kind (``default``, ``mel`` or ``waveform``).
        seed: Seed of the engines (Glicol's ``choose`` node).
        samples: Sample name -> (audio (channels, n) float32, sample rate).
    """

    name: str
    description: str
    path: Path | None
    sample_rate: int
    bpm: float
    n_steps: int
    step_seconds: float
    step_beats: float | None
    bounds: tuple[tuple[int, int], ...]
    total_frames: int
    end: str
    tracks: tuple[Track, ...]
    agents: tuple[str, ...]
    shared_refs: Mapping[str, str]
    constants: Mapping[str, float]
    targets: Targets
    reference: tuple[Mapping[str, Mapping[str, float]], ...] | None
    criteria: Mapping[str, Any]
    shared_weight: float
    observation: str
    seed: int = DEFAULT_SEED
    samples: Mapping[str, tuple[np.ndarray, int]] = field(default_factory=lambda: _FrozenDict())
    _source: Mapping[str, Any] = field(default_factory=dict, repr=False)
    _reference_actions: tuple[Mapping[str, np.ndarray], ...] | None = field(default=None, repr=False)
    _shared_lines: tuple[CodeLine, ...] = field(default=(), repr=False)

    # -- lookups -----------------------------------------------------------------------------

    @property
    def steps(self) -> int:
        """Alias of :attr:`n_steps` (the TOML key)."""
        return self.n_steps

    @property
    def max_action_dim(self) -> int:
        """The largest number of free parameters of any track."""
        return max((len(t.free) for t in self.tracks), default=0)

    def track(self, name: str) -> Track:
        """The track called ``name`` (or played by agent ``name``)."""
        for t in self.tracks:
            if name in (t.name, t.agent):
                return t
        raise KeyError(
            f"scenario {self.name!r} has no track {name!r}; tracks: {[t.name for t in self.tracks]}"
        )

    # -- patches -------------------------------------------------------------------------------

    def patch(self, values: Mapping[str, Mapping[str, float]]) -> str:
        """The merged Glicol patch of all tracks for one set of values.

        It can be pasted into a Glicol editor (set the editor's bpm to :attr:`bpm`);
        rendering it in one engine reproduces the sum of the per-track renders.

        Args:
            values: Track name (or agent name) -> parameter name -> value.
        """
        used = set()
        for t in self.tracks:
            used.update(t.shared)
        shared = [ln for ln in self._shared_lines if ln.lhs[1:] in used]
        parts: list[tuple[str | None, list[str]]] = []
        if shared:
            parts.append(("shared", fill_lines(shared, {})))
        for t in self.tracks:
            v = values[t.name] if t.name in values else values[t.agent]
            parts.append((f"{t.name} ({t.agent})", t.lines(v)))
        header = [f"raveforce-mae scenario {self.name!r}: {self.bpm:g} bpm, {self.sample_rate} Hz"]
        return merge(parts, header)

    def reference_actions(self, step: int) -> dict[str, np.ndarray]:
        """Normalised actions (float32, one array per agent) that replay the reference.

        ``Track.values`` of these actions gives exactly the values the targets were
        rendered with, so stepping an environment with them reproduces the targets
        bit for bit.

        Raises:
            ScenarioError: if the scenario has no reference performance.
            IndexError: if ``step`` is outside ``0..n_steps-1``.
        """
        if self._reference_actions is None:
            raise ScenarioError(
                f"scenario {self.name!r} has no reference performance (its targets are {self.targets.kind})"
            )
        if not 0 <= step < self.n_steps:
            raise IndexError(f"step must be within 0..{self.n_steps - 1}, got {step}")
        return {a: u.copy() for a, u in self._reference_actions[step].items()}

    # -- copies -----------------------------------------------------------------------------------

    def replace(self, **overrides: Any) -> Scenario:
        """A validated copy with some settings changed (targets are re-made).

        Keys: ``steps`` (or ``n_steps``), ``bpm``, ``sample_rate``, ``step_beats``,
        ``step_seconds``, ``seed``, ``shared_weight``, ``criterion`` (every track and
        the mix), ``mix_criterion``, ``criteria`` (a dict: track name or ``"mix"`` ->
        spec), ``observation``, ``per_track`` (``False`` hides the stems),
        ``name``, ``description``. A value of ``None`` keeps the setting.

        Reference patterns repeat (or are cut) to fill a new number of steps; audio
        targets are padded or trimmed with a warning.

        Raises:
            ScenarioError: on an unknown key (the message lists the valid ones) or an
                invalid value.
        """
        if not overrides:
            return self
        data = _apply_overrides(self._source, overrides, self.path)
        return _build(data, self.path, strict_patterns="steps" not in _norm_keys(overrides))

    def describe(self) -> str:
        """A human-readable summary of the scenario."""
        step = f"{self.step_beats:g} beats = " if self.step_beats else ""
        lines = [
            f"{self.name}: {self.description}".rstrip(": "),
            f"  timing: {self.n_steps} steps of {step}{self.step_seconds:g} s at {self.bpm:g} bpm, "
            f"{self.sample_rate} Hz ({self.total_frames} frames, {self.total_frames / self.sample_rate:g} s)",
            f"  targets: {self.targets.kind}"
            + ("" if self.targets.per_track_available else " (no per-track rewards: mix only)"),
            f"  reward: mix criterion {self.criteria['mix']!r}, shared weight {self.shared_weight:g}; "
            f"observation {self.observation!r}",
        ]
        if self.shared_refs:
            lines.append("  shared refs: " + ", ".join(f"~{k}" for k in self.shared_refs))
        for t in self.tracks:
            lines.append(f"  track {t.name} (agent {t.agent}, criterion {t.criterion!r}):")
            for p in t.params:
                lines.append(f"    {p.describe()}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (
            f"Scenario({self.name!r}, agents={list(self.agents)}, steps={self.n_steps}, "
            f"step_seconds={self.step_seconds:g}, sample_rate={self.sample_rate}, targets={self.targets.kind!r})"
        )


# -- finding and loading files ---------------------------------------------------------------------------


def _builtin_dir() -> Path:
    try:
        from importlib.resources import files

        d = files("raveforce_mae.scenarios")
        p = Path(str(d))
        if p.is_dir() and any(p.glob("*.toml")):
            return p
    except (ImportError, TypeError, ValueError):
        pass
    return Path(__file__).resolve().parent.parent / "scenarios"


def list_scenarios() -> list[str]:
    """Names of the built-in scenarios, sorted."""
    return sorted(p.stem for p in _builtin_dir().glob("*.toml"))


def scenario_path(name: str) -> Path:
    """The TOML file of a built-in scenario.

    Raises:
        ScenarioError: if there is no built-in scenario of that name.
    """
    p = _builtin_dir() / f"{name}.toml"
    if not NAME.fullmatch(name or "") or not p.is_file():
        raise ScenarioError(
            f"no built-in scenario {name!r}; built-in scenarios: {', '.join(list_scenarios())}"
        )
    return p


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except OSError as e:
        raise ScenarioError(f"{path}: cannot read the scenario file: {e.strerror or e}") from None
    except tomllib.TOMLDecodeError as e:
        raise ScenarioError(f"{path}: not valid TOML: {e}") from None
    except UnicodeDecodeError as e:  # tomllib decodes UTF-8 itself and lets this through
        raise ScenarioError(
            f"{path}: not valid TOML: the file is not UTF-8 text ({e.reason} at byte {e.start})"
        ) from None


def load_scenario(name_or_path: str | os.PathLike[str] | Scenario, **overrides: Any) -> Scenario:
    """Load and validate a scenario.

    Args:
        name_or_path: A built-in name (see :func:`list_scenarios`), the path of a TOML
            file, or a :class:`Scenario` (then only the overrides are applied).
        **overrides: Settings to change, as for :meth:`Scenario.replace`.

    Returns:
        The frozen, validated scenario with its targets ready.

    Raises:
        ScenarioError: if the scenario does not exist or is invalid; the message names
            the file, the track and the key, and says what was expected.
    """
    if isinstance(name_or_path, Scenario):
        return name_or_path.replace(**overrides)
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise ScenarioError(f"expected a scenario name or a path, got {type(name_or_path).__name__}")
    s = os.fspath(name_or_path)
    if isinstance(name_or_path, os.PathLike) or s.endswith(".toml") or os.sep in s or "/" in s:
        path = Path(s)
        if not path.is_file():
            raise ScenarioError(f"{path}: scenario file not found")
    else:
        path = scenario_path(s)
    path = path.resolve()
    data = _read_toml(path)
    strict = True
    if overrides:
        strict = "steps" not in _norm_keys(overrides)
        data = _apply_overrides(data, overrides, path)
    return _build(data, path, strict_patterns=strict)


def scenario_from_dict(data: Mapping[str, Any], *, path: str | os.PathLike[str] | None = None) -> Scenario:
    """Build a scenario from a dict shaped like the TOML file.

    From Python, parameters may also be :class:`~raveforce_mae.params.Param` objects,
    ``rel`` parameters may take a callable (``{"kind": "rel", "expr": fn, "depends":
    ["attack"]}``), and targets and samples may be arrays (``{"mix": array}`` at the
    scenario's sample rate, or ``(array, sample_rate)``).

    Args:
        data: The scenario.
        path: Where relative file names are resolved from (a file or a directory);
            default: the current directory.
    """
    if not isinstance(data, Mapping):
        raise ScenarioError(f"a scenario must be a dict, got {type(data).__name__}")
    p = Path(path).resolve() if path is not None else None
    return _build(dict(data), p, strict_patterns=True)


# -- overrides ----------------------------------------------------------------------------------------------


def _norm_keys(overrides: Mapping[str, Any]) -> set[str]:
    return {"steps" if k == "n_steps" else k for k, v in overrides.items() if v is not None}


def _apply_overrides(source: Mapping[str, Any], overrides: Mapping[str, Any], path: Path | None) -> dict:
    unknown = [k for k in overrides if k not in _OVERRIDE_KEYS]
    if unknown:
        raise ScenarioError(
            f"{path or '<scenario>'}: unknown override {unknown[0]!r}; valid overrides: {', '.join(_OVERRIDE_KEYS)}"
        )
    data = copy.deepcopy({k: v for k, v in source.items()})
    for key in ("timing", "reward", "observation", "targets"):
        if key in data and isinstance(data[key], Mapping):
            data[key] = dict(data[key])
    timing = data.setdefault("timing", {})
    reward = data.setdefault("reward", {})
    for k, v in overrides.items():
        if v is None:
            continue
        if k in ("steps", "n_steps"):
            timing["steps"] = v
        elif k in ("bpm", "sample_rate", "end"):
            timing[k] = v
        elif k in ("step_beats", "step_seconds"):
            timing.pop("step_beats", None)
            timing.pop("step_seconds", None)
            timing[k] = v
        elif k == "seed":
            data["seed"] = v
        elif k == "shared_weight":
            reward["shared_weight"] = v
        elif k == "mix_criterion":
            reward["mix_criterion"] = v
        elif k == "criterion":
            reward["criterion"] = v
            reward["mix_criterion"] = v
            tracks = data.get("tracks")
            if isinstance(tracks, Mapping):
                data["tracks"] = {
                    n: {kk: vv for kk, vv in t.items() if kk != "criterion"} if isinstance(t, Mapping) else t
                    for n, t in tracks.items()
                }
        elif k == "criteria":
            if not isinstance(v, Mapping):
                raise ScenarioError(
                    f"override 'criteria' must be a dict of track name -> criterion, got {v!r}"
                )
            tracks = dict(data.get("tracks") or {})
            for name, spec in v.items():
                if name == "mix":
                    reward["mix_criterion"] = spec
                elif name in tracks and isinstance(tracks[name], Mapping):
                    tracks[name] = {**tracks[name], "criterion": spec}
                else:
                    raise ScenarioError(
                        f"override 'criteria': no track {name!r}; expected one of {sorted(tracks) + ['mix']}"
                    )
            data["tracks"] = tracks
        elif k == "observation":
            data["observation"] = {**(data.get("observation") or {}), "kind": v}
        elif k == "per_track":
            data["targets"] = {**(data.get("targets") or {}), "per_track": v}
        elif k in ("name", "description"):
            data[k] = v
    return data


# -- the builder -----------------------------------------------------------------------------------------------


def _build(data: dict[str, Any], path: Path | None, *, strict_patterns: bool) -> Scenario:
    ctx = _Ctx(path)
    base_dir = (path.parent if path.is_file() or path.suffix == ".toml" else path) if path else Path.cwd()
    source = copy.copy(data)
    data = ctx.table(data, "", _TOP_KEYS)

    name = data.get("name", path.stem if path is not None and path.suffix else "scenario")
    if not isinstance(name, str) or not name:
        raise ctx.error("name", "a non-empty string", name)
    description = data.get("description", "")
    if not isinstance(description, str):
        raise ctx.error("description", "a string", description)
    seed = int(_number(ctx, data.get("seed", DEFAULT_SEED), "seed", integer=True, what="an integer seed"))

    # timing
    timing = ctx.table(data.get("timing"), "timing", _TIMING_KEYS)
    sr = int(
        _number(
            ctx,
            timing.get("sample_rate", 44100),
            "timing.sample_rate",
            lo=8000,
            hi=192000,
            integer=True,
            what="an integer sample rate in Hz within 8000..192000",
        )
    )
    bpm = _number(ctx, timing.get("bpm", 120), "timing.bpm", lo=1, hi=999, what="a tempo within 1..999 bpm")
    steps = int(
        _number(
            ctx,
            timing.get("steps", 16),
            "timing.steps",
            lo=1,
            hi=1_000_000,
            integer=True,
            what="a positive integer number of steps",
        )
    )
    if "step_beats" in timing and "step_seconds" in timing:
        raise ctx.error("timing.step_seconds", "either step_beats or step_seconds, not both")
    step_beats: float | None
    if "step_seconds" in timing:
        step_seconds = _number(
            ctx, timing["step_seconds"], "timing.step_seconds", lo=1e-9, what="a positive number of seconds"
        )
        step_beats = None
    else:
        step_beats = _number(
            ctx,
            timing.get("step_beats", 0.25),
            "timing.step_beats",
            lo=1e-9,
            what="a positive number of beats",
        )
        step_seconds = step_beats * 60.0 / bpm
    if steps * step_seconds > MAX_EPISODE_SECONDS:
        raise ctx.error(
            "timing",
            f"an episode of at most {MAX_EPISODE_SECONDS:g} s (steps x step length)",
            f"{steps} steps of {step_seconds:g} s = {steps * step_seconds:g} s",
        )
    bounds = tuple((round(i * step_seconds * sr), round((i + 1) * step_seconds * sr)) for i in range(steps))
    if any(b <= a for a, b in bounds):
        raise ctx.error("timing", "steps of at least one frame", f"{step_seconds:g} s at {sr} Hz")
    total = bounds[-1][1]
    end = timing.get("end", "truncate")
    if end not in ("truncate", "terminate"):
        raise ctx.error(
            "timing.end",
            '"truncate" (the performance is cut off; the default) or "terminate" '
            "(the task is complete after its steps)",
            repr(end),
        )

    # constants
    constants = _constants(
        ctx,
        data.get("constants"),
        {
            "sample_rate": float(sr),
            "bpm": bpm,
            "steps": float(steps),
            "step_seconds": step_seconds,
            "beat": 60.0 / bpm,
            "bar": 240.0 / bpm,
        },
    )

    # shared refs
    shared_raw = ctx.table(data.get("shared"), "shared", list(data.get("shared") or {}))
    shared_t: dict[str, Template] = {}
    for rname, body in shared_raw.items():
        key = f"shared.{rname}"
        if not NAME.fullmatch(rname):
            raise ctx.error(key, "a lowercase ref name (letters, digits, _; no ~)", rname)
        if not isinstance(body, str) or not body.strip():
            raise ctx.error(key, "a Glicol chain (a string)", body)
        t = _parse(ctx, body, key)
        for h in t.holes:
            if h not in constants:
                raise ctx.error(
                    key,
                    "holes that name constants only: a shared ref belongs to no agent, "
                    f"so it cannot hold a parameter (hole {{{h}}})",
                    body,
                )
        shared_t[rname] = t.map_holes(lambda n, k: format_number(constants[n]))
    for rname, t in shared_t.items():
        for r in t.refs:
            if r not in shared_t:
                raise ctx.error(
                    f"shared.{rname}",
                    f"refs to other shared refs only ({sorted(shared_t)}); ~{r} is not one",
                    shared_raw[rname],
                )
    shared_lines = tuple(CodeLine("~" + n, t, f"shared.{n}") for n, t in shared_t.items())

    # samples
    samples = _samples(ctx, data.get("samples"), base_dir)

    # reward and observation
    reward = ctx.table(data.get("reward"), "reward", _REWARD_KEYS)
    default_crit = _criterion(ctx, reward.get("criterion", DEFAULT_CRITERION), "reward.criterion", sr)
    mix_crit = _criterion(
        ctx,
        reward.get("mix_criterion", reward.get("criterion", DEFAULT_CRITERION)),
        "reward.mix_criterion",
        sr,
    )
    shared_weight = _number(
        ctx,
        reward.get("shared_weight", DEFAULT_SHARED_WEIGHT),
        "reward.shared_weight",
        lo=0.0,
        hi=1.0,
        what="a weight within 0..1",
    )
    obs = ctx.table(data.get("observation"), "observation", _OBS_KEYS)
    observation = obs.get("kind", "default")
    if observation not in OBSERVATION_KINDS:
        raise ctx.error("observation.kind", f"one of {list(OBSERVATION_KINDS)}", observation)

    # tracks
    tracks_raw = data.get("tracks")
    if not isinstance(tracks_raw, Mapping) or not tracks_raw:
        raise ctx.error("tracks", "at least one track: a [tracks.<name>] table", tracks_raw)
    tracks: list[Track] = []
    raw_refs: dict[str, Any] = {}
    roles: dict[str, int] = {}
    for tname, traw in tracks_raw.items():
        track, ref = _track(ctx, tname, traw, constants, shared_t, shared_lines, default_crit, sr, roles)
        tracks.append(track)
        raw_refs[tname] = ref
    names_used = {ln.lhs for t in tracks for ln in t._own}
    clash = names_used & {"~" + n for n in shared_t}
    if clash:
        raise ctx.error(
            "shared", f"shared ref names that no track's namespaced refs use; {sorted(clash)[0]} is both"
        )

    criteria = _FrozenDict({t.name: t.criterion for t in tracks} | {"mix": mix_crit})

    sc = Scenario(
        name=name,
        description=description.strip(),
        path=path,
        sample_rate=sr,
        bpm=bpm,
        n_steps=steps,
        step_seconds=step_seconds,
        step_beats=step_beats,
        bounds=bounds,
        total_frames=total,
        end=end,
        tracks=tuple(tracks),
        agents=tuple(t.agent for t in tracks),
        shared_refs=_FrozenDict({n: str(t) for n, t in shared_t.items()}),
        constants=_FrozenDict(constants),
        targets=None,  # type: ignore[arg-type]
        reference=None,
        criteria=criteria,
        shared_weight=shared_weight,
        observation=observation,
        seed=seed,
        samples=_FrozenDict(samples),
        _source=source,
        _shared_lines=shared_lines,
    )
    _probe(ctx, sc)

    # targets
    targets_raw = ctx.table(
        data.get("targets"), "targets", list(_TARGET_KEYS_FIXED) + [t.name for t in tracks]
    )
    per_track = targets_raw.pop("per_track", True)
    if not isinstance(per_track, bool):
        raise ctx.error("targets.per_track", "true or false", per_track)
    have_ref = [t.name for t in tracks if raw_refs[t.name] is not None]
    if targets_raw:
        if have_ref:
            raise ctx.error(
                f"tracks.{have_ref[0]}.reference",
                "either reference performances or target audio files ([targets]), not both",
                track=have_ref[0],
            )
        targets = _audio_targets(ctx, sc, targets_raw, base_dir, per_track)
        reference = ref_actions = None
    else:
        if not have_ref:
            raise ctx.error(
                "targets",
                "a target: a [tracks.<name>.reference] for every track, or audio "
                'files under [targets] (mix = "mix.wav", <track> = "<track>.wav")',
            )
        missing = [t.name for t in tracks if raw_refs[t.name] is None]
        if missing:
            raise ctx.error(
                f"tracks.{missing[0]}.reference",
                f"a reference performance for every track when any track has one ({', '.join(have_ref)} do)",
                track=missing[0],
            )
        reference, ref_actions = _reference(ctx, sc, raw_refs, strict_patterns)
        targets = _render_targets(ctx, sc, reference, per_track)
    object.__setattr__(sc, "targets", targets)
    object.__setattr__(sc, "reference", reference)
    object.__setattr__(sc, "_reference_actions", ref_actions)
    return sc


def _parse(ctx: _Ctx, text: str, key: str, track: str | None = None) -> Template:
    try:
        return parse_template(text)
    except PatchError as e:
        raise ctx.error(key, f"a Glicol chain with valid holes ({e})", track=track) from None


def _constants(ctx: _Ctx, raw: Any, builtins: dict[str, float]) -> dict[str, float]:
    table = ctx.table(raw, "constants", list(raw or {}) if isinstance(raw, Mapping) else [])
    out = dict(builtins)
    pending: dict[str, tuple[Callable[[Mapping[str, float]], float], tuple[str, ...]]] = {}
    for k, v in table.items():
        key = f"constants.{k}"
        if not isinstance(k, str) or not k.isidentifier():
            raise ctx.error(key, "a constant name that is an identifier", k)
        if k in builtins:
            raise ctx.error(key, f"a name other than the built-in constants {list(BUILTIN_CONSTANTS)}", k)
        if _is_number(v):
            out[k] = _number(ctx, v, key, what="a finite number")
        elif isinstance(v, str):
            try:
                pending[k] = compile_expr(v, list(builtins) + list(table))
            except ValueError as e:
                raise ctx.error(key, f"a number or an expression over constants ({e})", v) from None
        else:
            raise ctx.error(key, "a number or an expression string", v)
    state: dict[str, int] = {}

    def visit(k: str, path: list[str]) -> None:
        if k in out:
            return
        if state.get(k) == 1:
            raise ctx.error(f"constants.{k}", f"constants without a cycle: {' -> '.join(path + [k])}")
        state[k] = 1
        fn, used = pending[k]
        for d in used:
            if d not in out:
                visit(d, path + [k])
        try:
            val = fn(out)
        except ParameterError as e:
            raise ctx.error(f"constants.{k}", f"an expression that evaluates ({e})", table[k]) from None
        if not math.isfinite(val):
            raise ctx.error(f"constants.{k}", "a finite value", val)
        out[k] = val
        state[k] = 2

    for k in pending:
        visit(k, [])
    return out


def _samples(ctx: _Ctx, raw: Any, base: Path) -> dict[str, tuple[np.ndarray, int]]:
    table = ctx.table(raw, "samples", list(raw or {}) if isinstance(raw, Mapping) else [])
    out = {}
    for name, v in table.items():
        key = f"samples.{name}"
        if not NAME.fullmatch(name):
            raise ctx.error(
                key, "a sample name of lowercase letters, digits and _ (played as sp \\name)", name
            )
        if isinstance(v, tuple) and len(v) == 2:
            audio, rate = np.asarray(v[0], np.float32), int(v[1])
        elif isinstance(v, str):
            audio, rate = _read_audio(ctx, base / v, key, mono=False)
        else:
            raise ctx.error(key, "an audio file name (WAV or FLAC)", v)
        if audio.ndim == 1:
            audio = audio[None]
        if audio.shape[0] > 2:
            audio = audio.mean(axis=0, keepdims=True)
        if not audio.size or not np.isfinite(audio).all():
            raise ctx.error(key, "non-empty, finite audio", v)
        audio.flags.writeable = False
        out[name] = (audio, rate)
    return out


@functools.lru_cache(maxsize=64)
def _check_criterion_cached(spec: str, sr: int) -> str | None:
    try:
        from .rewards import make_criterion
    except ImportError:  # the rewards module is optional at load time
        return None
    try:
        make_criterion(spec, sr)
    except ValueError as e:
        return str(e)
    return None


def _criterion(ctx: _Ctx, spec: Any, key: str, sr: int, track: str | None = None) -> Any:
    if isinstance(spec, str):
        if not spec.strip():
            raise ctx.error(key, "a criterion name such as 'mrstft' or 'mrstft+pitch'", spec, track)
        problem = _check_criterion_cached(spec, sr)
    elif isinstance(spec, Mapping):
        try:
            from .rewards import make_criterion
        except ImportError:
            problem = None
        else:
            try:
                make_criterion(dict(spec), sr)
                problem = None
            except (ValueError, TypeError) as e:
                problem = str(e)
        spec = _FrozenDict(spec)
    else:
        raise ctx.error(key, "a criterion spec: a string such as 'mrstft+pitch' or a table", spec, track)
    if problem:
        raise ctx.error(key, f"a valid criterion ({problem})", spec, track)
    return spec


def _param(ctx: _Ctx, pname: str, raw: Any, key: str, track: str, constants: Mapping[str, float]) -> Param:
    if isinstance(raw, Param):
        return raw
    if isinstance(raw, str) and raw in ("lin", "exp", "note", "int", "choose", "rel"):
        raise ctx.error(key, f'a table such as {{ kind = "{raw}", low = ..., high = ... }}', raw, track)
    spec = ctx.table(raw, key, _PARAM_KEYS, track)
    kind = spec.get("kind")
    if kind not in KINDS:
        raise ctx.error(f"{key}.kind", f"one of {list(KINDS)}", kind, track)
    args: dict[str, Any] = {"name": pname, "kind": kind}
    for b in ("low", "high"):
        if b not in spec:
            if kind in ("lin", "exp", "note", "int"):
                raise ctx.error(f"{key}.{b}", f"a {b} bound for a '{kind}' parameter", track=track)
            continue
        v = spec[b]
        if kind == "note" and isinstance(v, str):
            try:
                v = note_number(v)
            except ValueError:
                pass
        if isinstance(v, str):
            try:
                fn, _ = compile_expr(v, list(constants))
                v = fn(constants)
            except (ValueError, ParameterError) as e:
                raise ctx.error(
                    f"{key}.{b}", f"a number or an expression over constants ({e})", spec[b], track
                ) from None
        elif not _is_number(v):
            raise ctx.error(f"{key}.{b}", "a number", v, track)
        args[b] = v
    if "choices" in spec:
        ch = spec["choices"]
        if not isinstance(ch, (list, tuple)) or not ch or not all(_is_number(c) for c in ch):
            raise ctx.error(f"{key}.choices", "a non-empty list of numbers", ch, track)
        args["choices"] = tuple(ch)
    elif kind == "choose":
        raise ctx.error(f"{key}.choices", "a list of values for a 'choose' parameter", track=track)
    for k in ("unit", "doc"):
        if k in spec:
            if not isinstance(spec[k], str):
                raise ctx.error(f"{key}.{k}", "a string", spec[k], track)
            args[k] = spec[k]
    if "expr" in spec:
        args["expr"] = spec["expr"]
    elif kind == "rel":
        raise ctx.error(f"{key}.expr", 'an expression such as "dur - 0.0001 - attack"', track=track)
    if "depends" in spec:
        d = spec["depends"]
        if isinstance(d, str):
            d = (d,)
        args["depends"] = tuple(d)
    if kind == "rel" and isinstance(args.get("expr"), str):
        try:
            compile_expr(args["expr"])
        except ValueError as e:
            raise ctx.error(f"{key}.expr", f"a valid expression ({e})", args["expr"], track) from None
    try:
        return Param(**args)
    except ScenarioError as e:
        msg = str(e).split(": ", 1)[-1]
        raise ctx.error(key, msg, track=track) from None


def _track(
    ctx: _Ctx,
    tname: Any,
    traw: Any,
    constants: Mapping[str, float],
    shared_t: Mapping[str, Template],
    shared_lines: tuple[CodeLine, ...],
    default_crit: Any,
    sr: int,
    roles: dict[str, int],
) -> tuple[Track, Any]:
    base = f"tracks.{tname}"
    if not isinstance(tname, str) or not NAME.fullmatch(tname) or tname == "mix":
        raise ctx.error(base, "a lowercase track name (letters, digits, _), not 'mix'", tname)
    t = ctx.table(traw, base, _TRACK_KEYS, tname)
    role = t.get("role", tname)
    if not isinstance(role, str) or not re.fullmatch(_ROLE, role):
        raise ctx.error(
            f"{base}.role" if "role" in t else base,
            "a role of lowercase letters and digits (agents are named <role>_<n>); "
            "set role = \"...\" for a track name with '_'",
            role,
            tname,
        )
    n = roles.get(role, 0)
    roles[role] = n + 1
    agent = f"{role}_{n}"

    # the text: chain + refs, or code (RaveForce style)
    if ("chain" in t) == ("code" in t):
        raise ctx.error(
            f"{base}.chain",
            "exactly one of chain (the audible chain) or code (full Glicol "
            "code with ~refs and one audible line)",
            track=tname,
        )
    refs_src: dict[str, str] = {}
    chain_key = "chain" if "chain" in t else "code"
    src = t[chain_key]
    if not isinstance(src, str) or not src.strip():
        raise ctx.error(f"{base}.{chain_key}", "a Glicol chain (a string)", src, tname)
    lines_raw: list[tuple[str, bool, str, str]] = []  # name, is_ref, body, key
    if chain_key == "chain":
        refs = ctx.table(t.get("refs"), f"{base}.refs", list(t.get("refs") or {}), tname)
        for rname, body in refs.items():
            if not NAME.fullmatch(rname):
                raise ctx.error(
                    f"{base}.refs.{rname}", "a lowercase ref name (letters, digits, _; no ~)", rname, tname
                )
            if not isinstance(body, str) or not body.strip():
                raise ctx.error(f"{base}.refs.{rname}", "a Glicol chain (a string)", body, tname)
            refs_src[rname] = body
            lines_raw.append((rname, True, body.strip(), f"refs.{rname}"))
        if "\n" in src.strip() or ":" in src.split(">>")[0]:
            raise ctx.error(
                f"{base}.chain",
                'one chain without a name (e.g. "saw {note} >> lpf {cutoff} 1.0"); '
                "use code = ... for multi-line Glicol code",
                src,
                tname,
            )
        lines_raw.append((tname, False, src.strip(), "chain"))
    else:
        if "refs" in t:
            raise ctx.error(
                f"{base}.refs", "refs inside code (as ~name: ... lines) when code is used", track=tname
            )
        try:
            parsed = split_code(src)
        except PatchError as e:
            raise ctx.error(f"{base}.code", f"Glicol code ({e})", track=tname) from None
        audible = [x for x in parsed if not x[1]]
        if len(audible) != 1:
            raise ctx.error(
                f"{base}.code",
                f"exactly one audible line (others must be ~refs); found {[a[0] for a in audible]}",
                track=tname,
            )
        seen: set[str] = set()
        for lname, is_ref, body in parsed:
            if is_ref:
                if lname in seen:
                    raise ctx.error(
                        f"{base}.code", f"each ~ref defined once (~{lname} is defined twice)", track=tname
                    )
                seen.add(lname)
                refs_src[lname] = body
                lines_raw.append((lname, True, body, f"code (~{lname})"))
            else:
                lines_raw.append((tname, False, body, f"code ({lname})"))

    templates = [
        (ln, ref, _parse(ctx, body, f"{base}.{key.split(' ')[0]}", tname), key)
        for ln, ref, body, key in lines_raw
    ]

    # parameters
    praw = t.get("params", {})
    if isinstance(praw, Mapping):
        items = list(praw.items())
    elif isinstance(praw, (list, tuple)):
        items = []
        for i, spec in enumerate(praw):
            if isinstance(spec, Param):
                items.append((spec.name, spec))
                continue
            if not isinstance(spec, Mapping):
                raise ctx.error(f"{base}.params[{i}]", "a parameter table", spec, tname)
            items.append((spec.get("name", f"p{i}"), {k: v for k, v in spec.items() if k != "name"}))
    else:
        raise ctx.error(f"{base}.params", "a table of parameters (name = { kind = ..., ... })", praw, tname)
    params_decl: dict[str, Param] = {}
    for pname, spec in items:
        key = f"{base}.params.{pname}"
        if not isinstance(pname, str) or not pname.isidentifier() or pname in ("min", "max", "abs", "clip"):
            raise ctx.error(key, "a parameter name that is an identifier", pname, tname)
        if pname in constants:
            raise ctx.error(key, f"a parameter name that is not a constant ({pname} is one)", track=tname)
        if pname in params_decl:
            raise ctx.error(key, "each parameter declared once", track=tname)
        params_decl[pname] = _param(ctx, pname, spec, key, tname, constants)

    # holes -> parameters (positional holes take the declared parameters in order)
    all_holes = [h for _, _, tpl, _ in templates for h in tpl.holes]
    positional = [h for h in all_holes if h == ""]
    named = [h for h in all_holes if h != ""]
    if positional and any(h not in constants for h in named):
        raise ctx.error(
            f"{base}.{chain_key}",
            "either named holes ({name}) or positional holes ({}), not both",
            src,
            tname,
        )
    decl = list(params_decl)
    if positional:
        if len(positional) != len(decl):
            what = "a hole without a spec" if len(positional) > len(decl) else "a spec without a hole"
            raise ctx.error(
                f"{base}.params",
                f"one parameter per positional {{}} hole ({what}: "
                f"{len(positional)} holes, {len(decl)} parameters)",
                track=tname,
            )
        counter = iter(decl)
        templates = [
            (ln, ref, tpl.map_holes(lambda h, k: (next(counter),) if h == "" else (h,)), key)
            for ln, ref, tpl, key in templates
        ]
    # constants in holes are baked in
    for _ln, _ref, tpl, key in templates:
        for h in tpl.holes:
            if h not in params_decl and h not in constants:
                raise ctx.error(
                    f"{base}.params.{h}",
                    f"a spec for the hole {{{h}}} in {key} (a hole without a "
                    f"spec); declared parameters: {decl}; constants: {sorted(constants)}",
                    track=tname,
                )
    templates = [
        (
            ln,
            ref,
            tpl.map_holes(lambda h, k: format_number(constants[h]) if h not in params_decl else (h,)),
            key,
        )
        for ln, ref, tpl, key in templates
    ]
    order: list[str] = []
    for _, _, tpl, _ in templates:
        for h in tpl.holes:
            if h not in order:
                order.append(h)
    unused = [p for p in decl if p not in order]
    if unused:
        raise ctx.error(
            f"{base}.params.{unused[0]}",
            f"a hole {{{unused[0]}}} in the chain or refs for this parameter (a spec without a hole)",
            track=tname,
        )
    params = tuple(params_decl[n] for n in order)
    free = tuple(p for p in params_decl.values() if p.kind != "rel")
    try:
        rel_order(params, list(constants))
    except ScenarioError as e:
        raise ctx.error(f"{base}.params", str(e), track=tname) from None

    # refs: private ones are namespaced, shared ones are kept
    private = {r for ln, ref, _, _ in templates if ref for r in [ln]}
    mapping = {r: f"{tname}_{r}" for r in private}
    own: list[CodeLine] = []
    used_shared: list[str] = []
    for ln, ref, tpl, key in templates:
        for r in tpl.refs:
            if r not in private and r not in shared_t:
                raise ctx.error(
                    f"{base}.{key.split(' ')[0]}",
                    f"refs defined in this track's refs or in [shared] "
                    f"(~{r} is undefined; private refs: {sorted(private)}, shared: {sorted(shared_t)})",
                    track=tname,
                )
            if r not in private and r not in used_shared:
                used_shared.append(r)
        lhs = "~" + mapping[ln] if ref else tname
        own.append(CodeLine(lhs, tpl.rename_refs(mapping), key))
    # shared refs used by shared refs
    stack = list(used_shared)
    while stack:
        for r in shared_t[stack.pop()].refs:
            if r not in used_shared:
                used_shared.append(r)
                stack.append(r)
    shared_used = tuple(n for n in shared_t if n in used_shared)
    track_shared = tuple(ln for ln in shared_lines if ln.lhs[1:] in shared_used)

    crit = (
        _criterion(ctx, t["criterion"], f"{base}.criterion", sr, tname) if "criterion" in t else default_crit
    )
    desc = t.get("description", "")
    if not isinstance(desc, str):
        raise ctx.error(f"{base}.description", "a string", desc, tname)
    track = Track(
        name=tname,
        agent=agent,
        role=role,
        template=src,
        params=params,
        free=free,
        criterion=crit,
        refs=_FrozenDict(refs_src),
        shared=shared_used,
        description=desc,
        constants=_FrozenDict(constants),
        _own=tuple(own),
        _shared_lines=track_shared,
    )
    return track, t.get("reference")


def _engine(sc: Scenario) -> glicol_wasm.Engine:
    eng = glicol_wasm.Engine(sc.sample_rate, bpm=sc.bpm, seed=sc.seed)
    for name, (audio, rate) in sc.samples.items():
        eng.load_sample(name, audio, rate)
    return eng


def _glicol_problem(ctx: _Ctx, track: Track, code: str, e: Exception, what: str) -> ScenarioError:
    key = "chain"
    line = getattr(e, "line", None)
    keys = track.line_keys()
    if line is not None and 1 <= line <= len(keys):
        key = keys[line - 1]
    full = key if key.startswith("shared.") else f"tracks.{track.name}.{key}"
    first = str(e).splitlines()[0] if str(e) else type(e).__name__
    return ctx.error(
        full,
        f"Glicol code the engine accepts; it rejected the code {what} ({first})\n"
        f"  code:\n    " + code.replace("\n", "\n    "),
        track=track.name,
    )


def _probe(ctx: _Ctx, sc: Scenario) -> None:
    """Render one step of every track at mid-range, then a block at each extreme."""
    n = sc.bounds[0][1] - sc.bounds[0][0]
    for t in sc.tracks:
        eng = _engine(sc)
        for what, u in (
            ("at mid-range values", 0.0),
            ("at the lowest values", -1.0),
            ("at the highest values", 1.0),
        ):
            try:
                vals = t.values(np.full(len(t.free), u))
            except ParameterError as e:
                raise ctx.error(
                    f"tracks.{t.name}.params", f"parameters that compute {what} ({e})", track=t.name
                ) from None
            code = t.code(vals)
            try:
                eng.set_code(code)
                eng.render(n if u == 0.0 else 256)
            except (glicol_wasm.GlicolError, ValueError) as e:  # ValueError: a NUL in the code
                raise _glicol_problem(ctx, t, code, e, what) from None


def _pattern(ctx: _Ctx, v: Any, key: str, track: str, n: int, strict: bool) -> list[Any]:
    if isinstance(v, (list, tuple)):
        if not v:
            raise ctx.error(key, "a value or a non-empty list with one value per step", v, track)
        if strict and n % len(v):
            raise ctx.error(
                key,
                f"one value, or a list of {n} values (one per step) or of a length that "
                f"divides {n} (a pattern that repeats)",
                f"a list of {len(v)}",
                track,
            )
        return [v[i % len(v)] for i in range(n)]
    return [v] * n


def _reference(
    ctx: _Ctx, sc: Scenario, raw_refs: Mapping[str, Any], strict: bool
) -> tuple[tuple[Mapping[str, Mapping[str, float]], ...], tuple[Mapping[str, np.ndarray], ...]]:
    n = sc.n_steps
    per_step_actions: list[dict[str, np.ndarray]] = [{} for _ in range(n)]
    per_step_values: list[dict[str, Mapping[str, float]]] = [{} for _ in range(n)]
    for t in sc.tracks:
        base = f"tracks.{t.name}.reference"
        raw = raw_refs[t.name]
        if not isinstance(raw, Mapping):
            raise ctx.error(
                base, "a table of parameter values (name = value, or a list per step)", raw, t.name
            )
        unknown = [k for k in raw if k not in t.param_names]
        if unknown:
            raise ctx.error(
                f"{base}.{unknown[0]}", f"a parameter of this track ({list(t.param_names)})", track=t.name
            )
        rel_given = [k for k in raw if t.param(k).kind == "rel"]
        if rel_given:
            raise ctx.error(
                f"{base}.{rel_given[0]}",
                f"values for free parameters only: '{rel_given[0]}' is 'rel' and is computed",
                track=t.name,
            )
        missing = [p.name for p in t.free if p.name not in raw]
        if missing:
            raise ctx.error(
                f"{base}.{missing[0]}",
                f"a reference value for every free parameter ({[p.name for p in t.free]})",
                track=t.name,
            )
        cols: list[np.ndarray] = []
        for p in t.free:
            key = f"{base}.{p.name}"
            seq = _pattern(ctx, raw[p.name], key, t.name, n, strict)
            col = np.empty(n, np.float32)
            for i, v in enumerate(seq):
                try:
                    if p.kind == "note":
                        midi = note_number(v)
                        p.check(midi)
                        u = -1.0 + (2 * (midi - p.low) + 1) / p.n_values  # type: ignore[operator]
                    else:
                        if not _is_number(v):
                            raise ValueError(f"expected a number, got {v!r}")
                        u = p.to_unit(p.check(v))
                except (ValueError, ParameterError) as e:
                    raise ctx.error(
                        key if not isinstance(raw[p.name], list) else f"{key}[{i}]",
                        f"a value this parameter can take ({e})",
                        v,
                        t.name,
                    ) from None
                col[i] = u
            cols.append(col)
        actions = np.stack(cols, axis=1) if cols else np.zeros((n, 0), np.float32)
        for i in range(n):
            a = actions[i].copy()
            a.flags.writeable = False
            per_step_actions[i][t.agent] = a
            # the values the env computes from these float32 actions, bit for bit
            per_step_values[i][t.name] = _FrozenDict(t.values(a))
    return (tuple(_FrozenDict(s) for s in per_step_values), tuple(_FrozenDict(a) for a in per_step_actions))


def _render_targets(
    ctx: _Ctx, sc: Scenario, reference: Sequence[Mapping[str, Mapping[str, float]]], per_track: bool
) -> Targets:
    from .core import render_values

    try:
        stems, mix = render_values(sc, reference)
    except EngineError as e:
        raise ctx.error(
            f"tracks.{e.track}.reference", f"values the engine can render ({e.__cause__ or e})", track=e.track
        ) from None
    for i, t in enumerate(sc.tracks):
        if not np.any(stems[i]):
            warnings.warn(
                f"{ctx.where}: the reference performance of track {t.name!r} is silent",
                UserWarning,
                stacklevel=4,
            )
    mix.flags.writeable = False
    if not per_track:
        return Targets("mix-only", mix, _FrozenDict(dict.fromkeys((t.name for t in sc.tracks), None)), False)
    out = {}
    for i, t in enumerate(sc.tracks):
        s = stems[i].copy()
        s.flags.writeable = False
        out[t.name] = s
    return Targets("reference", mix, _FrozenDict(out), True)


def _read_audio(
    ctx: _Ctx, file: Path, key: str, *, mono: bool = True, track: str | None = None
) -> tuple[np.ndarray, int]:
    import soundfile as sf

    if file.suffix.lower() not in _AUDIO_EXT:
        raise ctx.error(key, "a WAV or FLAC file (.wav, .flac)", str(file), track)
    if not file.is_file():
        raise ctx.error(
            key,
            "an existing audio file (paths are relative to the scenario file)",
            f"{file} (missing)",
            track,
        )
    try:
        data, rate = sf.read(str(file), dtype="float32", always_2d=True)
    except Exception as e:  # noqa: BLE001 - any decoder failure means unreadable
        raise ctx.error(key, "a readable WAV or FLAC file", f"{file} ({e})", track) from None
    if data.size == 0:
        raise ctx.error(key, "a non-empty audio file", str(file), track)
    if not np.isfinite(data).all():
        raise ctx.error(key, "audio without NaN or inf", str(file), track)
    if mono:
        return np.ascontiguousarray(data.mean(axis=1, dtype=np.float32)), int(rate)
    return np.ascontiguousarray(data.T), int(rate)


def _target_audio(
    ctx: _Ctx, v: Any, key: str, base: Path, sr: int, total: int, track: str | None
) -> tuple[np.ndarray, str]:
    import librosa

    if isinstance(v, (str, os.PathLike)):
        file = base / os.fspath(v)
        y, rate = _read_audio(ctx, file, key, track=track)
        label = str(file)
    elif isinstance(v, tuple) and len(v) == 2 and isinstance(v[0], np.ndarray):
        y, rate, label = np.asarray(v[0], np.float32), int(v[1]), f"<array {key}>"
        if y.ndim == 2:
            y = y.mean(axis=0 if y.shape[0] <= 8 else 1)
    elif isinstance(v, np.ndarray):
        y, rate, label = np.asarray(v, np.float32), sr, f"<array {key}>"
        if y.ndim == 2:
            y = y.mean(axis=0 if y.shape[0] <= 8 else 1)
    else:
        raise ctx.error(key, "an audio file name (WAV or FLAC, relative to the scenario file)", v, track)
    if y.ndim != 1 or not y.size or not np.isfinite(y).all():
        raise ctx.error(key, "non-empty, finite mono or stereo audio", v, track)
    expected = round(total * rate / sr)
    if abs(len(y) - expected) > 1:  # one frame is rounding (librosa rounds lengths up)
        what = "padded with silence" if len(y) < expected else "trimmed"
        warnings.warn(
            f"target {label}: {len(y) / rate:.4f} s ({len(y)} frames at {rate} Hz) but the episode is "
            f"{total / sr:.4f} s; {what} to {total} frames",
            UserWarning,
            stacklevel=5,
        )
    if rate != sr:
        y = librosa.resample(y, orig_sr=rate, target_sr=sr)
    y = librosa.util.fix_length(y, size=total).astype(np.float32, copy=False)
    y = np.ascontiguousarray(y)
    y.flags.writeable = False
    return y, label


def _audio_targets(ctx: _Ctx, sc: Scenario, raw: Mapping[str, Any], base: Path, per_track: bool) -> Targets:
    stems: dict[str, np.ndarray | None] = {}
    files = {}
    for t in sc.tracks:
        if t.name in raw and per_track:
            stems[t.name], files[t.name] = _target_audio(
                ctx, raw[t.name], f"targets.{t.name}", base, sc.sample_rate, sc.total_frames, t.name
            )
        else:
            stems[t.name] = None
    if "mix" in raw:
        mix, files["mix"] = _target_audio(
            ctx, raw["mix"], "targets.mix", base, sc.sample_rate, sc.total_frames, None
        )
    else:
        given = [s for s in stems.values() if s is not None]
        if len(given) != len(sc.tracks):
            raise ctx.error(
                "targets.mix",
                "a mix file, unless every track has a target stem (the mix is "
                f"then their sum); stems given: {sorted(raw)}",
            )
        m = np.zeros(sc.total_frames, np.float32)
        for s in given:
            m += s
        m.flags.writeable = False
        mix = m
    if not np.any(mix):
        warnings.warn(f"{ctx.where}: the target mix is silent", UserWarning, stacklevel=4)
    have = [s is not None for s in stems.values()]
    kind = "audio" if any(have) else "mix-only"
    return Targets(kind, mix, _FrozenDict(stems), all(have), _FrozenDict(files))
