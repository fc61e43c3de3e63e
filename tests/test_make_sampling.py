"""``make()``'s action space samples as RaveForce did, and the seed's kick experiment shows its result."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import raveforce_mae
from raveforce_mae.compat import SpecBox

SR = 44100
SEED_CODE = "~env: imp 0.1 >> envperc {} {}\nkick_drum: sin {} >> mul ~env"


def synth_kick(seconds: float = 0.5) -> np.ndarray:
    """A kick made here: a sine gliding from ~200 Hz down to 60 Hz, 2 ms attack, fast decay."""
    t = np.arange(int(seconds * SR)) / SR
    freq = 60.0 + 140.0 * np.exp(-t / 0.015)
    phase = 2 * np.pi * np.cumsum(freq) / SR
    amp = np.minimum(t / 0.002, 1.0) * np.exp(-t / 0.05)
    return (0.8 * np.sin(phase) * amp).astype(np.float32)


def seed_env(target: np.ndarray, criteria: str = "mrstft"):
    """The seed's kick example, verbatim but for the target and the criterion."""
    dur = len(target) / SR
    return raveforce_mae.make(
        SEED_CODE,
        target=target,
        total_step=1,
        step_len=dur,
        criteria=criteria,
        action_space=[
            ["lin", 0.0001, dur - 0.0001],
            ["rel", 0, lambda x: dur - 0.0001 - x],
            ["exp", 10, 10000],
        ],
    )


def _random_search(env, n: int, seed: int) -> np.ndarray:
    """The seed's loop: reset, sample, step; rows of (reward, attack, freq)."""
    env.action_space.seed(seed)
    rows = []
    for _ in range(n):
        env.reset()
        action = env.action_space.sample()
        _, reward, *_ = env.step(action)
        rows.append((reward, action[0], action[2]))
    return np.array(rows)


def _best(rows: np.ndarray, k: int) -> np.ndarray:
    return rows[np.argsort(-rows[:, 0], kind="stable")[:k]]


def test_sample_draws_each_spec_as_raveforce_did():
    env = seed_env(synth_kick())
    space = env.action_space
    assert isinstance(space, SpecBox) and space.shape == (3,)
    space.seed(123)
    a = np.stack([space.sample() for _ in range(4000)])
    assert all(space.contains(x) for x in a[:50])
    dur = 0.5
    attack, decay, freq = a[:, 0], a[:, 1], a[:, 2]
    # rel: the seed's lambda of the drawn attack
    np.testing.assert_allclose(decay, dur - 0.0001 - attack, atol=1e-6)
    # lin: uniform, so the quartiles sit at 1/4 and 3/4 of the range
    np.testing.assert_allclose(np.quantile(attack, [0.25, 0.75]), [0.125, 0.375], atol=0.02)
    # exp: log-uniform over 10..10000 Hz, so a third of the draws fall under 100 Hz
    assert np.mean(freq < 100) == pytest.approx(1 / 3, abs=0.03)
    assert np.mean(freq < 1000) == pytest.approx(2 / 3, abs=0.03)
    assert freq.min() >= 10 and freq.max() <= 10000


def test_sample_is_seeded_and_choose_is_uniform_over_choices():
    target = np.zeros(2205, np.float32)
    env = raveforce_mae.make(
        "o: sin {} >> mul {}",
        target,
        total_step=1,
        step_len=0.05,
        action_space=[["choose", [110, 220, 440, 880]], ["rel", 0, lambda f: 55.0 / f]],
    )
    space = env.action_space
    space.seed(7)
    first = [space.sample() for _ in range(5)]
    space.seed(7)
    np.testing.assert_array_equal(first, [space.sample() for _ in range(5)])
    draws = np.stack([space.sample() for _ in range(4000)])
    counts = np.bincount(draws[:, 0].astype(int), minlength=4)
    assert counts.min() > 850 and counts.max() < 1150  # 1,000 each expected
    chosen = np.array([110, 220, 440, 880])[draws[:, 0].astype(int)]
    np.testing.assert_allclose(draws[:, 1], 55.0 / chosen, rtol=1e-6)


def test_make_passes_check_env():
    env = seed_env(synth_kick())
    check_env(env.unwrapped, skip_render_check=True)
    check_env(env, skip_render_check=True)


def test_step_takes_the_full_action_or_the_free_values_and_recomputes_rel():
    env = seed_env(synth_kick())
    rewards, values = [], []
    for action in ([0.01, 0.4899, 60.0], np.array([0.01, 0.4899, 60.0]), [0.01, 60.0], [0.01, 123.0, 60.0]):
        env.reset()
        obs, r, _, _, info = env.step(action)
        rewards.append(r)
        values.append(info["values"])
    # a wrong rel value (123.0) is recomputed: same audio, same reward, reported as recomputed
    assert len(set(rewards)) == 1
    for v in values:
        assert v[1] == pytest.approx(0.5 - 0.0001 - 0.01, rel=1e-6) and v[2] == pytest.approx(60.0)
    with pytest.raises(raveforce_mae.ParameterError, match="3 .one per hole"):
        env.reset()
        env.step([0.01, 0.4, 60.0, 1.0])


def _check_seed_conclusion(rows: np.ndarray, k: int, max_attack: float, max_freq: float) -> None:
    best = _best(rows, k)
    assert np.median(best[:, 1]) < max_attack, best
    assert np.median(best[:, 2]) < max_freq, best
    # and random draws as a whole do not: the median attack of all of them is ~0.25 s
    assert np.median(rows[:, 1]) > 0.2


def test_seed_kick_experiment_small():
    """A quick version of the seed's experiment: 500 draws, the best 2%."""
    rows = _random_search(seed_env(synth_kick()), 500, seed=0)
    _check_seed_conclusion(rows, 10, max_attack=0.08, max_freq=120.0)


@pytest.mark.slow
def test_seed_kick_experiment_2000():
    """The seed's experiment: 2,000 random actions; the best 1% have short attacks and low frequencies."""
    rows = _random_search(seed_env(synth_kick()), 2000, seed=0)
    _check_seed_conclusion(rows, 20, max_attack=0.030, max_freq=120.0)
