"""AgileRL: the env passes PettingZoo's checks beside AgileRL and runs in its vector env.

AgileRL pins ``pettingzoo<1.27``, so it lives in its own environment
(``.ci/install-integrations agilerl``); these tests skip where it is not installed.
"""

from __future__ import annotations

import numpy as np
import pytest

import raveforce_mae

agilerl = pytest.importorskip("agilerl")


def test_parallel_api_test_passes_beside_agilerl():
    from pettingzoo.test import parallel_api_test

    parallel_api_test(raveforce_mae.parallel_env("ensemble", max_cycles=4), num_cycles=8)


def test_agilerl_vector_env_reproduces_the_env():
    # (agilerl.utils.utils.make_multi_agent_vect_envs wraps this class, but importing
    # that module needs AgileRL's LLM extras)
    from agilerl.vector.pz_async_vec_env import AsyncPettingZooVecEnv

    cycles, n_envs = 4, 2
    envs = AsyncPettingZooVecEnv(
        [lambda: raveforce_mae.parallel_env("ensemble", max_cycles=cycles) for _ in range(n_envs)]
    )
    try:
        agents = envs.possible_agents
        obs, infos = envs.reset(seed=0)
        assert obs["bass_0"].shape == (n_envs, *envs.single_observation_space("bass_0").shape)
        rng = np.random.default_rng(0)
        refs = [raveforce_mae.parallel_env("ensemble", max_cycles=cycles) for _ in range(n_envs)]
        for ref in refs:
            ref.reset(seed=0)
        for _ in range(cycles):
            acts = {
                a: rng.uniform(-1, 1, (n_envs, *envs.single_action_space(a).shape)).astype(np.float32)
                for a in agents
            }
            obs, rew, term, trunc, infos = envs.step(acts)
            for k, ref in enumerate(refs):
                r_obs, r_rew, *_ = ref.step({a: acts[a][k] for a in agents})
                for a in agents:
                    # the same numbers through AgileRL's worker processes and shared memory
                    assert np.float32(rew[a][k]) == np.float32(r_rew[a])
        assert all(np.all(trunc[a]) for a in agents)  # the episodes end together after max_cycles
    finally:
        envs.close()
