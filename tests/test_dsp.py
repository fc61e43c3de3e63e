"""The numpy mel filterbank equals librosa's, so the envs can drop librosa from their path."""

from __future__ import annotations

import numpy as np
import pytest

from raveforce_mae import dsp

librosa = pytest.importorskip("librosa")

CASES = [  # (sample_rate, n_fft, n_mels, fmin, fmax): the features' settings and edge cases
    (44100, 2048, 128, 0.0, None),
    (44100, 1024, 40, 0.0, None),
    (44100, 512, 64, 20.0, 16000.0),
    (22050, 2048, 128, 0.0, 8000.0),
    (48000, 4096, 96, 30.0, None),
    (16000, 256, 80, 0.0, None),  # narrow low bands come out empty
    (8000, 64, 20, 100.0, 3000.0),
]


@pytest.mark.parametrize("htk", [False, True])
def test_mel_scale_matches_librosa(htk):
    f = np.concatenate([[0.0], np.geomspace(1.0, 24000.0, 500), [999.9, 1000.0, 1000.1]])
    np.testing.assert_allclose(dsp.hz_to_mel(f, htk), librosa.hz_to_mel(f, htk=htk), rtol=1e-12, atol=1e-9)
    m = dsp.hz_to_mel(f, htk)
    np.testing.assert_allclose(dsp.mel_to_hz(m, htk), librosa.mel_to_hz(m, htk=htk), rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(dsp.mel_to_hz(m, htk), f, rtol=1e-10, atol=1e-9)  # a true inverse
    np.testing.assert_allclose(
        dsp.mel_frequencies(130, 20.0, 20000.0, htk),
        librosa.mel_frequencies(130, fmin=20.0, fmax=20000.0, htk=htk),
        rtol=1e-12,
    )


@pytest.mark.parametrize("norm", [None, "slaney"])
@pytest.mark.parametrize("htk", [False, True])
@pytest.mark.parametrize("case", CASES)
def test_mel_filterbank_matches_librosa(case, htk, norm):
    sr, n_fft, n_mels, fmin, fmax = case
    with np.errstate(all="raise"):
        ours = dsp.mel_filterbank(sr, n_fft, n_mels, fmin, fmax, htk=htk, norm=norm)
    with pytest.warns(UserWarning) if _has_empty(ours) else _nothing():
        ref = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk, norm=norm)
    assert ours.shape == ref.shape == (n_mels, n_fft // 2 + 1) and ours.dtype == ref.dtype == np.float32
    scale = float(np.abs(ref).max())
    assert np.abs(ours - ref).max() <= 1e-6 * scale
    # the same bins are non-zero: no filter gained or lost a bin to rounding
    np.testing.assert_array_equal(ours > 0, ref > 0)


def _has_empty(fb):
    return bool((fb.max(axis=1) == 0).any())


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_mel_filterbank_refuses_bad_sizes_and_norms():
    with pytest.raises(ValueError, match="n_fft and n_mels > 0"):
        dsp.mel_filterbank(44100, 0, 40)
    with pytest.raises(ValueError, match="norm must be"):
        dsp.mel_filterbank(44100, 1024, 40, norm="l2")
