"""The scenario data model: plain frozen data, fully built by the loader.

:class:`Scenario` (the task's settings and targets), :class:`Track` (one agent's
chain and parameters) and :class:`Targets` (the audio the agents try to match). No
engine and no file access here: :mod:`~raveforce_mae.scenario.loader` validates a
TOML file or a dict and builds these objects in one go, and the render session
(:mod:`raveforce_mae.core`) and the task (:mod:`raveforce_mae.task`) compile what
they need from them for the per-step hot path.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..defaults import DEFAULT_SEED
from ..errors import ParameterError, ScenarioError
from ..params import Param, complete, format_number
from ..patch import CodeLine, compile_lines, fill_lines, merge

__all__ = ["FrozenDict", "Scenario", "Targets", "Track", "show"]


class FrozenDict(dict):
    """A dict that refuses changes (and still pickles and compares like a dict)."""

    def _ro(self, *a: Any, **k: Any) -> None:
        raise TypeError("scenario mappings are read-only; use Scenario.replace() for a changed copy")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _ro  # type: ignore[assignment]

    def __reduce__(self) -> tuple:
        return (FrozenDict, (dict(self),))

    def __copy__(self) -> FrozenDict:
        return self

    def __deepcopy__(self, memo: dict) -> FrozenDict:
        return FrozenDict(copy.deepcopy(dict(self), memo))


def show(v: Any) -> str:
    """A short text for a value in an error message."""
    if isinstance(v, np.ndarray):
        return f"an array of shape {v.shape}"
    text = repr(v)
    return text if len(text) < 120 else text[:117] + "..."


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
    files: Mapping[str, str] = field(default_factory=lambda: FrozenDict())


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
        constants: The scenario's constants (``rel`` expressions may use them).
        rels: The ``rel`` parameters in the order they are computed.
        own_lines: The track's own lines of Glicol code (refs namespaced, holes named).
        shared_lines: The shared refs this track's code needs.
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
    constants: Mapping[str, float] = field(default_factory=lambda: FrozenDict(), repr=False)
    rels: tuple[Param, ...] = field(default=(), repr=False)
    own_lines: tuple[CodeLine, ...] = field(default=(), repr=False)
    shared_lines: tuple[CodeLine, ...] = field(default=(), repr=False)

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

    def action_mapper(self) -> Callable[[Any], dict[str, float]]:
        """A fast ``action -> values`` function (what :meth:`values` does, compiled once).

        The task layer keeps one per track for the per-step hot path.
        """
        agent, name = self.agent, self.name
        free_names = [p.name for p in self.free]
        maps = tuple((p.name, p.mapper()) for p in self.free)
        n_free = len(maps)
        rels, constants = self.rels, self.constants

        def values(action: Any) -> dict[str, float]:
            a = action.tolist() if isinstance(action, np.ndarray) else list(action)
            if isinstance(a, float) or len(a) < n_free:
                raise ParameterError(
                    f"agent {agent!r} (track {name!r}): expected an action of length "
                    f"{n_free} (one value in [-1, 1] for each of {free_names}), got {show(action)}"
                )
            out: dict[str, float] = {}
            for (pname, fn), u in zip(maps, a, strict=False):
                if not (-math.inf < u < math.inf):
                    raise ParameterError(
                        f"agent {agent!r} (track {name!r}): parameter {pname!r} got a "
                        f"non-finite action {u}; expected a value in [-1, 1]"
                    )
                out[pname] = fn(u)
            if rels:
                complete(rels, out, constants)
            return out

        return values

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
        return self.action_mapper()(action)

    def resolve(self, values: Mapping[str, float]) -> dict[str, float]:
        """Complete ``values`` (free parameters) with the ``rel`` ones (given ones are kept)."""
        out: dict[str, float] = {}
        for p in self.free:
            try:
                out[p.name] = float(values[p.name])
            except KeyError:
                raise ParameterError(
                    f"track {self.name!r}: no value for parameter {p.name!r}; expected values for "
                    f"{[q.name for q in self.free]}"
                ) from None
        given = {p.name: float(values[p.name]) for p in self.rels if p.name in values}
        complete(self.rels, out, self.constants, given)
        return {p.name: out[p.name] for p in self.params}

    def _fill(self, lines: tuple[CodeLine, ...], values: Mapping[str, float]) -> str:
        fmt, names = compile_lines(lines)
        if any(n not in values for n in names):
            values = self.resolve(values)
        return fmt.format(*[format_number(values[n]) for n in names])

    def code(self, values: Mapping[str, float]) -> str:
        """The complete Glicol code for this track's own engine.

        It holds the track's audible chain (named after the track), its private refs
        (namespaced: ``~env`` -> ``~<track>__env``) and the shared refs it uses.

        Args:
            values: Parameter name -> value (``rel`` values are computed if missing).
        """
        return self._fill(self.shared_lines + self.own_lines, values)

    def lines(self, values: Mapping[str, float]) -> list[str]:
        """This track's own lines of the merged patch (shared refs excluded)."""
        return self._fill(self.own_lines, values).split("\n")

    def line_keys(self) -> list[str]:
        """For each line of :meth:`code`: the scenario key it comes from (for errors)."""
        return [ln.key for ln in self.shared_lines + self.own_lines]


# -- scenario ------------------------------------------------------------------------------------------

_Rebuild = Callable[["Scenario", Mapping[str, Any]], "Scenario"]
_rebuild: list[_Rebuild] = []  # set by the loader (the model layer does not import it)


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
        source: The validated input (a TOML table), kept for :meth:`replace`.
        reference_steps: The normalised actions of the reference performance, per step
            (agent -> float32 array), or ``None``; see :meth:`reference_actions`.
        shared_lines: The shared refs as lines of code.
        target_source: Where sampled targets come from (``[tracks.<name>.distribution]``,
            MIDI folders, a folder of loops), or ``None``: see
            :class:`~raveforce_mae.scenario.sources.TargetSource`.
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
    samples: Mapping[str, tuple[np.ndarray, int]] = field(default_factory=lambda: FrozenDict())
    source: Mapping[str, Any] = field(default_factory=lambda: FrozenDict(), repr=False)
    reference_steps: tuple[Mapping[str, np.ndarray], ...] | None = field(default=None, repr=False)
    shared_lines: tuple[CodeLine, ...] = field(default=(), repr=False)
    # a scenario.sources.TargetSource; typed Any so that the model imports nothing above it
    target_source: Any = field(default=None, repr=False)

    # -- lookups -----------------------------------------------------------------------------

    @property
    def steps(self) -> int:
        """Alias of :attr:`n_steps` (the TOML key)."""
        return self.n_steps

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
        used: set[str] = set()
        for t in self.tracks:
            used.update(t.shared)
        shared = [ln for ln in self.shared_lines if ln.lhs[1:] in used]
        parts: list[tuple[str | None, list[str]]] = []
        if shared:
            parts.append(("shared", fill_lines(shared, {})))
        # With three or more tracks, Glicol would sum the audible chains in the order of
        # its hash map, which differs from the session's mix (the stems summed in track
        # order) in the last bit. So each audible chain becomes a ref and one output
        # chain adds them in track order, and the patch replays the mix bit for bit.
        # (``__`` and a trailing ``_`` are refused in scenario names: no collision.)
        chained = len(self.tracks) > 2
        outs: list[str] = []
        for t in self.tracks:
            v = values[t.name] if t.name in values else values[t.agent]
            lines = t.lines(v)
            if chained:
                lines = [_as_ref(ln, outs) for ln in lines]
            parts.append((f"{t.name} ({t.agent})", lines))
        if chained and outs:
            parts.append(("the mix, in track order", [f"{MIX_CHAIN}: " + " >> add ".join(outs)]))
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
        if self.reference_steps is None:
            raise ScenarioError(
                f"scenario {self.name!r} has no reference performance (its targets are {self.targets.kind})"
            )
        if not 0 <= step < self.n_steps:
            raise IndexError(f"step must be within 0..{self.n_steps - 1}, got {step}")
        return {a: u.copy() for a, u in self.reference_steps[step].items()}

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
        return _rebuild[0](self, overrides)

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


MIX_CHAIN = "mix_"
"""The output chain of a merged patch of three or more tracks (see :meth:`Scenario.patch`)."""
_AUDIBLE = re.compile(r"^([a-z][a-z0-9_]*):")


def _as_ref(line: str, outs: list[str]) -> str:
    """An audible line as the ref ``~<name>__out_`` (appended to ``outs``); others as they are."""
    m = _AUDIBLE.match(line)
    if not m:
        return line
    ref = f"~{m.group(1)}__out_"
    outs.append(ref)
    return ref + line[m.end(1) :]
