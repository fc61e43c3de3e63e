"""Playing one episode of a policy and what it earned."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .policies import Policy

__all__ = ["EpisodeResult", "play_episode"]


@dataclass
class EpisodeResult:
    """One episode played by a policy.

    Attributes:
        rewards: ``(steps, n_agents)`` blended rewards, agents in ``env.possible_agents`` order.
        shared: ``(steps,)`` the shared (mix) part.
        track: ``(steps, n_agents)`` the per-track part, NaN where the scenario has no stem.
        values: Per step, the parameter values each track played: ``{track: {param: value}}``.
        audio: The rendered stems and ``"mix"`` (mono float32).
        patch: The merged Glicol patch of the episode.
        agents: Agent names, the columns of ``rewards`` and ``track``.
    """

    rewards: np.ndarray
    shared: np.ndarray
    track: np.ndarray
    values: list[dict[str, dict[str, float]]]
    audio: dict[str, np.ndarray]
    patch: str
    agents: list[str] = field(default_factory=list)

    @property
    def mean_reward(self) -> float:
        """Mean blended reward per step and agent (the scale of a single reward)."""
        return float(self.rewards.mean()) if self.rewards.size else float("nan")

    @property
    def returns(self) -> np.ndarray:
        """Episode return (sum over steps) of each agent."""
        return self.rewards.sum(axis=0)

    @property
    def mean_return(self) -> float:
        """Episode return averaged over agents (what SB3's ``ep_rew_mean`` reports)."""
        return float(self.returns.mean()) if self.rewards.size else float("nan")


def play_episode(env: Any, policy: Policy, seed: int | None = None) -> EpisodeResult:
    """Play one episode of ``policy`` in the parallel env ``env``.

    Args:
        env: A :class:`~raveforce_mae.RaveforceParallelEnv`.
        policy: Any :class:`Policy`.
        seed: Passed to ``env.reset`` and ``policy.reset``.

    Returns:
        EpisodeResult: rewards, their parts, the values played, the audio and the patch.
    """
    obs, _ = env.reset(seed=seed)
    policy.reset(env, seed)
    agents = list(env.possible_agents)
    rewards, shared, track, values = [], [], [], []
    step = 0
    while env.agents:
        actions = policy(step, obs)
        obs, rew, _, _, infos = env.step(actions)
        rewards.append([rew.get(a, np.nan) for a in agents])
        first = infos[agents[0]]
        shared.append(first["reward_shared"])
        track.append(
            [infos[a]["reward_track"] if infos[a]["per_track_available"] else np.nan for a in agents]
        )
        values.append(env.last_values)
        step += 1
    return EpisodeResult(
        rewards=np.asarray(rewards, np.float64).reshape(-1, len(agents)),
        shared=np.asarray(shared, np.float64),
        track=np.asarray(track, np.float64).reshape(-1, len(agents)),
        values=values,
        audio=env.audio(),
        patch=env.patch(),
        agents=agents,
    )
