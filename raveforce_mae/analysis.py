"""Spectral analysis shared by rewards and observations: one FFT per resolution per step.

Everything here is plain numpy (plus scipy's FFT); the mel filterbanks are built
once per parameter set by :mod:`raveforce_mae.dsp` (librosa's numbers, without
importing librosa).

Conventions:
    * Audio is mono float32 (or float64) in [-1, 1] nominally. Values outside that
      range are allowed (a sum of stems can clip) but must be finite.
    * Spectra are computed with a centred, zero-padded STFT (``center=True`` in
      librosa's terms, but padded with zeros rather than reflected, so that a
      segment is compared with its own content only) and a periodic Hann window
      normalised to unit sum. With that normalisation a full-scale sine of
      amplitude ``A`` that falls on a bin centre has magnitude ``A / 2``.
    * Internally batched arrays are laid out ``(rows, frames, bins)``, because the
      bins are the axis that filterbanks contract.

The :class:`Analysis` object computes spectra of a batch of rows lazily and caches
them. The task (:mod:`raveforce_mae.task`) makes one per step and hands it to the
reward and to the observation, so both share one FFT per resolution.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from concurrent.futures import Executor, Future
from typing import Any

import numpy as np
import scipy.fft

from . import dsp
from .errors import RaveforceError

__all__ = [
    "DB_FLOOR",
    "DB_RANGE",
    "DEFAULT_FFT_SIZES",
    "DEFAULT_HOP_RATIO",
    "EDGE_FADE",
    "Analysis",
    "Filterbank",
    "NonFiniteAudioError",
    "check_bounds",
    "complete_targets",
    "db_to_unit",
    "dct_matrix",
    "hann_window",
    "mel_filterbank",
    "n_frames",
    "power_to_unit",
    "semitone_filterbank",
    "valid_audio",
]


#: Observation features are dB values mapped linearly by ``db / DB_RANGE + 1`` and
#: clipped to [-1, 1]: 0 dB (a full-scale tone) is 1, -60 dB is 0, -120 dB and
#: below (silence) is -1.
DB_RANGE = 60.0
#: Power floor added before taking dB (-120 dB), so silence maps to exactly -1.
DB_FLOOR = 1e-12

#: FFT sizes and hop ratio of the default ``mrstft`` reward. The observation's
#: STFT is the largest of them, so a step's reward and observation share FFTs.
DEFAULT_FFT_SIZES = (512, 1024, 2048)
DEFAULT_HOP_RATIO = 1.0
OBS_N_FFT = 2048
OBS_HOP = 2048
OBS_N_MELS = 32


class NonFiniteAudioError(RaveforceError, ValueError):
    """Raised when audio handed to a feature or reward contains NaN or inf."""


# --------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------


def valid_audio(
    y: Any,
    name: str = "audio",
    *,
    ndim: int | None = 1,
    min_length: int = 1,
) -> np.ndarray:
    """Check that ``y`` is usable audio and return it as a float32 C-contiguous array.

    Args:
        y: audio samples, array-like of real numbers. Shape ``(n,)`` for
            ``ndim=1`` or ``(rows, n)`` for ``ndim=2``.
        name: name of the argument, used in error messages.
        ndim: required number of dimensions, or ``None`` for 1 or 2.
        min_length: minimum number of samples along the last axis.

    Returns:
        np.ndarray: ``y`` as float32, C-contiguous (no copy when it already is).

    Raises:
        TypeError: if ``y`` is not numeric.
        ValueError: if the shape is wrong or the signal is too short.
        NonFiniteAudioError: if ``y`` contains NaN or inf.
    """
    arr = np.asarray(y)
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"{name} must be a real numeric array, got dtype {arr.dtype}")
    if ndim is None:
        if arr.ndim not in (1, 2):
            raise ValueError(f"{name} must be 1-D or 2-D, got shape {arr.shape}")
    elif arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {arr.shape}")
    if arr.shape[-1] < min_length:
        raise ValueError(f"{name} must have at least {min_length} sample(s), got shape {arr.shape}")
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    if not np.isfinite(arr).all():
        bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
        raise NonFiniteAudioError(
            f"{name} contains {bad} non-finite value(s) (NaN or inf); audio must be finite"
        )
    return arr


# --------------------------------------------------------------------------------------
# Cached windows and filterbanks (built once per parameter set)
# --------------------------------------------------------------------------------------


def _readonly(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


@functools.lru_cache(maxsize=32)
def hann_window(n_fft: int) -> np.ndarray:
    """Periodic Hann window normalised to unit sum.

    Args:
        n_fft: window length in samples, > 0.

    Returns:
        np.ndarray: shape ``(n_fft,)``, float32, read-only, ``sum == 1``.
    """
    if n_fft <= 0:
        raise ValueError(f"n_fft must be > 0, got {n_fft}")
    w = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n_fft) / n_fft)
    return _readonly((w / w.sum()).astype(np.float32))


@functools.lru_cache(maxsize=32)
def mel_filterbank(
    sample_rate: int, n_fft: int, n_mels: int, fmin: float = 0.0, fmax: float | None = None
) -> np.ndarray:
    """Mel filterbank whose rows sum to one (band value = mean power in the band).

    Slaney mel scale (librosa's default) triangles, each normalised to unit sum so
    that white noise has a flat mel spectrum and a band value reads as a power
    density per FFT bin.

    Args:
        sample_rate: sampling rate in Hz.
        n_fft: FFT size the filterbank applies to.
        n_mels: number of mel bands.
        fmin: lowest frequency in Hz.
        fmax: highest frequency in Hz (default Nyquist).

    Returns:
        np.ndarray: shape ``(n_mels, n_fft // 2 + 1)``, float32, read-only.
    """
    # librosa.filters.mel's numbers (bit-identical with norm=None), without librosa:
    # reaching librosa.filters compiles numba kernels, tens of seconds on a fresh install.
    fb = dsp.mel_filterbank(sample_rate, n_fft, n_mels, fmin, fmax, norm=None).astype(np.float64)
    sums = fb.sum(axis=1, keepdims=True)
    empty = sums[:, 0] <= 0
    if empty.any():
        # Narrow low bands can be empty at small n_fft: an empty band takes the
        # nearest bin to its centre so no feature is dead.
        centres = dsp.mel_frequencies(n_mels + 2, fmin=fmin, fmax=fmax or sample_rate / 2)
        freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
        for i in np.flatnonzero(empty):
            fb[i, np.argmin(np.abs(freqs - centres[i + 1]))] = 1.0
        sums = fb.sum(axis=1, keepdims=True)
    return _readonly((fb / sums).astype(np.float32))


@functools.lru_cache(maxsize=16)
def semitone_filterbank(sample_rate: int, n_fft: int, midi_lo: int = 24, midi_hi: int = 108) -> np.ndarray:
    """Triangular filterbank with one band per equal-tempered semitone.

    A constant-Q-like front end built on the STFT: FFT bin ``k`` (frequency
    ``f_k``, MIDI pitch ``m_k``) contributes to semitone ``j`` with weight
    ``max(0, 1 - |m_k - j| / w_k)``, where ``w_k`` is one semitone or the width of
    the FFT bin in semitones, whichever is larger (low notes are smeared over
    several semitones when the FFT cannot resolve them).

    Args:
        sample_rate: sampling rate in Hz.
        n_fft: FFT size.
        midi_lo: lowest band, MIDI note number (24 = C1, 32.7 Hz).
        midi_hi: highest band, MIDI note number (108 = C8, 4186 Hz).

    Returns:
        np.ndarray: shape ``(midi_hi - midi_lo + 1, n_fft // 2 + 1)``, float32,
        read-only; band ``i`` is MIDI note ``midi_lo + i``.
    """
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    fb = np.zeros((midi_hi - midi_lo + 1, freqs.size))
    f = freqs[1:]
    m = 69.0 + 12.0 * np.log2(f / 440.0)
    df = sample_rate / n_fft
    width = np.maximum(1.0, 12.0 * np.log2((f + df) / f))
    notes = np.arange(midi_lo, midi_hi + 1)[:, None]
    fb[:, 1:] = np.maximum(0.0, 1.0 - np.abs(m[None, :] - notes) / width[None, :])
    return _readonly(fb.astype(np.float32))


@functools.lru_cache(maxsize=16)
def dct_matrix(n_mels: int, n_mfcc: int) -> np.ndarray:
    """Orthonormal DCT-II matrix (as in ``scipy.fft.dct(norm='ortho')``).

    Returns:
        np.ndarray: shape ``(n_mels, n_mfcc)``, float32, read-only, so that
        ``log_mel @ D`` gives the first ``n_mfcc`` cepstral coefficients.
    """
    d = scipy.fft.dct(np.eye(n_mels), type=2, norm="ortho", axis=0)[:n_mfcc]
    return _readonly(np.ascontiguousarray(d.T).astype(np.float32))


class Filterbank:
    """A filterbank applied to the last axis of power spectra, without BLAS threads.

    A dense product is used only while it is small enough for BLAS to run it on
    one thread; larger ones go through a sparse matrix (filterbanks are mostly
    zeros). A multithreaded BLAS call on a busy machine can take 10 000 times
    longer than the work itself, and these products are small.

    Args:
        weights: ``(n_out, bins)`` filter weights.
    """

    #: Largest ``rows * bins * n_out`` computed with a dense product.
    DENSE_LIMIT = 1 << 18

    def __init__(self, weights: np.ndarray) -> None:
        import scipy.sparse

        self.weights = weights
        self.n_out, self.bins = weights.shape
        self._dense_t = _readonly(np.ascontiguousarray(weights.T))
        self._sparse = scipy.sparse.csr_matrix(weights)
        sp = self._sparse
        self._csr = (
            (sp.indptr, sp.indices, sp.data) if _csr_matvecs is not None and sp.dtype == np.float32 else None
        )

    def __call__(self, power: np.ndarray) -> np.ndarray:
        """Apply to ``power`` of shape ``(..., bins)``; returns ``(..., n_out)`` float32."""
        lead = power.shape[:-1]
        p2 = power.reshape(-1, self.bins)
        if p2.shape[0] * self.bins * self.n_out <= self.DENSE_LIMIT:
            out = p2 @ self._dense_t
        elif self._csr is not None and p2.dtype == np.float32:
            # scipy's own kernel for ``sparse @ p2.T``, without its Python dispatch
            # (~20 us a call); the same arithmetic, so the same bits.
            x = np.ascontiguousarray(p2.T)
            res = np.zeros((self.n_out, x.shape[1]), dtype=np.float32)
            _csr_matvecs(self.n_out, self.bins, x.shape[1], *self._csr, x.ravel(), res.ravel())
            out = res.T
        else:
            out = np.asarray((self._sparse @ p2.T).T, dtype=np.float32)
        return out.reshape(lead + (self.n_out,))

    @staticmethod
    def mel(sample_rate: int, n_fft: int, n_mels: int) -> Filterbank:
        """The cached filterbank of :func:`mel_filterbank`."""
        return _mel_bank(sample_rate, n_fft, n_mels)

    @staticmethod
    def semitone(sample_rate: int, n_fft: int, midi_lo: int = 24, midi_hi: int = 108) -> Filterbank:
        """The cached filterbank of :func:`semitone_filterbank`."""
        return _semitone_bank(sample_rate, n_fft, midi_lo, midi_hi)


@functools.lru_cache(maxsize=32)
def _mel_bank(sample_rate: int, n_fft: int, n_mels: int) -> Filterbank:
    return Filterbank(mel_filterbank(sample_rate, n_fft, n_mels))


@functools.lru_cache(maxsize=16)
def _semitone_bank(sample_rate: int, n_fft: int, midi_lo: int, midi_hi: int) -> Filterbank:
    return Filterbank(semitone_filterbank(sample_rate, n_fft, midi_lo, midi_hi))


#: Samples faded in and out (raised cosine) at both ends of a segment before any
#: STFT, so that cutting a tone at a step boundary does not add a click whose
#: spectrum depends on the phase the tone happens to have there.
EDGE_FADE = 256


@functools.lru_cache(maxsize=8)
def _fade_ramp(m: int) -> np.ndarray:
    r = 0.5 - 0.5 * np.cos(np.pi * (np.arange(m) + 0.5) / m)
    return _readonly(r.astype(np.float32))


def n_frames(n: int, n_fft: int, hop: int) -> int:
    """Number of STFT frames for ``n`` samples.

    Frame ``t`` is centred on sample ``t * hop``, and there are just enough frames
    for the last one to reach the end of the signal:
    ``1 + ceil(max(0, n - n_fft // 2) / hop)``. For ``hop <= n_fft // 2`` that is at
    most librosa's ``1 + n // hop`` (``center=True``); for non-overlapping frames it
    adds the frame librosa would leave out.
    """
    return 1 + max(0, -(-(n - n_fft // 2) // hop))


try:  # scipy.sparse's kernel for a CSR matrix times a block of vectors
    from scipy.sparse._sparsetools import csr_matvecs as _csr_matvecs
except ImportError:  # pragma: no cover - other scipy layouts
    _csr_matvecs = None

try:  # scipy.fft's public wrapper costs ~7 us per call in dispatch; skip it.
    from scipy.fft._pocketfft.pypocketfft import r2c as _r2c
except ImportError:  # pragma: no cover - other scipy layouts
    _r2c = None


def _rfft(frames: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Real FFT over the last axis (complex64 for float32 input), into ``out`` if given."""
    if _r2c is not None:
        return _r2c(frames, (frames.ndim - 1,), True, 0, out, 1)
    spec = scipy.fft.rfft(frames, axis=-1, overwrite_x=True)  # pragma: no cover
    if out is None:  # pragma: no cover
        return spec
    out[...] = spec  # pragma: no cover
    return out  # pragma: no cover


def _pad_rows(audio: np.ndarray, rows: int, p: int) -> np.ndarray:
    """The first ``rows`` rows of ``audio``, faded in and out at the edges, zero-padded by ``p``."""
    n = audio.shape[1]
    buf = np.zeros((rows, n + 2 * p), dtype=np.float32)
    buf[:, p : p + n] = audio[:rows]
    m = min(EDGE_FADE, n // 2)
    if m > 0:
        ramp = _fade_ramp(m)
        buf[:, p : p + m] *= ramp
        buf[:, p + n - m : p + n] *= ramp[::-1]
    return buf


def mean_axis(x: np.ndarray, axis: int) -> np.ndarray:
    """``x.mean(axis=axis)`` for a float array, the same arithmetic without its Python layer.

    NumPy's ``mean`` is ``add.reduce`` then an in-place ``true_divide`` by the count
    (an ``intp``); it spends ~10 us a call in Python, which adds up in a step's
    dozens of small means.
    """
    s = np.add.reduce(x, axis=axis)
    return np.true_divide(s, np.intp(x.shape[axis]), out=s, casting="unsafe")


def db_to_unit(db: np.ndarray) -> np.ndarray:
    """Map dB values to observation units: ``clip(db / DB_RANGE + 1, -1, 1)``."""
    return np.clip(db * (1.0 / DB_RANGE) + 1.0, -1.0, 1.0)


def power_to_unit(power: np.ndarray) -> np.ndarray:
    """Map power values to observation units in [-1, 1] (see :data:`DB_RANGE`)."""
    db = 10.0 * np.log10(np.asarray(power, dtype=np.float32) + np.float32(DB_FLOOR))
    return db_to_unit(db).astype(np.float32, copy=False)


# --------------------------------------------------------------------------------------
# Batched analysis
# --------------------------------------------------------------------------------------


class Analysis:
    """Lazily computed, cached spectral analysis of a batch of equal-length signals.

    One object serves every criterion and observation that looks at the same
    audio, so each STFT resolution is computed once. When there are at least two
    rows and the last row is exactly the sum of the others (the mix of a set of
    stems), the last row's spectrum is obtained by adding the others' spectra (the
    STFT is linear), which saves one FFT per resolution.

    Args:
        audio: shape ``(rows, n)``, finite float32 (validated by the caller, see
            :func:`valid_audio`). Not copied; do not mutate while in use.
        sample_rate: sampling rate in Hz.
        mix_is_sum: whether the last row is the sum of the others; ``None`` checks.
        mix_is_stem: whether there are two rows, a stem and the mix, and they are
            equal (one track): the mix's spectrum is then a copy of the stem's.
        shared: ``(n_fft, hop)`` resolutions whose spectrum will be computed for
            every row anyway (the observation's). A :meth:`subset` then takes its
            rows of these spectra instead of running its own FFTs.
        executor: If given, the ``shared`` spectra are computed on it at once
            (smallest FFT first) while the caller goes on with other resolutions; the
            FFT releases the GIL, so another thread does that work in parallel. The
            spectra are the same bit for bit. The executor must start its jobs in
            the order they are submitted (as ``ThreadPoolExecutor`` does): the padded
            copy comes first, and the spectra wait for it.
    """

    def __init__(
        self,
        audio: np.ndarray,
        sample_rate: int,
        *,
        mix_is_sum: bool | None = None,
        mix_is_stem: bool = False,
        shared: frozenset[tuple[int, int]] = frozenset(),
        executor: Executor | None = None,
    ) -> None:
        self.audio = audio
        self.sample_rate = int(sample_rate)
        self.rows, self.n = audio.shape
        if mix_is_sum is None:
            mix_is_sum = self.rows >= 2 and bool(
                np.array_equal(audio[-1], audio[:-1].sum(axis=0, dtype=np.float32))
            )
        self.mix_is_sum = mix_is_sum
        self.mix_is_stem = mix_is_stem and self.rows == 2 and not mix_is_sum
        self.shared = shared
        self._cache: dict[tuple, Any] = {}
        self._pad_buf: np.ndarray | None = None
        self._pad = 0
        # Set on a subset: the analysis it was taken from and its rows there.
        self._parent: Analysis | None = None
        self._parent_rows: list[int] = []
        # Spectra being computed on another thread: key -> its future.
        self._prefetch: dict[tuple, Future[np.ndarray]] = {}
        if executor is not None and shared:
            # Smallest FFT first: a criterion's resolutions come in increasing size, so
            # the caller asks for those in that order.
            p = max(2048, *(n for n, _ in shared))
            padded: Future[np.ndarray] = executor.submit(_pad_rows, audio, self._fft_rows(), p)
            for n, h in sorted(shared):
                self._prefetch["stft", n, h] = executor.submit(self._stft_of, padded, p, n, h)

    def _stft_of(self, padded: Future[np.ndarray], pad: int, n_fft: int, hop: int) -> np.ndarray:
        """:meth:`_stft` of a padded copy of its own (computed on the executor's thread)."""
        return self._stft(padded.result(), pad, self._fft_rows(), n_fft, hop)

    def _fft_rows(self) -> int:
        # Rows that need their own FFT: the mix row is the sum (or copy) of the others.
        return self.rows - 1 if self.mix_is_sum or self.mix_is_stem else self.rows

    def subset(self, rows: tuple[int, ...]) -> Analysis:
        """Cached analysis of some rows only (their own FFTs; no mix shortcut).

        Args:
            rows: row indices.

        Returns:
            Analysis: of ``audio[list(rows)]``, cached on this object.
        """
        key = ("rows", rows)
        out = self._cache.get(key)
        if out is None:
            sub = np.ascontiguousarray(self.audio[list(rows)])
            self._cache[key] = out = Analysis(sub, self.sample_rate, mix_is_sum=False)
            # The parent's summed mix row is not the FFT of the mix: never borrow it.
            if not (self.mix_is_sum and self.rows - 1 in rows):
                out._parent, out._parent_rows = self, list(rows)
        return out

    def _borrowed(self, n_fft: int, hop: int) -> np.ndarray | None:
        """This subset's rows of the parent's spectrum, if the parent has or will have it.

        Every row's frames are transformed on their own, so the rows of the parent's
        spectrum are bit for bit the spectrum this subset would compute (the tests
        check it).
        """
        parent = self._parent
        if parent is None:
            return None
        if ("stft", n_fft, hop) not in parent._cache and (n_fft, hop) not in parent.shared:
            return None
        return parent.spectrum(n_fft, hop)[self._parent_rows]

    def _padded(self, left: int, right: int, rows: int) -> tuple[np.ndarray, int]:
        """Zero-padded copy of the first ``rows`` rows and its left pad.

        One buffer serves every resolution up to 2048 (its pad is at least 2048 on
        each side); a larger FFT replaces it with a wider one.
        """
        buf = self._pad_buf
        if buf is None or self._pad < max(left, right) or buf.shape[0] < rows:
            # wide enough for every shared resolution too: one buffer per analysis
            p = max(left, right, 2048, *(n for n, _ in self.shared))
            buf = _pad_rows(self.audio, rows, p)
            self._pad_buf, self._pad = buf, p
        return buf, self._pad

    def spectrum(self, n_fft: int, hop: int) -> np.ndarray:
        """Complex STFT, shape ``(rows, frames, n_fft // 2 + 1)``, complex64.

        Frame ``t`` is centred on sample ``t * hop`` (zero padding outside the
        signal); see :func:`n_frames` for the count.
        """
        key = ("stft", n_fft, hop)
        out = self._cache.get(key)
        if out is None and self._parent is not None:
            out = self._borrowed(n_fft, hop)
            if out is not None:
                self._cache[key] = out
        if out is None and key in self._prefetch:
            self._cache[key] = out = self._prefetch.pop(key).result()
        if out is None:
            rows = self._fft_rows()
            half = n_fft // 2
            right = (n_frames(self.n, n_fft, hop) - 1) * hop + (n_fft - half) - self.n
            buf, pad = self._padded(half, right, rows)
            self._cache[key] = out = self._stft(buf, pad, rows, n_fft, hop)
        return out

    def _stft(self, buf: np.ndarray, pad: int, rows: int, n_fft: int, hop: int) -> np.ndarray:
        """The STFT of the first ``rows`` rows of ``buf`` (padded by ``pad``), and the mix row."""
        nfr = n_frames(self.n, n_fft, hop)
        half = n_fft // 2
        # Overlapping frames as a strided view (np.ndarray directly: as_strided
        # costs ~25 us per call in Python overhead).
        view = np.ndarray(
            (rows, nfr, n_fft),
            dtype=np.float32,
            buffer=buf,
            offset=(pad - half) * buf.itemsize,
            strides=(buf.strides[0], hop * buf.itemsize, buf.itemsize),
        )
        frames = view * hann_window(n_fft)
        if not (self.mix_is_sum or self.mix_is_stem):
            return _rfft(frames)
        # The stems' transforms go straight into the first rows of the result.
        spec = np.empty((self.rows, nfr, n_fft // 2 + 1), dtype=np.complex64)
        _rfft(frames, out=spec[:rows])
        if self.mix_is_stem:
            spec[1] = spec[0]
        else:
            # The STFT is linear: the mix's spectrum is the sum of the stems',
            # added in row order ((s0 + s1) + s2 ...).
            mix = spec[rows]
            np.add(spec[0], spec[1], out=mix) if rows > 1 else np.copyto(mix, spec[0])
            for r in range(2, rows):
                mix += spec[r]
        return spec

    def power(self, n_fft: int, hop: int) -> np.ndarray:
        """Power spectrogram ``|X|^2``, shape ``(rows, frames, bins)``, float32."""
        key = ("pow", n_fft, hop)
        out = self._cache.get(key)
        if out is None:
            if ("mag", n_fft, hop) in self._cache:
                m = self._cache[("mag", n_fft, hop)]
                out = m * m
            else:
                s = self.spectrum(n_fft, hop)
                out = s.real * s.real
                out += s.imag * s.imag
            # Squares of tiny magnitudes are subnormal, and a matrix product over
            # subnormals is ~50x slower; -300 dB is silence for every purpose here.
            np.maximum(out, np.float32(1e-30), out=out)
            self._cache[key] = out
        return out

    def magnitude(self, n_fft: int, hop: int) -> np.ndarray:
        """Magnitude spectrogram ``|X|``, shape ``(rows, frames, bins)``, float32."""
        key = ("mag", n_fft, hop)
        out = self._cache.get(key)
        if out is None:
            self._cache[key] = out = np.abs(self.spectrum(n_fft, hop))
        return out

    def mel_power(self, n_fft: int, hop: int, n_mels: int) -> np.ndarray:
        """Mel power (band-mean power), shape ``(rows, frames, n_mels)``, float32."""
        key = ("mel", n_fft, hop, n_mels)
        out = self._cache.get(key)
        if out is None:
            self._cache[key] = out = Filterbank.mel(self.sample_rate, n_fft, n_mels)(self.power(n_fft, hop))
        return out

    def envelope(self, win: int, hop: int) -> np.ndarray:
        """RMS envelope over a centred boxcar window, shape ``(rows, frames)``, float64.

        Computed with a cumulative sum of squares, so the cost does not depend on
        ``win``.
        """
        key = ("env", win, hop)
        out = self._cache.get(key)
        if out is None:
            half = win // 2
            sq = np.zeros((self.rows, self.n + 2 * half + 1), dtype=np.float64)
            np.square(self.audio, out=sq[:, half + 1 : half + 1 + self.n])
            np.cumsum(sq, axis=1, out=sq)
            starts = np.arange(1 + self.n // hop) * hop
            ms = (sq[:, starts + win] - sq[:, starts]) * (1.0 / win)
            self._cache[key] = out = np.sqrt(np.maximum(ms, 0.0))
        return out


# --------------------------------------------------------------------------------------
# Observations
# --------------------------------------------------------------------------------------


def complete_targets(targets: Any, n_rows: int | None = None) -> tuple[list[np.ndarray | None], int]:
    """Validate a stems-then-mix target list; fill a missing mix with the stem sum.

    Returns:
        The rows (1-D float32 or None) and the common length.

    Raises:
        ValueError: on inconsistent lengths, a missing mix that cannot be rebuilt or
            a wrong number of rows.
    """
    if isinstance(targets, np.ndarray):
        if targets.ndim != 2:
            raise ValueError(f"targets must be 2-D (rows, n), got shape {targets.shape}")
        rows: list[Any] = list(targets)
    else:
        rows = list(targets)
    if not rows:
        raise ValueError("targets must have at least one row (the mix)")
    if n_rows is not None and len(rows) != n_rows:
        raise ValueError(f"targets must have {n_rows} rows (stems then mix), got {len(rows)}")
    out: list[np.ndarray | None] = [
        None if r is None else valid_audio(r, f"targets[{i}]") for i, r in enumerate(rows)
    ]
    lengths = {r.shape[0] for r in out if r is not None}
    if len(lengths) > 1:
        raise ValueError(f"target rows must have equal lengths, got {sorted(lengths)}")
    if not lengths:
        raise ValueError("targets has no row at all; at least the mix is required")
    if out[-1] is None:
        if any(r is None for r in out[:-1]) or len(out) < 2:
            raise ValueError(
                "the mix target (last row) is missing and cannot be rebuilt because "
                "some target stems are missing too"
            )
        stems = [r for r in out[:-1] if r is not None]
        out[-1] = np.asarray(np.sum(np.stack(stems), axis=0, dtype=np.float32))
    return out, lengths.pop()


def check_bounds(bounds: Sequence[tuple[int, int]], total: int) -> list[tuple[int, int]]:
    """Validate per-step ``(start, end)`` frame ranges inside ``[0, total]``."""
    out = [(int(a), int(b)) for a, b in bounds]
    if not out:
        raise ValueError("bounds must contain at least one (start, end) step")
    for i, (a, b) in enumerate(out):
        if not 0 <= a < b <= total:
            raise ValueError(f"bounds[{i}] = {(a, b)} is not a non-empty range inside [0, {total}]")
    return out
