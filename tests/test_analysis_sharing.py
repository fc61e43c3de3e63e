"""Work shared between the reward and the observation of a step is computed once, bit for bit.

The task's one :class:`~raveforce_mae.analysis.Analysis` per step lends its spectra to
the criteria that read some rows only (pitch on the bass row), and a one-track
scenario's mix row (a copy of the stem) is transformed once. These shortcuts must
not change a number: each test compares against the analysis done the long way.
"""

from __future__ import annotations

import numpy as np
import pytest

import raveforce_mae
from raveforce_mae.analysis import Analysis
from raveforce_mae.criteria import PitchDistance


def _stems(rng: np.random.Generator, rows: int, n: int) -> np.ndarray:
    t = np.arange(n) / 44100
    out = np.stack([0.3 * np.sin(2 * np.pi * (55 * (r + 1)) * t) for r in range(rows)])
    out += 0.05 * rng.standard_normal(out.shape)
    return out.astype(np.float32)


@pytest.mark.parametrize("rows", [(0,), (1, 2), (2,)])
@pytest.mark.parametrize(("n_fft", "hop"), [(8192, 4096), (2048, 2048), (512, 512)])
def test_a_subset_borrows_the_parents_spectrum_bit_for_bit(rows, n_fft, hop) -> None:
    rng = np.random.default_rng(3)
    stems = _stems(rng, 3, 5512)
    audio = np.concatenate([stems, stems.sum(axis=0, dtype=np.float32)[None]])
    parent = Analysis(audio, 44100, mix_is_sum=True, shared=frozenset({(n_fft, hop)}))
    sub = parent.subset(rows)
    own = Analysis(np.ascontiguousarray(audio[list(rows)]), 44100, mix_is_sum=False)
    assert np.array_equal(sub.power(n_fft, hop), own.power(n_fft, hop))
    # it was borrowed: the parent now holds the spectrum of every row
    assert ("stft", n_fft, hop) in parent._cache


def test_a_subset_with_the_summed_mix_row_does_its_own_transform() -> None:
    # The parent's mix spectrum is the sum of the stems' spectra, not the FFT of the
    # mix: a subset reading the mix row must not borrow it.
    rng = np.random.default_rng(4)
    stems = _stems(rng, 2, 4000)
    audio = np.concatenate([stems, stems.sum(axis=0, dtype=np.float32)[None]])
    parent = Analysis(audio, 44100, mix_is_sum=True, shared=frozenset({(2048, 2048)}))
    sub = parent.subset((0, 2))
    own = Analysis(np.ascontiguousarray(audio[[0, 2]]), 44100, mix_is_sum=False)
    assert np.array_equal(sub.spectrum(2048, 2048), own.spectrum(2048, 2048))
    assert ("stft", 2048, 2048) not in parent._cache


def test_a_subset_without_shared_resolutions_leaves_the_parent_alone() -> None:
    rng = np.random.default_rng(5)
    stems = _stems(rng, 3, 4000)
    audio = np.concatenate([stems, stems.sum(axis=0, dtype=np.float32)[None]])
    parent = Analysis(audio, 44100, mix_is_sum=True)
    parent.subset((0,)).spectrum(8192, 4096)
    assert ("stft", 8192, 4096) not in parent._cache


def test_one_track_mix_spectrum_is_the_stems() -> None:
    rng = np.random.default_rng(6)
    stem = _stems(rng, 1, 6000)[0]
    audio = np.stack([stem, stem])
    an = Analysis(audio, 44100, mix_is_sum=False, mix_is_stem=True)
    spec = an.spectrum(1024, 1024)
    alone = Analysis(stem[None].copy(), 44100).spectrum(1024, 1024)[0]
    assert np.array_equal(spec[0], alone)
    assert np.array_equal(spec[1], alone)


def test_pitch_features_of_the_bass_row_match_a_standalone_analysis() -> None:
    # The ensemble's pitch criterion reads the bass row; with the observation's
    # resolutions shared it reads them from the step's analysis.
    env = raveforce_mae.parallel_env("ensemble")
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    task = env.task
    for k in range(4):
        acts = {a: rng.uniform(-1, 1, env.action_space(a).shape).astype(np.float32) for a in env.agents}
        vals = {
            t.name: task.values(i, acts[t.agent][: len(t.free)]) for i, t in enumerate(env.scenario.tracks)
        }
        audio = np.array(task.render(k, vals))
        crit = PitchDistance(44100)
        shared = task.analyse(audio).subset((0,))
        alone = Analysis(np.ascontiguousarray(audio[:1]), 44100, mix_is_sum=False)
        for a, b in zip(crit.features(shared), crit.features(alone), strict=True):
            assert np.array_equal(a, b)


def test_one_track_mix_reward_equals_the_stem_reward_exactly() -> None:
    # kick with the same criterion on the stem and the mix: the mix is the stem and
    # the target mix is the target stem, so the two rewards are the same number.
    env = raveforce_mae.parallel_env("kick", criterion="mrstft", mix_criterion="mrstft")
    rng = np.random.default_rng(1)
    for seed in range(5):
        env.reset(seed=seed)
        act = rng.uniform(-1, 1, env.action_space("kick_0").shape).astype(np.float32)
        _, _, _, _, infos = env.step({"kick_0": act})
        info = infos["kick_0"]
        assert info["reward_shared"] == info["reward_track"]
