"""The per-step reward chart as inline SVG (no script needed to see it).

Top panel: each agent's reward (the blend of its shared and per-track parts) and the
shared part, dashed. Bottom panel, when the scenario has target stems: each agent's
per-track part. One transparent column per step lies over both panels; the page's
script makes the columns buttons that move playback to the step's start, and each
column has a ``<title>`` (a tooltip, read by screen readers) with the step's numbers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape

import numpy as np

from .. import plots

__all__ = ["reward_chart"]

_W = 760.0
_LEFT, _RIGHT, _TOP = 52.0, 12.0, 22.0
_PANEL, _GAP, _BOTTOM = 150.0, 40.0, 40.0


def _nice_range(values: np.ndarray) -> tuple[float, float, float]:
    """``(lo, hi, tick)``: a range with round ticks that holds all finite values."""
    v = values[np.isfinite(values)]
    lo, hi = (float(v.min()), float(v.max())) if v.size else (0.0, 1.0)
    if hi - lo < 1e-9:
        lo, hi = lo - 0.05, hi + 0.05
    raw = (hi - lo) / 4.0
    mag = 10.0 ** math.floor(math.log10(raw))
    tick = next(m * mag for m in (1.0, 2.0, 2.5, 5.0, 10.0) if m * mag >= raw)
    return math.floor(lo / tick) * tick, math.ceil(hi / tick) * tick, tick


def _fmt(x: float) -> str:
    return "–" if not math.isfinite(x) else f"{x:.3f}"


def _path(xs: Sequence[float], ys: np.ndarray, y_of: object) -> str:
    """An SVG path through the finite points, broken where a value is NaN."""
    out: list[str] = []
    pen = False
    for x, y in zip(xs, ys, strict=True):
        if not math.isfinite(float(y)):
            pen = False
            continue
        out.append(f"{'L' if pen else 'M'}{x:.1f} {y_of(float(y)):.1f}")  # type: ignore[operator]
        pen = True
    return " ".join(out)


def reward_chart(
    *,
    episode_id: str,
    agents: Sequence[str],
    colours: Mapping[str, str],
    rewards: np.ndarray,
    shared: np.ndarray,
    track: np.ndarray,
    steps: Sequence[tuple[int, int]],
    sample_rate: int,
) -> str:
    """The chart's SVG markup.

    Args:
        episode_id: HTML id of the episode (makes the SVG's ids unique on the page).
        agents: Agent names, the columns of ``rewards`` and ``track``.
        colours: Agent -> colour.
        rewards: Blended rewards, shape (steps, agents).
        shared: Shared part, shape (steps,).
        track: Per-track parts, shape (steps, agents), NaN where unavailable.
        steps: ``(start, stop)`` frames of each step.
        sample_rate: Sampling rate in Hz (for the tooltips' times).

    Returns:
        An ``<svg>`` element.
    """
    n = len(shared)
    has_track = bool(np.isfinite(track).any())
    panels = [("reward (blend)", np.column_stack([rewards, shared[:, None]]) if n else rewards)]
    if has_track:
        panels.append(("per-track part", track))
    height = _TOP + len(panels) * _PANEL + (len(panels) - 1) * _GAP + _BOTTOM
    width = _W - _LEFT - _RIGHT
    col = width / max(n, 1)
    xs = [_LEFT + (k + 0.5) * col for k in range(n)]
    title_id = f"{episode_id}-chart-title"
    desc_id = f"{episode_id}-chart-desc"
    parts = [
        f'<svg class="chart" viewBox="0 0 {_W:g} {height:g}" width="{_W:g}" height="{height:g}" '
        f'role="group" aria-labelledby="{title_id}" aria-describedby="{desc_id}" '
        'xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{title_id}">Reward per step</title>',
        f'<desc id="{desc_id}">Each agent\'s reward per step, the shared (mix) part dashed'
        f"{', and below each agent’s per-track part' if has_track else ''}. "
        "Choosing a step moves playback to its start.</desc>",
    ]
    for p, (label, values) in enumerate(panels):
        top = _TOP + p * (_PANEL + _GAP)
        lo, hi, tick = _nice_range(values)

        def y_of(v: float, top: float = top, lo: float = lo, hi: float = hi) -> float:
            return top + _PANEL * (1.0 - (v - lo) / (hi - lo))

        parts.append(f'<text class="panel-title" x="{_LEFT:g}" y="{top - 7:g}">{escape(label)}</text>')
        t = lo
        while t <= hi + tick * 1e-6:
            y = y_of(t)
            parts.append(
                f'<line class="grid" x1="{_LEFT:g}" x2="{_W - _RIGHT:g}" y1="{y:.1f}" y2="{y:.1f}"/>'
            )
            parts.append(
                f'<text class="tick" x="{_LEFT - 5:g}" y="{y + 3.5:.1f}" text-anchor="end">{t:.3g}</text>'
            )
            t += tick
        parts.append(
            f'<rect class="frame" x="{_LEFT:g}" y="{top:g}" width="{width:.1f}" height="{_PANEL:g}"/>'
        )
        dots = n <= 48
        for i, a in enumerate(agents):
            c = colours[a]
            d = _path(xs, values[:, i], y_of)
            if d:
                parts.append(f'<path class="line" d="{d}" stroke="{c}"/>')
            if dots:
                for x, v in zip(xs, values[:, i], strict=True):
                    if math.isfinite(float(v)):
                        parts.append(f'<circle cx="{x:.1f}" cy="{y_of(float(v)):.1f}" r="3" fill="{c}"/>')
        if p == 0 and n:
            d = _path(xs, shared, y_of)
            if d:
                parts.append(f'<path class="line shared" d="{d}" stroke="{plots.MIX_COLOUR}"/>')
    # Step labels under the last panel.
    base = height - _BOTTOM
    every = 1 if n <= 32 else int(math.ceil(n / 16))
    for k in range(0, n, every):
        parts.append(f'<text class="tick" x="{xs[k]:.1f}" y="{base + 15:g}" text-anchor="middle">{k}</text>')
    parts.append(
        f'<text class="axis" x="{_LEFT + width / 2:.1f}" y="{base + 32:g}" text-anchor="middle">step</text>'
    )
    # The playhead (placed by the page's script) and one column per step, on top.
    parts.append(
        f'<line class="chart-playhead" x1="{_LEFT:g}" x2="{_LEFT:g}" y1="{_TOP:g}" y2="{base:g}" visibility="hidden"/>'
    )
    for k in range(n):
        s0, s1 = steps[k] if k < len(steps) else (0, 0)
        lines = [f"Step {k}: {s0 / sample_rate:.3f} s to {s1 / sample_rate:.3f} s"]
        for i, ag in enumerate(agents):
            extra = f", per-track part {_fmt(float(track[k, i]))}" if has_track else ""
            lines.append(f"{ag}: reward {_fmt(float(rewards[k, i]))}{extra}")
        lines.append(f"shared (mix): {_fmt(float(shared[k]))}")
        parts.append(
            f'<rect class="step" data-step="{k}" x="{_LEFT + k * col:.2f}" y="{_TOP:g}" '
            f'width="{col:.2f}" height="{base - _TOP:g}"><title>{escape(chr(10).join(lines))}</title></rect>'
        )
    parts.append("</svg>")
    return "\n".join(parts)
