"""The multi-agent ensemble: a PettingZoo ``ParallelEnv`` over one scenario.

The generic environment of every scenario, PettingZoo's parallel API over a
:class:`raveforce_mae.task.Task`. Its documentation page (observations, actions,
rewards, infos, arguments, targets, engine faults, threads, version history) is
``docs/environment.md``. The discrete action form lives in :mod:`.actions`, keyword
checks in :mod:`.keywords`, rendering in :mod:`.render`; everything that differs
between scenarios is the task's.
"""

from __future__ import annotations

import inspect
import math
import os
import sys
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.utils import EzPickle, seeding
from pettingzoo import ParallelEnv

import glicol_wasm

from ..errors import EngineError, ParameterError, ScenarioError
from ..scenario import Scenario, load_scenario
from ..task import Task
from ..timeline import timeline
from . import render as _render
from .actions import ACTION_TYPES, DISCRETE_BINS, MaskedMultiDiscrete, discrete_tables, validate_indices
from .keywords import check_keywords

__all__ = [
    "ACTION_TYPES",
    "CONSTRUCTOR_KEYWORDS",
    "DISCRETE_BINS",
    "ENV_VERSION",
    "MaskedMultiDiscrete",
    "RaveforceParallelEnv",
    "check_keywords",
]

StepResult = tuple[
    dict[str, np.ndarray], dict[str, float], dict[str, bool], dict[str, bool], dict[str, dict[str, Any]]
]
"""What ``step`` returns: observations, rewards, terminations, truncations, infos."""

ENV_VERSION = 1
"""Bumped whenever dynamics, observations or rewards change (the Version History of docs/environment.md)."""


class RaveforceParallelEnv(ParallelEnv, EzPickle):
    """The Raveforce environment: PettingZoo's parallel API over one scenario.

    Agents make music together by live-coding the Glicol engine. Each agent plays one
    track of a scenario (bass, kick, hat, ...): every step it chooses the numbers of its
    track's Glicol chain, all tracks render the step's audio together, and each agent is
    rewarded by how close the result sounds to the scenario's targets.

    | | |
    |---|---|
    | Creation | `raveforce_mae.parallel_env(scenario="ensemble")` |
    | Agents | one per track, `<track>_0`; `ensemble`: `bass_0`, `kick_0`, `hat_0` |
    | Actions | `Box(-1, 1, (P,), float32)`, P = the largest parameter count of any track; `action_type="discrete"`: `MultiDiscrete(nvec)`, `nvec` of length P |
    | Observations | `Box(low, high, (F + n_agents,), float32)` audio features + agent one-hot |
    | State | `Box`, the concatenated observations of all agents (without one-hot) |
    | Episode | the scenario's steps (e.g. 16 sixteenth notes), then truncation (or termination where the scenario sets `end = "terminate"`, as `kick` does) |

    The environment's page, ``docs/environment.md``, says the rest: observations,
    actions (continuous and discrete, with masks), rewards, the infos schema, every
    argument, sampled targets, engine faults, threads and the version history.
    """

    metadata: dict[str, Any] = {
        "name": f"raveforce_v{ENV_VERSION}",
        "render_modes": ["human", "ansi", "rgb_array"],
        "render_fps": 8,
        "is_parallelizable": True,
    }

    def __init__(
        self,
        scenario: str | os.PathLike[str] | Scenario = "ensemble",
        render_mode: str | None = None,
        max_cycles: int | None = None,
        native_spaces: bool = False,
        agent_indicator: bool | None = None,
        on_engine_error: str = "truncate",
        targets: str | Mapping[str, Any] = "reference",
        split: str = "train",
        action_type: str = "box",
        discrete_bins: int = DISCRETE_BINS,
        **overrides: Any,
    ) -> None:
        EzPickle.__init__(
            self,
            scenario,
            render_mode=render_mode,
            max_cycles=max_cycles,
            native_spaces=native_spaces,
            agent_indicator=agent_indicator,
            on_engine_error=on_engine_error,
            targets=targets,
            split=split,
            action_type=action_type,
            discrete_bins=discrete_bins,
            **overrides,
        )
        if isinstance(targets, Mapping):
            overrides = {**overrides, "targets": targets}
            targets = "reference"
        if targets not in ("reference", "sampled"):
            raise ValueError(
                f'targets must be "reference" (the scenario\'s fixed performance) or "sampled" '
                f"(a target drawn at every reset), got {targets!r}"
            )
        if split not in ("train", "test"):
            raise ValueError(f'split must be "train" or "test", got {split!r}')
        self.target_mode = targets
        self.split = split
        self.target_id = 0
        if action_type not in ACTION_TYPES:
            raise ValueError(f"action_type must be one of {list(ACTION_TYPES)}, got {action_type!r}")
        if (
            isinstance(discrete_bins, bool)
            or not isinstance(discrete_bins, (int, np.integer))
            or discrete_bins < 2
        ):
            raise ValueError(f"discrete_bins must be an int >= 2, got {discrete_bins!r}")
        self.action_type = action_type
        self.discrete_bins = int(discrete_bins)
        if on_engine_error not in ("truncate", "raise"):
            raise ValueError(f'on_engine_error must be "truncate" or "raise", got {on_engine_error!r}')
        self.on_engine_error = on_engine_error
        self.last_engine_error: EngineError | None = None
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be one of {self.metadata['render_modes']} or None, got {render_mode!r}"
            )
        if overrides:
            check_keywords("parallel_env", overrides, CONSTRUCTOR_KEYWORDS)
        if isinstance(scenario, Scenario):
            sc = scenario.replace(**overrides) if overrides else scenario
        elif isinstance(scenario, (str, os.PathLike)):
            sc = load_scenario(scenario, **overrides)
        else:
            raise ScenarioError(
                f"scenario must be a name, a path or a Scenario, got {type(scenario).__name__}"
            )
        if max_cycles is not None and (
            isinstance(max_cycles, bool) or not isinstance(max_cycles, (int, np.integer)) or max_cycles < 1
        ):
            raise ValueError(f"max_cycles must be a positive int or None, got {max_cycles!r}")
        self.scenario = sc
        self.render_mode = render_mode
        self.max_cycles = int(max_cycles) if max_cycles is not None else sc.n_steps
        self.native_spaces = bool(native_spaces)
        self.agent_indicator = (not native_spaces) if agent_indicator is None else bool(agent_indicator)

        self.possible_agents = list(sc.agents)
        self.agents: list[str] = []
        self._tracks = sc.tracks
        self._n = len(sc.tracks)
        self._n_free = [len(t.free) for t in sc.tracks]
        self._action_dim = max(self._n_free) if self._n_free else 0
        self.task = Task(sc, self.max_cycles)
        """The scenario's task: targets, render session, reward and observation."""
        if targets == "sampled" and sc.target_source is None:
            raise ScenarioError(
                f'targets="sampled": scenario {sc.name!r} has no target distribution; add '
                "[tracks.<name>.distribution] tables (see scenarios/README.md), a folder of MIDI "
                'files ([targets] <track> = "riffs/") or a folder of loops ([targets] folder = "loops/")'
            )

        feat_shape = self.task.observation_shape
        low, high = _bounds(*self.task.observation_bounds(), feat_shape)
        if self.agent_indicator:
            if len(feat_shape) != 1:
                raise ScenarioError(
                    f"agent_indicator needs a flat observation; observation kind "
                    f"{sc.observation!r} has shape {feat_shape}. Pass agent_indicator=False."
                )
            low = np.concatenate([low, np.zeros(self._n, np.float32)])
            high = np.concatenate([high, np.ones(self._n, np.float32)])
            self._onehot = np.eye(self._n, dtype=np.float32)
        self._obs_space = spaces.Box(low, high, dtype=np.float32)
        self._discrete = action_type == "discrete"
        self._act_space: spaces.Space[Any]
        self._native_act: list[spaces.Space[Any]]
        if self._discrete:
            self._setup_discrete()
        else:
            self._act_space = spaces.Box(-1.0, 1.0, (self._action_dim,), np.float32)
            self._native_act = [spaces.Box(-1.0, 1.0, (k,), np.float32) for k in self._n_free]
        self.state_space = spaces.Box(
            np.tile(low[: low.size - (self._n if self.agent_indicator else 0)].ravel(), self._n),
            np.tile(high[: high.size - (self._n if self.agent_indicator else 0)].ravel(), self._n),
            dtype=np.float32,
        )
        self._index = {a: i for i, a in enumerate(self.possible_agents)}
        # The names of infos[agent]["values"]: Track.values() order (free, then rel).
        self._value_names = [tuple(t.values([0.0] * len(t.free))) for t in sc.tracks]
        self._n_values = max((len(v) for v in self._value_names), default=0)
        self._last_values: dict[str, dict[str, float]] = {}
        self._guard = glicol_wasm.ConcurrentUseGuard(
            "this environment", "create one environment per thread, or use a vector env"
        )
        self._shapes = [self.action_space(a).shape for a in self.possible_agents]
        self._step = 0
        self._started = False
        self._last_obs: np.ndarray | None = None
        self._rewards_log: list[np.ndarray] = []
        self._np_random_seed: int | None = None
        self._np_random: np.random.Generator | None = None

    # -- spaces ---------------------------------------------------------------------------

    def observation_space(self, agent: str) -> spaces.Box:
        """The observation space of ``agent`` (the same object on every call)."""
        self._check_agent(agent)
        return self._obs_space

    def action_space(self, agent: str) -> spaces.Space[Any]:
        """The action space of ``agent`` (the same object on every call)."""
        i = self._check_agent(agent)
        return self._native_act[i] if self.native_spaces else self._act_space

    # -- discrete actions -------------------------------------------------------------------

    def _setup_discrete(self) -> None:
        """Spaces, masks and index -> ``u`` tables of ``action_type="discrete"``."""
        d = discrete_tables(self._tracks, self._action_dim, self.discrete_bins, self.native_spaces)
        self._native_act, self._act_space = list[spaces.Space[Any]](d.native), d.shared
        self._unit_tables, self._valid_counts, self._masks = d.tables, d.counts, d.masks

    def action_mask(self, agent: str) -> np.ndarray:
        """The flat ``int8`` action mask of ``agent`` with ``action_type="discrete"`` (a copy).

        Raises:
            RuntimeError: with ``action_type="box"``.
        """
        i = self._check_agent(agent)
        if not self._discrete:
            raise RuntimeError('action_mask() needs action_type="discrete"')
        return self._masks[i].copy()

    def discrete_to_box(self, agent: str, action: Any) -> np.ndarray:
        """The continuous (``Box``) action that plays the same values as a discrete one.

        Args:
            agent: The agent.
            action: Its ``MultiDiscrete`` action (indices).

        Returns:
            float32 vector of the ``Box`` env's action shape for ``agent``: the same
            numbers played through the ``Box`` env give bit-identical audio and rewards.

        Raises:
            RuntimeError: with ``action_type="box"``.
            ParameterError: on an invalid action.
        """
        if not self._discrete:
            raise RuntimeError('discrete_to_box() needs action_type="discrete"')
        i = self._check_agent(agent)
        idx = self.validate_action(agent, action)
        u = self._index_units(i, idx)[0]
        size = self._n_free[i] if self.native_spaces else self._action_dim
        out = np.zeros(size, np.float32)
        out[: self._n_free[i]] = u[: self._n_free[i]]
        return out

    def _add_masks(self, infos: dict[str, dict[str, Any]]) -> None:
        """Put each agent's action mask into its infos (discrete actions only)."""
        if self._discrete:
            for a, info in infos.items():
                info["action_mask"] = self._masks[self._index[a]].copy()

    def _index_units(self, i: int, idx: np.ndarray) -> tuple[list[float], bool]:
        """Normalised actions of agent ``i``'s indices, and whether one was masked."""
        n = self._n_free[i]
        table = self._unit_tables[i]
        u = table[np.arange(n), idx[:n]].tolist()
        return u, bool((idx[:n] >= self._valid_counts[i][:n]).any())

    def _check_agent(self, agent: str) -> int:
        try:
            return self._index[agent]
        except KeyError:
            raise KeyError(
                f"unknown agent {agent!r}; this scenario's agents are {self.possible_agents}"
            ) from None

    # -- seeding --------------------------------------------------------------------------

    @property
    def np_random(self) -> np.random.Generator:
        """The env's random generator (seeded by ``reset(seed=...)``)."""
        if self._np_random is None:
            self._np_random, self._np_random_seed = seeding.np_random()
        return self._np_random

    # -- episode --------------------------------------------------------------------------

    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, dict[str, Any]]]:
        """Start a new performance from silence.

        Args:
            seed: Seeds ``np_random``. The audio itself is deterministic: every episode
                uses fresh engine instances seeded with the scenario's seed, so equal
                actions give bit-identical audio, observations and rewards.
            options: ``{"target": k}`` plays target ``k`` of the split (with
                ``targets="sampled"``); other keys are ignored.

        Returns:
            Observations and infos, keyed by agent.

        Raises:
            ValueError: on a target index outside the split.
        """
        with self._guard:
            return self._reset(seed, options)

    def _reset(
        self, seed: int | None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, dict[str, Any]]]:
        if seed is not None:
            self._np_random, self._np_random_seed = seeding.np_random(seed)
        self._select_target(options)
        feats = self.task.reset()
        self._started = True
        self.agents = self.possible_agents[:]
        self._step = 0
        self._rewards_log = []
        self._last_values = {}
        self._last_obs = feats
        obs = self._pack(feats)
        infos = {
            a: self._info(0, 0.0, 0.0, np.zeros(self._n_values, np.float32), False, False)
            for a in self.agents
        }
        self._add_masks(infos)
        return obs, infos

    def _info(
        self, step: int, r_shared: float, r_track: float, values: np.ndarray, clipped: bool, fault: bool
    ) -> dict[str, Any]:
        """One agent's infos: the same keys at reset and step, numbers and arrays only."""
        return {
            "step": step,
            "target_id": self.target_id,
            "reward_shared": r_shared,
            "reward_track": r_track,
            "per_track_available": self.task.per_track,
            "values": values,
            "clipped": clipped,
            "engine_error": fault,
        }

    def _values_array(self, i: int, values: Mapping[str, float]) -> np.ndarray:
        """Track ``i``'s values as the zero-padded float32 array of the infos."""
        out = np.zeros(self._n_values, np.float32)
        names = self._value_names[i]
        out[: len(names)] = [values[n] for n in names]
        return out

    def _select_target(self, options: Mapping[str, Any] | None) -> None:
        """Choose the episode's target (see Targets in docs/environment.md)."""
        k = None
        if options:
            if not isinstance(options, Mapping):
                raise ValueError(f"options must be a dict such as {{'target': 3}}, got {options!r}")
            # other keys are ignored, as Gymnasium's envs do (checkers pass their own)
            k = options.get("target")
        if self.target_mode == "reference":
            if k is not None and k != 0:
                raise ValueError(
                    f'options["target"]={k!r}: with targets="reference" there is one target (0); '
                    'create the env with targets="sampled" to choose among many'
                )
            self.target_id = 0
            return
        source = self.scenario.target_source
        assert source is not None  # checked in __init__
        if k is None:
            # one raw draw of the seeded generator: stable across numpy versions
            k = source.index(self.split, int(self.np_random.bit_generator.random_raw()) >> 1)
        else:
            k = source.check_index(self.split, k)
        self.task.select(self.split, k)
        self.target_id = k

    def step(self, actions: Mapping[str, Any]) -> StepResult:
        """Play one step: every agent's action sets its track's numbers for this step.

        Args:
            actions: One action per live agent (see the class docs).

        Returns:
            observations, rewards, terminations, truncations, infos (dicts by agent).
            After the last step every agent is truncated and ``agents`` becomes empty.

        Raises:
            RuntimeError: if called before ``reset`` or after the episode ended.
            ParameterError: on a missing agent, a wrong shape, a non-numeric or a
                non-finite action.
            EngineError: only with ``on_engine_error="raise"``, if the engine fails (the
                episode is over; ``reset`` works). By default an engine failure
                truncates the episode instead (see Engine faults in docs/environment.md).
            glicol_wasm.ConcurrentUseError: if another thread is inside ``step`` or
                ``reset`` of this env (see Threads in the class docs).
        """
        # `with self._guard:` inlined: this is the hot path.
        lock = self._guard.lock
        if not lock.acquire(False):
            self._guard.refuse()
        try:
            return self._step_locked(actions)
        finally:
            lock.release()

    def _step_locked(self, actions: Mapping[str, Any]) -> StepResult:
        if not self._started:
            raise RuntimeError("step() called before reset(); call reset() first")
        if not self.agents:
            raise RuntimeError("step() called after the episode ended; call reset() to start a new one")
        values, clipped = self._map_actions(actions)
        task = self.task
        step = self._step
        k = task.step_index(step)
        try:
            audio = task.render(k, values)
        except EngineError as err:
            self.agents = []
            self.last_engine_error = err
            if self.on_engine_error == "raise":
                raise
            return self._engine_fault(err, values, clipped)
        analysis = task.analyse(audio)
        reward = task.reward(k, analysis)
        blended, r_mix, r_tracks = reward.agents, reward.mix, reward.tracks
        self._rewards_log.append(np.concatenate([blended, [r_mix]]))
        feats = task.observe(k, analysis)
        if not (np.isfinite(blended).all() and np.isfinite(feats).all()):
            # Never pass NaN on silently. The audio is finite and bounded here (the
            # session checks), so this is a bug in the features or rewards.
            self.agents = []
            peaks = {t.name: float(np.max(np.abs(audio[i]), initial=0.0)) for i, t in enumerate(self._tracks)}
            raise FloatingPointError(
                f"step {step}: rewards {blended.tolist()} or observations are not finite although the "
                f"audio is (stem peaks {peaks}); this is a bug in raveforce_mae.features or rewards"
            )
        task.loop(step)
        self._last_obs = feats
        self._step = step + 1
        terminate, truncate = task.done(self._step)
        done = terminate or truncate
        per_track = task.per_track
        agents = self.agents
        obs = self._pack(feats)
        rewards = {a: float(blended[i]) for i, a in enumerate(agents)}
        terms = dict.fromkeys(agents, terminate)
        truncs = dict.fromkeys(agents, truncate)
        self._last_values = values
        infos = {}
        for i, a in enumerate(agents):
            rt = float(r_tracks[i])
            if not per_track or rt != rt:  # NaN: no target stem; the schema says 0.0
                rt = 0.0
            vals = self._values_array(i, values[self._tracks[i].name])
            infos[a] = self._info(self._step, r_mix, rt, vals, clipped[i], False)
        self._add_masks(infos)
        if done:
            self.agents = []
        if self.render_mode == "human":
            sys.stdout.write(self._ansi() + "\n")
        return obs, rewards, terms, truncs, infos

    def _engine_fault(
        self, err: EngineError, values: dict[str, dict[str, float]], clipped: list[bool]
    ) -> tuple[dict, dict, dict, dict, dict]:
        """End the episode cleanly after an engine failure (see Engine faults in docs/environment.md)."""
        # The text depends on the track only (a bounded set): Python keeps one registry
        # entry per distinct warning text, so per-fault details (step, values) would grow
        # it without bound over a long run. They are in infos and last_engine_error.
        cause = err.__cause__
        kind = "runaway audio" if cause is None else type(cause).__name__
        warnings.warn(
            f"the Glicol engine of track {err.track!r} failed ({kind}); the episode is truncated "
            "(on_engine_error='truncate'), with infos[agent]['engine_error'] set; the error is in "
            "env.last_engine_error; reset() starts a new episode",
            RuntimeWarning,
            stacklevel=4,
        )
        self._step += 1
        agents = self.possible_agents
        self._rewards_log.append(np.zeros(self._n + 1))
        assert self._last_obs is not None
        obs = self._pack(self._last_obs)
        rewards = dict.fromkeys(agents, 0.0)
        terms = dict.fromkeys(agents, False)
        truncs = dict.fromkeys(agents, True)
        self._last_values = values
        # The infos stay numeric (the schema); the message and track are in last_engine_error.
        infos = {
            a: self._info(
                self._step, 0.0, 0.0, self._values_array(i, values[self._tracks[i].name]), clipped[i], True
            )
            for i, a in enumerate(agents)
        }
        self._add_masks(infos)
        return obs, rewards, terms, truncs, infos

    def _map_actions(self, actions: Mapping[str, Any]) -> tuple[dict[str, dict[str, float]], list[bool]]:
        if not isinstance(actions, Mapping):
            raise ParameterError(
                f"actions must be a dict keyed by agent ({self.agents}), got {type(actions).__name__}"
            )
        values: dict[str, dict[str, float]] = {}
        clipped = []
        for i, track in enumerate(self._tracks):
            agent = self.possible_agents[i]
            if agent not in actions:
                raise ParameterError(
                    f"no action for agent {agent!r}; every live agent must act each step "
                    f"(got actions for {list(actions)!r})"
                )
            act = actions[agent]
            if self._discrete:
                u, was_clipped = self._index_units(i, self.validate_action(agent, act))
                clipped.append(was_clipped)
                values[track.name] = self.task.values(i, u)
                continue
            # Fast path for the usual input (a float array of the right shape, finite);
            # anything else goes through validate_action, which explains what is wrong.
            lst = None
            if type(act) is np.ndarray and act.dtype.kind == "f" and act.shape == self._shapes[i]:
                lst = act.tolist()
                if not all(-math.inf < v < math.inf for v in lst):
                    lst = None
            if lst is None:
                lst = self.validate_action(agent, act).tolist()
            u = lst[: self._n_free[i]]
            clipped.append(any(v > 1.0 or v < -1.0 for v in u))
            values[track.name] = self.task.values(i, u)  # clips each value into [-1, 1]
        extra = [a for a in actions if a not in self._index]
        if extra:
            raise ParameterError(f"actions for unknown agents {extra!r}; agents are {self.possible_agents}")
        return values, clipped

    def validate_action(self, agent: str, action: Any) -> np.ndarray:
        """Check one agent's action and return it as a float64 vector.

        Raises:
            ParameterError: on a wrong shape or dtype, or NaN/inf, naming the agent and
                the parameter.
        """
        i = self._check_agent(agent)
        space = self.action_space(agent)
        try:
            a = np.asarray(action)
        except Exception as e:  # noqa: BLE001 - report any conversion failure uniformly
            raise ParameterError(f"action for {agent!r} is not array-like: {e}") from None
        if self._discrete:
            return validate_indices(agent, self._tracks[i], a, space)
        if a.dtype.kind not in "fiu" or a.dtype == np.bool_:
            raise ParameterError(
                f"action for {agent!r} must be a float array of shape {space.shape}, got dtype {a.dtype}"
            )
        if a.shape != space.shape:
            raise ParameterError(
                f"action for {agent!r} must have shape {space.shape} (values in [-1, 1]), got shape {a.shape}"
            )
        a = a.astype(np.float64, copy=False)
        if not np.isfinite(a).all():
            j = int(np.argmax(~np.isfinite(a)))
            free = self._tracks[i].free
            pname = free[j].name if j < len(free) else f"padding[{j}]"
            raise ParameterError(
                f"action for {agent!r} has a non-finite value {a[j]} at index {j} "
                f"(parameter {pname!r} of track {self._tracks[i].name!r}); expected values in [-1, 1]"
            )
        return a

    def _pack(self, feats: np.ndarray) -> dict[str, np.ndarray]:
        if self.agent_indicator:
            full = np.concatenate([feats.reshape(self._n, -1), self._onehot], axis=1)
            return {a: full[i] for i, a in enumerate(self.possible_agents)}
        return {a: feats[i] for i, a in enumerate(self.possible_agents)}

    # -- parameter values -------------------------------------------------------------------

    def parameter_names(self, agent: str) -> tuple[str, ...]:
        """Names of the entries of ``infos[agent]["values"]`` (free parameters, then ``rel`` ones).

        Entries past ``len(parameter_names(agent))`` are padding (always 0.0).
        """
        return self._value_names[self._check_agent(agent)]

    @property
    def last_values(self) -> dict[str, dict[str, float]]:
        """The last step's parameter values: track name -> parameter name -> value (empty after ``reset``)."""
        return {t: dict(v) for t, v in self._last_values.items()}

    # -- global state, audio, patch ---------------------------------------------------------

    def state(self) -> np.ndarray:
        """A global state for centralised critics: all agents' features, concatenated."""
        if self._last_obs is None:
            raise RuntimeError("state() called before reset()")
        return self._last_obs.reshape(-1).astype(np.float32, copy=False)

    def audio(self) -> dict[str, np.ndarray]:
        """The audio rendered since the last reset: mono float32 per track name and ``"mix"``."""
        return self.task.audio()

    def targets(self) -> dict[str, np.ndarray]:
        """The episode's target audio: mono float32 per track name (if available) and ``"mix"``."""
        return self.task.targets()

    def reference_actions(self, step: int) -> dict[str, np.ndarray]:
        """Normalised actions (per agent) that replay the episode's target at step ``step``.

        Raises:
            ValueError: if the target is audio (no performance to replay).
        """
        return self.task.reference_actions(self.task.step_index(step))

    @property
    def history(self) -> list[dict[str, Mapping[str, float]]]:
        """The parameter values of every step since the last reset (empty before it)."""
        return self.task.history

    def patch(self) -> str:
        """The merged Glicol patch of the episode so far (see :mod:`raveforce_mae.timeline`)."""
        if not self._started:
            raise RuntimeError("patch() called before reset()")
        return timeline(self.scenario, self.task.history)

    @property
    def rewards_log(self) -> np.ndarray:
        """Rewards of each step so far: shape (steps, n_agents + 1), the last column the shared part."""
        if not self._rewards_log:
            return np.zeros((0, self._n + 1))
        return np.stack(self._rewards_log)

    @property
    def step_count(self) -> int:
        """Steps played since the last reset."""
        return self._step

    # -- rendering ------------------------------------------------------------------------

    def render(self) -> np.ndarray | str | None:
        """Render according to ``render_mode`` (see the class docs)."""
        if self.render_mode is None:
            from gymnasium import logger

            logger.warn("render() called without a render_mode; pass render_mode= to the constructor")
            return None
        if self.render_mode == "rgb_array":
            return _render.spectrogram_panel(self)
        text = self._ansi()
        if self.render_mode == "human":
            sys.stdout.write(text + "\n")
            return None
        return text

    def _ansi(self) -> str:
        return _render.summary(self)

    def close(self) -> None:
        """Release the engines."""
        self.task.close()
        self._started = False

    def __str__(self) -> str:
        return f"raveforce_v{ENV_VERSION}({self.scenario.name})"


CONSTRUCTOR_KEYWORDS: tuple[str, ...] = tuple(
    p for p in inspect.signature(RaveforceParallelEnv.__init__).parameters if p not in ("self", "overrides")
)
"""The keyword arguments of :class:`RaveforceParallelEnv` (scenario settings aside)."""


def _bounds(low: np.ndarray, high: np.ndarray, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    low = np.broadcast_to(np.asarray(low, np.float32), shape).astype(np.float32)
    high = np.broadcast_to(np.asarray(high, np.float32), shape).astype(np.float32)
    return low.ravel() if len(shape) == 1 else low, high.ravel() if len(shape) == 1 else high
