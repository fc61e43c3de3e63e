"""What an environment shows: a text summary and a spectrogram picture (no figure library)."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from ..features import log_mel

_PANEL_H = 64  # mel bands = pixel rows per spectrogram
_PANEL_W = 256  # time columns per spectrogram
_GAP = 4


@functools.lru_cache(maxsize=1)
def _colormap() -> np.ndarray:
    from matplotlib import colormaps

    return (colormaps["magma"](np.linspace(0, 1, 256))[:, :3] * 255).astype(np.uint8)


def log_mel_image(y: np.ndarray, sample_rate: int, width: int = _PANEL_W) -> np.ndarray:
    """Log-mel spectrogram of ``y`` as a (64, width) array in [0, 1] (low bands at the bottom).

    The same log-mel as the observations (:func:`raveforce_mae.features.log_mel`:
    0 dB full scale at the top of the range, 60 dB of range), one column per frame.
    """
    hop = max(1, len(y) // width)
    img = (log_mel(y, sample_rate, n_fft=1024, hop_length=hop, n_mels=_PANEL_H)[:, :width] + 1.0) * 0.5
    if img.shape[1] < width:
        img = np.pad(img, ((0, 0), (0, width - img.shape[1])))
    return img[::-1]


def spectrogram_panel(env: Any) -> np.ndarray:
    """An HxWx3 uint8 picture: rows = mix then each track; columns = rendered, target.

    The rendered audio so far is drawn over the whole episode's time axis, so the left
    column fills in as the episode advances.
    """
    sc = env.scenario
    names = ["mix"] + [t.name for t in sc.tracks]
    rendered = env.audio() if env.history else {}
    targets = env.targets()
    total = sc.total_frames
    rows = []
    cmap = _colormap()
    for name in names:
        panels = []
        for src in (rendered.get(name), targets.get(name)):
            y = np.zeros(total, np.float32)
            if src is not None:
                n = min(total, len(src))
                y[:n] = src[-n:] if len(src) > total else src[:n]
            img = (log_mel_image(y, sc.sample_rate) * 255).astype(np.uint8)
            panels.append(cmap[img])
        gap = np.full((_PANEL_H, _GAP, 3), 255, np.uint8)
        rows.append(np.concatenate([panels[0], gap, panels[1]], axis=1))
    hgap = np.full((_GAP, rows[0].shape[1], 3), 255, np.uint8)
    out = []
    for r in rows:
        out += [r, hgap]
    return np.ascontiguousarray(np.concatenate(out[:-1], axis=0))


def summary(env: Any) -> str:
    """A one-screen text summary of the episode so far."""
    sc = env.scenario
    log = env.rewards_log
    lines = [
        f"{env} | step {env.step_count}/{env.max_cycles} | {sc.bpm:g} bpm, "
        f"{sc.step_seconds:g} s steps, {sc.sample_rate} Hz",
    ]
    hist = env.history
    last = hist[-1] if hist else {}
    for i, t in enumerate(sc.tracks):
        r = f"{log[-1, i]:+.3f}" if len(log) else "   -  "
        vals = last.get(t.name, {})
        shown = " ".join(f"{k}={v:.4g}" for k, v in vals.items())
        lines.append(f"  {t.agent:<10} reward {r}  {shown}")
    if len(log):
        mean = log.mean(axis=0)
        lines.append(
            f"  shared (mix) {log[-1, -1]:+.3f}   episode means: "
            + " ".join(f"{t.agent}={mean[i]:+.3f}" for i, t in enumerate(sc.tracks))
        )
    return "\n".join(lines)
