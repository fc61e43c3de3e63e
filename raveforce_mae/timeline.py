"""A performance as one Glicol file: the merged patch of every step, with frame markers.

An episode changes numbers every step, so its Glicol text is a sequence of patches.
:func:`timeline` writes them as one file of sections::

    // @render sample_rate=44100 bpm=120 seed=42
    // @step 0 frames=0-5512
    bass: saw 55 >> ...
    // @step 1 frames=5512-11025
    bass: saw 58.27 >> ...

The markers are Glicol comments, so the file is valid Glicol: pasted into a Glicol
editor it plays its last section (later definitions of a chain replace earlier ones).
:func:`render_timeline` renders the whole performance offline, section by section in
one engine, which reproduces the episode's mix. Consecutive steps with the same patch
share one section.

Rendering checks its inputs before any work, so that a typo cannot ask for a terabyte:
the sample rate must be an integer within :data:`SAMPLE_RATE_RANGE` (what the engine
takes), the tempo within :data:`BPM_RANGE`, the seed an integer within
:data:`SEED_RANGE`, and a render at most :data:`MAX_RENDER_FRAMES` frames long
(10 minutes at 48 kHz, 220 MiB of stereo float32). Each refusal is a ``ValueError``
naming the input, its value and the valid range.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

import glicol_wasm

from .core import new_engine
from .defaults import DEFAULT_BPM, DEFAULT_SAMPLE_RATE, DEFAULT_SEED

if TYPE_CHECKING:
    from .scenario.model import Scenario

__all__ = [
    "BPM_RANGE",
    "MAX_RENDER_FRAMES",
    "PLAIN_PATCH_SECONDS",
    "SAMPLE_RATE_RANGE",
    "SEED_RANGE",
    "RenderSettings",
    "check_bpm",
    "check_frames",
    "check_sample_rate",
    "check_seconds",
    "check_seed",
    "header",
    "is_timeline",
    "render_settings",
    "render_timeline",
    "sections",
    "timeline",
]

SAMPLE_RATE_RANGE = glicol_wasm.SAMPLE_RATES
"""Sample rates in Hz that the engine takes (inclusive)."""
BPM_RANGE = (1.0, 999.0)
"""Tempi in beats per minute that the engine takes (inclusive)."""
SEED_RANGE = (glicol_wasm.MIN_SEED, glicol_wasm.MAX_SEED)
"""Seeds that reach the engine unchanged: it receives them as 32-bit floats, which hold
every integer up to 2**24 exactly (above, neighbouring seeds would collide)."""
MAX_RENDER_FRAMES = 28_800_000
"""The longest render, in frames: 10 minutes at 48 kHz (220 MiB of stereo float32)."""
PLAIN_PATCH_SECONDS = 4.0
"""How long a plain patch (no ``@step`` sections) plays when no length is given."""
DEFAULTS: dict[str, float] = {"sample_rate": DEFAULT_SAMPLE_RATE, "bpm": DEFAULT_BPM, "seed": DEFAULT_SEED}
"""Render settings used where neither the caller nor the ``@render`` header gives one."""

_RENDER = re.compile(r"^//\s*@render\s+(.*)$", re.M)
_STEP = re.compile(r"^//\s*@step\s+(\d+)\s+frames=(\d+)-(\d+)\s*$")


def timeline(scenario: Scenario, history: Sequence[Mapping[str, Mapping[str, float]]]) -> str:
    """The Glicol text of a performance.

    Args:
        scenario: The scenario that was played.
        history: Parameter values per step: track name -> parameter -> value.

    Returns:
        The timeline text (see the module docs). With no steps played, the header only.
    """
    sc = scenario
    lines = [
        f"// raveforce-mae performance of scenario {sc.name!r}: {len(history)} steps of "
        f"{sc.step_seconds:g} s at {sc.bpm:g} bpm",
        "// Each @step section is the patch played from that frame on; a Glicol editor plays",
        "// the last section. `raveforce-mae render` renders the whole performance.",
        f"// @render sample_rate={sc.sample_rate} bpm={sc.bpm:g} seed={getattr(sc, 'seed', 42)}",
    ]
    sections: list[tuple[int, int, int, str]] = []
    n = sc.n_steps
    start = 0
    for i, values in enumerate(history):
        a, b = sc.bounds[i % n]
        stop = start + (b - a)
        text = sc.patch(values).strip()
        if sections and sections[-1][3] == text:
            first, s0, _, _ = sections[-1]
            sections[-1] = (first, s0, stop, text)
        else:
            sections.append((i, start, stop, text))
        start = stop
    for i, a, b, text in sections:
        lines.append(f"// @step {i} frames={a}-{b}")
        lines.append(text)
    return "\n".join(lines) + "\n"


def is_timeline(text: str) -> bool:
    """Whether ``text`` is a performance with ``// @step`` sections (else a plain patch)."""
    return any(_STEP.match(line.strip()) for line in text.splitlines())


def header(text: str) -> dict[str, float]:
    """The numbers of the ``// @render`` header (``sample_rate``, ``bpm``, ``seed``), if any.

    Values are returned as written (``nan`` included); :func:`render_settings` checks them.
    """
    out: dict[str, float] = {}
    m = _RENDER.search(text)
    if m:
        for kv in m.group(1).split():
            k, _, v = kv.partition("=")
            try:
                out[k] = float(v)
            except ValueError:
                pass
    return out


def _number(value: object) -> float | None:
    """``value`` as a float if it is a real number (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        return None
    try:
        return float(value)
    except OverflowError:  # an int beyond float's range
        return math.inf if value > 0 else -math.inf


def _whole(value: object, lo: int, hi: int) -> int | None:
    """``value`` as an int if it is a whole number within ``lo..hi``, else None."""
    x = _number(value)
    if x is None or not math.isfinite(x) or not x.is_integer() or not lo <= x <= hi:
        return None
    return int(x)


def check_sample_rate(value: object, what: str = "sample_rate") -> int:
    """``value`` as a sample rate the engine takes.

    Args:
        value: Sample rate in Hz (an integer, or a float with an integral value).
        what: How the caller names the input in the error message.

    Returns:
        The sample rate as an int.

    Raises:
        ValueError: naming ``what``, the value and :data:`SAMPLE_RATE_RANGE`.
    """
    lo, hi = SAMPLE_RATE_RANGE
    sr = _whole(value, lo, hi)
    if sr is None:
        raise ValueError(f"{what} must be a whole number of Hz within {lo}..{hi}, got {value!r}")
    return sr


def check_bpm(value: object, what: str = "bpm") -> float:
    """``value`` as a tempo the engine takes.

    Raises:
        ValueError: naming ``what``, the value and :data:`BPM_RANGE`.
    """
    lo, hi = BPM_RANGE
    x = _number(value)
    if x is None or not math.isfinite(x) or not lo <= x <= hi:
        raise ValueError(f"{what} must be a number of beats per minute within {lo:g}..{hi:g}, got {value!r}")
    return x


def check_seed(value: object, what: str = "seed") -> int:
    """``value`` as a seed that reaches the engine unchanged.

    Raises:
        ValueError: naming ``what``, the value and :data:`SEED_RANGE`.
    """
    lo, hi = SEED_RANGE
    seed = _whole(value, lo, hi)
    if seed is None:
        raise ValueError(f"{what} must be a whole number within {lo}..{hi}, got {value!r}")
    return seed


def check_frames(frames: int, sample_rate: int, what: str = "the render") -> int:
    """Refuse a render longer than :data:`MAX_RENDER_FRAMES`.

    Raises:
        ValueError: naming ``what``, its length and the limit.
    """
    if frames > MAX_RENDER_FRAMES:
        raise ValueError(
            f"{what} would be {frames:,} frames ({frames / sample_rate:,.6g} s at {sample_rate} Hz); "
            f"the limit is {MAX_RENDER_FRAMES:,} frames ({MAX_RENDER_FRAMES / sample_rate:,.6g} s at "
            f"{sample_rate} Hz)"
        )
    return frames


def check_seconds(value: object, sample_rate: int, what: str = "seconds") -> int:
    """``value`` seconds as a frame count, from one frame to :data:`MAX_RENDER_FRAMES`.

    Raises:
        ValueError: naming ``what``, the value and the valid range.
    """
    shortest, longest = 1 / sample_rate, MAX_RENDER_FRAMES / sample_rate
    x = _number(value)
    inside = x is not None and math.isfinite(x) and abs(x) <= 2 * longest  # no overflow in x * rate
    frames = round(x * sample_rate) if inside and x is not None else 0
    if not 1 <= frames <= MAX_RENDER_FRAMES:
        raise ValueError(
            f"{what} must be a number of seconds from one frame ({shortest:.3g} s) to {longest:,.6g} "
            f"({MAX_RENDER_FRAMES:,} frames) at {sample_rate} Hz, got {value!r}"
        )
    return frames


class RenderSettings(NamedTuple):
    """Checked settings of one render."""

    sample_rate: int
    bpm: float
    seed: int


def render_settings(
    text: str,
    *,
    sample_rate: object = None,
    bpm: object = None,
    seed: object = None,
) -> RenderSettings:
    """The settings of a render: the arguments, else the ``@render`` header, else the defaults.

    Raises:
        ValueError: naming the argument (or the header's key), the value and the valid range.
    """
    head = header(text)

    def pick(key: str, given: object) -> tuple[object, str]:
        if given is not None:
            return given, key
        if key in head:
            return head[key], f"the @render header's {key}"
        return DEFAULTS[key], key

    return RenderSettings(
        sample_rate=check_sample_rate(*pick("sample_rate", sample_rate)),
        bpm=check_bpm(*pick("bpm", bpm)),
        seed=check_seed(*pick("seed", seed)),
    )


def sections(text: str, sample_rate: int = 44100) -> list[tuple[int, int, str]]:
    """The ``@step`` sections of a timeline: ``(first frame, end frame, code)`` each.

    Raises:
        ValueError: if the frame ranges are not contiguous from 0, or the performance is
            longer than :data:`MAX_RENDER_FRAMES`.
    """
    found: list[tuple[int, int, list[str]]] = []
    for line in text.splitlines():
        s = _STEP.match(line.strip())
        if s:
            found.append((int(s.group(2)), int(s.group(3)), []))
        elif found:
            found[-1][2].append(line)
    expect = 0
    for a, b, _ in found:
        if a != expect or b < a:
            raise ValueError(f"timeline section frames={a}-{b} does not continue from frame {expect}")
        expect = b
        check_frames(b, sample_rate, f"the performance (up to section frames={a}-{b})")
    return [(a, b, "\n".join(body)) for a, b, body in found]


def render_timeline(
    text: str,
    *,
    sample_rate: object = None,
    seconds: object = None,
    bpm: object = None,
    seed: object = None,
) -> np.ndarray:
    """Render a timeline, or a plain patch, in one fresh engine.

    Every input is checked before the engine starts (see the module docs for the ranges).

    Args:
        text: Timeline text from :func:`timeline`, or any Glicol patch.
        sample_rate: Sample rate in Hz; overrides the ``@render`` header.
        seconds: Length. A performance is cut to it (never extended); a plain patch
            plays for it ([default: :data:`PLAIN_PATCH_SECONDS`]).
        bpm: Tempo; overrides the ``@render`` header.
        seed: Seed of ``choose``; overrides the ``@render`` header.

    Returns:
        float32 stereo audio of shape (2, frames).

    Raises:
        ValueError: on a malformed timeline, an input out of range, or a render longer
            than :data:`MAX_RENDER_FRAMES`; the message names the input.
        glicol_wasm.GlicolError: if the engine rejects a section.
    """
    st = render_settings(text, sample_rate=sample_rate, bpm=bpm, seed=seed)
    sr = st.sample_rate
    limit = None if seconds is None else check_seconds(seconds, sr)
    parts = sections(text, sr)
    if not parts:
        frames = limit if limit is not None else int(round(PLAIN_PATCH_SECONDS * sr))
        parts = [(0, frames, text)]
    elif limit is not None:
        parts = [(a, min(b, limit), code) for a, b, code in parts if a < limit]
    eng = new_engine(sr, st.bpm, st.seed)
    out = [np.zeros((2, 0), dtype=np.float32)]
    for a, b, code in parts:
        eng.set_code(code)
        out.append(eng.render(b - a))
    return np.concatenate(out, axis=1)
