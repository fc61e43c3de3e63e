"""Robustness: many environments at once give the results of one alone.

Eight ensemble envs in one process (interleaved step by step, and in eight threads)
and four in subprocesses must reproduce, bit for bit, the rewards, observations and
audio of a single env run alone with the same seed and actions.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import multiprocessing as mp

import numpy as np
import pytest

import raveforce_mae

SCENARIO = "ensemble"
EPISODES = 2


def _actions(seed, env):
    rng = np.random.default_rng(seed)
    n = env.max_cycles * EPISODES
    return [
        {a: rng.uniform(-1.2, 1.2, env.action_space(a).shape).astype(np.float32) for a in env.possible_agents}
        for _ in range(n)
    ]


def _digest(rewards, obs, audio):
    h = hashlib.sha256()
    h.update(np.asarray(rewards, np.float64).tobytes())
    for o in obs:
        h.update(o.tobytes())
    for a in audio:
        h.update(a.tobytes())
    return h.hexdigest()


def _run(env, seed, steps):
    """A generator: one step per next(); returns the digest at the end."""
    rewards, obs, audio = [], [], []
    acts = _actions(seed, env)
    env.reset(seed=seed)
    for i in range(steps):
        if not env.agents:
            audio.append(env.audio()["mix"])
            env.reset(seed=seed)
        o, r, *_ = env.step(acts[i])
        rewards.append([r[a] for a in env.possible_agents])
        obs.extend(o[a] for a in env.possible_agents)
        yield None
    audio.append(env.audio()["mix"])
    yield _digest(rewards, obs, audio)


def run_alone(seed):
    env = raveforce_mae.parallel_env(SCENARIO)
    *_, d = _run(env, seed, env.max_cycles * EPISODES)
    return d


@pytest.fixture(scope="module")
def alone():
    return {s: run_alone(s) for s in range(8)}


def test_eight_envs_interleaved_in_one_process(alone):
    envs = [raveforce_mae.parallel_env(SCENARIO) for _ in range(8)]
    gens = [_run(e, s, e.max_cycles * EPISODES) for s, e in enumerate(envs)]
    results = [None] * 8
    while any(r is None for r in results):
        for i, g in enumerate(gens):  # round robin: one step of each env in turn
            if results[i] is None:
                results[i] = next(g)
    assert results == [alone[s] for s in range(8)]


def test_eight_envs_in_threads(alone):
    with cf.ThreadPoolExecutor(8) as ex:
        results = list(ex.map(run_alone, range(8)))
    assert results == [alone[s] for s in range(8)]


@pytest.mark.slow
def test_four_envs_in_subprocesses(alone):
    ctx = mp.get_context("spawn")  # fresh interpreters: each compiles/loads its own engine
    with ctx.Pool(4) as pool:
        results = pool.map(run_alone, range(4))
    assert results == [alone[s] for s in range(4)]
