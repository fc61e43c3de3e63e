"""Audio similarity rewards for raveforce-mae.

Every criterion compares a rendered segment ``x`` with a target segment ``t`` of the
same length and returns a reward where higher is better. All criteria except
``mse`` compute a non-negative distance ``d`` (0 for identical audio) and report

    reward = 1 / (1 + d),     in (0, 1], 1 = identical.

``1 / (1 + d)`` rather than ``exp(-d)`` because it keeps distinct rewards for
attempts that are far off (an agent's first episodes), where ``exp(-d)`` is flat at
zero. ``mse`` keeps RaveForce's scale, ``-mean((x - t) ** 2)`` (0 is best; for
audio in [-1, 1] it is at least -4). See ``docs/rewards.md`` for the formulas and
for what typical numbers mean.

Criteria are selected by name (``CRITERIA``) or combined with weights::

    make_criterion("mrstft", 44100)
    make_criterion("0.7*mrstft+0.3*onset", 44100)
    make_criterion({"mrstft": 1.0, "pitch": 0.5}, 44100)

A combination's reward is the weighted mean of its terms' rewards, so it stays on
the same (0, 1] scale.

:class:`StepScorer` is the environment's hot path: it prepares every target
segment once and scores all tracks and the mix of one step with one FFT call per
resolution. :func:`blend` mixes shared and per-track rewards.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .analysis import Analysis, NonFiniteAudioError, check_bounds, complete_targets, valid_audio
from .criteria import (
    CRITERIA,
    MSE,
    CombinedCriterion,
    Criterion,
    MelDistance,
    MFCCDistance,
    MultiResolutionSTFT,
    OnsetDistance,
    PitchDistance,
    criterion_terms,
    make_criterion,
    register_criterion,
)

__all__ = [
    "CRITERIA",
    "CombinedCriterion",
    "Criterion",
    "MFCCDistance",
    "MSE",
    "MelDistance",
    "MultiResolutionSTFT",
    "NonFiniteAudioError",
    "OnsetDistance",
    "PitchDistance",
    "StepScorer",
    "blend",
    "make_criterion",
    "register_criterion",
]


class StepScorer:
    """Scores every track and the mix of one step against prepared targets.

    All target-side work (spectra of every step of every target row) is done at
    construction. Per step, the audio of all rows is analysed together (one FFT
    call per resolution, shared with :class:`~raveforce_mae.features.StepObserver`
    through the one :class:`~raveforce_mae.analysis.Analysis` the task makes per step), and each distinct criterion
    term is evaluated once for all rows that use it.

    Args:
        criteria: ``k + 1`` specs (one per row: stems then mix), or one spec for
            every row; see :func:`make_criterion`.
        sample_rate: sampling rate in Hz.
        targets: ``k + 1`` rows, target stems then the target mix (the last row),
            each 1-D of length ``N_total``; a stem may be ``None``. A missing mix
            is rebuilt as the sum of the stems when they are all present.
        bounds: ``(start, end)`` sample ranges, one per step.

    Attributes:
        available: bool array ``(k + 1,)``, which rows have a target.
    """

    def __init__(
        self,
        criteria: Any,
        sample_rate: int,
        targets: Any,
        bounds: Sequence[tuple[int, int]],
    ) -> None:
        self.sample_rate = int(sample_rate)
        rows, self.total = complete_targets(targets)
        self.n_rows = len(rows)
        self.bounds = check_bounds(bounds, self.total)
        self.n_steps = len(self.bounds)
        if isinstance(criteria, (str, Mapping, Criterion)):
            criteria = [criteria] * self.n_rows
        criteria = list(criteria)
        if len(criteria) != self.n_rows:
            raise ValueError(
                f"criteria must have one spec per target row ({self.n_rows}), got {len(criteria)}"
            )
        self.criteria = [make_criterion(s, self.sample_rate) for s in criteria]
        self.available = np.array([r is not None for r in rows])

        # Group identical terms across rows: key -> (criterion, rows, weights).
        groups: dict[tuple, tuple[Criterion, list[int], list[float]]] = {}
        for i, c in enumerate(self.criteria):
            if not self.available[i]:
                continue
            for w, term in criterion_terms(c):
                g = groups.setdefault(term.key, (term, [], []))
                g[1].append(i)
                g[2].append(w)
        # One track: the mix is the stem. When the target mix is the target stem too,
        # a term scoring both rows scores the stem once and pays it to both.
        alias = (
            self.n_rows == 2
            and rows[0] is not None
            and rows[1] is not None
            and bool(np.array_equal(rows[0], rows[1]))
        )
        self.mix_is_stem = alias
        self._groups: list[tuple[Criterion, tuple[int, ...] | None, np.ndarray, np.ndarray, np.ndarray]] = []
        self._weight_sum = np.zeros(self.n_rows)
        for term, idx, ws in groups.values():
            # None: every row (the shared analysis); else the rows' own sub-analysis,
            # so e.g. the 8192-point pitch STFT runs only on the bass row.
            rows_key = None if idx == list(range(self.n_rows)) else tuple(idx)
            # take[j]: which row of the term's rewards row idx[j] is paid
            take = np.arange(len(idx))
            if alias and idx == [0, 1]:
                rows_key, take = (0,), np.zeros(2, dtype=np.intp)
            wa = np.array(ws)
            self._weight_sum[idx] += wa
            self._groups.append((term, rows_key, np.array(idx), wa, take))

        inv = np.full(self.n_rows, np.nan)
        np.divide(1.0, self._weight_sum, out=inv, where=self.available & (self._weight_sum > 0))
        self._inv_weight_sum = inv

        # Target features per step and per group, computed once.
        present = [i for i in range(self.n_rows) if rows[i] is not None]
        tgt = np.zeros((self.n_rows, self.total), dtype=np.float32)
        for i in present:
            tgt[i] = rows[i]
        self._prepared: list[list[Any]] = []
        for a, b in self.bounds:
            an = Analysis(tgt[:, a:b], self.sample_rate)
            per_group = []
            for term, rows_key, _, _, _ in self._groups:
                ft = term.features(an if rows_key is None else an.subset(rows_key))
                per_group.append(term.target_side(ft))
            self._prepared.append(per_group)

    def score(self, step: int, audio: np.ndarray) -> np.ndarray:
        """Rewards of one step for every row.

        Args:
            step: step index, ``0 <= step < n_steps``.
            audio: shape ``(k + 1, end - start)``: rendered stems then the mix,
                finite float32.

        Returns:
            np.ndarray: shape ``(k + 1,)``, float64; NaN where a row has no target.

        Raises:
            IndexError: if ``step`` is out of range.
            ValueError: if ``audio`` has the wrong shape.
            NonFiniteAudioError: if ``audio`` contains NaN or inf.
        """
        if not 0 <= step < self.n_steps:
            raise IndexError(f"step must be in [0, {self.n_steps}), got {step}")
        a, b = self.bounds[step]
        audio = valid_audio(audio, "audio", ndim=2)
        if audio.shape != (self.n_rows, b - a):
            raise ValueError(
                f"audio must have shape {(self.n_rows, b - a)} for step {step}, got {audio.shape}"
            )
        return self.score_analysis(step, Analysis(audio, self.sample_rate))

    def score_analysis(self, step: int, analysis: Analysis) -> np.ndarray:
        """Rewards of one step for every row, from that step's analysis (the task's hot path).

        Args:
            step: step index, ``0 <= step < n_steps``.
            analysis: of the step's audio, shape ``(k + 1, end - start)``, validated
                by whoever made it; the observation of the step reads the same object.

        Returns:
            np.ndarray: shape ``(k + 1,)``, float64; NaN where a row has no target.
        """
        an = analysis
        acc = np.zeros(self.n_rows)
        for (term, rows_key, idx, w, take), ft in zip(self._groups, self._prepared[step], strict=True):
            fx = term.features(an if rows_key is None else an.subset(rows_key))
            acc[idx] += w * term.rewards(fx, ft)[take]
        return acc * self._inv_weight_sum  # NaN where a row has no target


def blend(r_mix: float, r_tracks: np.ndarray, weight: float) -> np.ndarray:
    """Blend the shared (mix) reward with per-track rewards.

    ``w * r_mix + (1 - w) * r_track``; a track whose reward is NaN (no target
    stem) gets ``r_mix`` (``w = 1`` for it).

    Args:
        r_mix: reward of the mix.
        r_tracks: shape ``(k,)``, per-track rewards, NaN where unavailable.
        weight: ``w`` in [0, 1], the share of the mix reward.

    Returns:
        np.ndarray: shape ``(k,)``, float64.

    Raises:
        ValueError: if ``weight`` is outside [0, 1] or ``r_mix`` is not finite.
    """
    if not (0.0 <= weight <= 1.0):
        raise ValueError(f"weight must be in [0, 1], got {weight}")
    if not math.isfinite(r_mix):
        raise ValueError(f"r_mix must be finite, got {r_mix}")
    r = np.asarray(r_tracks, dtype=np.float64)
    out = weight * r_mix + (1.0 - weight) * r
    return np.where(np.isnan(r), float(r_mix), out)
