"""Targets: reading and resampling target audio, rendering reference performances.

The loader calls these once, when a scenario is built: audio files are read,
averaged to mono and resampled to the scenario's rate; a reference performance is
rendered through the same :class:`~raveforce_mae.core.RenderSession` the
environments play with, so that replaying it reproduces the targets bit for bit.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import glicol_wasm

from ..core import new_engine, render_values
from ..errors import EngineError, GlicolError, ParameterError, ScenarioError
from ..params import note_number
from ..patch import NAME
from .model import FrozenDict, Targets, Track
from .validation import Ctx, is_number

__all__ = [
    "MAX_TARGET_AMPLITUDE",
    "Stage",
    "as_mono",
    "audio_targets",
    "load_samples",
    "probe",
    "reference_performance",
    "render_targets",
]

_AUDIO_EXT = (".wav", ".flac")

MAX_TARGET_AMPLITUDE = 1e3
"""Largest absolute sample value of target audio and samples (+60 dB over full scale).

Audio files hold samples within [-1, 1]; float files may go past it, but a peak of a
thousand is already a broken or mis-scaled file, and far larger peaks (1e30) overflow
the features to NaN. Such audio is refused when the scenario is loaded, naming the
file and its peak."""


def _check_peak(ctx: Ctx, y: np.ndarray, key: str, what: str, track: str | None) -> None:
    peak = float(np.max(np.abs(y), initial=0.0))
    if not peak <= MAX_TARGET_AMPLITUDE:
        raise ctx.error(
            key,
            f"audio with samples within ±{MAX_TARGET_AMPLITUDE:g} (audio files normally stay within "
            "±1; rescale it)",
            f"{what} peaking at {peak:.3g}",
            track,
        )


@dataclass(frozen=True)
class Stage:
    """The part of a scenario that rendering needs, before its targets exist."""

    sample_rate: int
    bpm: float
    seed: int
    samples: Mapping[str, tuple[np.ndarray, int]]
    tracks: tuple[Track, ...]
    bounds: tuple[tuple[int, int], ...]

    @property
    def n_steps(self) -> int:
        """Steps per episode."""
        return len(self.bounds)

    @property
    def total_frames(self) -> int:
        """Frames of one episode."""
        return self.bounds[-1][1]


def as_mono(y: np.ndarray) -> np.ndarray:
    """Average a 2-D array's channels to mono.

    Audio arrays come both ways round; an axis of at most 8 entries is taken to be
    the channels (no audio clip is that short, and no file has more channels).
    """
    if y.ndim != 2:
        return y
    return y.mean(axis=0 if y.shape[0] <= 8 else 1, dtype=np.float32)


def _glicol_problem(ctx: Ctx, track: Track, code: str, e: Exception, what: str) -> ScenarioError:
    key = "chain"
    line = getattr(e, "line", None)
    keys = track.line_keys()
    if line is not None and 1 <= line <= len(keys):
        key = keys[line - 1]
    full = key if key.startswith("shared.") else f"tracks.{track.name}.{key}"
    first = str(e).splitlines()[0] if str(e) else type(e).__name__
    return ctx.error(
        full,
        f"Glicol code the engine accepts; it rejected the code {what} ({first})\n"
        f"  code:\n    " + code.replace("\n", "\n    "),
        track=track.name,
    )


def probe(ctx: Ctx, sc: Stage) -> None:
    """Render one step of every track at mid-range, then a block at each extreme."""
    n = sc.bounds[0][1] - sc.bounds[0][0]
    for t in sc.tracks:
        eng = new_engine(sc.sample_rate, sc.bpm, sc.seed, sc.samples)
        for what, u in (
            ("at mid-range values", 0.0),
            ("at the lowest values", -1.0),
            ("at the highest values", 1.0),
        ):
            try:
                vals = t.values(np.full(len(t.free), u))
            except ParameterError as e:
                raise ctx.error(
                    f"tracks.{t.name}.params", f"parameters that compute {what} ({e})", track=t.name
                ) from None
            code = t.code(vals)
            try:
                eng.set_code(code)
                eng.render(n if u == 0.0 else 256)
            except (GlicolError, ValueError) as e:  # ValueError: a NUL in the code
                raise _glicol_problem(ctx, t, code, e, what) from None


def _pattern(ctx: Ctx, v: Any, key: str, track: str, n: int, strict: bool) -> list[Any]:
    if isinstance(v, (list, tuple)):
        if not v:
            raise ctx.error(key, "a value or a non-empty list with one value per step", v, track)
        if strict and n % len(v):
            raise ctx.error(
                key,
                f"one value, or a list of {n} values (one per step) or of a length that "
                f"divides {n} (a pattern that repeats)",
                f"a list of {len(v)}",
                track,
            )
        return [v[i % len(v)] for i in range(n)]
    return [v] * n


def reference_performance(
    ctx: Ctx, sc: Stage, raw_refs: Mapping[str, Any], strict: bool
) -> tuple[tuple[Mapping[str, Mapping[str, float]], ...], tuple[Mapping[str, np.ndarray], ...]]:
    """The reference values and normalised actions of every step, from ``[tracks.<name>.reference]``."""
    n = sc.n_steps
    per_step_actions: list[dict[str, np.ndarray]] = [{} for _ in range(n)]
    per_step_values: list[dict[str, Mapping[str, float]]] = [{} for _ in range(n)]
    for t in sc.tracks:
        base = f"tracks.{t.name}.reference"
        raw = raw_refs[t.name]
        if not isinstance(raw, Mapping):
            raise ctx.error(
                base, "a table of parameter values (name = value, or a list per step)", raw, t.name
            )
        unknown = [k for k in raw if k not in t.param_names]
        if unknown:
            raise ctx.error(
                f"{base}.{unknown[0]}", f"a parameter of this track ({list(t.param_names)})", track=t.name
            )
        rel_given = [k for k in raw if t.param(k).kind == "rel"]
        if rel_given:
            raise ctx.error(
                f"{base}.{rel_given[0]}",
                f"values for free parameters only: '{rel_given[0]}' is 'rel' and is computed",
                track=t.name,
            )
        missing = [p.name for p in t.free if p.name not in raw]
        if missing:
            raise ctx.error(
                f"{base}.{missing[0]}",
                f"a reference value for every free parameter ({[p.name for p in t.free]})",
                track=t.name,
            )
        cols: list[np.ndarray] = []
        for p in t.free:
            key = f"{base}.{p.name}"
            seq = _pattern(ctx, raw[p.name], key, t.name, n, strict)
            col = np.empty(n, np.float32)
            for i, v in enumerate(seq):
                try:
                    if p.kind == "note":
                        midi = note_number(v)
                        p.check(midi)
                        u = -1.0 + (2 * (midi - p.low) + 1) / p.n_values  # type: ignore[operator]
                    else:
                        if not is_number(v):
                            raise ValueError(f"expected a number, got {v!r}")
                        u = p.to_unit(p.check(v))
                except (ValueError, ParameterError, OverflowError) as e:  # OverflowError: a huge int
                    raise ctx.error(
                        key if not isinstance(raw[p.name], list) else f"{key}[{i}]",
                        f"a value this parameter can take ({e})",
                        v,
                        t.name,
                    ) from None
                col[i] = u
            cols.append(col)
        actions = np.stack(cols, axis=1) if cols else np.zeros((n, 0), np.float32)
        for i in range(n):
            a = actions[i].copy()
            a.flags.writeable = False
            per_step_actions[i][t.agent] = a
            # the values the env computes from these float32 actions, bit for bit
            per_step_values[i][t.name] = FrozenDict(t.values(a))
    return (tuple(FrozenDict(s) for s in per_step_values), tuple(FrozenDict(a) for a in per_step_actions))


def render_targets(
    ctx: Ctx, sc: Stage, reference: Sequence[Mapping[str, Mapping[str, float]]], per_track: bool
) -> Targets:
    """Render the reference performance into the target stems and mix."""
    try:
        stems, mix = render_values(sc, reference)
    except EngineError as e:
        raise ctx.error(
            f"tracks.{e.track}.reference", f"values the engine can render ({e.__cause__ or e})", track=e.track
        ) from None
    for i, t in enumerate(sc.tracks):
        if not np.any(stems[i]):
            warnings.warn(
                f"{ctx.where}: the reference performance of track {t.name!r} is silent",
                UserWarning,
                stacklevel=4,
            )
    mix.flags.writeable = False
    if not per_track:
        return Targets("mix-only", mix, FrozenDict(dict.fromkeys((t.name for t in sc.tracks), None)), False)
    out = {}
    for i, t in enumerate(sc.tracks):
        s = stems[i].copy()
        s.flags.writeable = False
        out[t.name] = s
    return Targets("reference", mix, FrozenDict(out), True)


def read_audio(
    ctx: Ctx, file: Path, key: str, *, mono: bool = True, track: str | None = None
) -> tuple[np.ndarray, int]:
    """Read a WAV or FLAC file, refusing missing, empty or non-finite audio."""
    import soundfile as sf

    if file.suffix.lower() not in _AUDIO_EXT:
        raise ctx.error(key, "a WAV or FLAC file (.wav, .flac)", str(file), track)
    if not file.is_file():
        raise ctx.error(
            key,
            "an existing audio file (paths are relative to the scenario file)",
            f"{file} (missing)",
            track,
        )
    try:
        data, rate = sf.read(str(file), dtype="float32", always_2d=True)
    except Exception as e:  # noqa: BLE001 - any decoder failure means unreadable
        raise ctx.error(key, "a readable WAV or FLAC file", f"{file} ({e})", track) from None
    if data.size == 0:
        raise ctx.error(key, "a non-empty audio file", str(file), track)
    if not np.isfinite(data).all():
        raise ctx.error(key, "audio without NaN or inf", str(file), track)
    _check_peak(ctx, data, key, str(file), track)
    if mono:
        return np.ascontiguousarray(data.mean(axis=1, dtype=np.float32)), int(rate)
    return np.ascontiguousarray(data.T), int(rate)


def target_audio(
    ctx: Ctx, v: Any, key: str, base: Path, sr: int, total: int, track: str | None
) -> tuple[np.ndarray, str]:
    """One target: read, averaged to mono, resampled and fitted to the episode length."""
    if isinstance(v, (str, os.PathLike)):
        file = base / os.fspath(v)
        y, rate = read_audio(ctx, file, key, track=track)
        label = str(file)
    elif isinstance(v, tuple) and len(v) == 2 and isinstance(v[0], np.ndarray):
        lo, hi = glicol_wasm.SAMPLE_FILE_RATES
        if isinstance(v[1], bool) or not isinstance(v[1], (int, np.integer)) or not lo <= v[1] <= hi:
            raise ctx.error(
                key, f"(audio, sample rate) with an integer rate within {lo}..{hi} Hz", v[1], track
            )
        y, rate, label = np.asarray(v[0], np.float32), int(v[1]), f"<array {key}>"
        y = as_mono(y)
    elif isinstance(v, np.ndarray):
        y, rate, label = np.asarray(v, np.float32), sr, f"<array {key}>"
        y = as_mono(y)
    else:
        raise ctx.error(key, "an audio file name (WAV or FLAC, relative to the scenario file)", v, track)
    if y.ndim != 1 or not y.size or not np.isfinite(y).all():
        raise ctx.error(key, "non-empty, finite mono or stereo audio", v, track)
    _check_peak(ctx, y, key, label, track)
    expected = round(total * rate / sr)
    if abs(len(y) - expected) > 1:  # one frame is rounding (librosa rounds lengths up)
        what = "padded with silence" if len(y) < expected else "trimmed"
        warnings.warn(
            f"target {label}: {len(y) / rate:.4f} s ({len(y)} frames at {rate} Hz) but the episode is "
            f"{total / sr:.4f} s; {what} to {total} frames",
            UserWarning,
            stacklevel=5,
        )
    if rate != sr:
        # Lazy: importing librosa costs a second (and numba compilations on a fresh
        # install); only targets at another rate need it.
        import librosa

        y = librosa.resample(y, orig_sr=rate, target_sr=sr)
    # trimmed or padded with silence at the end to the episode's length
    y = y[:total] if len(y) >= total else np.pad(y, (0, total - len(y)))
    y = y.astype(np.float32, copy=False)
    y = np.ascontiguousarray(y)
    y.flags.writeable = False
    return y, label


def audio_targets(ctx: Ctx, sc: Stage, raw: Mapping[str, Any], base: Path, per_track: bool) -> Targets:
    """Targets from audio files or arrays: ``[targets]`` mix and stems."""
    stems: dict[str, np.ndarray | None] = {}
    files = {}
    for t in sc.tracks:
        if t.name in raw and per_track:
            stems[t.name], files[t.name] = target_audio(
                ctx, raw[t.name], f"targets.{t.name}", base, sc.sample_rate, sc.total_frames, t.name
            )
        else:
            stems[t.name] = None
    if "mix" in raw:
        mix, files["mix"] = target_audio(
            ctx, raw["mix"], "targets.mix", base, sc.sample_rate, sc.total_frames, None
        )
    else:
        given = [s for s in stems.values() if s is not None]
        if len(given) != len(sc.tracks):
            raise ctx.error(
                "targets.mix",
                "a mix file, unless every track has a target stem (the mix is "
                f"then their sum); stems given: {sorted(raw)}",
            )
        m = np.zeros(sc.total_frames, np.float32)
        for s in given:
            m += s
        m.flags.writeable = False
        mix = m
    if not np.any(mix):
        warnings.warn(f"{ctx.where}: the target mix is silent", UserWarning, stacklevel=4)
    have = [s is not None for s in stems.values()]
    kind = "audio" if any(have) else "mix-only"
    return Targets(kind, mix, FrozenDict(stems), all(have), FrozenDict(files))


def load_samples(ctx: Ctx, raw: Any, base: Path) -> dict[str, tuple[np.ndarray, int]]:
    """The ``[samples]`` table: sample name -> (audio (channels, n) float32, rate)."""
    table = ctx.table(raw, "samples", list(raw or {}) if isinstance(raw, Mapping) else [])
    out = {}
    for name, v in table.items():
        key = f"samples.{name}"
        if not NAME.fullmatch(name):
            raise ctx.error(
                key, "a sample name of lowercase letters, digits and _ (played as sp \\name)", name
            )
        lo, hi = glicol_wasm.SAMPLE_FILE_RATES
        if isinstance(v, tuple) and len(v) == 2:
            if isinstance(v[1], bool) or not isinstance(v[1], (int, np.integer)):
                raise ctx.error(key, f"(audio, sample rate) with an integer rate within {lo}..{hi} Hz", v[1])
            try:
                audio, rate = np.asarray(v[0], np.float32), int(v[1])
            except (TypeError, ValueError) as e:
                raise ctx.error(key, f"(audio array, sample rate) ({e})", v[0]) from None
        elif isinstance(v, str):
            audio, rate = read_audio(ctx, base / v, key, mono=False)
        else:
            raise ctx.error(key, "an audio file name (WAV or FLAC)", v)
        if not lo <= rate <= hi:
            raise ctx.error(
                key,
                f"audio at a sample rate within {lo}..{hi} Hz (the engine plays other rates wrongly; resample it)",
                f"{v if isinstance(v, str) else '<array>'} at {rate} Hz",
            )
        if audio.ndim not in (1, 2):
            raise ctx.error(key, "mono (n,) or (channels, n) audio", v)
        if audio.ndim == 1:
            audio = audio[None]
        if audio.shape[0] > 2:
            audio = audio.mean(axis=0, keepdims=True)
        if not audio.size or not np.isfinite(audio).all():
            raise ctx.error(key, "non-empty, finite audio", v)
        _check_peak(ctx, audio, key, v if isinstance(v, str) else f"<array {key}>", None)
        audio.flags.writeable = False
        out[name] = (audio, rate)
    return out
