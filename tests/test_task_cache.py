"""Rendered targets are cached for finite splits only: train draws of a distribution are not kept."""

from __future__ import annotations

import numpy as np

import raveforce_mae


def test_train_draws_are_not_cached_and_test_targets_are() -> None:
    env = raveforce_mae.parallel_env("bassline", targets="sampled")
    for seed in range(3):
        env.reset(seed=seed)
    assert len(env.task._cache) == 0  # ~2**63 train targets: a draw never comes back
    test = raveforce_mae.parallel_env("bassline", targets="sampled", split="test")
    test.reset(options={"target": 5})
    first = test.targets()["mix"]
    test.reset(options={"target": 6})
    test.reset(options={"target": 5})
    assert list(test.task._cache) == [("test", 6), ("test", 5)]
    np.testing.assert_array_equal(test.targets()["mix"], first)  # the cached target is the same


def test_a_repeated_train_seed_renders_the_same_target_again() -> None:
    env = raveforce_mae.parallel_env("bassline", targets="sampled")
    env.reset(seed=7)
    a, k = env.targets()["mix"].copy(), env.target_id
    env.reset(seed=8)
    env.reset(seed=7)
    assert env.target_id == k
    np.testing.assert_array_equal(env.targets()["mix"], a)
