"""The task layer: one Analysis per step feeds the reward and the observation."""

from __future__ import annotations

import numpy as np
import pytest

from raveforce_mae.features import StepObserver
from raveforce_mae.rewards import StepScorer, blend
from raveforce_mae.scenario import load_scenario
from raveforce_mae.task import Task


@pytest.fixture(scope="module")
def ensemble():
    return load_scenario("ensemble", steps=4)


def test_reward_and_observation_from_one_analysis_match_standalone(ensemble):
    """The task's shared analysis gives exactly what scoring and observing the raw audio give."""
    sc = ensemble
    task = Task(sc)
    task.reset()
    targets = [sc.targets.stems[t.name] for t in sc.tracks] + [sc.targets.mix]
    scorer = StepScorer(
        [sc.criteria[t.name] for t in sc.tracks] + [sc.criteria["mix"]], sc.sample_rate, targets, sc.bounds
    )
    observer = StepObserver(sc.observation, sc.sample_rate, targets, sc.bounds, len(sc.tracks))
    observer.reset()
    rng = np.random.default_rng(3)
    for k in range(sc.n_steps):
        values = {t.name: task.values(i, rng.uniform(-1, 1, len(t.free))) for i, t in enumerate(sc.tracks)}
        audio = task.render(k, values)
        an = task.analyse(audio)
        r = task.reward(k, an)
        raw = scorer.score(k, np.array(audio))
        np.testing.assert_allclose(r.tracks, raw[:-1], rtol=1e-5)
        assert r.mix == pytest.approx(raw[-1], rel=1e-5)
        np.testing.assert_allclose(r.agents, blend(raw[-1], raw[:-1], sc.shared_weight), rtol=1e-5)
        np.testing.assert_allclose(task.observe(k, an), observer.observe(k, np.array(audio)), atol=1e-5)


def test_reference_actions_score_one_and_done_follows_the_scenario(ensemble):
    sc = ensemble
    task = Task(sc)
    task.reset()
    for k in range(sc.n_steps):
        acts = sc.reference_actions(k)
        values = {t.name: task.values(i, acts[t.agent]) for i, t in enumerate(sc.tracks)}
        r = task.reward(k, task.analyse(task.render(k, values)))
        np.testing.assert_allclose(r.agents, 1.0, atol=1e-6)
        assert task.done(k + 1) == ((False, True) if k + 1 == sc.n_steps else (False, False))


def test_session_snapshot_restore_is_bit_identical(ensemble):
    sc = ensemble
    task = Task(sc)
    task.reset()
    session = task.session
    vals = [{t.name: t.values(np.full(len(t.free), u)) for t in sc.tracks} for u in (-0.5, 0.3, 0.9)]
    session.step(0, vals[0])
    state = session.snapshot()
    first = np.array(session.step(1, vals[1]))
    session.restore(state)
    assert len(session.history) == 1 and session.frames_rendered == sc.bounds[0][1]
    np.testing.assert_array_equal(np.array(session.step(1, vals[1])), first)
    session.restore(state)
    other = np.array(session.step(1, vals[2]))
    assert not np.array_equal(other, first)
