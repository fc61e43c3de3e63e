"""raveforce-mae: multi-agent music environments on the Glicol live-coding engine.

Each agent plays one track (bass, kick, hat, ...) of a scenario by filling in the
numbers of its Glicol chain every step; the engine renders the step, and each agent is
rewarded by how close the result sounds to the scenario's targets.

>>> import raveforce_mae
>>> env = raveforce_mae.parallel_env("ensemble")      # PettingZoo ParallelEnv
>>> aec = raveforce_mae.env("ensemble")               # PettingZoo AEC env
>>> one = raveforce_mae.gym_env("kick")               # Gymnasium env
"""

from __future__ import annotations

from glicol_wasm import GlicolError

from .compat import make
from .envs import (
    ENV_VERSION,
    RaveforceGymEnv,
    RaveforceParallelEnv,
    env,
    gym_env,
    parallel_env,
    raw_env,
)
from .errors import EngineError, ParameterError, PatchError, RaveforceError, ScenarioError
from .evaluator import Evaluation, Evaluator
from .registration import register_envs
from .scenario import Scenario, list_scenarios, load_scenario

__version__ = "0.1.0"

__all__ = [
    "ENV_VERSION",
    "EngineError",
    "Evaluation",
    "Evaluator",
    "GlicolError",
    "ParameterError",
    "PatchError",
    "RaveforceError",
    "RaveforceGymEnv",
    "RaveforceParallelEnv",
    "Scenario",
    "ScenarioError",
    "env",
    "gym_env",
    "list_scenarios",
    "load_scenario",
    "make",
    "parallel_env",
    "raw_env",
    "__version__",
]

register_envs()
