"""Baseline policies: the :class:`Policy` interface, random and the scenario's reference."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = ["ActionSequencePolicy", "Policy", "RandomPolicy", "random_policy", "reference_policy"]


@runtime_checkable
class Policy(Protocol):
    """What :func:`play_episode` and the CLI need from a policy.

    Attributes:
        name: Short label for tables and plots (``"random"``, ``"search"``, ...).
    """

    name: str

    def reset(self, env: Any, seed: int | None = None) -> None:
        """Prepare for a new episode; called right after ``env.reset``."""

    def __call__(self, step: int, observations: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Actions (float32, the shape of ``env.action_space(agent)``) for ``env.agents``."""


def _pad(env: Any, agent: str, unit: Sequence[float] | np.ndarray) -> np.ndarray:
    """A track's normalised parameters as a full action of ``env.action_space(agent)``."""
    shape = env.action_space(agent).shape
    out = np.zeros(shape, np.float32)
    u = np.asarray(unit, np.float32).ravel()
    n = min(u.size, out.size)
    out[:n] = u[:n]
    return out


class RandomPolicy:
    """Uniform actions in [-1, 1] from a seeded generator (the floor)."""

    name = "random"

    def __init__(self, env: Any, seed: int | None = None) -> None:
        self.env = env
        self._seed = seed
        self.rng = np.random.default_rng(seed)

    def reset(self, env: Any, seed: int | None = None) -> None:  # noqa: D102 - see Policy
        self.env = env
        if seed is not None:
            self.rng = np.random.default_rng(seed)

    def __call__(self, step: int, observations: dict[str, np.ndarray]) -> dict[str, np.ndarray]:  # noqa: D102
        return {
            a: self.rng.uniform(-1.0, 1.0, self.env.action_space(a).shape).astype(np.float32)
            for a in self.env.agents
        }


class ActionSequencePolicy:
    """Replays a fixed normalised action per step and track (reference and search).

    Args:
        env: The parallel env.
        actions: ``actions[step][agent]`` = the track's normalised parameters (its own
            length; padded to the action space here). Steps past the end loop, as the
            scenario's targets do.
        name: Label of the policy.
    """

    def __init__(self, env: Any, actions: list[dict[str, np.ndarray]], name: str) -> None:
        if not actions:
            raise ValueError("actions must hold at least one step")
        self.env = env
        self.name = name
        self.actions = actions

    def reset(self, env: Any, seed: int | None = None) -> None:  # noqa: D102 - see Policy
        self.env = env

    def __call__(self, step: int, observations: dict[str, np.ndarray]) -> dict[str, np.ndarray]:  # noqa: D102
        row = self.actions[step % len(self.actions)]
        return {a: _pad(self.env, a, row[a]) for a in self.env.agents}


def random_policy(env: Any, seed: int | None = None) -> Policy:
    """Uniform random actions (seeded), the floor of every scenario."""
    return RandomPolicy(env, seed)


def reference_policy(env: Any) -> Policy:
    """The scenario's own performance: the numbers that rendered its target (the ceiling).

    Raises:
        ValueError: if the scenario has no reference (its target is a recording).
    """
    sc = env.scenario
    if sc.reference is None:
        raise ValueError(
            f"scenario {sc.name!r} has no reference performance (its target is not rendered "
            "from a patch); use 'search' as the strongest baseline instead"
        )
    actions = [
        {a: np.asarray(u, np.float32) for a, u in sc.reference_actions(k).items()} for k in range(sc.n_steps)
    ]
    return ActionSequencePolicy(env, actions, "reference")
