"""Versioned entry point, as PettingZoo names its environments (``pistonball_v6``).

``from raveforce_mae import raveforce_v1`` gives ``env``, ``raw_env`` and
``parallel_env`` (default scenario: ``ensemble``). The version goes up whenever the
dynamics, observations or rewards change; see the Version History in
``docs/environment.md``. As in PettingZoo, only the
current version ships: ``raveforce_v0`` (observations without semitone spectra) is
gone.
"""

from __future__ import annotations

from .envs import ENV_VERSION, RaveforceParallelEnv, env, parallel_env, raw_env

assert ENV_VERSION == 1, "raveforce_v1 must re-export version 1 of the environment"

__all__ = ["RaveforceParallelEnv", "env", "parallel_env", "raw_env"]
