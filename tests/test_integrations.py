"""Integrations with multi-agent RL libraries: the infos schema, TorchRL, BenchMARL.

TorchRL's ``PettingZooWrapper`` builds its info spec from ``reset()`` and writes every
``step()`` info into it, so the env must give the same numeric keys at both. The
schema test checks that directly; the TorchRL tests check that a rollout through the
wrapper reproduces the env's own rewards and state number for number; the BenchMARL
tests train MAPPO (centralised critic on ``state()``) and IPPO for a few hundred frames.

The TorchRL and BenchMARL tests need the ``torchrl`` / ``benchmarl`` extras
(``.ci/install-integrations``) and skip without them.
"""

from __future__ import annotations

import numpy as np
import pytest

import raveforce_mae
from raveforce_mae.integrations.torchrl import group_map
from raveforce_mae.scenario import scenario_from_dict

INFO_KEYS = {  # the schema of docs/integrations.md
    "step",
    "target_id",
    "reward_shared",
    "reward_track",
    "per_track_available",
    "values",
    "clipped",
    "engine_error",
}


def _actions(env, rng):
    return {a: rng.uniform(-1, 1, env.action_space(a).shape).astype(np.float32) for a in env.agents}


def _check_info(info, n_values):
    assert set(info) == INFO_KEYS
    for key, v in info.items():
        if key == "values":
            assert isinstance(v, np.ndarray) and v.dtype == np.float32 and v.shape == (n_values,)
            assert np.isfinite(v).all()
        else:
            assert isinstance(v, (bool, int, float, np.bool_, np.integer, np.floating)), (key, v)
            assert np.isfinite(float(v)), (key, v)


# -- the infos schema (no library needed) ---------------------------------------------------


@pytest.mark.parametrize("scenario", ["ensemble", "drums_mix"])
def test_infos_have_the_same_numeric_keys_at_reset_and_every_step(scenario):
    env = raveforce_mae.parallel_env(scenario)
    n_values = max(len(env.parameter_names(a)) for a in env.possible_agents)
    rng = np.random.default_rng(3)
    _, infos = env.reset(seed=0)
    for a in env.possible_agents:
        _check_info(infos[a], n_values)
        assert infos[a]["step"] == 0 and not infos[a]["values"].any()
    w = env.scenario.shared_weight if env.scenario.targets.per_track_available else 1.0
    n = 0
    while env.agents:
        _, rew, _, _, infos = env.step(_actions(env, rng))
        n += 1
        for t in env.scenario.tracks:
            info = infos[t.agent]
            _check_info(info, n_values)
            assert info["step"] == n and info["engine_error"] is False
            # the values array is the dict of last_values, in parameter_names order, zero-padded
            names = env.parameter_names(t.agent)
            want = [env.last_values[t.name][p] for p in names]
            np.testing.assert_array_equal(info["values"][: len(names)], np.float32(want))
            assert not info["values"][len(names) :].any()
            assert {p.name for p in t.params} == set(names)
            if env.scenario.targets.per_track_available:
                assert rew[t.agent] == pytest.approx(
                    w * info["reward_shared"] + (1 - w) * info["reward_track"]
                )
            else:
                assert info["per_track_available"] is False and info["reward_track"] == 0.0
                assert rew[t.agent] == info["reward_shared"]
    assert n == env.max_cycles


# -- agent grouping (no library needed) ------------------------------------------------------


def test_group_map_defaults_to_one_shared_group_and_offers_per_role_and_per_agent():
    env = raveforce_mae.parallel_env("ensemble")
    agents = ["bass_0", "kick_0", "hat_0"]
    assert group_map(env) == {"agents": agents}
    assert group_map(raveforce_mae.env("ensemble")) == {"agents": agents}  # AEC, wrapped
    assert group_map(env, "per_role") == {"bass": ["bass_0"], "kick": ["kick_0"], "hat": ["hat_0"]}
    assert group_map(env, "per_agent") == {a: [a] for a in agents}
    with pytest.raises(ValueError, match=r"grouping must be one of .*'by_name'"):
        group_map(env, "by_name")


def test_group_map_refuses_to_share_between_different_spaces():
    sc = scenario_from_dict(
        {
            "timing": {"steps": 2, "step_beats": 0.25},
            "tracks": {
                "pad": {
                    "chain": "sin {f} >> mul {g}",
                    "params": {
                        "f": {"kind": "exp", "low": 100, "high": 400},
                        "g": {"kind": "lin", "low": 0.1, "high": 0.3},
                    },
                    "reference": {"f": 200, "g": 0.2},
                },
                "lead": {
                    "chain": "saw {f} >> mul 0.1",
                    "params": {"f": {"kind": "exp", "low": 200, "high": 800}},
                    "reference": {"f": 300},
                },
            },
        }
    )
    env = raveforce_mae.parallel_env(sc, native_spaces=True)
    assert env.action_space("pad_0").shape != env.action_space("lead_0").shape
    assert group_map(raveforce_mae.parallel_env(sc)) == {"agents": ["pad_0", "lead_0"]}  # padded: shared
    with pytest.raises(ValueError, match=r'"shared" needs identical spaces.*per_agent'):
        group_map(env)
    assert group_map(env, "per_agent") == {a: [a] for a in env.possible_agents}


# -- TorchRL -----------------------------------------------------------------------------------


def test_torchrl_parallel_rollout_reproduces_the_env():
    pytest.importorskip("torchrl")
    from raveforce_mae.integrations.torchrl import torchrl_env

    env = torchrl_env("ensemble", seed=0)
    steps = env.base_env._env.max_cycles if hasattr(env, "base_env") else env._env.max_cycles
    td = env.rollout(steps, break_when_any_done=False)
    group = td["next", "agents"]
    n_agents = 3
    assert group["observation"].shape[:2] == (steps, n_agents)
    np.testing.assert_array_equal(group["info", "step"][:, 0].numpy(), np.arange(1, steps + 1))
    # only the last step is done, for every agent
    done = group["done"][..., 0].numpy()
    assert done[-1].all() and not done[:-1].any()
    # state() is the agents' features without the one-hot, concatenated
    obs = group["observation"].numpy()
    state = td["next", "state"].numpy()
    np.testing.assert_array_equal(state, obs[:, :, :-n_agents].reshape(steps, -1))

    # the same actions on the bare env give the same rewards (float32) and values
    ref = raveforce_mae.parallel_env("ensemble")
    ref.reset(seed=0)
    actions = td["agents", "action"].numpy()
    for k in range(steps):
        _, rew, _, _, infos = ref.step({a: actions[k, i] for i, a in enumerate(ref.possible_agents)})
        for i, a in enumerate(ref.possible_agents):
            assert group["reward"][k, i, 0].item() == np.float32(rew[a])
            np.testing.assert_array_equal(group["info", "values"][k, i].numpy(), infos[a]["values"])


def test_torchrl_aec_rollout_masks_the_acting_agent_and_matches_the_parallel_env():
    pytest.importorskip("torchrl")
    from raveforce_mae.integrations.torchrl import torchrl_env

    env = torchrl_env("ensemble", parallel=False, seed=0)
    n_agents = 3
    cycles = 4
    td = env.rollout(cycles * n_agents, break_when_any_done=False)
    mask = td["agents", "mask"].numpy()
    # agents act in turn: exactly one acts per TorchRL step, in the env's agent order
    np.testing.assert_array_equal(mask, np.tile(np.eye(n_agents, dtype=bool), (cycles, 1)))
    ref = raveforce_mae.parallel_env("ensemble")
    ref.reset(seed=0)
    actions = td["agents", "action"].numpy()
    rewards = td["next", "agents", "reward"][..., 0].numpy()
    for c in range(cycles):
        acts = {a: actions[c * n_agents + i, i] for i, a in enumerate(ref.possible_agents)}
        _, rew, _, _, _ = ref.step(acts)
        # the step renders after the last agent's turn; its rewards appear there
        last = c * n_agents + n_agents - 1
        np.testing.assert_array_equal(rewards[last], np.float32([rew[a] for a in ref.possible_agents]))


# -- BenchMARL ---------------------------------------------------------------------------------


def _benchmarl_run(algorithm, tmp_path, frames=192, batch=64):
    pytest.importorskip("benchmarl")
    import torch
    from benchmarl.experiment import Experiment, ExperimentConfig
    from benchmarl.models.mlp import MlpConfig

    from raveforce_mae.integrations.benchmarl import task

    cfg = ExperimentConfig.get_from_yaml()
    cfg.max_n_frames = frames
    cfg.on_policy_collected_frames_per_batch = batch
    cfg.on_policy_n_envs_per_worker = 1
    cfg.on_policy_n_minibatch_iters = 2
    cfg.on_policy_minibatch_size = 32
    cfg.lr = 3e-4
    cfg.evaluation = False
    cfg.render = False
    cfg.loggers = []
    cfg.create_json = False
    cfg.checkpoint_at_end = False
    cfg.save_folder = str(tmp_path)
    experiment = Experiment(
        task=task("ensemble"),
        algorithm_config=algorithm.get_from_yaml(),
        model_config=MlpConfig.get_from_yaml(),
        critic_model_config=MlpConfig.get_from_yaml(),
        seed=0,
        config=cfg,
    )
    before = [p.detach().clone() for p in experiment.policy.parameters()]
    experiment.run()
    after = list(experiment.policy.parameters())
    changed = sum(not torch.equal(b, a) for b, a in zip(before, after, strict=True))
    return experiment, changed


@pytest.mark.slow
def test_benchmarl_mappo_trains_with_a_critic_on_the_env_state(tmp_path):
    MappoConfig = pytest.importorskip("benchmarl.algorithms").MappoConfig

    experiment, changed = _benchmarl_run(MappoConfig, tmp_path)
    assert experiment.group_map == {"agents": ["bass_0", "kick_0", "hat_0"]}
    assert experiment.total_frames == 192 and experiment.n_iters_performed == 3
    assert changed > 0  # the shared policy was updated
    critic = experiment.losses["agents"].critic_network
    assert "state" in critic.in_keys  # MAPPO's centralised critic reads state()
    assert (
        tuple(experiment.state_spec["state"].shape)
        == raveforce_mae.parallel_env("ensemble").state_space.shape
    )


@pytest.mark.slow
def test_benchmarl_ippo_trains_with_per_agent_critics(tmp_path):
    IppoConfig = pytest.importorskip("benchmarl.algorithms").IppoConfig

    experiment, changed = _benchmarl_run(IppoConfig, tmp_path)
    assert experiment.total_frames == 192 and experiment.n_iters_performed == 3
    assert changed > 0
    critic = experiment.losses["agents"].critic_network
    assert "state" not in critic.in_keys and ("agents", "observation") in critic.in_keys
