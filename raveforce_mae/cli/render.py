"""``raveforce-mae render PATCH.glicol``: any Glicol patch or performance to WAV, offline."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import click
import numpy as np

from ..export import write_wav
from ..timeline import BPM_RANGE, SAMPLE_RATE_RANGE, SEED_RANGE
from .common import bold, check_writable_dir, dbfs, dim, note, say, usage_error, warn

__all__ = ["render_cmd"]


@click.command("render")
@click.argument("patch", type=click.Path(dir_okay=False, allow_dash=True, path_type=str))
@click.option(
    "--seconds",
    "-t",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Length of the render, at most 10 minutes at 48 kHz (28,800,000 frames).  "
    "[default: a performance's own length; 4 s for a plain patch]",
)
@click.option(
    "--out",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="WAV file to write.  [default: PATCH with .wav]",
)
@click.option(
    "--sample-rate",
    "-r",
    type=click.IntRange(*SAMPLE_RATE_RANGE),
    default=None,
    help="Sample rate in Hz.  [default: the file's @render header, else 44100]",
)
@click.option(
    "--bpm",
    type=click.FloatRange(*BPM_RANGE),
    default=None,
    help="Tempo of a plain patch.  [default: the @render header, else 120]",
)
@click.option(
    "--seed",
    type=click.IntRange(*SEED_RANGE),
    default=None,
    help="Seed of `choose` in a plain patch.  [default: the @render header, else 42]",
)
@click.option(
    "--stereo",
    is_flag=True,
    help="Write both engine channels (default: mono, the left channel, as the environments use; "
    "several Glicol nodes write the left channel only).",
)
def render_cmd(
    patch: str,
    seconds: float | None,
    out: Path | None,
    sample_rate: int | None,
    bpm: float | None,
    seed: int | None,
    stereo: bool,
) -> None:
    """Render a Glicol patch or performance (PATCH.glicol, or - for stdin) to WAV, offline.

    A performance written by `raveforce-mae run` (a .glicol file with `// @step` sections)
    is rendered section by section and reproduces the episode's mix; --seconds then
    trims it. A plain patch plays for --seconds.
    """
    from .. import timeline as tl

    if patch == "-":
        text = sys.stdin.read()
        source = "stdin"
        if out is None:
            usage_error("reading the patch from stdin needs --out FILE.wav")
    else:
        p = Path(patch)
        if not p.exists():
            usage_error(f"no such patch file: {str(p)!r}")
        try:
            text = p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            usage_error(f"cannot read the patch {str(p)!r}: {getattr(e, 'strerror', None) or e}")
        source = str(p)
        if out is None:
            out = p.with_suffix(".wav")
    if out.exists() and out.is_dir():
        usage_error(f"--out {str(out)!r} is a folder; expected a .wav file name")
    check_writable_dir(out.parent if str(out.parent) else Path("."), "folder of --out")
    if not text.strip():
        usage_error(f"the patch {source} is empty")

    # Every number is checked before the engine starts: options by click's ranges, the
    # file's @render header and @step frames here, each named in the message.
    performance = tl.is_timeline(text)
    if performance and (bpm is not None or seed is not None):
        note("--bpm and --seed apply to plain patches; a performance uses its @render header")
        bpm = seed = None
    try:
        st = tl.render_settings(text, sample_rate=sample_rate, bpm=bpm, seed=seed)
        sr = st.sample_rate
        limit = None if seconds is None else tl.check_seconds(seconds, sr, "--seconds")
        parts = tl.sections(text, sr)
    except ValueError as e:
        usage_error(f"{source}: {e}")
    if performance:
        kind = "performance"
        own = parts[-1][1] / sr
        if limit is not None and limit > parts[-1][1]:
            note(f"the performance lasts {own:.3f} s; wrote all of it (not {seconds:g} s)")
    else:
        kind = "patch"
    t0 = time.perf_counter()
    audio = tl.render_timeline(text, sample_rate=sr, seconds=seconds, bpm=st.bpm, seed=st.seed)
    took = time.perf_counter() - t0
    data = audio if stereo else audio[0]
    tmp = out.with_name(f".{out.name}.partial-{os.getpid()}")
    try:
        write_wav(tmp, data, sr)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()
    peak = float(np.max(np.abs(data))) if data.size else 0.0
    say(
        f"wrote {bold(str(out))}: {kind}, {data.shape[-1] / sr:.3f} s at {sr} Hz, "
        f"{'stereo' if stereo else 'mono'}, peak {dbfs(peak)} " + dim(f"(rendered in {took:.2f} s)")
    )
    if peak == 0.0:
        warn("the render is silent")
    elif peak > 1.0:
        warn("it peaks above 0 dBFS: the float WAV keeps every sample, but fixed-point playback will clip")
