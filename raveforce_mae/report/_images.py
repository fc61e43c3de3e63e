"""Spectrogram images for the page: one PNG per WAV, the picture only (no axes).

The page draws the axes itself and moves a playhead over each picture, so each image
spans exactly ``[0, seconds]`` horizontally and ``[fmin, fmax]`` (log frequency)
vertically, with no margin. All images of a report share one colour scale, so levels
compare between the rendered audio and its target and between episodes.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import plots

__all__ = ["Spectrogram", "compute", "save_all"]

_DB_RANGE = 80.0  # dB shown below the loudest bin of the report (as plots.py)
_MAX_COLUMNS = 1200  # longer audio is max-pooled in time: the PNG stays small


@dataclass
class Spectrogram:
    """A spectrogram waiting to be saved.

    Attributes:
        db: Level in dBFS, shape (bands, columns), lowest band first.
        seconds: Time spanned by the columns (a whole number of analysis frames).
        fmin: Lower edge of the lowest band, Hz.
        fmax: Upper edge of the highest band, Hz.
    """

    db: np.ndarray
    seconds: float
    fmin: float
    fmax: float

    def y_of(self, hz: float) -> float:
        """Height of frequency ``hz`` as a fraction of the picture, from the bottom."""
        lo, hi = math.log2(self.fmin), math.log2(self.fmax)
        return (math.log2(hz) - lo) / (hi - lo)


def compute(path: str | os.PathLike[str]) -> Spectrogram:
    """The spectrogram of a WAV file (mono: the channels are averaged).

    Args:
        path: WAV file.

    Returns:
        Its log-frequency spectrogram, as :func:`raveforce_mae.plots.spectrogram_db`.
    """
    import soundfile as sf

    y, sr = sf.read(str(path), dtype="float32", always_2d=True)
    db, times, edges = plots.spectrogram_db(y.mean(axis=1), int(sr))
    if db.shape[1] > _MAX_COLUMNS:
        # Max-pooling keeps short events (a hat hit) visible where averaging would hide them.
        k = int(math.ceil(db.shape[1] / _MAX_COLUMNS))
        pad = (-db.shape[1]) % k
        if pad:
            db = np.pad(db, ((0, 0), (0, pad)), constant_values=-120.0)
        db = db.reshape(db.shape[0], -1, k).max(axis=2)
        seconds = float(times[-1] + pad * (times[1] - times[0]))
    else:
        seconds = float(times[-1])
    return Spectrogram(db=db, seconds=seconds, fmin=float(edges[0]), fmax=float(edges[-1]))


def level_range(spectrograms: list[Spectrogram]) -> tuple[float, float]:
    """One colour scale for all pictures: ``(vmin, vmax)`` in dBFS, 80 dB apart."""
    levels = [float(s.db.max()) for s in spectrograms if s.db.size]
    vmax = float(np.ceil(max(levels) / 10.0) * 10.0) if levels else 0.0
    vmax = min(max(vmax, -60.0), 20.0)
    return vmax - _DB_RANGE, vmax


def save_all(items: list[tuple[Spectrogram, Path]], vmin: float, vmax: float) -> None:
    """Save each spectrogram as a PNG at its path (lowest frequency at the bottom)."""
    from matplotlib import image

    for spec, path in items:
        path.parent.mkdir(parents=True, exist_ok=True)
        # No "Software" metadata: the same run gives byte-identical pictures.
        image.imsave(
            path,
            spec.db,
            cmap="magma",
            vmin=vmin,
            vmax=vmax,
            origin="lower",
            format="png",
            metadata={"Software": None},  # type: ignore[dict-item]  # None drops the key (documented)
        )
