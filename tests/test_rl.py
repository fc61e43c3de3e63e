"""Training libraries on the environments, with tiny budgets (plumbing, not learning).

Skipped cleanly when the ``[rl]`` extra (stable-baselines3, supersuit) or Ray is absent.
"""

from __future__ import annotations

import numpy as np
import pytest

import raveforce_mae
from raveforce_mae import baselines
from raveforce_mae.vector import make_gym_vector_env, make_sb3_vec_env


def test_sb3_ppo_parameter_sharing_via_supersuit(tmp_path):
    pytest.importorskip("supersuit")
    sb3 = pytest.importorskip("stable_baselines3")
    env = raveforce_mae.parallel_env("ensemble")
    n_agents = len(env.possible_agents)
    venv = make_sb3_vec_env("ensemble", n_envs=2, seed=0)
    try:
        assert venv.num_envs == 2 * n_agents
        assert venv.observation_space.shape == env.observation_space("bass_0").shape
        assert venv.action_space.shape == env.action_space("bass_0").shape
        obs = venv.reset()
        assert obs.shape == (2 * n_agents, *env.observation_space("bass_0").shape)
        # the agent one-hot tells the slots apart
        np.testing.assert_array_equal(obs[:n_agents, -n_agents:], np.eye(n_agents))
        model = sb3.PPO("MlpPolicy", venv, n_steps=32, batch_size=96, n_epochs=1, seed=0, device="cpu")
        model.learn(total_timesteps=2 * 32 * 2 * n_agents)
        assert model.num_timesteps >= 2 * 32 * 2 * n_agents
        # episodes finish together and VecMonitor saw them (16-step episodes)
        assert len(model.ep_info_buffer) > 0
        assert all(ep["l"] == env.max_cycles for ep in model.ep_info_buffer)
        path = tmp_path / "ppo_ensemble.zip"
        model.save(path)
    finally:
        venv.close()
    policy = baselines.load_policy(str(path), env)
    res = baselines.play_episode(env, policy, seed=0)
    assert res.rewards.shape == (env.max_cycles, n_agents)
    assert np.isfinite(res.rewards).all()
    # deterministic replay of a trained model
    res2 = baselines.play_episode(env, policy, seed=0)
    np.testing.assert_array_equal(res.rewards, res2.rewards)


def test_sb3_vec_env_rejects_native_spaces():
    pytest.importorskip("supersuit")
    pytest.importorskip("stable_baselines3")
    with pytest.raises(ValueError, match="identical spaces"):
        make_sb3_vec_env("ensemble", native_spaces=True)


def _rollout(venv, steps, seed):
    rng = np.random.default_rng(seed)
    obs, _ = venv.reset(seed=seed)
    out = [obs.copy()]
    rewards = []
    for _ in range(steps):
        a = rng.uniform(-1, 1, venv.action_space.shape).astype(np.float32)
        obs, r, term, trunc, _ = venv.step(a)
        out.append(obs.copy())
        rewards.append(r.copy())
    return np.stack(out), np.stack(rewards)


def test_async_vector_env_matches_sync():
    steps = 20  # crosses an episode end (kick: short episodes), so autoreset is covered
    sync = make_gym_vector_env("kick", 2, asynchronous=False)
    asyn = make_gym_vector_env("kick", 2, asynchronous=True)
    try:
        assert asyn.num_envs == 2 and asyn.single_action_space == sync.single_action_space
        o1, r1 = _rollout(sync, steps, seed=7)
        o2, r2 = _rollout(asyn, steps, seed=7)
    finally:
        sync.close()
        asyn.close()
    np.testing.assert_array_equal(o1, o2)
    np.testing.assert_array_equal(r1, r2)
    assert np.isfinite(r1).all()


def _train_rllib_module():
    pytest.importorskip("ray")
    pytest.importorskip("ray.rllib")
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
    try:
        import train_rllib
    finally:
        sys.path.pop(0)
    return train_rllib


@pytest.mark.slow  # ~40 s with Ray's start-up; CI installs the ray extra for the slow run
def test_rllib_multi_agent_ppo_one_iteration():
    # ~40 s on the 2-core machine (Ray start-up included), under the 60 s slow mark
    train_rllib = _train_rllib_module()
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    try:
        algo = train_rllib.build(
            "ensemble", num_env_runners=1, train_batch_size=96, minibatch_size=48, num_epochs=1
        )
        result = algo.train()
        assert set(train_rllib.policy_ids("ensemble")) == {"bass_0", "kick_0", "hat_0"}
        metrics = train_rllib.episode_return(result)
        assert metrics is None or np.isfinite(metrics)
        algo.stop()
    finally:
        ray.shutdown()
