"""Mel-scale helpers in plain numpy, so the environments never import librosa.

librosa's ``filters.mel`` is the only librosa function on the environments' path, and
reaching it imports ``librosa.util``, whose numba kernels compile on first use (tens of
seconds in a fresh install, about a second per process afterwards).
The filterbank is a few lines of numpy: these functions give the same numbers as
``librosa.mel_frequencies`` and ``librosa.filters.mel`` (checked to 1e-6 in the tests).

The mel scale is Slaney's (the Auditory Toolbox's, librosa's default): linear below
1 kHz at 200/3 Hz per mel, logarithmic above with 27 mels per factor 6.4. With
``htk=True`` it is the HTK formula ``2595 * log10(1 + f / 700)``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["fft_frequencies", "hz_to_mel", "mel_filterbank", "mel_frequencies", "mel_to_hz"]

_F_SP = 200.0 / 3  # Hz per mel in the linear part
_MIN_LOG_HZ = 1000.0  # where the log part starts
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOGSTEP = np.log(6.4) / 27.0  # mels per log-Hz in the log part


def hz_to_mel(frequencies: np.ndarray | float, htk: bool = False) -> np.ndarray:
    """Frequencies in Hz to mels.

    Args:
        frequencies: Frequencies in Hz (scalar or array).
        htk: Use the HTK formula instead of Slaney's.

    Returns:
        Mels, float64, the shape of ``frequencies``.
    """
    f = np.asarray(frequencies, dtype=np.float64)
    if htk:
        return 2595.0 * np.log10(1.0 + f / 700.0)
    mels = f / _F_SP
    log = f >= _MIN_LOG_HZ
    # np.where evaluates both branches; the log of small f is discarded, so silence it
    with np.errstate(divide="ignore", invalid="ignore"):
        logpart = _MIN_LOG_MEL + np.log(f / _MIN_LOG_HZ) / _LOGSTEP
    return np.where(log, logpart, mels)


def mel_to_hz(mels: np.ndarray | float, htk: bool = False) -> np.ndarray:
    """Mels to frequencies in Hz (the inverse of :func:`hz_to_mel`).

    Args:
        mels: Mel values (scalar or array).
        htk: Use the HTK formula instead of Slaney's.

    Returns:
        Frequencies in Hz, float64, the shape of ``mels``.
    """
    m = np.asarray(mels, dtype=np.float64)
    if htk:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    return np.where(m >= _MIN_LOG_MEL, _MIN_LOG_HZ * np.exp(_LOGSTEP * (m - _MIN_LOG_MEL)), _F_SP * m)


def mel_frequencies(n_mels: int, fmin: float = 0.0, fmax: float = 11025.0, htk: bool = False) -> np.ndarray:
    """``n_mels`` frequencies (Hz) evenly spaced on the mel scale from ``fmin`` to ``fmax``.

    Returns:
        Float64 array of shape ``(n_mels,)``.
    """
    lo, hi = hz_to_mel(fmin, htk), hz_to_mel(fmax, htk)
    return mel_to_hz(np.linspace(lo, hi, int(n_mels)), htk)


def fft_frequencies(sample_rate: float, n_fft: int) -> np.ndarray:
    """Centre frequencies (Hz) of the ``n_fft // 2 + 1`` bins of a real FFT."""
    return np.fft.rfftfreq(int(n_fft), 1.0 / float(sample_rate))


def mel_filterbank(
    sample_rate: float,
    n_fft: int,
    n_mels: int = 128,
    fmin: float = 0.0,
    fmax: float | None = None,
    htk: bool = False,
    norm: str | None = "slaney",
    dtype: type = np.float32,
) -> np.ndarray:
    """Triangular mel filters over the bins of a real FFT (librosa's ``filters.mel``).

    Filter ``i`` rises from mel frequency ``i`` to ``i + 1`` and falls to ``i + 2`` of
    ``mel_frequencies(n_mels + 2, fmin, fmax)``. Bands narrower than an FFT bin can come
    out empty (all zeros); callers decide what to do with them.

    Args:
        sample_rate: Sampling rate in Hz.
        n_fft: FFT size.
        n_mels: Number of bands.
        fmin: Lowest frequency in Hz.
        fmax: Highest frequency in Hz (default: Nyquist).
        htk: HTK mel formula instead of Slaney's.
        norm: ``"slaney"`` scales each triangle to unit area (constant energy per
            band); ``None`` leaves peaks at 1.
        dtype: Output dtype (librosa's default is float32; the weights are computed in
            float64 and cast once, as librosa does).

    Returns:
        Array of shape ``(n_mels, n_fft // 2 + 1)``.

    Raises:
        ValueError: on a non-positive size or an unknown ``norm``.
    """
    if int(n_fft) <= 0 or int(n_mels) <= 0 or not sample_rate > 0:
        raise ValueError(
            f"mel_filterbank needs sample_rate, n_fft and n_mels > 0, got {sample_rate}, {n_fft}, {n_mels}"
        )
    if norm not in (None, "slaney"):
        raise ValueError(f'norm must be None or "slaney", got {norm!r}')
    if fmax is None:
        fmax = float(sample_rate) / 2
    freqs = fft_frequencies(sample_rate, n_fft)
    edges = mel_frequencies(int(n_mels) + 2, fmin=fmin, fmax=fmax, htk=htk)
    widths = np.diff(edges)
    ramps = edges[:, None] - freqs[None, :]  # (n_mels + 2, bins)
    rising = -ramps[:-2] / widths[:-1, None]
    falling = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    if norm == "slaney":
        weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return weights.astype(dtype)
