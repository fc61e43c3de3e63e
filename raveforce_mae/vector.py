"""Vectorised environments for trainers: SuperSuit + Stable-Baselines3, Gymnasium vector envs.

Two routes, both copying whole environments (each copy owns its own wasm engine
instances, because Glicol's engine is a singleton per wasm instance):

* :func:`make_sb3_vec_env`: the parameter-sharing route of PettingZoo's tutorials.
  SuperSuit turns the parallel env into a vector env with one slot per agent
  (``pettingzoo_env_to_vec_env_v1``; it needs identical spaces, which the default
  env has, with an agent indicator in the observation), concatenates ``n_envs``
  copies (``concat_vec_envs_v1``, in ``num_cpus`` worker processes) and adds
  Stable-Baselines3's ``VecMonitor`` so that ``ep_rew_mean`` is logged.
* :func:`make_gym_vector_env`: the single-agent Gymnasium env in
  ``gymnasium.vector.AsyncVectorEnv`` (one process per worker, so rendering uses
  every core) or ``SyncVectorEnv``.

Both need optional dependencies, imported lazily: ``pip install 'raveforce-mae[rl]'``.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

__all__ = ["limit_blas_threads", "make_gym_vector_env", "make_sb3_vec_env", "rllib_env_creator"]


def _need(module: str, extra: str = "rl") -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(
            f"{module} is needed here: pip install 'raveforce-mae[{extra}]' "
            "(on CPU-only machines, pip install torch first so pip keeps the CPU build)"
        ) from None


def make_sb3_vec_env(
    scenario: Any = "ensemble",
    n_envs: int = 1,
    *,
    num_cpus: int = 0,
    seed: int | None = None,
    monitor: bool = True,
    blas_threads: int | None = 1,
    **env_kwargs: Any,
) -> Any:
    """A Stable-Baselines3 ``VecEnv`` over all agents of ``n_envs`` copies of the parallel env.

    The vector has ``n_envs * n_agents`` slots (one per agent of every copy); a single
    SB3 policy then acts for every agent (parameter sharing), told apart by the agent
    one-hot at the end of the observation.

    Args:
        scenario: Scenario name, TOML path or ``Scenario``.
        n_envs: Copies of the environment.
        num_cpus: Worker processes for the copies (0: all in this process).
        seed: Seed of the first reset (copy ``i`` gets ``seed + i``).
        monitor: Wrap in ``VecMonitor`` (episode returns in ``infos`` and the logs).
        blas_threads: Limit this process's BLAS threads (inherited by the forked
            workers) to this many; ``None`` leaves them alone. See
            :func:`limit_blas_threads`: without it, a step was 20x slower here.
        **env_kwargs: Passed to :func:`raveforce_mae.parallel_env` (``max_cycles``,
            ``shared_weight``, ``criterion``, ...).

    Returns:
        stable_baselines3.common.vec_env.VecEnv

    Raises:
        ImportError: if supersuit or stable-baselines3 is missing.
        ValueError: if ``native_spaces=True`` (agents must share one space).
    """
    ss = _need("supersuit")
    vec_env_mod = _need("stable_baselines3.common.vec_env")
    from .envs import parallel_env

    if env_kwargs.get("native_spaces"):
        raise ValueError("parameter sharing needs identical spaces: do not pass native_spaces=True")
    if n_envs < 1:
        raise ValueError(f"n_envs must be >= 1, got {n_envs}")
    if blas_threads is not None:
        limit_blas_threads(blas_threads)
    env = parallel_env(scenario, **env_kwargs)
    venv = ss.pettingzoo_env_to_vec_env_v1(env)
    venv = ss.concat_vec_envs_v1(venv, n_envs, num_cpus=num_cpus, base_class="gymnasium")
    venv = _seedable_sb3_wrapper()(venv)
    if seed is not None:
        venv.seed(seed)
    if monitor:
        venv = vec_env_mod.VecMonitor(venv)
    return venv


def _seedable_sb3_wrapper() -> type:
    """SuperSuit's SB3 wrapper with working ``seed``.

    ``SB3VecEnvWrapper.seed`` forwards to SuperSuit's concatenated vector env, which
    has no ``seed`` method (it takes the seed in ``reset``), so ``PPO(..., seed=0)``
    fails with an ``AttributeError`` (SuperSuit 3.11, SB3 2.x). Here ``seed`` is kept
    and passed to the next ``reset``, the way SB3's own vector envs do it.
    """
    from supersuit.vector.sb3_vector_wrapper import SB3VecEnvWrapper

    class SeedableSB3VecEnvWrapper(SB3VecEnvWrapper):
        _next_seed: int | None = None

        def seed(self, seed: int | None = None) -> list[int | None]:
            self._next_seed = seed
            return [None if seed is None else seed + i for i in range(self.num_envs)]

        def reset(self, seed: int | None = None, options: dict | None = None) -> Any:
            if seed is None:
                seed, self._next_seed = self._next_seed, None
            observations, self.reset_infos = self.venv.reset(seed=seed, options=options)
            return observations

    return SeedableSB3VecEnvWrapper


def limit_blas_threads(n: int = 1) -> None:
    """Limit the BLAS/OpenMP thread pools of this process (and of workers it forks).

    Each env copy already runs on its own core; a BLAS thread pool per copy on top
    of that oversubscribes the machine. Measured on the 2-core machine, busy with
    other jobs: an ``ensemble`` step took 309 ms with OpenBLAS's default pool and
    13.5 ms with one thread (the reward's small matrix products spin up the pool
    every step). Uses ``threadpoolctl`` (installed with librosa's scikit-learn);
    without it, sets the environment variables read by libraries loaded later.

    It also sets ``RAVEFORCE_MAE_RENDER_THREADS`` to ``n``, so that the render
    sessions of environments made afterwards in this process (and in processes it
    starts) render their engines on ``n`` threads, not one per CPU.
    """
    from .core import RENDER_THREADS_VAR

    os.environ[RENDER_THREADS_VAR] = str(int(n))
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(n)
        return
    threadpool_limits(n)


def _gym_factory(scenario: Any, env_kwargs: dict[str, Any], blas_threads: int | None) -> Any:
    if blas_threads is not None:
        limit_blas_threads(blas_threads)
    from .envs.gym_env import gym_env

    return gym_env(scenario, **env_kwargs)


def make_gym_vector_env(
    scenario: Any = "kick",
    n_workers: int = 2,
    asynchronous: bool = True,
    *,
    context: str | None = None,
    blas_threads: int | None = 1,
    **env_kwargs: Any,
) -> Any:
    """``n_workers`` copies of the single-agent env in a Gymnasium vector env.

    ``AsyncVectorEnv`` runs each copy in its own process, so the engine renders on
    every core. Each worker builds its own env from the scenario name (only the name
    and keyword arguments are sent to the worker, never the targets or the engine);
    the compiled engine is cached on disk, so a worker starts in milliseconds.

    Args:
        scenario: Scenario name or TOML path (a ``Scenario`` object also works, but is
            pickled to every worker).
        n_workers: Number of copies (processes when ``asynchronous``).
        asynchronous: ``AsyncVectorEnv`` (True) or ``SyncVectorEnv`` (False, same
            results in one process; for debugging and tests).
        context: multiprocessing start method for ``AsyncVectorEnv`` (``"fork"``,
            ``"spawn"``, ``"forkserver"``); default: the platform's.
        blas_threads: BLAS threads per worker (see :func:`limit_blas_threads`);
            ``None`` leaves them alone. Applied in the workers only when asynchronous.
        **env_kwargs: Passed to :func:`raveforce_mae.gym_env`.

    Returns:
        gymnasium.vector.VectorEnv
    """
    import gymnasium

    if n_workers < 1:
        raise ValueError(f"n_workers must be >= 1, got {n_workers}")
    fns: list[Callable[[], Any]] = [
        functools.partial(_gym_factory, scenario, dict(env_kwargs), blas_threads if asynchronous else None)
        for _ in range(n_workers)
    ]
    if asynchronous:
        return gymnasium.vector.AsyncVectorEnv(fns, context=context)
    return gymnasium.vector.SyncVectorEnv(fns)


def rllib_env_creator(config: dict[str, Any]) -> Any:
    """Env creator for Ray RLlib: ``register_env(name, rllib_env_creator)``.

    Lives in the package (not in a script) so that RLlib's env runners, which may be
    other processes or other machines, can import it. ``config`` holds ``scenario``
    (a name or a TOML path readable on every node) and any keyword argument of
    :func:`raveforce_mae.parallel_env`; the env is wrapped in RLlib's
    ``ParallelPettingZooEnv``. Each env runner limits its BLAS threads to one.

    Raises:
        ImportError: if Ray RLlib is missing (``pip install 'raveforce-mae[ray]'``).
    """
    wrappers = _need("ray.rllib.env.wrappers.pettingzoo_env", "ray")
    from .envs import parallel_env

    cfg = dict(config)
    scenario = cfg.pop("scenario", "ensemble")
    blas = cfg.pop("blas_threads", 1)
    if blas is not None:
        limit_blas_threads(blas)
    return wrappers.ParallelPettingZooEnv(parallel_env(scenario, **cfg))
