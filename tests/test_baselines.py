"""Baselines: random, reference and black-box search policies, and play_episode."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

import raveforce_mae
from raveforce_mae import baselines
from raveforce_mae.baselines import EpisodeResult, Policy, play_episode


@pytest.fixture(scope="module")
def kick():
    return raveforce_mae.parallel_env("kick")


@pytest.fixture(scope="module")
def ensemble():
    return raveforce_mae.parallel_env("ensemble")


@pytest.fixture(scope="module")
def kick_search(kick):
    # a small budget: enough to beat random clearly, fast enough for CI
    return baselines.search_policy(kick, budget=60, seed=0)


def _mean_return(env, policy, seeds=(0,)):
    return float(np.mean([play_episode(env, policy, seed=s).mean_reward for s in seeds]))


def test_policies_satisfy_protocol(ensemble):
    for p in (baselines.random_policy(ensemble, seed=0), baselines.reference_policy(ensemble)):
        assert isinstance(p, Policy)
        assert isinstance(p.name, str) and p.name


def test_episode_result_shapes(ensemble):
    res = play_episode(ensemble, baselines.random_policy(ensemble, seed=1), seed=1)
    assert isinstance(res, EpisodeResult)
    steps, n = ensemble.max_cycles, len(ensemble.possible_agents)
    assert res.rewards.shape == (steps, n)
    assert res.shared.shape == (steps,)
    assert res.track.shape == (steps, n)
    assert len(res.values) == steps
    assert set(res.values[0]) == {t.name for t in ensemble.scenario.tracks}
    for t in ensemble.scenario.tracks:
        assert set(res.values[0][t.name]) >= {p.name for p in t.free}
    assert np.isfinite(res.rewards).all()
    assert res.audio["mix"].shape == ensemble.scenario.targets.mix.shape
    assert isinstance(res.patch, str) and res.patch
    assert res.mean_reward == pytest.approx(res.rewards.mean())
    np.testing.assert_allclose(res.returns, res.rewards.sum(axis=0))
    # the episode's rewards are the env's log
    np.testing.assert_allclose(res.rewards, ensemble.rewards_log[:, :n])


def test_random_policy_is_seeded_and_in_bounds(ensemble):
    a = play_episode(ensemble, baselines.random_policy(ensemble, seed=3), seed=3)
    b = play_episode(ensemble, baselines.random_policy(ensemble, seed=3), seed=3)
    c = play_episode(ensemble, baselines.random_policy(ensemble, seed=4), seed=4)
    np.testing.assert_array_equal(a.rewards, b.rewards)
    assert not np.array_equal(a.rewards, c.rewards)
    p = baselines.random_policy(ensemble, seed=0)
    ensemble.reset(seed=0)
    acts = p(0, {})
    for agent, act in acts.items():
        space = ensemble.action_space(agent)
        assert act.shape == space.shape and act.dtype == np.float32
        assert space.contains(act)


@pytest.mark.parametrize("name", raveforce_mae.list_scenarios())
def test_reference_policy_reproduces_target(name):
    env = raveforce_mae.parallel_env(name)
    if env.scenario.reference is None:
        with pytest.raises(ValueError, match="no reference"):
            baselines.reference_policy(env)
        return
    res = play_episode(env, baselines.reference_policy(env), seed=0)
    np.testing.assert_array_equal(res.audio["mix"], env.scenario.targets.mix)
    rnd = play_episode(env, baselines.random_policy(env, seed=0), seed=0)
    assert res.mean_reward > rnd.mean_reward


def test_reference_policy_without_reference_raises():
    sc = types.SimpleNamespace(name="recording", reference=None)
    with pytest.raises(ValueError, match="no reference"):
        baselines.reference_policy(types.SimpleNamespace(scenario=sc))


def test_search_beats_random_on_kick(kick, kick_search):
    rnd = np.mean(
        [play_episode(kick, baselines.random_policy(kick, seed=s), seed=s).mean_reward for s in range(5)]
    )
    found = play_episode(kick, kick_search, seed=0).mean_reward
    assert found > rnd
    if kick.scenario.reference is not None:
        ref = play_episode(kick, baselines.reference_policy(kick), seed=0).mean_reward
        assert found <= ref + 1e-9
        # a small search already closes most of the gap from random to the reference
        assert (found - rnd) / (ref - rnd) > 0.5


def test_search_scores_are_what_the_env_pays(kick, kick_search):
    """The search renders and scores exactly as the env does (greedy search is exact)."""
    res = play_episode(kick, kick_search, seed=0)
    r = kick_search.result
    assert r.groups == [[a] for a in kick.possible_agents]
    for g, (agent,) in enumerate(r.groups):
        col = kick.possible_agents.index(agent)
        np.testing.assert_allclose(res.track[: kick.scenario.n_steps, col], r.scores[g], rtol=1e-6, atol=1e-9)


def test_search_is_seeded_and_reports_progress(kick):
    seen = []
    a = baselines.search(kick.scenario, budget=8, seed=1, progress=lambda d, t: seen.append((d, t)))
    b = baselines.search(kick.scenario, budget=8, seed=1)
    total = len(kick.possible_agents) * kick.scenario.n_steps * 8
    assert seen[-1] == (total, total)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert a.evaluations == total
    for x, y in zip(a.actions, b.actions, strict=True):
        for agent in x:
            np.testing.assert_array_equal(x[agent], y[agent])


@pytest.mark.parametrize("budget", [0, -1, 1.5, True])
def test_search_rejects_bad_budget(kick, budget):
    with pytest.raises(ValueError, match="budget"):
        baselines.search(kick.scenario, budget=budget)


def test_search_without_cma_falls_back_with_warning(kick, monkeypatch):
    monkeypatch.setitem(sys.modules, "cma", None)
    with pytest.warns(UserWarning, match="cma"):
        r = baselines.search(kick.scenario, budget=6, seed=0)
    assert r.optimiser == "random"
    with pytest.raises(ImportError, match=r"raveforce-mae\[rl\]"):
        baselines.search(kick.scenario, budget=6, optimiser="cma")


def test_make_policy(kick):
    assert baselines.make_policy("random", kick, seed=0).name == "random"
    assert baselines.make_policy("search", kick, budget=4).name == "search"
    if kick.scenario.reference is not None:
        assert baselines.make_policy("reference", kick).name == "reference"
    with pytest.raises(ValueError, match="unknown policy"):
        baselines.make_policy("nonsense", kick)


def test_load_policy_errors(kick, tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError):
        baselines.load_policy(str(tmp_path / "missing.zip"), kick)
    path = tmp_path / "model.zip"
    path.write_bytes(b"not a model")
    monkeypatch.setitem(sys.modules, "stable_baselines3", None)
    monkeypatch.setitem(sys.modules, "stable_baselines3.common.base_class", None)
    monkeypatch.setitem(sys.modules, "stable_baselines3.common.save_util", None)
    with pytest.raises(ImportError, match=r"raveforce-mae\[rl\]"):
        baselines.load_policy(str(path), kick)
