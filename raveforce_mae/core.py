"""Rendering a scenario step by step: one Glicol engine per track, the mix by sum.

:class:`RenderSession` is the one rendering path of the package: the environments
(through the task), the search baselines and the scenario loader (reference targets)
all play through it. Each track has its own engine, so the stems come for free and
the mix is their sum (in track order). For chains that do not reference each other
this equals rendering the merged patch in one engine, up to the order in which
Glicol sums its output chains. :func:`new_engine` is the one place an engine is made.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

import glicol_wasm
from glicol_wasm import GlicolError

from .defaults import DEFAULT_BPM, DEFAULT_SAMPLE_RATE, DEFAULT_SEED
from .errors import EngineError
from .params import format_number
from .patch import compile_lines

if TYPE_CHECKING:
    from .scenario.model import Track

__all__ = [
    "MAX_AMPLITUDE",
    "Playable",
    "RenderSession",
    "SessionState",
    "code_formatter",
    "new_engine",
    "render_values",
]

MAX_AMPLITUDE = 1e6
"""Largest absolute sample value a stem may reach (+120 dB over full scale).

Glicol does not clip, and some filters are unstable for legal parameter values (``lpf``
with the cutoff near Nyquist, for one): their output grows without bound and only
becomes ``inf`` seconds later, after features computed from it have already overflowed
to NaN. No musical patch comes near this level, so reaching it is reported as an engine
failure, naming the track and values, as NaN/inf output is."""


def new_engine(
    sample_rate: int = DEFAULT_SAMPLE_RATE,
    bpm: float = DEFAULT_BPM,
    seed: int = DEFAULT_SEED,
    samples: Mapping[str, tuple[np.ndarray, int]] | None = None,
) -> glicol_wasm.Engine:
    """A fresh Glicol engine with the given settings and samples loaded (the one engine factory)."""
    eng = glicol_wasm.Engine(sample_rate, bpm=bpm, seed=seed)
    for name, (audio, rate) in (samples or {}).items():
        eng.load_sample(name, audio, rate)
    return eng


class Playable(Protocol):
    """What a session needs to know to play: a :class:`~raveforce_mae.scenario.Scenario` has it."""

    @property
    def sample_rate(self) -> int: ...  # noqa: D102
    @property
    def bpm(self) -> float: ...  # noqa: D102
    @property
    def seed(self) -> int: ...  # noqa: D102
    @property
    def samples(self) -> Mapping[str, tuple[np.ndarray, int]]: ...  # noqa: D102
    @property
    def tracks(self) -> tuple[Track, ...]: ...  # noqa: D102
    @property
    def bounds(self) -> tuple[tuple[int, int], ...]: ...  # noqa: D102
    @property
    def total_frames(self) -> int: ...  # noqa: D102
    @property
    def n_steps(self) -> int: ...  # noqa: D102


def code_formatter(track: Track) -> Callable[[Mapping[str, float]], str]:
    """A fast ``values -> code`` function for one track (:meth:`Track.code`, compiled once)."""
    fmt, names = compile_lines(track.shared_lines + track.own_lines)

    def slow(values: Mapping[str, float]) -> str:
        if any(n not in values for n in names):
            values = track.resolve(values)
        return fmt.format(*[format_number(values[n]) for n in names])

    def code(values: Mapping[str, float]) -> str:
        # Fast path: "%.6g" is Glicol-safe unless it has an exponent, nan/inf or "-0";
        # those rare numbers take format_number's slow path.
        try:
            strs = [f"{values[n]:.6g}" for n in names]
        except KeyError:
            return slow(values)
        probe = " ".join(strs) + " "
        if "e" in probe or "n" in probe or "-0 " in probe:
            return slow(values)
        return fmt.format(*strs)

    return code


@dataclass(frozen=True)
class SessionState:
    """A saved session (see :meth:`RenderSession.snapshot`)."""

    engines: tuple[Any, ...]
    last: tuple[str | None, ...]
    pos: int
    steps: int


class RenderSession:
    """Renders a scenario's tracks step by step, continuing the engines' state.

    Every step, each track's code is filled with that step's values and given to the
    track's engine (the engine ignores code identical to the last), which then renders
    the step's frames. Oscillator phases, envelopes and sequencer positions carry over
    from step to step, as when a musician live-codes.

    Args:
        scenario: The scenario to play.
        tracks: Indices of the tracks to render (default: all). The mix is the sum of
            these tracks' stems; the others are not rendered (stems never depend on
            each other), which is what the search baselines use.

    Attributes:
        scenario: The scenario.
        history: The values of every step since the last reset (track name ->
            parameter name -> value), oldest first.
    """

    def __init__(self, scenario: Playable, tracks: Sequence[int] | None = None) -> None:
        self.scenario = scenario
        chosen = scenario.tracks if tracks is None else tuple(scenario.tracks[i] for i in tracks)
        self._k = len(chosen)
        self._names = tuple(t.name for t in chosen)
        self._formatters = tuple(code_formatter(t) for t in chosen)
        self._frames = tuple(b - a for a, b in scenario.bounds)
        self._engines = [
            new_engine(scenario.sample_rate, scenario.bpm, scenario.seed, scenario.samples) for _ in chosen
        ]
        self._fresh = True
        self._cap = max(scenario.total_frames, 1)
        # Reused across episodes: a warm buffer avoids page faults in the hot path.
        self._buf = np.zeros((self._k + 1, self._cap), dtype=np.float32)
        self.reset()

    def reset(self) -> None:
        """Start again from silence with fresh engine instances (bit-identical renders)."""
        if not self._fresh:
            for eng in self._engines:
                eng.reset()  # a new wasm instance; loaded samples are kept
        self._fresh = False
        self._last: list[str | None] = [None] * self._k
        self._pos = 0
        self._broken: str | None = None
        self.history: list[dict[str, Mapping[str, float]]] = []

    @property
    def frames_rendered(self) -> int:
        """Frames rendered since the last reset."""
        return self._pos

    @property
    def memory_bytes(self) -> int:
        """Memory of the session's engines, in bytes (grows as the engines allocate)."""
        return sum(eng.memory_bytes for eng in self._engines)

    def engine_memory(self) -> list[int]:
        """Linear-memory size of each track's engine, in bytes."""
        return [eng.memory_bytes for eng in self._engines]

    def snapshot(self) -> SessionState:
        """Save the engines' state and the position, to :meth:`restore` it later.

        Restoring and rendering the same step again gives bit-identical audio, so a
        search can try many candidates for one step at the cost of one step each.
        The history is not saved: after :meth:`restore` it is cut back to the saved
        length.
        """
        if self._broken:
            raise RuntimeError(f"the render session failed earlier ({self._broken}); call reset() first")
        return SessionState(
            tuple(eng.snapshot() for eng in self._engines), tuple(self._last), self._pos, len(self.history)
        )

    def restore(self, state: SessionState) -> None:
        """Go back to a state saved by :meth:`snapshot` of this session.

        Raises:
            ValueError: if the state was saved by another session.
        """
        if len(state.engines) != self._k:
            raise ValueError("this session state was saved by another session")
        for eng, snap in zip(self._engines, state.engines, strict=True):
            eng.restore(snap)
        self._last = list(state.last)
        self._pos = state.pos
        self._broken = None
        del self.history[state.steps :]

    def valid(self, state: SessionState) -> bool:
        """Whether :meth:`restore` accepts ``state`` (no engine was rebuilt since it was saved)."""
        return len(state.engines) == self._k and all(
            s.valid_for(eng) for s, eng in zip(state.engines, self._engines, strict=True)
        )

    @staticmethod
    def state_bytes(state: SessionState) -> int:
        """Bytes of engine memory a saved state holds."""
        return sum(s.nbytes for s in state.engines)

    def step(self, step_index: int, values: Mapping[str, Mapping[str, float]]) -> np.ndarray:
        """Render one step.

        Args:
            step_index: Which step of the scenario this is (``0..n_steps-1``): it sets
                the number of frames (``bounds[step_index]``). An episode longer than
                the scenario loops its steps; the engines just continue.
            values: Track name -> parameter name -> value (``Track.values`` output;
                missing ``rel`` values are computed). The per-track mappings are kept
                in :attr:`history`: do not mutate them afterwards.

        Returns:
            float32 array of shape (n_tracks + 1, frames of the step), read-only: each
            track's stem (left channel), then the mix (sum of the stems in track
            order) as the last row. It is a view of the session's audio buffer,
            valid until the next :meth:`reset`.

        Raises:
            EngineError: if an engine rejects the code, produces NaN/inf or a sample
                beyond :data:`MAX_AMPLITUDE` (a filter blowing up). It names
                the track and the values, and keeps the engine's error as
                ``__cause__``. The session must then be reset.
            IndexError: if ``step_index`` is out of range.
        """
        if self._broken:
            raise RuntimeError(f"the render session failed earlier ({self._broken}); call reset() first")
        n = self._frames[step_index]
        pos = self._pos
        end = pos + n
        if end > self._cap:
            self._grow(end)
        buf = self._buf
        k = self._k
        last = self._last
        names = self._names
        for i in range(k):
            v = values[names[i]]
            code = self._formatters[i](v)
            eng = self._engines[i]
            try:
                if code != last[i]:
                    eng.set_code(code)
                    last[i] = code
                row = buf[i, pos:end]
                row[:] = eng.render(n)[0]
                if row.max(initial=0.0) > MAX_AMPLITUDE or row.min(initial=0.0) < -MAX_AMPLITUDE:
                    raise _Blowup(float(np.max(np.abs(row))))
            except _Blowup as e:
                self._broken = f"track {names[i]!r} at step {step_index}"
                raise EngineError(
                    f"the Glicol engine of track {names[i]!r} produced runaway audio (peak {e.peak:.3g}, "
                    f"above the limit of {MAX_AMPLITUDE:g}) at step {step_index} with values {dict(v)}; "
                    "an unstable filter (lpf/hpf with the cutoff near Nyquist or a q near 0) does this",
                    track=names[i],
                    values=dict(v),
                ) from None
            except GlicolError as e:
                self._broken = f"track {names[i]!r} at step {step_index}"
                raise EngineError(
                    f"the Glicol engine of track {names[i]!r} failed at step {step_index} "
                    f"with values {dict(v)}: {e}",
                    track=names[i],
                    values=dict(v),
                ) from e
        mix = buf[k, pos:end]
        if k == 1:
            mix[:] = buf[0, pos:end]
        else:  # summed in track order: ((s0 + s1) + s2) + ...
            np.add(buf[0, pos:end], buf[1, pos:end], out=mix)
            for i in range(2, k):
                mix += buf[i, pos:end]
        self._pos = end
        self.history.append({name: values[name] for name in names})
        out = buf[:, pos:end]
        out.flags.writeable = False
        return out

    def _grow(self, need: int) -> None:
        cap = max(need, 2 * self._cap)
        new = np.zeros((self._k + 1, cap), dtype=np.float32)
        new[:, : self._pos] = self._buf[:, : self._pos]
        self._buf = new
        self._cap = cap

    def audio(self) -> dict[str, np.ndarray]:
        """Everything rendered since the last reset: mono float32 per track name and ``"mix"``."""
        out = {name: self._buf[i, : self._pos].copy() for i, name in enumerate(self._names)}
        out["mix"] = self._buf[self._k, : self._pos].copy()
        return out

    def rendered(self) -> tuple[np.ndarray, np.ndarray]:
        """Everything rendered since the last reset: ``(stems, mix)``, copies of shape (k, N) and (N,)."""
        buf = self._buf[:, : self._pos]
        return buf[: self._k].copy(), buf[self._k].copy()

    def code(self, values: Mapping[str, Mapping[str, float]]) -> dict[str, str]:
        """Each track's standalone code for ``values`` (what the engines are given)."""
        return {name: f(values[name]) for name, f in zip(self._names, self._formatters, strict=False)}


def render_values(
    scenario: Playable, values_per_step: Sequence[Mapping[str, Mapping[str, float]]]
) -> tuple[np.ndarray, np.ndarray]:
    """Render a whole performance in a fresh session.

    Args:
        scenario: The scenario.
        values_per_step: For each step: track name -> parameter values. Step ``i``
            lasts ``bounds[i % n_steps]``.

    Returns:
        ``(stems, mix)``: float32 arrays of shape (n_tracks, N) and (N,), N the total
        frames of the steps given.

    Raises:
        EngineError: if an engine fails.
    """
    session = RenderSession(scenario)
    n = scenario.n_steps
    for i, values in enumerate(values_per_step):
        session.step(i % n, values)
    return session.rendered()


class _Blowup(Exception):
    def __init__(self, peak: float) -> None:
        self.peak = peak
