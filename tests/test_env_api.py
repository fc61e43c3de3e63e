"""Conformance: PettingZoo's and Gymnasium's own checkers, for every built-in scenario."""

from __future__ import annotations

import pickle
import warnings

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from pettingzoo.test import (
    api_test,
    max_cycles_test,
    parallel_api_test,
    parallel_seed_test,
    render_test,
    seed_test,
    state_test,
)

import raveforce_mae

SCENARIOS = raveforce_mae.list_scenarios()


def test_builtin_scenarios_listed():
    assert {"kick", "bassline", "drums", "ensemble"} <= set(SCENARIOS)


@pytest.mark.parametrize("name", SCENARIOS)
def test_aec_api(name):
    env = raveforce_mae.env(name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the checker's warnings are failures here
        api_test(env, num_cycles=40, verbose_progress=False)


@pytest.mark.parametrize("name", SCENARIOS)
def test_parallel_api(name):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        parallel_api_test(raveforce_mae.parallel_env(name), num_cycles=40)


@pytest.mark.parametrize("name", SCENARIOS)
def test_seed(name):
    seed_test(lambda: raveforce_mae.env(name), num_cycles=20)
    parallel_seed_test(lambda: raveforce_mae.parallel_env(name), num_cycles=20)


class _Mod:
    """A module-like object for max_cycles_test, as PettingZoo's env modules are."""

    def __init__(self, name):
        self.name = name

    def parallel_env(self, **kw):
        return raveforce_mae.parallel_env(self.name, **kw)

    def env(self, **kw):
        return raveforce_mae.env(self.name, **kw)


@pytest.mark.parametrize("name", SCENARIOS)
def test_max_cycles(name):
    max_cycles_test(_Mod(name))


@pytest.mark.parametrize("name", SCENARIOS)
def test_render(name):
    render_test(lambda render_mode=None: raveforce_mae.env(name, render_mode=render_mode))


@pytest.mark.parametrize("name", SCENARIOS)
def test_state(name):
    state_test(raveforce_mae.env(name), raveforce_mae.parallel_env(name), num_cycles=10)


@pytest.mark.parametrize("name", SCENARIOS)
def test_gym_check_env(name):
    env = gymnasium.make(raveforce_mae.registration.env_id(name))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped, skip_render_check=False)


@pytest.mark.parametrize("name", SCENARIOS)
def test_gym_registry(name):
    env = gymnasium.make(raveforce_mae.registration.env_id(name))
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    sc = env.unwrapped.scenario
    # no registered TimeLimit: the env ends its episodes itself, after max_cycles steps
    assert env.spec.max_episode_steps is None and env.unwrapped.par.max_cycles == sc.n_steps


def test_pettingzoo_registry():
    pytest.importorskip(
        "pettingzoo.env_registry", reason="PettingZoo's env registry needs pettingzoo >= 1.27"
    )
    from pettingzoo.env_registry.registration import make

    par = make("parallel", "raveforce_mae/Ensemble-v1")
    aec = make("aec", "raveforce_mae/Ensemble-v1")
    assert par.possible_agents == aec.possible_agents == ["bass_0", "kick_0", "hat_0"]


def _rollout(env, seed, steps=None):
    obs, _ = env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    out = [obs]
    while env.agents:
        acts = {a: rng.uniform(-1, 1, env.action_space(a).shape).astype(np.float32) for a in env.agents}
        obs, rew, term, trunc, info = env.step(acts)
        out.append((obs, rew))
    return out, env.audio()


def _equal(a, b):
    from gymnasium.utils.env_checker import data_equivalence

    return data_equivalence(a, b)


@pytest.mark.parametrize("name", SCENARIOS)
def test_pickle_round_trip_identical_rollouts(name):
    env = raveforce_mae.parallel_env(name)
    clone = pickle.loads(pickle.dumps(env))
    r1, audio1 = _rollout(env, 3)
    r2, audio2 = _rollout(clone, 3)
    assert _equal(r1, r2)
    for k in audio1:
        assert np.array_equal(audio1[k], audio2[k])


def test_same_seed_bit_identical_audio_across_resets():
    env = raveforce_mae.parallel_env("ensemble")
    r1, a1 = _rollout(env, 7)
    r2, a2 = _rollout(env, 7)
    assert _equal(r1, r2)
    assert all(np.array_equal(a1[k], a2[k]) for k in a1)


def test_spaces_identical_and_cached():
    env = raveforce_mae.parallel_env("ensemble")
    spaces_ = [env.action_space(a) for a in env.possible_agents]
    assert all(s is spaces_[0] for s in spaces_)
    assert env.action_space("bass_0") is env.action_space("bass_0")
    assert env.observation_space("kick_0") is env.observation_space("hat_0")
    nat = raveforce_mae.parallel_env("ensemble", native_spaces=True)
    for t in nat.scenario.tracks:
        assert nat.action_space(t.agent).shape == (len(t.free),)


def test_versioned_module_passes_max_cycles_test():
    from raveforce_mae import raveforce_v1

    max_cycles_test(raveforce_v1)
    assert raveforce_v1.parallel_env().metadata["name"] == "raveforce_v1"
