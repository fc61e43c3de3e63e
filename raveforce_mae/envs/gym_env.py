"""The single-agent Gymnasium environment: the one-agent case of the ensemble."""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces
from gymnasium.utils import EzPickle

from ..errors import ParameterError
from ..scenario import Scenario
from .parallel import CONSTRUCTOR_KEYWORDS, DISCRETE_BINS, ENV_VERSION, RaveforceParallelEnv, check_keywords

__all__ = ["FlattenMultiDiscrete", "RaveforceGymEnv", "gym_env"]


class RaveforceGymEnv(gymnasium.Env[np.ndarray, np.ndarray], EzPickle):
    """# Raveforce (single agent)

    One agent plays a scenario. For a one-track scenario (``kick``, ``bassline``) it is
    that track's agent. For a multi-track scenario it is the fallback mode: one agent
    controls every track through the concatenation of their actions, observes every
    track, and receives the shared (mix) reward.

    | | |
    |---|---|
    | Creation | `raveforce_mae.gym_env("kick")` or `gymnasium.make("raveforce_mae/Kick-v1")` |
    | Actions | `Box(-1, 1, (sum of the tracks' parameter counts,), float32)`; `action_type="discrete"`: `MultiDiscrete` of the same length |
    | Observations | `Box`: one track: its features; several: all tracks' features concatenated |
    | Reward | one track: its blended reward; several: the shared (mix) reward |
    | Episode | `max_cycles` steps (default: the scenario's), then truncation (termination if the scenario says `end = "terminate"`) |

    ## Arguments
    - `scenario`: a built-in name, a TOML path or a ``Scenario``.
    - `render_mode`: ``None``, ``"ansi"`` or ``"rgb_array"``.
    - `max_cycles`: episode length in steps (default: the scenario's).
    - `on_engine_error`: ``"truncate"`` (default: an engine fault truncates the episode,
      with ``info["engine_error"]``) or ``"raise"``; see Engine faults in ``docs/environment.md``.
    - `targets`: ``"reference"`` (default) or ``"sampled"`` (a target drawn at every
      reset, reproducibly from the seed); `split`: ``"train"`` (default) or ``"test"``.
      See Targets in ``docs/environment.md``.
    - `action_type`: ``"box"`` (default) or ``"discrete"``: a ``MultiDiscrete`` with
      each track's own indices, concatenated (no padding, so every index is valid and
      no mask is needed); see Discrete actions in ``docs/environment.md``. For
      trainers that need one ``Discrete`` action (DQN), wrap with
      :class:`FlattenMultiDiscrete`.
    - `discrete_bins`: indices of each ``lin``/``exp`` parameter (default 11).
    - `**overrides`: scenario settings, as for the parallel env; any other keyword raises
      ``ScenarioError`` naming the closest valid keywords.

    ## Info
    ``reset`` gives ``{"step": 0}``; every ``step`` gives ``step``, ``reward_shared`` (the
    mix's reward), ``reward_tracks`` (agent -> its stem's reward, ``None`` without a
    target stem), ``values`` (track name -> parameter name -> value played) and
    ``clipped`` (an action entry was outside [-1, 1]). After an engine fault it also has
    ``engine_error`` (the message) and ``engine_error_track``. ``unwrapped.patch()`` and
    ``unwrapped.audio()`` give the Glicol patch and the rendered audio of the episode so
    far.

    ## Version History
    - v1: the observation carries semitone spectra; sampled targets (``targets=``,
      ``split=``, ``reset(options={"target": k})``, ``info["target_id"]``); see the
      parallel env.
    - v0: initial release.
    """

    metadata = {"render_modes": ["ansi", "rgb_array"], "render_fps": 8}

    def __init__(
        self,
        scenario: str | Scenario = "kick",
        render_mode: str | None = None,
        max_cycles: int | None = None,
        action_type: str = "box",
        discrete_bins: int = DISCRETE_BINS,
        **overrides: Any,
    ) -> None:
        EzPickle.__init__(
            self,
            scenario,
            render_mode=render_mode,
            max_cycles=max_cycles,
            action_type=action_type,
            discrete_bins=discrete_bins,
            **overrides,
        )
        if overrides:
            check_keywords("gym_env", overrides, GYM_KEYWORDS)
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be one of {self.metadata['render_modes']} or None, got {render_mode!r}"
            )
        self.render_mode = render_mode
        self.par = RaveforceParallelEnv(
            scenario,
            render_mode="ansi" if render_mode == "ansi" else ("rgb_array" if render_mode else None),
            max_cycles=max_cycles,
            native_spaces=True,
            agent_indicator=False,
            action_type=action_type,
            discrete_bins=discrete_bins,
            **overrides,
        )
        self.scenario = self.par.scenario
        agents = self.par.possible_agents
        self._agents = agents
        self._single = len(agents) == 1
        native = [self.par.action_space(a) for a in agents]
        sizes = [int(np.prod(sp.shape or (0,))) for sp in native]
        self._splits = np.cumsum(sizes)[:-1]
        self._discrete = action_type == "discrete"
        self.action_space: spaces.Space[Any]
        if self._discrete:
            nvec = np.concatenate([sp.nvec for sp in native if isinstance(sp, spaces.MultiDiscrete)])
            self.action_space = spaces.MultiDiscrete(nvec)
        else:
            self.action_space = spaces.Box(-1.0, 1.0, (int(sum(sizes)),), np.float32)
        if self._single:
            self.observation_space = self.par.observation_space(agents[0])
        else:
            self.observation_space = self.par.state_space
        self.metadata = {**self.metadata, "name": f"raveforce_v{ENV_VERSION}-{self.scenario.name}"}

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start a new performance (see :meth:`RaveforceParallelEnv.reset`)."""
        super().reset(seed=seed)
        obs, _ = self.par.reset(seed=seed, options=options)
        return self._obs(obs), {"step": 0, "target_id": self.par.target_id}

    def _obs(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        if self._single:
            return obs[self._agents[0]]
        return self.par.state()

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Play one step with the concatenated action of all tracks."""
        try:
            a = np.asarray(action)
        except Exception as e:  # noqa: BLE001 - ragged lists and the like: report uniformly
            raise ParameterError(f"action is not array-like: {e}") from None
        if a.shape != self.action_space.shape:
            expected = "indices" if self._discrete else "values in [-1, 1]"
            raise ParameterError(
                f"action must have shape {self.action_space.shape} ({expected}), got shape {a.shape}"
            )
        parts = np.split(a, self._splits)
        obs, rew, term, trunc, infos = self.par.step(dict(zip(self._agents, parts, strict=True)))
        first = infos[self._agents[0]]
        if self._single:
            reward = rew[self._agents[0]]
        else:
            reward = first["reward_shared"]
        info = {
            "step": first["step"],
            "target_id": first["target_id"],
            "reward_shared": first["reward_shared"],
            "reward_tracks": {
                a: (infos[a]["reward_track"] if infos[a]["per_track_available"] else None)
                for a in self._agents
            },
            "values": self.par.last_values,
            "clipped": any(infos[a]["clipped"] for a in self._agents),
        }
        err = self.par.last_engine_error
        if first["engine_error"] and err is not None:  # the episode was truncated by an engine fault
            info["engine_error"] = str(err)
            info["engine_error_track"] = err.track
        agent = self._agents[0]
        return self._obs(obs), float(reward), bool(term[agent]), bool(trunc[agent]), info

    def render(self) -> np.ndarray | str | None:
        """Render as ``render_mode`` says."""
        if self.render_mode is None:
            gymnasium.logger.warn("render() called without a render_mode")
            return None
        return self.par.render()

    def patch(self) -> str:
        """The merged Glicol patch of the episode so far."""
        return self.par.patch()

    def audio(self) -> dict[str, np.ndarray]:
        """The rendered stems and mix of the episode so far."""
        return self.par.audio()

    def targets(self) -> dict[str, np.ndarray]:
        """The episode's target audio (``mix`` and each track with a target stem)."""
        return self.par.targets()

    def reference_actions(self, step: int) -> np.ndarray:
        """The action (all tracks concatenated) that replays the episode's target at ``step``."""
        acts = self.par.reference_actions(step)
        return np.concatenate([acts[a] for a in self._agents]).astype(np.float32)

    def close(self) -> None:
        """Release the engines."""
        self.par.close()


GYM_KEYWORDS: tuple[str, ...] = tuple(
    k for k in CONSTRUCTOR_KEYWORDS if k not in ("native_spaces", "agent_indicator")
)
"""The keyword arguments of :class:`RaveforceGymEnv` (scenario settings aside): the parallel
env's, except the two it sets itself."""


def gym_env(
    scenario: str | Scenario = "kick",
    render_mode: str | None = None,
    max_cycles: int | None = None,
    **overrides: Any,
) -> RaveforceGymEnv:
    """Create the single-agent Gymnasium environment (see :class:`RaveforceGymEnv`)."""
    return RaveforceGymEnv(scenario, render_mode=render_mode, max_cycles=max_cycles, **overrides)


class FlattenMultiDiscrete(
    gymnasium.ActionWrapper[np.ndarray, np.int64, np.ndarray], gymnasium.utils.RecordConstructorArgs
):
    """One ``Discrete`` action for every combination of a ``MultiDiscrete`` action.

    For trainers that take a single categorical action (SB3's DQN, tabular methods):
    action ``k`` of ``Discrete(prod(nvec))`` plays the indices
    ``numpy.unravel_index(k, nvec)`` (row-major: the last entry varies fastest).
    Meant for small spaces: ``kick`` at 11 bins has 121 actions, ``drum_loop`` 8.

    Example:
        ``FlattenMultiDiscrete(gym_env("kick", action_type="discrete"))``

    Raises:
        TypeError: if the wrapped env's action space is not ``MultiDiscrete``.
        ValueError: if it has more than ``max_actions`` combinations.
    """

    def __init__(self, env: gymnasium.Env[Any, Any], max_actions: int = 1_000_000) -> None:
        gymnasium.utils.RecordConstructorArgs.__init__(self, max_actions=max_actions)
        gymnasium.ActionWrapper.__init__(self, env)
        space = env.action_space
        if not isinstance(space, spaces.MultiDiscrete) or space.nvec.ndim != 1:
            raise TypeError(
                f"FlattenMultiDiscrete needs a 1-D MultiDiscrete action space, got {space}; "
                'create the env with action_type="discrete"'
            )
        self.nvec = tuple(int(n) for n in space.nvec)
        total = int(np.prod(self.nvec, dtype=np.int64))
        if total > max_actions:
            raise ValueError(f"{space} has {total} combinations, more than max_actions={max_actions}")
        self.n = total
        self.action_space = spaces.Discrete(total)

    def action(self, action: Any) -> np.ndarray:
        """The ``MultiDiscrete`` indices of flat action ``action``."""
        a = np.asarray(action)
        if a.size != 1 or a.dtype.kind not in "iu":
            raise ParameterError(f"action must be one int in [0, {self.n - 1}], got {action!r}")
        k = int(a.reshape(-1)[0])
        if not 0 <= k < self.n:
            raise ParameterError(f"action must be an int in [0, {self.n - 1}], got {action!r}")
        return np.array(np.unravel_index(k, self.nvec), dtype=np.int64)
