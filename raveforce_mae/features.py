"""Audio features for raveforce-mae: log-mel summaries and the agents' observations.

The spectral machinery (STFT, filterbanks, the shared per-step :class:`Analysis`)
lives in :mod:`raveforce_mae.analysis`; its public names are re-exported here.
:class:`StepObserver` turns one step's :class:`Analysis` into every agent's
observation.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np

from .analysis import (
    DB_FLOOR,
    DB_RANGE,
    DEFAULT_FFT_SIZES,
    DEFAULT_HOP_RATIO,
    EDGE_FADE,
    OBS_HOP,
    OBS_N_FFT,
    OBS_N_MELS,
    Analysis,
    Filterbank,
    NonFiniteAudioError,
    check_bounds,
    complete_targets,
    db_to_unit,
    dct_matrix,
    hann_window,
    mean_axis,
    mel_filterbank,
    n_frames,
    power_to_unit,
    semitone_filterbank,
    valid_audio,
)

PITCH_N_FFT = 8192
"""FFT size of the observation's semitone spectra (the ``pitch`` criterion's)."""
PITCH_HOP = 4096
"""Hop of the observation's semitone spectra (the ``pitch`` criterion's)."""
PITCH_MIDI_LO = 24
"""Lowest semitone band of the observation (MIDI 24 = C1)."""
PITCH_MIDI_HI = 108
"""Highest semitone band of the observation (MIDI 108 = C8)."""

__all__ = [
    "DB_FLOOR",
    "DB_RANGE",
    "DEFAULT_FFT_SIZES",
    "DEFAULT_HOP_RATIO",
    "EDGE_FADE",
    "Analysis",
    "Filterbank",
    "NonFiniteAudioError",
    "StepObserver",
    "db_to_unit",
    "dct_matrix",
    "hann_window",
    "log_mel",
    "log_mel_summary",
    "mel_filterbank",
    "n_frames",
    "power_to_unit",
    "semitone_filterbank",
    "stft_magnitude",
    "valid_audio",
]


# --------------------------------------------------------------------------------------
# Single-signal feature functions
# --------------------------------------------------------------------------------------


def stft_magnitude(y: np.ndarray, n_fft: int = 2048, hop_length: int | None = None) -> np.ndarray:
    """Magnitude STFT of a mono signal (centred, zero-padded, unit-sum Hann window).

    Args:
        y: audio, shape ``(n,)``, finite.
        n_fft: FFT size in samples.
        hop_length: hop in samples (default ``n_fft // 2``).

    Returns:
        np.ndarray: shape ``(n_fft // 2 + 1, n_frames(n, n_fft, hop_length))``,
        float32. A
        full-scale sine on a bin centre has magnitude 0.5.
    """
    y = valid_audio(y, "y")
    hop = hop_length or n_fft // 2
    return Analysis(y[None], 1).magnitude(n_fft, hop)[0].T.copy()


def log_mel(
    y: np.ndarray,
    sample_rate: int,
    n_fft: int = OBS_N_FFT,
    hop_length: int = OBS_HOP,
    n_mels: int = OBS_N_MELS,
) -> np.ndarray:
    """Log-mel spectrogram in observation units.

    Args:
        y: audio, shape ``(n,)``, finite.
        sample_rate: sampling rate in Hz.
        n_fft: FFT size.
        hop_length: hop in samples.
        n_mels: number of mel bands.

    Returns:
        np.ndarray: shape ``(n_mels, n_frames(n, n_fft, hop_length))``, float32 in
        [-1, 1]:
        ``clip(dB / 60 + 1, -1, 1)`` of the band-mean power (0 dB = 1, silence = -1).
    """
    y = valid_audio(y, "y")
    mp = Analysis(y[None], sample_rate).mel_power(n_fft, hop_length, n_mels)[0]
    return power_to_unit(mp).T.copy()


def log_mel_summary(
    y: np.ndarray,
    sample_rate: int,
    n_mels: int = OBS_N_MELS,
    n_fft: int = OBS_N_FFT,
    hop_length: int = OBS_HOP,
) -> np.ndarray:
    """Long-term log-mel spectrum of a segment: the mel power averaged over frames.

    Args:
        y: audio, shape ``(n,)``, finite.
        sample_rate: sampling rate in Hz.
        n_mels: number of mel bands.
        n_fft: FFT size.
        hop_length: hop in samples.

    Returns:
        np.ndarray: shape ``(n_mels,)``, float32 in [-1, 1] (see :func:`log_mel`).
    """
    y = valid_audio(y, "y")
    mean_power = Analysis(y[None], sample_rate).power(n_fft, hop_length)[0].mean(axis=0)
    return power_to_unit(Filterbank.mel(sample_rate, n_fft, n_mels)(mean_power))


class StepObserver:
    """Per-agent observations built from each step's audio and the coming target.

    Kinds (the per-agent shape is identical for every agent):

    * ``"default"``: ``4 * n_mels + 4 * n_semitones + 1`` values: the long-term
      log-mel spectrum (:func:`log_mel_summary`) of the agent's own stem, of the
      mix, of the agent's own target stem for the coming step and of the target mix
      for the coming step; then the same four signals' semitone spectra (what the
      ``pitch`` criterion reads: band power of MIDI notes 24..108 from an 8192-point
      STFT with hop 4096, averaged over the step's frames, in the same dB units), so
      that a note can be told from its neighbour; then the step position
      ``(step + 1) / n_steps``. When a track has no target stem its "own target"
      blocks repeat the mix target.
    * ``"mel"``: the same four blocks as full log-mel frames (``n_frames x n_mels``
      each, row-major, frames padded with -1 up to the longest step) then the
      position; ``layout`` gives the slices.
    * ``"waveform"``: RaveForce's observation: the mix rendered so far, zero-padded
      to the episode length; the same for every agent (for a one-track scenario the
      mix is the track).

    Spectral values are in [-1, 1] (``clip(dB / 60 + 1, -1, 1)``; silence is -1)
    and the position in [0, 1]; target blocks are zeros once the episode is over.
    No agent indicator is added (the environment appends its own).

    Args:
        kind: ``"default"``, ``"mel"`` or ``"waveform"``.
        sample_rate: sampling rate in Hz.
        targets: ``n_tracks + 1`` rows, target stems then the target mix, each 1-D
            of length ``N_total`` or ``None`` for a missing stem.
        bounds: ``(start, end)`` sample ranges, one per step.
        n_tracks: number of tracks (agents).
        n_mels: mel bands per block.
    """

    KINDS = ("default", "mel", "waveform")

    def __init__(
        self,
        kind: str,
        sample_rate: int,
        targets: Any,
        bounds: Sequence[tuple[int, int]],
        n_tracks: int,
        *,
        n_mels: int = OBS_N_MELS,
    ) -> None:
        if kind not in self.KINDS:
            raise ValueError(f"unknown observation kind {kind!r}; valid: {list(self.KINDS)}")
        if n_tracks < 1:
            raise ValueError(f"n_tracks must be >= 1, got {n_tracks}")
        self.kind = kind
        self.sample_rate = int(sample_rate)
        self.n_tracks = int(n_tracks)
        self.n_mels = int(n_mels)
        rows, self.total = complete_targets(targets, n_tracks + 1)
        self.bounds = check_bounds(bounds, self.total)
        self.n_steps = len(self.bounds)
        self.has_target_stem = np.array([r is not None for r in rows[:-1]])
        self._n_fft, self._hop = OBS_N_FFT, OBS_HOP
        self.layout: dict[str, tuple[slice, tuple[int, ...]]] = {}

        if kind == "waveform":
            self.shape: tuple[int, ...] = (self.total,)
            self.low = np.full(self.shape, -np.inf, dtype=np.float32)
            self.high = np.full(self.shape, np.inf, dtype=np.float32)
            self._buffer = np.zeros(self.total, dtype=np.float32)
            self.layout["mix_so_far"] = (slice(0, self.total), (self.total,))
            return

        n_pitch = 0
        if kind == "default":
            block: tuple[int, ...] = (self.n_mels,)
            self._pitch_bank = Filterbank.semitone(
                self.sample_rate, PITCH_N_FFT, PITCH_MIDI_LO, PITCH_MIDI_HI
            )
            n_pitch = PITCH_MIDI_HI - PITCH_MIDI_LO + 1
        else:
            max_len = max(b - a for a, b in self.bounds)
            block = (n_frames(max_len, self._n_fft, self._hop), self.n_mels)
        size = int(np.prod(block))
        self._n_pitch = n_pitch
        for i, name in enumerate(("own", "mix", "own_target", "mix_target")):
            self.layout[name] = (slice(i * size, (i + 1) * size), block)
        if n_pitch:
            for i, name in enumerate(("own_pitch", "mix_pitch", "own_target_pitch", "mix_target_pitch")):
                a0 = 4 * size + i * n_pitch
                self.layout[name] = (slice(a0, a0 + n_pitch), (n_pitch,))
        end = 4 * size + 4 * n_pitch
        self.layout["position"] = (slice(end, end + 1), (1,))
        self._block_size = size
        self.shape = (end + 1,)
        self.low = np.full(self.shape, -1.0, dtype=np.float32)
        self.low[-1] = 0.0
        self.high = np.ones(self.shape, dtype=np.float32)

        # Target features for every step, computed once: (n_steps, n_tracks + 1, size).
        own = [i if rows[i] is not None else n_tracks for i in range(n_tracks)]
        self._own_rows = np.array(own)
        # A missing stem's row is never read (its agent sees the mix target).
        tgt = np.stack([np.zeros(self.total, np.float32) if r is None else r for r in rows])
        feats = np.empty((self.n_steps, n_tracks + 1, size + n_pitch), dtype=np.float32)
        for s, (a, b) in enumerate(self.bounds):
            feats[s] = self._features(Analysis(tgt[:, a:b], self.sample_rate))
        self._target_feats = feats
        self._silence = self._features(
            Analysis(np.zeros((1, self.bounds[0][1] - self.bounds[0][0]), np.float32), self.sample_rate)
        )[0]

    # ---------------------------------------------------------------------------------

    @functools.cached_property
    def resolutions(self) -> frozenset[tuple[int, int]]:
        """The ``(n_fft, hop)`` spectra every observation computes for every row (read every step)."""
        if self.kind == "waveform":
            return frozenset()
        if self.kind == "default":
            return frozenset({(self._n_fft, self._hop), (PITCH_N_FFT, PITCH_HOP)})
        return frozenset({(self._n_fft, self._hop)})

    @property
    def observation_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """``(low, high)`` float32 arrays of ``shape`` for a gymnasium ``Box``."""
        return self.low, self.high

    def _features(self, an: Analysis) -> np.ndarray:
        """Per-row features, shape ``(rows, block_size + n_pitch)``, float32 in [-1, 1].

        The spectral block, then (``"default"``) the semitone block.
        """
        if self.kind == "default":
            # Averaging over frames commutes with the filterbank: average first.
            mean_power = mean_axis(an.power(self._n_fft, self._hop), 1)
            bank = Filterbank.mel(self.sample_rate, self._n_fft, self.n_mels)
            # The pitch criterion's STFT and filterbank: the Analysis caches the STFT,
            # so with a pitch criterion it is computed once per step for both.
            pitch = mean_axis(an.power(PITCH_N_FFT, PITCH_HOP), 1)
            return np.concatenate(
                [power_to_unit(bank(mean_power)), power_to_unit(self._pitch_bank(pitch))], axis=1
            )
        frames = power_to_unit(an.mel_power(self._n_fft, self._hop, self.n_mels))
        out = np.full((an.rows, self._block_size), -1.0, dtype=np.float32)
        out[:, : frames.shape[1] * self.n_mels] = frames.reshape(an.rows, -1)
        return out

    def _assemble(self, played: np.ndarray, next_step: int) -> np.ndarray:
        k, size, m = self.n_tracks, self._block_size, self._n_pitch
        obs = np.empty((k,) + self.shape, dtype=np.float32)
        obs[:, :size] = played[:k, :size]
        obs[:, size : 2 * size] = played[k, :size]
        p0 = 4 * size
        if m:
            obs[:, p0 : p0 + m] = played[:k, size:]
            obs[:, p0 + m : p0 + 2 * m] = played[k, size:]
        if next_step < self.n_steps:
            t = self._target_feats[next_step]
            own = t[self._own_rows]
            obs[:, 2 * size : 3 * size] = own[:, :size]
            obs[:, 3 * size : 4 * size] = t[k, :size]
            if m:
                obs[:, p0 + 2 * m : p0 + 3 * m] = own[:, size:]
                obs[:, p0 + 3 * m : p0 + 4 * m] = t[k, size:]
        else:
            obs[:, 2 * size : 4 * size] = 0.0
            obs[:, p0 + 2 * m : p0 + 4 * m] = 0.0
        obs[:, -1] = next_step / self.n_steps
        return obs

    def reset(self) -> np.ndarray:
        """Observation before the first step.

        Returns:
            np.ndarray: shape ``(n_tracks, *shape)``, float32: silence for the
            played blocks, step 0's target features, position 0 (``"waveform"``:
            zeros; the internal buffer is cleared).
        """
        if self.kind == "waveform":
            self._buffer[:] = 0.0
            return np.zeros((self.n_tracks,) + self.shape, dtype=np.float32)
        played = np.broadcast_to(self._silence, (self.n_tracks + 1, self._silence.size))
        return self._assemble(played, 0)

    def observe(self, step: int, audio: np.ndarray) -> np.ndarray:
        """Observation after step ``step`` was played.

        Args:
            step: index of the step just played, ``0 <= step < n_steps``.
            audio: shape ``(n_tracks + 1, end - start)``: rendered stems then the
                mix for that step, finite float32.

        Returns:
            np.ndarray: shape ``(n_tracks, *shape)``, float32, within ``[low, high]``.

        Raises:
            IndexError: if ``step`` is out of range.
            ValueError: if ``audio`` has the wrong shape.
            NonFiniteAudioError: if ``audio`` contains NaN or inf.
        """
        if not 0 <= step < self.n_steps:
            raise IndexError(f"step must be in [0, {self.n_steps}), got {step}")
        a, b = self.bounds[step]
        expect = (self.n_tracks + 1, b - a)
        audio = valid_audio(audio, "audio", ndim=2)
        if audio.shape != expect:
            raise ValueError(f"audio must have shape {expect} for step {step}, got {audio.shape}")
        return self.observe_analysis(step, Analysis(audio, self.sample_rate))

    def observe_analysis(self, step: int, analysis: Analysis) -> np.ndarray:
        """Observation after step ``step``, from that step's analysis (the task's hot path).

        Args:
            step: index of the step just played, ``0 <= step < n_steps``.
            analysis: of the step's audio, shape ``(n_tracks + 1, end - start)``
                (stems then the mix), validated by whoever made it; the reward of
                the step reads the same object, so spectra are computed once.

        Returns:
            np.ndarray: shape ``(n_tracks, *shape)``, float32, within ``[low, high]``.
        """
        a, b = self.bounds[step]
        if analysis.audio.shape != (self.n_tracks + 1, b - a):
            raise ValueError(
                f"audio must have shape {(self.n_tracks + 1, b - a)} for step {step}, got {analysis.audio.shape}"
            )
        if self.kind == "waveform":
            self._buffer[a:b] = analysis.audio[-1]
            # One copy shared (read-only) by every agent: the same audio for all.
            return np.broadcast_to(self._buffer.copy(), (self.n_tracks, self._buffer.size))
        played = self._features(analysis)
        return self._assemble(played, step + 1)
