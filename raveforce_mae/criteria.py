"""Reward criteria: similarity between a rendered segment and a target segment.

Each criterion is one class (``mse``, ``mrstft``, ``mel``, ``mfcc``, ``onset``,
``pitch``), combinations are weighted means (:class:`CombinedCriterion`) and
:func:`make_criterion` builds either from a spec. The formulas are in
``docs/rewards.md``; :mod:`raveforce_mae.rewards` re-exports every name here and adds
the environment's per-step scorer.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from .analysis import (
    DEFAULT_FFT_SIZES,
    DEFAULT_HOP_RATIO,
    Analysis,
    Filterbank,
    dct_matrix,
    mean_axis,
    mel_filterbank,
    valid_audio,
)

__all__ = [
    "CRITERIA",
    "LOG_EPS",
    "CombinedCriterion",
    "Criterion",
    "MFCCDistance",
    "MSE",
    "MelDistance",
    "MultiResolutionSTFT",
    "OnsetDistance",
    "PitchDistance",
    "criterion_terms",
    "make_criterion",
    "register_criterion",
]

#: Magnitude floor inside logarithms (-100 dB re full scale; a full-scale sine on a
#: bin centre has magnitude 0.5 with the unit-sum window).
LOG_EPS = 1e-5
_LN2 = math.log(2.0)


def _check_pair(audio: Any, target: Any) -> tuple[np.ndarray, np.ndarray]:
    x = valid_audio(audio, "audio")
    t = valid_audio(target, "target")
    if x.shape != t.shape:
        raise ValueError(f"audio and target must have the same length, got {x.shape[0]} and {t.shape[0]}")
    return x, t


class Criterion:
    """Base class: a similarity between a rendered segment and a target segment.

    Subclasses implement :meth:`features` (batched, rows first) and
    :meth:`distance` (batched, returns one distance per row). Target-side work is
    done once by :meth:`prepare`; :meth:`score` then only analyses the audio.

    Args:
        sample_rate: sampling rate in Hz.
    """

    name: ClassVar[str] = ""
    #: Whether the reward is ``1 / (1 + distance)``; ``False`` for ``mse``.
    bounded: ClassVar[bool] = True

    def __init__(self, sample_rate: int) -> None:
        if sample_rate <= 0:
            raise ValueError(f"sample_rate must be > 0, got {sample_rate}")
        self.sample_rate = int(sample_rate)

    # -- batched building blocks ------------------------------------------------------
    def features(self, analysis: Analysis) -> Any:
        """Features of every row of ``analysis`` (an array or tuple, rows first)."""
        raise NotImplementedError

    def distance(self, fx: Any, ft: Any) -> np.ndarray:
        """Distances ``>= 0`` between rows of audio and target features, float64."""
        raise NotImplementedError

    def target_side(self, ft: Any) -> Any:
        """Target features as :meth:`distance` reads them (default: as computed).

        A criterion may precompute target-only terms here (norms, logs), once per
        target segment instead of every step.
        """
        return ft

    def rewards(self, fx: Any, ft: Any) -> np.ndarray:
        """Rewards per row, float64 (``1 / (1 + distance)``)."""
        return 1.0 / (1.0 + self.distance(fx, ft))

    @property
    def key(self) -> tuple:
        """Hashable identity (name and parameters), used to share work across rows."""
        return (type(self).__name__, self.sample_rate, tuple(sorted(self.params().items())))

    def params(self) -> dict[str, Any]:
        """Parameters that define this criterion (for ``key`` and ``repr``)."""
        return {}

    def __repr__(self) -> str:
        p = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({self.sample_rate}{', ' if p else ''}{p})"

    # -- single-segment API -----------------------------------------------------------
    def prepare(self, target: np.ndarray) -> Any:
        """Compute and cache the target-side features of one segment.

        Args:
            target: shape ``(n,)``, finite float32 mono segment.

        Returns:
            Opaque prepared target to pass to :meth:`score`.

        Raises:
            NonFiniteAudioError: if ``target`` contains NaN or inf.
        """
        t = valid_audio(target, "target")
        return (t.shape[0], self.features(Analysis(t[None], self.sample_rate)))

    def score(self, audio: np.ndarray, prepared: Any) -> float:
        """Reward of ``audio`` against a prepared target (higher is better).

        Args:
            audio: shape ``(n,)``, finite, same length as the prepared target.
            prepared: result of :meth:`prepare`.

        Returns:
            float: the reward; in (0, 1] except for ``mse``.

        Raises:
            ValueError: if the lengths differ.
            NonFiniteAudioError: if ``audio`` contains NaN or inf.
        """
        n, ft = prepared
        x = valid_audio(audio, "audio")
        if x.shape[0] != n:
            raise ValueError(f"audio and target must have the same length, got {x.shape[0]} and {n}")
        fx = self.features(Analysis(x[None], self.sample_rate))
        return float(self.rewards(fx, ft)[0])

    def __call__(self, audio: np.ndarray, target: np.ndarray) -> float:
        """Reward of ``audio`` against ``target`` (both 1-D, equal length)."""
        _, t = _check_pair(audio, target)
        return self.score(audio, self.prepare(t))


class MSE(Criterion):
    """Negative waveform mean squared error, RaveForce's ``raw`` criterion.

    ``reward = -mean((x - t) ** 2)``: 0 is best, unbounded below in principle (at
    least -4 for audio in [-1, 1]). Phase-sensitive: a tone delayed by half a
    period scores worse than silence. Kept for compatibility, never a default.
    """

    name = "mse"
    bounded = False

    def features(self, analysis: Analysis) -> np.ndarray:
        """Features of every row of ``analysis`` (see the class docstring)."""
        return analysis.audio

    def rewards(self, fx: np.ndarray, ft: np.ndarray) -> np.ndarray:
        """Rewards per row."""
        if fx.shape[0] == 1:
            # Exactly RaveForce's expression (same dtype, same reduction).
            return np.array([-np.square(fx[0] - ft[0]).mean()], dtype=np.float64)
        return -np.square(fx - ft).mean(axis=-1).astype(np.float64)

    def distance(self, fx: np.ndarray, ft: np.ndarray) -> np.ndarray:
        """Distance per row (see the class docstring)."""
        return -self.rewards(fx, ft)


class MultiResolutionSTFT(Criterion):
    """Multi-resolution STFT distance (spectral convergence + log-magnitude L1).

    For each FFT size ``n`` (hop ``n * hop_ratio``, Hann window, centred frames)
    with magnitude spectrograms ``X`` and ``T``::

        SC_n = ||X - T||_F / max(||T||_F, eps * sqrt(size))
        LM_n = mean |log(X + eps) - log(T + eps)|
        d    = mean_n (SC_n + LM_n)

    (Yamamoto et al. 2020; auraloss ``MultiResolutionSTFTLoss``). ``size`` is the
    number of spectrogram cells, so the SC denominator never falls below a
    spectrogram sitting at the log floor everywhere: a silent target step stays
    finite. Silence against a loud target gives ``SC = 1`` plus a log term.

    Two choices keep the default inside the per-step budget (see docs/rewards.md):

    * ``hop_ratio=1.0``: frames of each size do not overlap. The sizes are dyadic
      and centred, so the edges of one size's frames fall on the centres of the
      next smaller size's frames and every sample is seen with a window weight of
      at least 0.5 by some resolution.
    * ``fast_log=True``: ``log`` is Mitchell's approximation read from the float32
      bit pattern, ``log(y) ~ ln2 * (bits(y) / 2**23 - 127)``. It is monotone,
      exact at powers of two (a gain of 2**k changes LM by exactly ``k ln 2``) and
      within 0.06 nats (0.5 dB) of the true log; identical inputs still give 0.

    Args:
        sample_rate: sampling rate in Hz.
        fft_sizes: FFT sizes in samples.
        hop_ratio: hop as a fraction of the FFT size, in (0, 1].
        eps: magnitude floor (unit-sum window: full-scale sine peak = 0.5).
        fast_log: use the bit-pattern log approximation (``False``: ``np.log``).
    """

    name = "mrstft"

    def __init__(
        self,
        sample_rate: int,
        fft_sizes: Sequence[int] = DEFAULT_FFT_SIZES,
        hop_ratio: float = DEFAULT_HOP_RATIO,
        eps: float = LOG_EPS,
        fast_log: bool = True,
    ) -> None:
        super().__init__(sample_rate)
        if not 0.0 < hop_ratio <= 1.0:
            raise ValueError(f"hop_ratio must be in (0, 1], got {hop_ratio}")
        if not fft_sizes or any(int(n) < 16 for n in fft_sizes):
            raise ValueError(f"fft_sizes must be FFT sizes >= 16, got {fft_sizes!r}")
        if not eps > 0:
            raise ValueError(f"eps must be > 0, got {eps}")
        self.hop_ratio = float(hop_ratio)
        self.fft_sizes = tuple(int(n) for n in fft_sizes)
        self.eps = float(eps)
        self.fast_log = bool(fast_log)

    def params(self) -> dict[str, Any]:
        """Parameters that define this criterion."""
        return {
            "fft_sizes": self.fft_sizes,
            "hop_ratio": self.hop_ratio,
            "eps": self.eps,
            "fast_log": self.fast_log,
        }

    def features(self, analysis: Analysis) -> Any:
        """Features of every row of ``analysis`` (see the class docstring)."""
        return tuple(analysis.magnitude(n, max(1, round(n * self.hop_ratio))) for n in self.fft_sizes)

    def prepare(self, target: np.ndarray) -> Any:
        """Cache the target-side features of one segment (see :meth:`Criterion.prepare`)."""
        n, mags = super().prepare(target)
        return (n, self.target_side(mags))

    def _log(self, m: np.ndarray) -> np.ndarray:
        y = m + np.float32(self.eps)
        return y.view(np.int32) if self.fast_log else np.log(y)

    def target_side(self, mags: tuple[np.ndarray, ...]) -> tuple:
        """Magnitudes, their logs and norms per resolution (what :meth:`distance` reads)."""
        out: list[np.ndarray] = []
        for m in mags:
            size = m.shape[1] * m.shape[2]
            norm = np.sqrt(np.einsum("rfb,rfb->r", m, m, dtype=np.float64))
            out += [m, self._log(m), np.maximum(norm, self.eps * math.sqrt(size))]
        return tuple(out)

    def distance(self, fx: Any, ft: Any) -> np.ndarray:
        """Distance per row (see the class docstring)."""
        eps = np.float32(self.eps)
        d = np.zeros(fx[0].shape[0], dtype=np.float64)
        for i, x in enumerate(fx):
            t, log_t, norm_t = ft[3 * i : 3 * i + 3]
            # Scratch buffers and in-place ufuncs: this is the per-step hot path.
            buf = np.subtract(x, t)
            flat = buf.reshape(buf.shape[0], -1)
            sc = np.sqrt(np.einsum("rk,rk->r", flat, flat).astype(np.float64)) / norm_t
            np.add(x, eps, out=buf)
            if self.fast_log:
                # Both operands are positive floats, so their int32 bit patterns
                # differ by less than 2**31 and the subtraction cannot overflow.
                ib = buf.view(np.int32)
                np.subtract(ib, log_t, out=ib)
                np.abs(ib, out=ib)
                lm = ib.reshape(ib.shape[0], -1).sum(axis=1) * (_LN2 / 2**23)
            else:
                np.log(buf, out=buf)
                np.subtract(buf, log_t, out=buf)
                np.abs(buf, out=buf)
                lm = flat.sum(axis=1).astype(np.float64)
            d += sc + lm / flat.shape[1]
        return d / len(fx)


class MelDistance(Criterion):
    """Log-mel L1 distance, weighted by level.

    With ``L = log(M + eps)`` (``M`` the mel magnitude: square root of the
    band-mean power) for every frame and band ("cell")::

        w = max(L_x, L_t) - log(eps)            (how far the louder one is above the floor)
        d = sum(w * |L_x - L_t|) / sum(w)       (0 when both are silent)

    A plain mean over cells would be diluted by every cell where both signals sit
    at the floor: for a sine, halving the level would cost almost nothing and
    silence would score 0.8. Weighting by level makes ``d`` the mean log-level error
    over the audible part of the spectrogram, in nats: a uniform gain ``g`` gives
    ``d = |log g|`` (6 dB off: 0.69), and silence against a loud target gives the
    target's level above the floor (about 7 to 9). The defaults (FFT 4096, hop 1024,
    128 bands, floor 1e-4 = -80 dB) resolve bass notes well enough that detuning a
    sine lowers the reward monotonically from 41 Hz up; a 2048-point FFT with 64
    bands does not (its lowest bands are wider than a few semitones).

    Args:
        sample_rate: sampling rate in Hz.
        n_fft: FFT size.
        hop: hop in samples.
        n_mels: number of mel bands.
        eps: magnitude floor.
    """

    name = "mel"

    def __init__(
        self,
        sample_rate: int,
        n_fft: int = 4096,
        hop: int = 1024,
        n_mels: int = 128,
        eps: float = 1e-4,
    ) -> None:
        super().__init__(sample_rate)
        if not eps > 0:
            raise ValueError(f"eps must be > 0, got {eps}")
        self.n_fft, self.hop, self.n_mels, self.eps = int(n_fft), int(hop), int(n_mels), eps
        mel_filterbank(self.sample_rate, self.n_fft, self.n_mels)  # build once, early

    def params(self) -> dict[str, Any]:
        """Parameters that define this criterion."""
        return {"n_fft": self.n_fft, "hop": self.hop, "n_mels": self.n_mels, "eps": self.eps}

    def _log_mel(self, analysis: Analysis) -> np.ndarray:
        p = analysis.mel_power(self.n_fft, self.hop, self.n_mels)
        return np.log(np.sqrt(p) + np.float32(self.eps))

    def features(self, analysis: Analysis) -> Any:
        """Features of every row of ``analysis`` (see the class docstring)."""
        return self._log_mel(analysis)

    def distance(self, fx: np.ndarray, ft: np.ndarray) -> np.ndarray:
        """Distance per row (see the class docstring)."""
        r = fx.shape[0]
        floor = np.float32(math.log(self.eps))
        w = (np.maximum(fx, ft) - floor).reshape(r, -1).astype(np.float64)
        diff = np.abs(fx - ft).reshape(r, -1)
        num = np.einsum("rk,rk->r", w, diff)
        den = w.sum(axis=1)
        return np.divide(num, den, out=np.zeros(r), where=den > 0)


class MFCCDistance(MelDistance):
    """MFCC distance, the criterion of the 2019 SuperCollider RaveForce.

    ``c = DCT-II_ortho(log M)[:n_mfcc]`` per frame (``M`` as in ``mel``: FFT 4096,
    hop 1024, but 64 bands and a -60 dB floor, the setting under which detuning a
    sine lowers the reward monotonically from 41 Hz up), and
    ``e_f = ||c_x - c_t||_2 / sqrt(n_mfcc)`` (the RMS difference per coefficient,
    in nats) per frame, averaged over frames weighted by level like ``mel``:
    ``d = sum_f w_f e_f / sum_f w_f`` with ``w_f = max(mean_b L_x, mean_b L_t) -
    log(eps)``, so that the silent frames around a short hit do not dilute it.
    ``c0`` carries loudness: a uniform gain ``g`` gives
    ``d = sqrt(n_mels / n_mfcc) * |log g|`` (1.8 |log g| with the defaults).

    Args:
        sample_rate: sampling rate in Hz.
        n_mfcc: number of coefficients kept (including ``c0``).
        n_fft: FFT size.
        hop: hop in samples.
        n_mels: number of mel bands.
        eps: magnitude floor.
    """

    name = "mfcc"

    def __init__(
        self,
        sample_rate: int,
        n_mfcc: int = 20,
        n_fft: int = 4096,
        hop: int = 1024,
        n_mels: int = 64,
        eps: float = 1e-3,
    ) -> None:
        super().__init__(sample_rate, n_fft=n_fft, hop=hop, n_mels=n_mels, eps=eps)
        if not 1 <= n_mfcc <= n_mels:
            raise ValueError(f"n_mfcc must be in [1, n_mels={n_mels}], got {n_mfcc}")
        self.n_mfcc = int(n_mfcc)
        # The DCT as a Filterbank: a small product stays off BLAS threads.
        self._dct = Filterbank(np.ascontiguousarray(dct_matrix(self.n_mels, self.n_mfcc).T))

    def params(self) -> dict[str, Any]:
        """Parameters that define this criterion."""
        return {**super().params(), "n_mfcc": self.n_mfcc}

    def features(self, analysis: Analysis) -> tuple[np.ndarray, np.ndarray]:
        """Features of every row of ``analysis`` (see the class docstring)."""
        lm = self._log_mel(analysis)
        return self._dct(lm), lm.mean(axis=-1)

    def distance(self, fx: Any, ft: Any) -> np.ndarray:
        """Distance per row (see the class docstring)."""
        diff = (fx[0] - ft[0]).astype(np.float64)
        per_frame = np.sqrt(np.einsum("rfc,rfc->rf", diff, diff)) / math.sqrt(self.n_mfcc)
        w = np.maximum(fx[1], ft[1]).astype(np.float64) - math.log(self.eps)
        den = w.sum(axis=1)
        num = np.einsum("rf,rf->r", w, per_frame)
        return np.divide(num, den, out=np.zeros(diff.shape[0]), where=den > 0)


class OnsetDistance(Criterion):
    """Envelope and onset-strength distance, for drums: hits at the right time.

    ``e`` is the log RMS envelope (boxcar window ``win``, hop ``hop``, centred),
    ``e = log(rms + eps)``; ``o[t] = max(0, e[t] - e[t - lag])`` is its rise over
    ``lag`` hops (onset strength)::

        d = mean_t |e_x - e_t| + mean_t |o_x - o_t|

    A hit that is early or late leaves frames where one signal is loud and the other
    is not, so ``d`` grows with the time offset; ``o`` makes missing attacks cost
    extra. Timbre is not compared: pair it with ``mrstft``.

    Args:
        sample_rate: sampling rate in Hz.
        win: envelope window in samples (1024 = 23 ms; long enough to smooth a
            50 Hz kick's cycles).
        hop: envelope hop in samples (128 = 2.9 ms).
        lag: onset rise measured over this many hops.
        eps: RMS floor (1e-4 = -80 dBFS).
    """

    name = "onset"

    def __init__(
        self, sample_rate: int, win: int = 1024, hop: int = 128, lag: int = 4, eps: float = 1e-4
    ) -> None:
        super().__init__(sample_rate)
        self.win, self.hop, self.lag, self.eps = int(win), int(hop), int(lag), float(eps)

    def params(self) -> dict[str, Any]:
        """Parameters that define this criterion."""
        return {"win": self.win, "hop": self.hop, "lag": self.lag, "eps": self.eps}

    def features(self, analysis: Analysis) -> tuple[np.ndarray, np.ndarray]:
        """Features of every row of ``analysis`` (see the class docstring)."""
        e = np.log(analysis.envelope(self.win, self.hop) + self.eps)
        prev = np.empty_like(e)
        prev[:, : self.lag] = math.log(self.eps)
        prev[:, self.lag :] = e[:, : -self.lag] if e.shape[1] > self.lag else prev[:, self.lag :]
        o = np.maximum(e - prev, 0.0)
        return e, o

    def distance(self, fx: Any, ft: Any) -> np.ndarray:
        """Distance per row (see the class docstring)."""
        return mean_axis(np.abs(fx[0] - ft[0]), 1) + mean_axis(np.abs(fx[1] - ft[1]), 1)


class PitchDistance(Criterion):
    """Pitch-aware distance: chroma, pitch height and loudness.

    From an STFT (``n_fft`` 8192, hop 4096) a semitone spectrum ``S`` (MIDI 24 to
    108, :func:`~raveforce_mae.features.semitone_filterbank`) is formed per frame;
    its octave-folded sum is the chroma ``C``. Per frame::

        chroma = 1 - cos(C_x + delta, C_t + delta)              in [0, 1]
        height = W1(p_x, p_t) / 6,  p = (S + delta) / sum(S + delta)
        level  = |log(||S_x|| + eps) - log(||S_t|| + eps)|
        d      = mean_frames (chroma + height + level)

    ``W1`` is the 1-D earth mover's distance between the normalised semitone
    spectra, in semitones: transposing a sound by ``k`` semitones moves it by
    exactly ``k``, so ``height`` grades how far off a note is (an octave costs 2)
    while ``chroma`` rewards the right pitch class sharply. Spectral distances
    hardly distinguish bass notes; this one does.

    Args:
        sample_rate: sampling rate in Hz.
        n_fft: FFT size.
        hop: hop in samples.
        midi_lo: lowest semitone band (MIDI).
        midi_hi: highest semitone band (MIDI).
        eps: magnitude floor; ``delta`` is ``eps`` per band.
    """

    name = "pitch"

    def __init__(
        self,
        sample_rate: int,
        n_fft: int = 8192,
        hop: int = 4096,
        midi_lo: int = 24,
        midi_hi: int = 108,
        eps: float = 1e-4,
    ) -> None:
        super().__init__(sample_rate)
        self.n_fft, self.hop = int(n_fft), int(hop)
        self.midi_lo, self.midi_hi, self.eps = int(midi_lo), int(midi_hi), float(eps)
        self._bank = Filterbank.semitone(self.sample_rate, self.n_fft, self.midi_lo, self.midi_hi)

    def params(self) -> dict[str, Any]:
        """Parameters that define this criterion."""
        return {
            "n_fft": self.n_fft,
            "hop": self.hop,
            "midi_lo": self.midi_lo,
            "midi_hi": self.midi_hi,
            "eps": self.eps,
        }

    def features(self, analysis: Analysis) -> tuple[np.ndarray, ...]:
        """Features of every row of ``analysis`` (see the class docstring)."""
        p = self._bank(analysis.power(self.n_fft, self.hop))  # (rows, frames, bands)
        s = np.sqrt(p).astype(np.float64)
        level = np.log(np.sqrt(p.sum(axis=-1, dtype=np.float64)) + self.eps)
        # Fold octaves: pad the bands to whole octaves and sum them. Chroma bin j
        # is pitch class (midi_lo + j) % 12, the same order for both signals.
        pad = (-s.shape[-1]) % 12
        if pad:
            s_pad = np.concatenate([s, np.zeros(s.shape[:-1] + (pad,))], axis=-1)
        else:
            s_pad = s
        c = s_pad.reshape(s.shape[:-1] + (-1, 12)).sum(axis=-2) + self.eps
        # np.linalg.norm's arithmetic for a real array, without its Python layer
        c /= np.sqrt(np.add.reduce(c * c, axis=-1, keepdims=True))
        q = s + self.eps
        cdf = np.cumsum(q, axis=-1)
        cdf /= cdf[..., -1:]
        return c, cdf, level

    def distance(self, fx: Any, ft: Any) -> np.ndarray:
        """Distance per row (see the class docstring)."""
        cx, cdfx, lx = fx
        ct, cdft, lt = ft
        dc = cx - ct
        chroma = 0.5 * np.einsum("rfc,rfc->rf", dc, dc)  # = 1 - cos for unit vectors
        height = np.abs(cdfx - cdft).sum(axis=-1) / 6.0
        level = np.abs(lx - lt)
        return mean_axis(chroma, 1) + mean_axis(height, 1) + mean_axis(level, 1)


class CombinedCriterion(Criterion):
    """Weighted combination: reward = ``sum_i w_i r_i / sum_i w_i``.

    Bounded criteria stay in (0, 1]. Mixing ``mse`` into a combination is allowed
    but puts the result on a different scale.

    Args:
        terms: ``(weight, criterion)`` pairs; weights finite and > 0.
    """

    name = "combined"

    def __init__(self, terms: Sequence[tuple[float, Criterion]]) -> None:
        if not terms:
            raise ValueError("a combined criterion needs at least one term")
        rates = {c.sample_rate for _, c in terms}
        if len(rates) != 1:
            raise ValueError(f"all terms must share one sample rate, got {sorted(rates)}")
        for w, c in terms:
            if not (math.isfinite(w) and w > 0):
                raise ValueError(f"weight of {c.name!r} must be finite and > 0, got {w}")
        super().__init__(rates.pop())
        self.terms = [(float(w), c) for w, c in terms]
        self.bounded = all(c.bounded for _, c in terms)  # type: ignore[misc]

    @property
    def key(self) -> tuple:
        """Hashable identity of the combination."""
        return ("combined", tuple((w, c.key) for w, c in self.terms))

    def __repr__(self) -> str:
        return " + ".join(f"{w:g}*{c!r}" for w, c in self.terms)

    def prepare(self, target: np.ndarray) -> Any:
        """Cache the target-side features of one segment (see :meth:`Criterion.prepare`)."""
        t = valid_audio(target, "target")
        return tuple(c.prepare(t) for _, c in self.terms)

    def score(self, audio: np.ndarray, prepared: Any) -> float:
        """Reward of ``audio`` against a prepared target (see :meth:`Criterion.score`)."""
        x = valid_audio(audio, "audio")
        an = Analysis(x[None], self.sample_rate)
        total = 0.0
        for (w, c), (n, ft) in zip(self.terms, prepared, strict=True):
            if x.shape[0] != n:
                raise ValueError(f"audio and target must have the same length, got {x.shape[0]} and {n}")
            total += w * float(c.rewards(c.features(an), ft)[0])
        return total / sum(w for w, _ in self.terms)


#: Registry of criterion names to classes.
CRITERIA: dict[str, type[Criterion]] = {
    "mse": MSE,
    "mrstft": MultiResolutionSTFT,
    "mel": MelDistance,
    "mfcc": MFCCDistance,
    "onset": OnsetDistance,
    "pitch": PitchDistance,
}


def register_criterion(name: str, cls: type[Criterion]) -> None:
    """Register a criterion class under ``name`` (usable in specs afterwards).

    Args:
        name: identifier, letters, digits and underscores.
        cls: a :class:`Criterion` subclass taking ``sample_rate`` first.

    Raises:
        ValueError: if the name is malformed or already taken by another class.
        TypeError: if ``cls`` is not a Criterion subclass.
    """
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise ValueError(f"criterion name must be an identifier, got {name!r}")
    if not (isinstance(cls, type) and issubclass(cls, Criterion)):
        raise TypeError(f"cls must be a Criterion subclass, got {cls!r}")
    if name in CRITERIA and CRITERIA[name] is not cls:
        raise ValueError(f"criterion {name!r} is already registered to {CRITERIA[name]!r}")
    CRITERIA[name] = cls


_TERM = re.compile(r"^\s*(?:([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*\*\s*)?([A-Za-z_]\w*)\s*$")


def _lookup(name: str, sample_rate: int, params: Mapping[str, Any] | None = None) -> Criterion:
    cls = CRITERIA.get(name)
    if cls is None:
        raise ValueError(f"unknown criterion {name!r}; valid names: {sorted(CRITERIA)}")
    return cls(sample_rate, **(params or {}))


def make_criterion(spec: Any, sample_rate: int) -> Criterion:
    """Build a criterion from a spec.

    Args:
        spec: a name (``"mrstft"``); a sum of optionally weighted names
            (``"mrstft+pitch"``, ``"0.7*mrstft+0.3*onset"``); a mapping of name to
            weight, or to a dict of parameters with an optional ``"weight"``
            (``{"mrstft": 1.0, "pitch": {"weight": 0.5, "n_fft": 4096}}``); or a
            :class:`Criterion` (returned as is).
        sample_rate: sampling rate in Hz.

    Returns:
        Criterion: a single criterion, or a :class:`CombinedCriterion` for sums.

    Raises:
        ValueError: on unknown names (the message lists valid ones), malformed
            strings or non-positive weights.
    """
    if isinstance(spec, Criterion):
        return spec
    terms: list[tuple[float, Criterion]] = []
    if isinstance(spec, str):
        parts = spec.split("+")
        for part in parts:
            m = _TERM.match(part)
            if not m:
                raise ValueError(
                    f"cannot parse criterion spec {spec!r} (term {part!r}); use e.g. "
                    f"'mrstft', 'mrstft+pitch' or '0.7*mrstft+0.3*onset'; valid names: "
                    f"{sorted(CRITERIA)}"
                )
            w = float(m.group(1)) if m.group(1) else 1.0
            terms.append((w, _lookup(m.group(2), sample_rate)))
    elif isinstance(spec, Mapping):
        for name, value in spec.items():
            if isinstance(value, Mapping):
                params = dict(value)
                w = float(params.pop("weight", 1.0))
                terms.append((w, _lookup(str(name), sample_rate, params)))
            else:
                terms.append((float(value), _lookup(str(name), sample_rate)))
    else:
        raise ValueError(f"criterion spec must be a name, a 'w*name+...' string or a mapping, got {spec!r}")
    if not terms:
        raise ValueError(f"criterion spec {spec!r} names no criterion")
    if len(terms) == 1 and terms[0][0] > 0 and math.isfinite(terms[0][0]):
        return terms[0][1]
    return CombinedCriterion(terms)


def criterion_terms(c: Criterion) -> list[tuple[float, Criterion]]:
    """The ``(weight, criterion)`` terms of a criterion (itself with weight 1 if it is not combined)."""
    return list(c.terms) if isinstance(c, CombinedCriterion) else [(1.0, c)]
