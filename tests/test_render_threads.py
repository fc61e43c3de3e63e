"""Engines rendered on several threads, and the analysis that borrows them: same numbers, bit for bit."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import raveforce_mae
from raveforce_mae.analysis import Analysis
from raveforce_mae.core import RENDER_THREADS_VAR, RenderSession, render_threads
from raveforce_mae.features import PITCH_HOP, PITCH_N_FFT
from raveforce_mae.scenario import load_scenario


def _values(sc, rng, n):
    return [{t.name: t.values(rng.uniform(-1, 1, len(t.free))) for t in sc.tracks} for _ in range(n)]


@pytest.mark.parametrize("pack", [True, False])
def test_threaded_session_renders_bit_identical_to_one_thread(pack):
    sc = load_scenario("ensemble")
    vals = _values(sc, np.random.default_rng(3), 2 * sc.n_steps)
    one = RenderSession(sc, pack=pack, threads=1)
    many = RenderSession(sc, pack=pack, threads=8)
    assert one.threads == 1 and one.executor is None
    assert many.threads == len(many.packing) and many.executor is not None  # capped at the engines
    for episode in range(2):
        one.reset()
        many.reset()
        ep = vals[episode * sc.n_steps : (episode + 1) * sc.n_steps]
        played = []
        for i, v in enumerate(ep):
            a, b = one.step(i, v), many.step(i, v)
            assert np.abs(a).max() > 0.01  # real audio, not silence on both sides
            np.testing.assert_array_equal(a, b)
            played.append(np.array(a))
            if i == 2:
                state = many.snapshot()
        many.restore(state)  # a snapshot taken between threaded steps plays the same again
        np.testing.assert_array_equal(many.step(3, ep[3]), played[3])


def test_env_rewards_and_observations_equal_on_one_and_on_several_threads():
    runs = []
    for threads in (1, None):
        env = raveforce_mae.parallel_env("ensemble")
        env.task.render_threads = threads
        rng = np.random.default_rng(8)
        rec = []
        for episode in range(2):
            obs, _ = env.reset(seed=episode)
            rec.append([obs[a].copy() for a in env.possible_agents])
            while env.agents:
                acts = {
                    a: rng.uniform(-1, 1, env.action_space(a).shape).astype(np.float32) for a in env.agents
                }
                obs, rew, *_ = env.step(acts)
                rec.append([obs[a].copy() for a in obs] + [np.float64(rew[a]) for a in rew])
        runs.append((rec, env.task.session.threads))
    (a, t1), (b, tn) = runs
    assert t1 == 1 and tn == min(2, len(os.sched_getaffinity(0)))
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        for u, v in zip(x, y, strict=True):
            np.testing.assert_array_equal(u, v)


def test_analysis_prefetch_on_a_thread_is_bit_identical():
    rng = np.random.default_rng(0)
    stems = (rng.standard_normal((3, 5512)) * 0.2).astype(np.float32)
    audio = np.concatenate([stems, stems.sum(axis=0, dtype=np.float32)[None]])
    shared = frozenset({(2048, 2048), (PITCH_N_FFT, PITCH_HOP)})
    with ThreadPoolExecutor(1) as pool:
        for mix_is_sum, rows in ((True, audio), (False, audio), (False, audio[:1])):
            plain = Analysis(rows, 44100, mix_is_sum=mix_is_sum, shared=shared)
            fetched = Analysis(rows, 44100, mix_is_sum=mix_is_sum, shared=shared, executor=pool)
            for n_fft, hop in [(512, 512), (PITCH_N_FFT, PITCH_HOP), (2048, 2048), (1024, 1024)]:
                np.testing.assert_array_equal(plain.spectrum(n_fft, hop), fetched.spectrum(n_fft, hop))
            # a subset borrows the prefetched rows
            sub = fetched.subset((0,))
            np.testing.assert_array_equal(
                sub.power(PITCH_N_FFT, PITCH_HOP), plain.subset((0,)).power(PITCH_N_FFT, PITCH_HOP)
            )
        # one track: the mix row is the stem's copy
        one = np.stack([stems[0], stems[0]])
        plain = Analysis(one, 44100, mix_is_sum=False, mix_is_stem=True, shared=shared)
        fetched = Analysis(one, 44100, mix_is_sum=False, mix_is_stem=True, shared=shared, executor=pool)
        np.testing.assert_array_equal(plain.magnitude(2048, 2048), fetched.magnitude(2048, 2048))
        np.testing.assert_array_equal(fetched.spectrum(2048, 2048)[0], fetched.spectrum(2048, 2048)[1])


def test_render_threads_default_environment_variable_and_errors(monkeypatch):
    monkeypatch.delenv(RENDER_THREADS_VAR, raising=False)
    assert render_threads() == len(os.sched_getaffinity(0))
    assert render_threads(3) == 3 and render_threads(np.int64(2)) == 2
    monkeypatch.setenv(RENDER_THREADS_VAR, "1")
    assert render_threads() == 1
    sc = load_scenario("ensemble")
    assert RenderSession(sc).threads == 1
    assert RenderSession(sc, threads=2).threads == 2  # the argument wins over the variable
    for bad in ("0", "-2", "two", "1.5", ""):
        monkeypatch.setenv(RENDER_THREADS_VAR, bad)
        with pytest.raises(ValueError, match=f"{RENDER_THREADS_VAR} must be an integer >= 1, got {bad!r}"):
            render_threads()
    monkeypatch.delenv(RENDER_THREADS_VAR)
    for bad, error in (
        (0, ValueError),
        (-1, ValueError),
        (True, TypeError),
        (1.5, TypeError),
        ("2", TypeError),
    ):
        with pytest.raises(error, match=f"threads must be an integer >= 1 or None, got {bad!r}"):
            RenderSession(sc, threads=bad)


def test_limit_blas_threads_also_limits_render_threads(monkeypatch):
    monkeypatch.delenv(RENDER_THREADS_VAR, raising=False)
    from raveforce_mae.vector import limit_blas_threads

    try:
        limit_blas_threads(1)
        assert os.environ[RENDER_THREADS_VAR] == "1"
        assert RenderSession(load_scenario("ensemble")).threads == 1
    finally:
        os.environ.pop(RENDER_THREADS_VAR, None)


def _step_in_child(env, acts, queue):
    obs, rew, *_ = env.step(acts)
    queue.put({a: float(r) for a, r in rew.items()})


def test_a_forked_process_gets_render_threads_of_its_own():
    """A fork copies the pool but not its threads: the child must not wait for them forever."""
    import multiprocessing

    env = raveforce_mae.parallel_env("ensemble")
    zero = {a: np.zeros(env.action_space(a).shape, np.float32) for a in env.possible_agents}
    env.task.render_threads = 2  # even on a one-CPU machine
    env.reset(seed=0)
    env.step(zero)  # the parent's pool thread exists now
    ref = raveforce_mae.parallel_env("ensemble")
    ref.task.render_threads = 1
    ref.reset(seed=0)
    ref.step(zero)
    _, expected, *_ = ref.step(zero)
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_step_in_child, args=(env, zero, queue))
    child.start()
    child.join(60)
    alive = child.is_alive()
    if alive:
        child.kill()
    assert not alive and child.exitcode == 0
    assert queue.get(timeout=5) == {a: float(r) for a, r in expected.items()}


def test_render_threads_end_with_their_session():
    import gc
    import threading

    def render_threads_alive():
        return sum(t.name.startswith("raveforce-render") for t in threading.enumerate())

    before = render_threads_alive()
    sc = load_scenario("ensemble")
    vals = _values(sc, np.random.default_rng(1), 1)[0]
    for _ in range(20):
        s = RenderSession(sc, threads=2)
        s.step(0, vals)
    assert render_threads_alive() >= before + 1
    del s
    gc.collect()
    for _ in range(100):  # a worker exits when it next wakes up
        if render_threads_alive() == before:
            break
        threading.Event().wait(0.05)
    assert render_threads_alive() == before


def test_an_interrupted_step_leaves_the_session_to_be_reset(monkeypatch):
    """Ctrl-C while the engines render: the step is not half-kept, and a reset plays as new."""
    import time

    sc = load_scenario("ensemble")
    vals = _values(sc, np.random.default_rng(2), 2)
    s = RenderSession(sc, threads=2)
    s.step(0, vals[0])
    real = RenderSession._render_unit

    def interrupted(self, u, code, n):
        if u == 0:
            raise KeyboardInterrupt
        time.sleep(0.2)  # the pool thread is still rendering when the interrupt arrives
        return real(self, u, code, n)

    monkeypatch.setattr(RenderSession, "_render_unit", interrupted)
    with pytest.raises(KeyboardInterrupt):
        s.step(1, vals[1])
    monkeypatch.setattr(RenderSession, "_render_unit", real)
    with pytest.raises(RuntimeError, match=r"interrupted at step 1.*reset\(\)"):
        s.step(1, vals[1])
    s.reset()  # the pool's render has finished: no engine is in use
    clean = RenderSession(sc, threads=1)
    for i, v in enumerate(vals):
        np.testing.assert_array_equal(s.step(i, v), clean.step(i, v))


def test_other_resolutions_do_not_wait_for_the_prefetch():
    """Only the prefetched spectra wait for the executor; the others are computed at once."""
    import threading

    audio = (np.random.default_rng(4).standard_normal((2, 5512)) * 0.1).astype(np.float32)
    gate = threading.Event()
    with ThreadPoolExecutor(1) as pool:
        pool.submit(gate.wait, 30)  # the executor is busy until the gate opens
        an = Analysis(
            audio, 44100, mix_is_sum=False, shared=frozenset({(PITCH_N_FFT, PITCH_HOP)}), executor=pool
        )
        done = threading.Event()
        worker = threading.Thread(target=lambda: (an.spectrum(512, 512), done.set()))
        worker.start()
        assert done.wait(10), "spectrum(512) waited for the executor"
        gate.set()
        np.testing.assert_array_equal(
            an.spectrum(PITCH_N_FFT, PITCH_HOP),
            Analysis(audio, 44100, mix_is_sum=False).spectrum(PITCH_N_FFT, PITCH_HOP),
        )
        worker.join()
