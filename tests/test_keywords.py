"""Keyword arguments: ``max_cycles`` through ``gymnasium.make``, and misspelt keywords."""

from __future__ import annotations

import re

import gymnasium
import numpy as np
import pytest

import raveforce_mae
from raveforce_mae import ScenarioError
from raveforce_mae.registration import env_id


def _play(env):
    env.reset(seed=0)
    n, term, trunc = 0, False, False
    while not (term or trunc):
        _, _, term, trunc, info = env.step(np.zeros(env.action_space.shape, np.float32))
        n += 1
    return n, term, trunc, info


@pytest.mark.parametrize("scenario, cycles", [("kick", 32), ("bassline", 20)])
def test_gymnasium_make_honours_max_cycles(scenario, cycles):
    default = gymnasium.make(env_id(scenario))
    n_steps = default.unwrapped.scenario.n_steps
    assert _play(default)[:3] == (n_steps, scenario == "kick", scenario != "kick")
    env = gymnasium.make(env_id(scenario), max_cycles=cycles)
    n, term, trunc, info = _play(env)
    # the env's own end after max_cycles, past the scenario's steps (the targets loop)
    assert (n, term, trunc) == (cycles, False, True) and info["step"] == cycles
    assert len(env.unwrapped.audio()["mix"]) == cycles * env.unwrapped.scenario.total_frames // n_steps


def test_gymnasium_time_limit_still_applies_when_asked():
    env = gymnasium.make(env_id("bassline"), max_episode_steps=5)
    assert env.spec.max_episode_steps == 5
    assert _play(env)[:3] == (5, False, True)


MISSPELT = [("render_mod", "render_mode"), ("max_cycle", "max_cycles"), ("on_engine_eror", "on_engine_error")]


def _makers():
    return {
        "parallel_env": lambda **kw: raveforce_mae.parallel_env("ensemble", **kw),
        "env": lambda **kw: raveforce_mae.env("ensemble", **kw),
        "raw_env": lambda **kw: raveforce_mae.raw_env("ensemble", **kw),
        "gym_env": lambda **kw: raveforce_mae.gym_env("kick", **kw),
        "gymnasium.make": lambda **kw: gymnasium.make(env_id("kick"), **kw),
    }


@pytest.mark.parametrize("maker", list(_makers()))
@pytest.mark.parametrize("wrong, right", MISSPELT)
def test_misspelt_keywords_get_did_you_mean(maker, wrong, right):
    with pytest.raises(ScenarioError) as ei:
        _makers()[maker](**{wrong: 1})
    msg = str(ei.value)
    assert f"unknown keyword argument {wrong!r}; did you mean {right!r}?" in msg
    # and the message lists every valid keyword and scenario setting
    assert "max_cycles" in msg and "render_mode" in msg and "shared_weight" in msg


def test_a_scenario_setting_misspelt_gets_the_setting():
    with pytest.raises(ScenarioError, match=re.escape("did you mean 'shared_weight'?")):
        raveforce_mae.parallel_env("ensemble", shared_weigth=0.5)
    with pytest.raises(ScenarioError, match=re.escape("unknown override 'bmp'; did you mean 'bpm'?")):
        raveforce_mae.load_scenario("ensemble").replace(bmp=100)


def test_an_unrelated_keyword_gets_no_suggestion_but_the_valid_names():
    with pytest.raises(ScenarioError) as ei:
        raveforce_mae.parallel_env("ensemble", zzz=1)
    msg = str(ei.value)
    assert "did you mean" not in msg and "unknown keyword argument 'zzz'; keywords: scenario" in msg


def test_gym_env_does_not_offer_keywords_it_does_not_take():
    with pytest.raises(ScenarioError) as ei:
        raveforce_mae.gym_env("kick", native_space=True)
    # native_spaces is the parallel env's; the gym env sets it itself
    assert "native_spaces" not in str(ei.value)
