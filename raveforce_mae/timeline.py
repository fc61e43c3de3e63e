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
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from .core import new_engine
from .defaults import DEFAULT_BPM, DEFAULT_SAMPLE_RATE, DEFAULT_SEED

if TYPE_CHECKING:
    from .scenario.model import Scenario

__all__ = ["header", "is_timeline", "render_timeline", "timeline"]

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
        f"// @render sample_rate={sc.sample_rate} bpm={sc.bpm:g} seed={sc.seed}",
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
    """The numbers of the ``// @render`` header (``sample_rate``, ``bpm``, ``seed``), if any."""
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


def render_timeline(text: str, *, sample_rate: int | None = None) -> np.ndarray:
    """Render a timeline (or a plain patch, for 4 s) in one fresh engine.

    Args:
        text: Timeline text from :func:`timeline`.
        sample_rate: Overrides the ``@render`` header.

    Returns:
        float32 stereo audio of shape (2, frames).

    Raises:
        ValueError: if the markers are malformed or the frame ranges are not contiguous.
        glicol_wasm.GlicolError: if the engine rejects a section.
    """
    opts = {"sample_rate": float(DEFAULT_SAMPLE_RATE), "bpm": DEFAULT_BPM, "seed": float(DEFAULT_SEED)}
    opts.update((k, v) for k, v in header(text).items() if k in opts)
    sr = int(sample_rate or opts["sample_rate"])
    eng = new_engine(sr, float(opts["bpm"]), int(opts["seed"]))
    sections: list[tuple[int, int, list[str]]] = []
    for line in text.splitlines():
        s = _STEP.match(line.strip())
        if s:
            sections.append((int(s.group(2)), int(s.group(3)), []))
        elif sections:
            sections[-1][2].append(line)
    if not sections:
        eng.set_code(text)
        return eng.render(4 * sr)
    out = []
    expect = 0
    for a, b, body in sections:
        if a != expect or b < a:
            raise ValueError(f"timeline section frames={a}-{b} does not continue from frame {expect}")
        eng.set_code("\n".join(body))
        out.append(eng.render(b - a))
        expect = b
    return np.concatenate(out, axis=1)
