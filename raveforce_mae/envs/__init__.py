"""The environments: PettingZoo parallel and AEC forms, and the Gymnasium one-agent case."""

from __future__ import annotations

from .aec import env, parallel_env, raw_env
from .gym_env import FlattenMultiDiscrete, RaveforceGymEnv, gym_env
from .parallel import ENV_VERSION, RaveforceParallelEnv

__all__ = [
    "ENV_VERSION",
    "FlattenMultiDiscrete",
    "RaveforceGymEnv",
    "RaveforceParallelEnv",
    "env",
    "gym_env",
    "parallel_env",
    "raw_env",
]
