"""Feature extraction and StepObserver (issue 4). Synthetic signals only."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from raveforce_mae.features import (
    Analysis,
    Filterbank,
    NonFiniteAudioError,
    StepObserver,
    hann_window,
    log_mel,
    log_mel_summary,
    mel_filterbank,
    n_frames,
    power_to_unit,
    semitone_filterbank,
    stft_magnitude,
    valid_audio,
)

SR = 44100
KINDS = ["default", "mel", "waveform"]


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20240612)


@functools.cache
def sine(freq: float, n: int, amp: float = 0.5) -> np.ndarray:
    y = (amp * np.sin(2 * np.pi * freq * np.arange(n) / SR)).astype(np.float32)
    y.setflags(write=False)
    return y


def _scene(rng: np.random.Generator, n_tracks: int = 3, n_steps: int = 4):
    bounds = [(round(i * 5512.5), round((i + 1) * 5512.5)) for i in range(n_steps)]
    total = bounds[-1][1]
    stems = np.stack([sine(55.0 * 2**i, total, 0.3) for i in range(n_tracks)]) + np.float32(
        0.01
    ) * rng.standard_normal((n_tracks, total)).astype(np.float32)
    targets = np.concatenate([stems, stems.sum(axis=0, keepdims=True)])
    played = (0.5 * stems).astype(np.float32)
    return targets, played, bounds


def _step_audio(played: np.ndarray, a: int, b: int) -> np.ndarray:
    return np.concatenate([played[:, a:b], played[:, a:b].sum(axis=0, keepdims=True)])


# --------------------------------------------------------------------------------------
# Pure functions
# --------------------------------------------------------------------------------------


def test_valid_audio() -> None:
    out = valid_audio(np.zeros(10, dtype=np.float64), "y")
    assert out.dtype == np.float32 and out.flags.c_contiguous
    with pytest.raises(NonFiniteAudioError, match="y contains 1 non-finite"):
        valid_audio(np.array([0.0, np.nan]), "y")
    with pytest.raises(ValueError, match="stem must be 1-D"):
        valid_audio(np.zeros((2, 3)), "stem")
    with pytest.raises(ValueError, match="at least 1"):
        valid_audio(np.zeros(0), "y")
    with pytest.raises(TypeError, match="numeric"):
        valid_audio(np.array(["a"]), "y")
    assert issubclass(NonFiniteAudioError, ValueError)


def test_windows_and_filterbanks_are_cached() -> None:
    w = hann_window(1024)
    assert w is hann_window(1024) and w.sum() == pytest.approx(1.0)
    assert not w.flags.writeable
    fb = mel_filterbank(SR, 2048, 32)
    assert fb is mel_filterbank(SR, 2048, 32)
    assert fb.shape == (32, 1025) and fb.dtype == np.float32
    np.testing.assert_allclose(fb.sum(axis=1), 1.0, rtol=1e-5)
    # Narrow low bands of a small FFT are never empty.
    assert (mel_filterbank(SR, 512, 128).sum(axis=1) > 0).all()
    st = semitone_filterbank(SR, 8192)
    assert st.shape == (85, 4097) and (st.sum(axis=1) > 0).all()


def test_stft_magnitude_scale_and_shape() -> None:
    n = 8192
    k = 40  # a bin centre of a 1024-point FFT
    y = sine(k * SR / 1024, n, 0.8)
    m = stft_magnitude(y, 1024, 512)
    assert m.shape == (513, n_frames(n, 1024, 512)) and m.dtype == np.float32
    inner = m[:, 2:-2]
    assert np.argmax(inner.mean(axis=1)) == k
    np.testing.assert_allclose(inner[k], 0.4, rtol=2e-3)  # A / 2


@pytest.mark.parametrize("n", [1, 100, 1024, 2756, 5512, 5513])
@pytest.mark.parametrize("n_fft,hop", [(512, 512), (2048, 2048), (2048, 512), (8192, 4096)])
def test_frames_cover_the_whole_segment(n: int, n_fft: int, hop: int) -> None:
    f = n_frames(n, n_fft, hop)
    assert (f - 1) * hop + n_fft // 2 >= n  # last frame reaches the end
    assert f == 1 or (f - 2) * hop + n_fft // 2 < n  # and no frame is wasted


def test_mix_spectrum_by_linearity_matches_direct(rng: np.random.Generator) -> None:
    stems = (0.3 * rng.standard_normal((3, 5513))).astype(np.float32)
    audio = np.concatenate([stems, stems.sum(axis=0, keepdims=True)])
    fast = Analysis(audio, SR)
    slow = Analysis(audio, SR, mix_is_sum=False)
    assert fast.mix_is_sum and not slow.mix_is_sum
    for n in (512, 2048):
        np.testing.assert_allclose(fast.magnitude(n, n), slow.magnitude(n, n), rtol=1e-4, atol=1e-6)
    other = audio.copy()
    other[-1] *= 0.5
    assert not Analysis(other, SR).mix_is_sum


def test_log_mel_and_summary() -> None:
    y = sine(440.0, 5512)
    lm = log_mel(y, SR)
    assert lm.shape == (32, n_frames(5512, 2048, 2048)) and lm.dtype == np.float32
    s = log_mel_summary(y, SR)
    assert s.shape == (32,) and s.dtype == np.float32
    assert -1.0 <= s.min() and s.max() <= 1.0
    assert np.argmax(s) == np.argmax(lm.mean(axis=1))
    np.testing.assert_array_equal(log_mel_summary(np.zeros(5512, np.float32), SR), -1.0)
    loud = log_mel_summary(np.sign(sine(55.0, 5512)) * np.float32(100.0), SR)
    assert np.isfinite(loud).all() and loud.max() <= 1.0
    with pytest.raises(NonFiniteAudioError):
        log_mel_summary(np.full(100, np.inf, np.float32), SR)


# --------------------------------------------------------------------------------------
# StepObserver
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n_tracks", [1, 3])
def test_observations_identical_shapes_finite_bounded(
    kind: str, n_tracks: int, rng: np.random.Generator
) -> None:
    targets, played, bounds = _scene(rng, n_tracks)
    obs = StepObserver(kind, SR, targets, bounds, n_tracks)
    low, high = obs.observation_bounds
    assert low.shape == high.shape == obs.shape and low.dtype == np.float32
    seen = [obs.reset()]
    for s, (a, b) in enumerate(bounds):
        seen.append(obs.observe(s, _step_audio(played, a, b)))
    for o in seen:
        assert o.shape == (n_tracks, *obs.shape) and o.dtype == np.float32
        assert np.isfinite(o).all()
        assert (o >= low).all() and (o <= high).all()
    if kind != "waveform":
        assert np.isfinite(low).all() and np.isfinite(high).all()
        assert max(np.abs(o).max() for o in seen) <= 1.0


def test_default_layout_and_values(rng: np.random.Generator) -> None:
    targets, played, bounds = _scene(rng)
    obs = StepObserver("default", SR, targets, bounds, 3)
    lay = obs.layout
    assert obs.shape == (4 * 32 + 4 * 85 + 1,)  # mel blocks, semitone blocks (MIDI 24..108), position
    first = obs.reset()
    np.testing.assert_array_equal(first[:, lay["own"][0]], -1.0)  # silence
    np.testing.assert_array_equal(first[:, lay["position"][0]], 0.0)
    a0, b0 = bounds[0]
    for i in range(3):
        np.testing.assert_allclose(
            first[i, lay["own_target"][0]], log_mel_summary(targets[i, a0:b0], SR), atol=1e-5
        )
        np.testing.assert_allclose(
            first[i, lay["mix_target"][0]], log_mel_summary(targets[3, a0:b0], SR), atol=1e-5
        )
    a, b = bounds[1]
    audio = _step_audio(played, a, b)
    o = obs.observe(1, audio)
    a2, b2 = bounds[2]
    for i in range(3):
        np.testing.assert_allclose(o[i, lay["own"][0]], log_mel_summary(audio[i], SR), atol=1e-5)
        np.testing.assert_allclose(o[i, lay["mix"][0]], log_mel_summary(audio[3], SR), atol=1e-5)
        np.testing.assert_allclose(
            o[i, lay["own_target"][0]], log_mel_summary(targets[i, a2:b2], SR), atol=1e-5
        )
        # the pitch criterion's semitone spectrum, averaged over the step's frames
        for block, y in (
            ("own_pitch", audio[i]),
            ("mix_pitch", audio[3]),
            ("own_target_pitch", targets[i, a2:b2]),
        ):
            p = Analysis(np.ascontiguousarray(y)[None], SR).power(8192, 4096)[0].mean(axis=0)
            want = power_to_unit(Filterbank.semitone(SR, 8192, 24, 108)(p))
            np.testing.assert_allclose(o[i, lay[block][0]], want, atol=1e-5)
    np.testing.assert_array_equal(o[:, -1], 2 / 4)
    a, b = bounds[-1]
    last = obs.observe(3, _step_audio(played, a, b))
    np.testing.assert_array_equal(last[:, -1], 1.0)
    np.testing.assert_array_equal(last[:, lay["own_target"][0]], 0.0)  # episode over
    np.testing.assert_array_equal(last[:, lay["mix_target"][0]], 0.0)


def test_missing_target_stem_uses_mix_target(rng: np.random.Generator) -> None:
    targets, _, bounds = _scene(rng)
    obs = StepObserver("default", SR, [targets[0], None, targets[2], targets[3]], bounds, 3)
    first = obs.reset()
    own, mix = obs.layout["own_target"][0], obs.layout["mix_target"][0]
    np.testing.assert_array_equal(first[1, own], first[1, mix])
    assert not np.array_equal(first[0, own], first[0, mix])
    assert list(obs.has_target_stem) == [True, False, True]
    mix_only = StepObserver("default", SR, [None, None, None, targets[3]], bounds, 3)
    assert mix_only.reset().shape == (3, *mix_only.shape)


def test_waveform_reproduces_padded_audio_so_far(rng: np.random.Generator) -> None:
    targets, played, bounds = _scene(rng)
    obs = StepObserver("waveform", SR, targets, bounds, 3)
    total = targets.shape[1]
    assert obs.shape == (total,)
    np.testing.assert_array_equal(obs.reset(), 0.0)
    mix = played.sum(axis=0)
    for s, (a, b) in enumerate(bounds):
        o = obs.observe(s, _step_audio(played, a, b))
        expect = np.zeros(total, np.float32)
        expect[:b] = mix[:b]
        for i in range(3):
            np.testing.assert_array_equal(o[i], expect)
    np.testing.assert_array_equal(obs.reset(), 0.0)
    a, b = bounds[0]
    o = obs.observe(0, _step_audio(played, a, b))
    assert not o[:, b:].any()


def test_mel_kind_layout(rng: np.random.Generator) -> None:
    targets, played, bounds = _scene(rng)
    obs = StepObserver("mel", SR, targets, bounds, 3, n_mels=16)
    frames = n_frames(5513, 2048, 2048)
    assert obs.layout["own"][1] == (frames, 16)
    assert obs.shape == (4 * frames * 16 + 1,)
    a, b = bounds[0]
    o = obs.observe(0, _step_audio(played, a, b))
    own = o[0, obs.layout["own"][0]].reshape(obs.layout["own"][1])
    np.testing.assert_allclose(
        own[: n_frames(b - a, 2048, 2048)], log_mel(played[0, a:b], SR, n_mels=16).T, atol=1e-5
    )


def test_observer_validates_input(rng: np.random.Generator) -> None:
    targets, played, bounds = _scene(rng)
    with pytest.raises(ValueError, match="kind"):
        StepObserver("pixels", SR, targets, bounds, 3)
    with pytest.raises(ValueError, match="4 rows"):
        StepObserver("default", SR, targets[:3], bounds, 3)
    obs = StepObserver("default", SR, targets, bounds, 3)
    a, b = bounds[0]
    audio = _step_audio(played, a, b)
    with pytest.raises(ValueError, match="shape"):
        obs.observe(0, audio[:3])
    with pytest.raises(IndexError):
        obs.observe(4, audio)
    audio[1, 3] = np.nan
    with pytest.raises(NonFiniteAudioError, match="audio"):
        obs.observe(0, audio)
