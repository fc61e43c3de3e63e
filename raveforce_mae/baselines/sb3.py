"""Trained Stable-Baselines3 models as policies, and choosing a policy by kind."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .policies import Policy, random_policy, reference_policy
from .search import search_policy

__all__ = ["POLICY_KINDS", "SB3Policy", "load_policy", "make_policy"]

POLICY_KINDS = ("random", "search", "reference")


class SB3Policy:
    """A Stable-Baselines3 model shared by all agents (deterministic actions)."""

    def __init__(self, env: Any, model: Any, path: str) -> None:
        self.env = env
        self.model = model
        self.name = f"sb3:{path}"

    def reset(self, env: Any, seed: int | None = None) -> None:  # noqa: D102 - see Policy
        self.env = env

    def __call__(self, step: int, observations: dict[str, np.ndarray]) -> dict[str, np.ndarray]:  # noqa: D102
        agents = list(self.env.agents)
        obs = np.stack([observations[a] for a in agents])
        acts, _ = self.model.predict(obs, deterministic=True)
        return {a: np.asarray(acts[i], np.float32) for i, a in enumerate(agents)}


def load_policy(path: str, env: Any) -> Policy:
    """Load a Stable-Baselines3 model saved with ``model.save(path)`` as a shared policy.

    The model must have been trained on this scenario's observation and action
    spaces (parameter sharing with the agent indicator, as in
    ``examples/train_sb3_ppo.py``).

    Raises:
        ImportError: if stable-baselines3 is not installed.
        FileNotFoundError: if ``path`` does not exist.
        ValueError: if the model's spaces do not match the env's.
    """
    import os

    if not os.path.exists(path) and not os.path.exists(path + ".zip"):
        raise FileNotFoundError(f"no saved model at {path!r}")
    try:
        from stable_baselines3.common.base_class import BaseAlgorithm
        from stable_baselines3.common.save_util import load_from_zip_file
    except ImportError:
        raise ImportError(
            "loading a trained policy needs stable-baselines3: pip install 'raveforce-mae[rl]' "
            "(on CPU-only machines, pip install torch first)"
        ) from None
    data, _, _ = load_from_zip_file(path, device="cpu", load_data=True)
    algo_name = (data or {}).get("policy_class", None)
    cls = _sb3_algorithm(data)
    model: BaseAlgorithm = cls.load(path, device="cpu")
    agent = env.possible_agents[0]
    obs_space, act_space = env.observation_space(agent), env.action_space(agent)
    if model.observation_space.shape != obs_space.shape or model.action_space.shape != act_space.shape:
        raise ValueError(
            f"model {path!r} ({algo_name}) was trained with observations {model.observation_space.shape} "
            f"and actions {model.action_space.shape}; scenario {env.scenario.name!r} has "
            f"{obs_space.shape} and {act_space.shape}"
        )
    return SB3Policy(env, model, path)


def _sb3_algorithm(data: dict[str, Any] | None) -> Any:
    """The SB3 algorithm class that saved ``data`` (PPO unless the policy says otherwise)."""
    import stable_baselines3 as sb3

    policy = str((data or {}).get("policy_class", ""))
    for name in ("SAC", "TD3", "DDPG", "A2C"):
        if f"{name.lower()}." in policy.lower() or f".{name.lower()}" in policy.lower():
            return getattr(sb3, name)
    return sb3.PPO


def make_policy(
    kind: str,
    env: Any,
    *,
    seed: int = 0,
    budget: int | None = None,
    progress: Callable[[int, int], None] | bool | None = None,
) -> Policy:
    """A policy by name (``"random"``, ``"search"``, ``"reference"``) or a saved model path.

    Raises:
        ValueError: on an unknown kind that is not an existing file, or ``reference`` on
            a scenario without one.
    """
    import os

    if kind == "random":
        return random_policy(env, seed)
    if kind == "search":
        return search_policy(env, budget=budget, seed=seed, progress=progress)
    if kind == "reference":
        return reference_policy(env)
    if os.path.exists(kind) or os.path.exists(kind + ".zip"):
        return load_policy(kind, env)
    raise ValueError(
        f"unknown policy {kind!r}: expected one of {list(POLICY_KINDS)} or a path to a saved model"
    )
