"""Pictures of a performance: spectrograms beside their targets, and rewards per step.

Drawn with matplotlib on the headless Agg backend (imported lazily, so importing this
module costs nothing), sized and labelled for a paper: axes in seconds and Hz, levels
in dB relative to full scale, one colour per track that is the same in every figure.

>>> from raveforce_mae import plots
>>> plots.spectrogram_figure(audio, targets, 44100, tracks=["bass", "kick", "hat"],
...                          path="spectrogram.png")
>>> plots.reward_figure(rewards, shared, agents=["bass_0", "kick_0", "hat_0"],
...                     path="rewards.png")
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "MIX_COLOUR",
    "spectrogram_db",
    "reward_figure",
    "save_figure",
    "spectrogram_figure",
    "track_colours",
]

MIX_COLOUR = "#222222"
"""Colour of the mix and of the shared reward part in every figure."""

# Okabe-Ito: distinguishable with the common colour-vision deficiencies and in greyscale.
_PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442")

_N_FFT = 4096  # 10.8 Hz bins at 44.1 kHz: a bass line's fundamental stays resolved
_HOP = 256
_N_BANDS = 160
_FMIN = 30.0
_DB_RANGE = 80.0  # dB shown below the loudest bin of the figure
_DPI = 150


def _plt() -> Any:
    """Import pyplot on the headless backend (lazily: the CLI's --help stays fast)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def track_colours(names: Sequence[str]) -> dict[str, str]:
    """One colour per track, in scenario order; ``"mix"`` is always dark grey.

    Args:
        names: Track names (or agent names), in the scenario's order. ``"mix"`` may
            be among them.

    Returns:
        Name -> hex colour.
    """
    out: dict[str, str] = {}
    i = 0
    for n in names:
        if n == "mix":
            out[n] = MIX_COLOUR
        else:
            out[n] = _PALETTE[i % len(_PALETTE)]
            i += 1
    return out


@functools.lru_cache(maxsize=8)
def _band_basis(sample_rate: int, n_fft: int, n_bands: int, fmin: float) -> tuple[np.ndarray, np.ndarray]:
    """Triangular bands evenly spaced in log frequency (peak 1), and their edges in Hz.

    Log-spaced bands keep a bass line's notes as far apart as a melody's (a mel scale
    squeezes everything below 200 Hz into a few rows). Bands narrower than the FFT's
    bin spacing are widened to two bins so that none is empty. Peak-1 triangles keep a
    sine's power in its band, so the colour scale reads as dB re a full-scale sine.
    (numpy only: librosa's filterbanks cost seconds of import time for one picture.)
    """
    fmax = min(20000.0, 0.95 * sample_rate / 2)
    centres = np.geomspace(fmin, fmax, n_bands)
    r = (fmax / fmin) ** (1.0 / (n_bands - 1))
    df = sample_rate / n_fft
    half = np.maximum(centres * (r - 1.0), df)  # distance from the centre to a band's feet
    bins = np.arange(n_fft // 2 + 1) * df
    fb = np.maximum(0.0, 1.0 - np.abs(bins[None, :] - centres[:, None]) / half[:, None])
    edges = np.geomspace(fmin / np.sqrt(r), fmax * np.sqrt(r), n_bands + 1)
    return fb.astype(np.float32), edges


def spectrogram_db(y: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A log-frequency power spectrogram in dB relative to full scale.

    Args:
        y: Mono audio, shape (n,), float, nominally in [-1, 1].
        sample_rate: Sampling rate of ``y`` in Hz.

    Returns:
        ``(db, times, edges)``: ``db`` of shape (bands, frames) in dBFS (a full-scale
        sine reads about 0 dB, silence -120 dB); ``times`` the frame edges in seconds,
        shape (frames + 1,); ``edges`` the band edges in Hz, evenly spaced in log
        frequency, shape (bands + 1,).
    """
    y = np.nan_to_num(np.asarray(y, dtype=np.float32).reshape(-1))
    n_fft, hop = _N_FFT, _HOP
    # Centred frames: frame k is drawn over [k * hop, (k + 1) * hop).
    padded = np.pad(y, (n_fft // 2, n_fft // 2 + hop))
    n_frames = max(1, int(np.ceil(len(y) / hop)))
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop][:n_frames]
    window = np.hanning(n_fft).astype(np.float32)
    mag = np.abs(np.fft.rfft(frames * window, axis=1)).astype(np.float32) * (2.0 / window.sum())
    fb, edges = _band_basis(int(sample_rate), n_fft, _N_BANDS, _FMIN)
    power = (mag**2) @ fb.T
    db = 10.0 * np.log10(np.maximum(power, 1e-12)).T
    times = np.arange(n_frames + 1) * hop / sample_rate
    return db, times, edges


def _freq_axis(ax: Any, edges: np.ndarray) -> None:
    """Label a y axis drawn in log2(Hz) units with frequencies in Hz."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    ax.set_ylim(float(np.log2(edges[0])), float(np.log2(edges[-1])))
    hz = [t for t in (50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000) if edges[0] <= t <= edges[-1]]
    ax.yaxis.set_major_locator(FixedLocator([float(np.log2(t)) for t in hz]))
    ax.yaxis.set_minor_locator(NullLocator())

    def label(v: float, _pos: int) -> str:
        f = float(np.round(2.0**v))
        return f"{f / 1000:g}k" if f >= 1000 else f"{f:g}"

    ax.yaxis.set_major_formatter(FuncFormatter(label))


def spectrogram_figure(
    audio: Mapping[str, np.ndarray],
    targets: Mapping[str, np.ndarray | None],
    sample_rate: int,
    *,
    tracks: Sequence[str],
    step_seconds: float | None = None,
    title: str | None = None,
    path: str | os.PathLike[str] | None = None,
) -> Figure:
    """Mix and track spectrograms beside their targets.

    Rows: the mix, then each track; columns: what was rendered, and the target. All
    panels share one colour scale (the loudest bin of the figure down 80 dB), so
    levels compare across rows and columns.

    Args:
        audio: Rendered mono audio by name (``"mix"`` and track names), float, (n,).
        targets: Target mono audio by the same names; a missing or ``None`` entry is
            drawn as "no target" (e.g. a mix-only target has no stems).
        sample_rate: Sampling rate in Hz.
        tracks: Track names in scenario order (sets the rows and colours).
        step_seconds: If given, minor ticks on the time axis mark the step boundaries.
        title: Figure title.
        path: If given, save the figure there as PNG (atomically) and close it.

    Returns:
        The matplotlib figure (closed if ``path`` was given).
    """
    plt = _plt()
    names = ["mix", *tracks]
    colours = track_colours(names)
    spectra: dict[tuple[str, int], tuple[np.ndarray, np.ndarray, np.ndarray] | None] = {}
    duration = 0.0
    for name in names:
        for col, src in enumerate((audio, targets)):
            y = src.get(name)
            if y is None or np.asarray(y).size == 0:
                spectra[name, col] = None
                continue
            spectra[name, col] = spectrogram_db(y, sample_rate)
            duration = max(duration, len(y) / sample_rate)
    levels = [s[0].max() for s in spectra.values() if s is not None]
    vmax = float(np.ceil(max(levels) / 10.0) * 10.0) if levels else 0.0
    vmax = min(max(vmax, -60.0), 20.0)
    vmin = vmax - _DB_RANGE

    rows = len(names)
    fig, axes = plt.subplots(
        rows,
        2,
        figsize=(11.0, 0.6 + 1.75 * rows),
        sharex=True,
        sharey=True,
        squeeze=False,
        layout="constrained",
    )
    mesh = None
    for r, name in enumerate(names):
        for c in range(2):
            ax = axes[r, c]
            s = spectra[name, c]
            if s is None:
                ax.set_facecolor("#f2f2f2")
                what = "no target stem\n(the target is the mix only)" if c == 1 else "not rendered"
                ax.text(
                    0.5,
                    0.5,
                    what,
                    transform=ax.transAxes,
                    ha="center",
                    va="center",
                    fontsize=9,
                    color="#555555",
                )
                _freq_axis(ax, _band_basis(int(sample_rate), _N_FFT, _N_BANDS, _FMIN)[1])
            else:
                db, times, edges = s
                # The bands are evenly spaced in log frequency: one image in log2(Hz)
                # units, the axis labelled in Hz (much faster than pcolormesh).
                mesh = ax.imshow(
                    db,
                    origin="lower",
                    aspect="auto",
                    cmap="magma",
                    vmin=vmin,
                    vmax=vmax,
                    interpolation="nearest",
                    extent=(
                        times[0],
                        times[-1],
                        float(np.log2(edges[0])),
                        float(np.log2(edges[-1])),
                    ),
                )
                _freq_axis(ax, edges)
            ax.set_xlim(0.0, duration or 1.0)
            if step_seconds and duration and duration / step_seconds <= 64:
                ax.set_xticks(np.arange(0.0, duration + 1e-9, step_seconds), minor=True)
                ax.tick_params(axis="x", which="minor", length=3, color="#888888")
            # One colour per track: a bar down the left edge of the row's panels.
            for spine in ax.spines.values():
                spine.set_edgecolor(colours[name])
                spine.set_linewidth(1.8 if name != "mix" else 1.0)
            if c == 0:
                ax.set_ylabel(f"{name}\nfrequency (Hz)", color=colours[name], fontsize=9, fontweight="bold")
            if r == rows - 1:
                ax.set_xlabel("time (s)")
            if r == 0:
                ax.set_title("rendered" if c == 0 else "target", fontsize=10)
            ax.tick_params(labelsize=8)
    if mesh is not None:
        cb = fig.colorbar(mesh, ax=axes, location="right", shrink=0.9, pad=0.01, aspect=40)
        cb.set_label("level (dB re full scale)")
        cb.ax.tick_params(labelsize=8)
    if title:
        fig.suptitle(title, fontsize=11)
    if path is not None:
        save_figure(fig, path)
    return fig


def reward_figure(
    rewards: np.ndarray,
    shared: np.ndarray,
    *,
    agents: Sequence[str],
    track: np.ndarray | None = None,
    step_seconds: float | None = None,
    ylabel: str = "reward",
    title: str | None = None,
    path: str | os.PathLike[str] | None = None,
) -> Figure:
    """Reward per step per agent, with the shared (mix) part.

    Top panel: each agent's reward (the blend of shared and per-track parts) and the
    shared part. Bottom panel, if per-track parts are given and not all NaN: each
    agent's per-track part (its stem against its target stem).

    Args:
        rewards: Blended rewards, shape (steps, n_agents).
        shared: Shared (mix) part, shape (steps,).
        agents: Agent names (column order of ``rewards``), also the colour order.
        track: Per-track parts, shape (steps, n_agents), NaN where unavailable.
        step_seconds: If given, the step axis says how long a step lasts.
        ylabel: Label of the reward axis (say which criterion).
        title: Figure title.
        path: If given, save the figure there as PNG (atomically) and close it.

    Returns:
        The matplotlib figure (closed if ``path`` was given).
    """
    plt = _plt()
    rewards = np.asarray(rewards, dtype=float).reshape(len(shared), -1)
    shared = np.asarray(shared, dtype=float).reshape(-1)
    has_track = track is not None and np.isfinite(np.asarray(track, dtype=float)).any()
    colours = track_colours(list(agents))
    steps = np.arange(len(shared))
    nrows = 2 if has_track else 1
    fig, axes = plt.subplots(
        nrows, 1, figsize=(8.0, 2.9 * nrows + 0.4), sharex=True, squeeze=False, layout="constrained"
    )
    ax = axes[0, 0]
    marker = "o" if len(steps) <= 48 else None
    for i, a in enumerate(agents):
        ax.plot(steps, rewards[:, i], color=colours[a], marker=marker, ms=3.5, lw=1.6, label=a)
    ax.plot(
        steps,
        shared,
        color=MIX_COLOUR,
        ls="--",
        lw=1.6,
        marker=marker,
        ms=3,
        mfc="white",
        label="shared (mix)",
    )
    ax.set_ylabel(ylabel)
    ax.set_title("reward per step (blend of shared and per-track parts)", fontsize=10)
    if has_track:
        bx = axes[1, 0]
        t = np.asarray(track, dtype=float).reshape(len(shared), -1)
        for i, a in enumerate(agents):
            bx.plot(steps, t[:, i], color=colours[a], marker=marker, ms=3.5, lw=1.6, label=a)
        bx.set_ylabel(f"per-track {ylabel}")
        bx.set_title("per-track part (each stem against its target stem)", fontsize=10)
    for row in axes[:, 0]:
        row.grid(True, color="#dddddd", lw=0.6)
        row.set_axisbelow(True)
        row.set_xlim(-0.5, max(len(steps) - 0.5, 0.5))
        row.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False, fontsize=8)
    bottom = axes[-1, 0]
    if step_seconds:
        bottom.set_xlabel(f"step ({step_seconds * 1000:.4g} ms each)")
    else:
        bottom.set_xlabel("step")
    if len(steps) <= 32:
        bottom.set_xticks(steps)
    if title:
        fig.suptitle(title, fontsize=11)
    if path is not None:
        save_figure(fig, path)
    return fig


def save_figure(fig: Figure, path: str | os.PathLike[str]) -> None:
    """Save ``fig`` as PNG at ``path`` atomically (temporary name, then rename), and close it."""
    plt = _plt()
    path = os.fspath(path)
    tmp = os.path.join(os.path.dirname(path) or ".", f".{os.path.basename(path)}.partial")
    try:
        fig.savefig(tmp, dpi=_DPI, format="png", facecolor="white")
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.unlink(tmp)
