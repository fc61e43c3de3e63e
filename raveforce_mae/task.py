"""The task: what one scenario asks of the agents, step by step.

A :class:`Task` owns everything that differs between scenarios while the
environments (:mod:`raveforce_mae.envs`) stay generic: the episode's targets, one
:class:`~raveforce_mae.core.RenderSession`, the compiled action mapping, the reward
and the observation. Per step the environment calls, in order::

    values = task.values(i, action)            # per track: normalised action -> numbers
    audio = task.render(k, values)             # the step's stems and mix
    analysis = task.analyse(audio)             # ONE Analysis of that audio
    reward = task.reward(k, analysis)          # StepReward: per agent, mix, per track
    obs = task.observe(k, analysis)            # per-agent features
    done = task.done(step + 1)                 # the episode's end

The reward of a step is computed here, in :meth:`Task.reward`: each criterion
compares the step's rendered stems and mix (from the analysis) with the same
frames of the targets, prepared once at construction (:class:`~raveforce_mae.rewards.StepScorer`),
then the shared (mix) part and the per-track part are blended with the scenario's
``shared_weight`` (:func:`~raveforce_mae.rewards.blend`).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .analysis import Analysis
from .core import RenderSession
from .features import StepObserver
from .rewards import StepScorer, blend
from .scenario import Scenario, Targets
from .scenario.sources import EpisodeTarget, check_split, render_target

__all__ = ["StepReward", "Task"]


@dataclass(frozen=True)
class _Active:
    """One set of targets with its prepared scorer and observer."""

    targets: Targets
    scorer: StepScorer
    observer: StepObserver
    actions: Any
    target: EpisodeTarget | None


@dataclass(frozen=True)
class StepReward:
    """The reward of one step.

    Attributes:
        agents: Each agent's reward, shape ``(n_agents,)``, float64: ``w * mix + (1 -
            w) * track`` (``w = 1`` for a track without a target stem).
        mix: The shared part: the mix against the target mix.
        tracks: Each track's stem against its target stem, NaN without a target stem.
    """

    agents: np.ndarray
    mix: float
    tracks: np.ndarray


class Task:
    """One scenario's targets, render session, reward and observation.

    Args:
        scenario: The scenario.
        max_cycles: Steps per episode (default: the scenario's). Past the end of the
            scenario's target, the target loops from its start.

    Attributes:
        scenario: The scenario.
        max_cycles: Steps per episode.
        per_track: Whether per-track rewards exist (every track has a target stem).
        weight: The share of the mix reward in each agent's reward.
        observation_shape: Per-agent feature shape (without an agent indicator).
        pack: Whether the render session plays two tracks per engine where it is safe
            (see :class:`~raveforce_mae.core.RenderSession`; the audio and the rewards
            are the same bit for bit). Set it before the first :meth:`reset` to
            compare or measure without packing.
        render_threads: How many engines render at once (``None``: the default of
            :class:`~raveforce_mae.core.RenderSession`, one thread per engine up to the
            usable CPUs; ``1``: one after another). Set it before the first
            :meth:`reset`; the audio and the rewards are the same bit for bit.
    """

    CACHE_SIZE = 128
    """Rendered targets kept per task (least recently used dropped first), of finite splits
    only (test splits, folders): the draws of a distribution's train split are not kept."""

    def __init__(self, scenario: Scenario, max_cycles: int | None = None) -> None:
        sc = scenario
        self.scenario = sc
        self.max_cycles = int(max_cycles) if max_cycles is not None else sc.n_steps
        self.n_tracks = len(sc.tracks)
        self.sample_rate = sc.sample_rate
        self._names = tuple(t.name for t in sc.tracks)
        self._mappers = tuple(t.action_mapper() for t in sc.tracks)
        self._reference = self._prepare(sc.targets, sc.reference_steps, None)
        self._cache: OrderedDict[tuple[str, int], _Active] = OrderedDict()
        self._use(self._reference)
        self.observation_shape: tuple[int, ...] = tuple(self._observer.shape)
        self._session: RenderSession | None = None
        self.pack = True
        self.render_threads: int | None = None

    def _prepare(self, targets: Targets, actions: Any, target: EpisodeTarget | None) -> _Active:
        """The scorer and observer of one set of targets (their features computed once)."""
        sc = self.scenario
        stems = targets.stems
        rows = [stems.get(t.name) for t in sc.tracks] + [targets.mix]
        scorer = StepScorer(
            [sc.criteria[t.name] for t in sc.tracks] + [sc.criteria["mix"]],
            sc.sample_rate,
            rows,
            list(sc.bounds),
        )
        observer = StepObserver(sc.observation, sc.sample_rate, rows, list(sc.bounds), self.n_tracks)
        return _Active(targets, scorer, observer, actions, target)

    def _use(self, active: _Active) -> None:
        self._active = active
        self._scorer = active.scorer
        self._observer = active.observer
        self.per_track = bool(active.targets.per_track_available)
        self.weight = float(self.scenario.shared_weight) if self.per_track else 1.0

    def select(self, split: str | None = None, k: int = 0) -> None:
        """Choose the targets of the next episodes.

        Target ``k`` of ``split`` of the scenario's target source, or
        (``split=None``) the scenario's fixed reference.

        Targets of finite splits (test splits, folders) are kept in a least-recently-used
        cache of :attr:`CACHE_SIZE` entries, so that replaying a test target is cheap.

        Raises:
            ValueError: if the scenario has no target source, or ``split``/``k`` is
                invalid.
        """
        if split is None:
            self._use(self._reference)
            return
        source = self.scenario.target_source
        if source is None:
            raise ValueError(
                f"scenario {self.scenario.name!r} has no target distribution: add "
                "[tracks.<name>.distribution] tables, a folder of MIDI files or a folder of loops"
            )
        check_split(split)
        k = source.check_index(split, k)
        key = (split, k)
        active = self._cache.get(key)
        if active is None:
            target = render_target(self.scenario, source, split, k)
            active = self._prepare(target.targets, target.actions, target)
            # A split without a size (a distribution's train split) has ~2**63 targets: a
            # draw never comes back, and caching it would only hold its analysis (about
            # 9 MB) until evicted -- 128 of them per env copy.
            if source.size(split) is not None:
                self._cache[key] = active
                while len(self._cache) > self.CACHE_SIZE:
                    self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        self._use(active)

    @property
    def target(self) -> EpisodeTarget | None:
        """The selected sampled target (``None`` for the scenario's fixed reference)."""
        return self._active.target

    def reference_actions(self, step: int) -> dict[str, np.ndarray]:
        """Normalised actions that replay the selected target at scenario step ``step``.

        Raises:
            ValueError: if the selected target is audio (no performance to replay).
        """
        actions = self._active.actions
        if actions is None:
            raise ValueError(
                f"the targets of scenario {self.scenario.name!r} are audio, not a performance to replay"
            )
        return {a: u.copy() for a, u in actions[step].items()}

    # -- spaces ---------------------------------------------------------------------------

    def observation_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """``(low, high)`` of one agent's features, float32 arrays of :attr:`observation_shape`."""
        return self._observer.low, self._observer.high

    # -- episode --------------------------------------------------------------------------

    @property
    def session(self) -> RenderSession | None:
        """The render session (``None`` before the first :meth:`reset`)."""
        return self._session

    def reset(self) -> np.ndarray:
        """Start an episode from silence; returns the features before the first step.

        Returns:
            float32 array ``(n_tracks, *observation_shape)``.
        """
        if self._session is None:
            self._session = RenderSession(self.scenario, pack=self.pack, threads=self.render_threads)
        else:
            self._session.reset()
        return self._observer.reset()

    def close(self) -> None:
        """Release the engines."""
        self._session = None

    def step_index(self, step: int) -> int:
        """Which step of the scenario episode step ``step`` plays (targets loop)."""
        return step % self.scenario.n_steps

    def values(self, track: int, action: Sequence[float]) -> dict[str, float]:
        """Track ``track``'s parameter values for a normalised action (clipped to [-1, 1])."""
        return self._mappers[track](action)

    def render(self, k: int, values: Mapping[str, Mapping[str, float]]) -> np.ndarray:
        """Render scenario step ``k``: stems then the mix, float32 ``(n_tracks + 1, frames)``.

        Raises:
            EngineError: if an engine fails (see :meth:`RenderSession.step`).
            RuntimeError: before :meth:`reset`.
        """
        if self._session is None:
            raise RuntimeError("render() called before reset(); call reset() first")
        return self._session.step(k, values)

    def analyse(self, audio: np.ndarray) -> Analysis:
        """The one analysis of a step's audio that the reward and the observation share."""
        # The session checked the audio (finite, bounded) and made the mix as the sum.
        # The observation transforms every row at its resolutions, so a criterion
        # that reads some rows only (pitch on the bass) takes them from there.
        return Analysis(
            audio,
            self.sample_rate,
            mix_is_sum=self.n_tracks >= 2,
            mix_is_stem=self.n_tracks == 1,
            shared=self._observer.resolutions,
            # The render threads are idle now: one computes the observation's spectra.
            executor=None if self._session is None else self._session.executor,
        )

    def reward(self, k: int, analysis: Analysis) -> StepReward:
        """The reward of scenario step ``k`` (see the module docs)."""
        r = self._scorer.score_analysis(k, analysis)
        r_mix = float(r[-1])
        r_tracks = r[:-1]
        return StepReward(blend(r_mix, r_tracks, self.weight), r_mix, r_tracks)

    def observe(self, k: int, analysis: Analysis) -> np.ndarray:
        """Every agent's features after scenario step ``k``: ``(n_tracks, *observation_shape)``."""
        return self._observer.observe_analysis(k, analysis)

    def loop(self, step: int) -> None:
        """Called after episode step ``step``: the targets restart when the scenario's steps are done."""
        if self.step_index(step) == self.scenario.n_steps - 1 and step + 1 < self.max_cycles:
            self._observer.reset()

    def done(self, steps: int) -> tuple[bool, bool]:
        """``(terminated, truncated)`` after ``steps`` steps of an episode."""
        if steps < self.max_cycles:
            return False, False
        terminate = steps == self.scenario.n_steps and self.scenario.end == "terminate"
        return terminate, not terminate

    # -- what was played ----------------------------------------------------------------------

    @property
    def history(self) -> list[dict[str, Mapping[str, float]]]:
        """The values of every step since the last reset (empty before the first)."""
        return self._session.history if self._session is not None else []

    def audio(self) -> dict[str, np.ndarray]:
        """The audio rendered since the last reset: mono float32 per track name and ``"mix"``."""
        if self._session is None:
            raise RuntimeError("audio() called before reset()")
        return self._session.audio()

    def targets(self) -> dict[str, np.ndarray]:
        """The selected target audio: mono float32 per track name (if available) and ``"mix"``."""
        targets = self._active.targets
        out = {n: s for n, s in targets.stems.items() if s is not None}
        out["mix"] = targets.mix
        return out

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_session"] = None  # engines are not copied; reset() makes new ones
        state["_cache"] = OrderedDict()  # rendered again when selected
        return state
