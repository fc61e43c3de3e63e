"""Loading scenarios: built-in names, TOML files, dicts and overrides.

:func:`load_scenario` reads a file (or finds a built-in one), applies overrides and
hands the table to the builder here, which validates it section by section
(:mod:`~raveforce_mae.scenario.validation`), probes every track in the engine and
makes the targets (:mod:`~raveforce_mae.scenario.targets`), then builds the frozen
:class:`~raveforce_mae.scenario.model.Scenario` in one go.
"""

from __future__ import annotations

import copy
import os
import sys

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser, as a package
    import tomli as tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import glicol_wasm

from .._suggest import did_you_mean
from ..defaults import DEFAULT_BPM, DEFAULT_SAMPLE_RATE, DEFAULT_SEED
from ..distributions import TargetSampler, TargetSplits
from ..errors import ScenarioError
from ..folder_targets import FolderTargets
from ..midi import MidiFolder, midi_reference
from ..params import format_number
from ..patch import NAME, CodeLine, Template
from . import model
from .model import FrozenDict, Scenario, Track
from .sources import TargetSource
from .targets import Stage, audio_targets, load_samples, probe, reference_performance, render_targets
from .validation import (
    Ctx,
    check_name,
    check_text,
    constants_table,
    criterion,
    number,
    parse,
    track_from_table,
)

__all__ = [
    "OBSERVATION_KINDS",
    "build",
    "list_scenarios",
    "load_scenario",
    "scenario_from_dict",
    "scenario_path",
]

OBSERVATION_KINDS = ("default", "mel", "waveform")
"""Valid ``[observation] kind`` values."""

DEFAULT_CRITERION = "mrstft"
DEFAULT_SHARED_WEIGHT = 0.5
MAX_EPISODE_SECONDS = 600.0
"""Longest episode a scenario may describe. Targets, features and the rendered audio
are held in memory for a whole episode (about 4 bytes per frame per track, several
times over), so a typo such as ``steps = 1000000`` is refused instead of exhausting
memory."""
MAX_TRACKS = 64
"""Most tracks (agents) a scenario may have: each track renders in its own engine."""
LATENCY = 256
"""Frames by which the built-in clock is delayed: a step's new numbers reach the engine
at the next 128-frame block boundary, so a trigger 256 frames into the step always
hears them (see scenarios/README.md)."""

_TOP_KEYS = (
    "name", "description", "seed", "timing", "constants", "shared", "samples",
    "tracks", "reward", "observation", "targets",
)  # fmt: skip
_TIMING_KEYS = ("sample_rate", "bpm", "steps", "step_beats", "step_seconds", "end")
_REWARD_KEYS = ("criterion", "mix_criterion", "shared_weight")
_OBS_KEYS = ("kind",)
_TARGET_KEYS_FIXED = ("mix", "per_track")

_OVERRIDE_KEYS = (
    "steps", "n_steps", "bpm", "sample_rate", "step_beats", "step_seconds", "end", "seed",
    "shared_weight", "criterion", "mix_criterion", "criteria", "observation", "per_track",
    "name", "description", "targets",
)  # fmt: skip
OVERRIDE_KEYS = _OVERRIDE_KEYS
"""The settings :meth:`Scenario.replace` and ``load_scenario(name, **overrides)`` accept."""


# -- finding and loading files ---------------------------------------------------------------------------


def _builtin_dir() -> Path:
    try:
        from importlib.resources import files

        d = files("raveforce_mae.scenarios")
        p = Path(str(d))
        if p.is_dir() and any(p.glob("*.toml")):
            return p
    except (ImportError, TypeError, ValueError):
        pass
    return Path(__file__).resolve().parent.parent.parent / "scenarios"


def list_scenarios() -> list[str]:
    """Names of the built-in scenarios, sorted."""
    return sorted(p.stem for p in _builtin_dir().glob("*.toml"))


def scenario_path(name: str) -> Path:
    """The TOML file of a built-in scenario.

    Raises:
        ScenarioError: if there is no built-in scenario of that name.
    """
    p = _builtin_dir() / f"{name}.toml"
    if not NAME.fullmatch(name or "") or not p.is_file():
        raise ScenarioError(
            f"no built-in scenario {name!r}; built-in scenarios: {', '.join(list_scenarios())}"
        )
    return p


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except OSError as e:
        raise ScenarioError(f"{path}: cannot read the scenario file: {e.strerror or e}") from None
    except tomllib.TOMLDecodeError as e:
        raise ScenarioError(f"{path}: not valid TOML: {e}") from None
    except UnicodeDecodeError as e:  # tomllib decodes UTF-8 itself and lets this through
        raise ScenarioError(
            f"{path}: not valid TOML: the file is not UTF-8 text ({e.reason} at byte {e.start})"
        ) from None


def load_scenario(name_or_path: str | os.PathLike[str] | Scenario, **overrides: Any) -> Scenario:
    """Load and validate a scenario.

    Args:
        name_or_path: A built-in name (see :func:`list_scenarios`), the path of a TOML
            file, or a :class:`Scenario` (then only the overrides are applied).
        **overrides: Settings to change, as for :meth:`Scenario.replace`.

    Returns:
        The frozen, validated scenario with its targets ready.

    Raises:
        ScenarioError: if the scenario does not exist or is invalid; the message names
            the file, the track and the key, and says what was expected.
    """
    if isinstance(name_or_path, Scenario):
        return name_or_path.replace(**overrides)
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise ScenarioError(f"expected a scenario name or a path, got {type(name_or_path).__name__}")
    s = os.fspath(name_or_path)
    if isinstance(name_or_path, os.PathLike) or s.endswith(".toml") or os.sep in s or "/" in s:
        path = Path(s)
        if not path.is_file():
            raise ScenarioError(f"{path}: scenario file not found")
    else:
        path = scenario_path(s)
    path = path.resolve()
    data = _read_toml(path)
    strict = True
    if overrides:
        strict = "steps" not in _norm_keys(overrides)
        data = _apply_overrides(data, overrides, path)
    return build(data, path, strict_patterns=strict)


def scenario_from_dict(data: Mapping[str, Any], *, path: str | os.PathLike[str] | None = None) -> Scenario:
    """Build a scenario from a dict shaped like the TOML file.

    From Python, parameters may also be :class:`~raveforce_mae.params.Param` objects,
    ``rel`` parameters may take a callable (``{"kind": "rel", "expr": fn, "depends":
    ["attack"]}``), and targets and samples may be arrays (``{"mix": array}`` at the
    scenario's sample rate, or ``(array, sample_rate)``).

    Args:
        data: The scenario.
        path: Where relative file names are resolved from (a file or a directory);
            default: the current directory.
    """
    if not isinstance(data, Mapping):
        raise ScenarioError(f"a scenario must be a dict, got {type(data).__name__}")
    p = Path(path).resolve() if path is not None else None
    return build(dict(data), p, strict_patterns=True)


# -- overrides ----------------------------------------------------------------------------------------------


def _norm_keys(overrides: Mapping[str, Any]) -> set[str]:
    return {"steps" if k == "n_steps" else k for k, v in overrides.items() if v is not None}


def _apply_overrides(source: Mapping[str, Any], overrides: Mapping[str, Any], path: Path | None) -> dict:
    unknown = [k for k in overrides if k not in _OVERRIDE_KEYS]
    if unknown:
        hint = did_you_mean(unknown[0], _OVERRIDE_KEYS)
        raise ScenarioError(
            f"{path or '<scenario>'}: unknown override {unknown[0]!r}{hint or ';'} valid overrides: "
            f"{', '.join(_OVERRIDE_KEYS)}"
        )
    data = copy.deepcopy({k: v for k, v in source.items()})
    for key in ("timing", "reward", "observation", "targets"):
        if key in data and isinstance(data[key], Mapping):
            data[key] = dict(data[key])
    timing = data.setdefault("timing", {})
    reward = data.setdefault("reward", {})
    for k, v in overrides.items():
        if v is None:
            continue
        if k in ("steps", "n_steps"):
            timing["steps"] = v
        elif k in ("bpm", "sample_rate", "end"):
            timing[k] = v
        elif k in ("step_beats", "step_seconds"):
            timing.pop("step_beats", None)
            timing.pop("step_seconds", None)
            timing[k] = v
        elif k == "seed":
            data["seed"] = v
        elif k == "shared_weight":
            reward["shared_weight"] = v
        elif k == "mix_criterion":
            reward["mix_criterion"] = v
        elif k == "criterion":
            reward["criterion"] = v
            reward["mix_criterion"] = v
            tracks = data.get("tracks")
            if isinstance(tracks, Mapping):
                data["tracks"] = {
                    n: {kk: vv for kk, vv in t.items() if kk != "criterion"} if isinstance(t, Mapping) else t
                    for n, t in tracks.items()
                }
        elif k == "criteria":
            if not isinstance(v, Mapping):
                raise ScenarioError(
                    f"override 'criteria' must be a dict of track name -> criterion, got {v!r}"
                )
            tracks_in = data.get("tracks")
            tracks = dict(tracks_in) if isinstance(tracks_in, Mapping) else {}
            for name, spec in v.items():
                if name == "mix":
                    reward["mix_criterion"] = spec
                elif name in tracks and isinstance(tracks[name], Mapping):
                    tracks[name] = {**tracks[name], "criterion": spec}
                else:
                    raise ScenarioError(
                        f"override 'criteria': no track {name!r}; expected one of {sorted(tracks) + ['mix']}"
                    )
            data["tracks"] = tracks
        elif k == "observation":
            obs_in = data.get("observation")
            data["observation"] = {**(obs_in if isinstance(obs_in, Mapping) else {}), "kind": v}
        elif k == "per_track":
            targets_in = data.get("targets")
            data["targets"] = {**(targets_in if isinstance(targets_in, Mapping) else {}), "per_track": v}
        elif k == "targets":
            targets_in = data.get("targets")
            data["targets"] = {
                **(targets_in if isinstance(targets_in, Mapping) else {}),
                **_target_override(v, path),
            }
        elif k in ("name", "description"):
            data[k] = v
    return data


def _target_override(v: Any, path: Path | None) -> dict[str, Any]:
    """``targets={...}``: ``[targets]`` entries; relative paths from the current directory."""
    if not isinstance(v, Mapping):
        raise ScenarioError(
            f"{path or '<scenario>'}: override 'targets' must be a dict such as "
            f'{{"bass": "riff.mid"}} or {{"folder": "loops/"}}, got {v!r}'
        )
    out: dict[str, Any] = {}
    for key, val in v.items():
        if isinstance(val, (str, os.PathLike)):
            val = str(Path(os.fspath(val)).resolve())
        elif isinstance(val, Mapping) and isinstance(val.get("file"), (str, os.PathLike)):
            val = {**val, "file": str(Path(os.fspath(val["file"])).resolve())}
        out[key] = val
    return out


_MIDI_SUFFIXES = (".mid", ".midi")
_MIDI_OPTIONS = ("file", "transpose", "track", "channel", "offset", "sustain", "overlap", "level", "clock")


def _midi_targets(
    ctx: Ctx,
    tracks: list[Track],
    raw: dict[str, Any],
    raw_refs: dict[str, Any],
    base: Path,
    steps: int,
    bpm: float,
    timing: dict[str, float],
) -> dict[str, MidiFolder]:
    """Take the MIDI entries out of ``[targets]``: files merge into the reference blocks.

    ``[targets] bass = "riff.mid"`` (or ``{ file = "riff.mid", transpose = -12 }``)
    becomes track ``bass``'s note line (merged over its reference block); a folder of
    ``.mid`` files becomes a distribution (returned, track -> folder).
    """
    folders: dict[str, MidiFolder] = {}
    for t in tracks:
        v = raw.get(t.name)
        opts: dict[str, Any] = {}
        if isinstance(v, Mapping) and "file" in v:
            opts = ctx.table(v, f"targets.{t.name}", _MIDI_OPTIONS, t.name)
            v = opts.pop("file")
        if not isinstance(v, (str, os.PathLike)):
            continue
        p = base / os.fspath(v)
        is_folder = p.is_dir() and any(f.suffix.lower() in _MIDI_SUFFIXES for f in p.iterdir())
        if not (is_folder or p.suffix.lower() in _MIDI_SUFFIXES):
            continue
        key = f"targets.{t.name}"
        notes = [q for q in t.free if q.kind == "note"]
        if not notes:
            raise ctx.error(key, "a track with a 'note' parameter for a MIDI target", str(v), t.name)
        names = [q.name for q in t.params]
        grid: dict[str, Any] = {
            "steps": steps,
            "bpm": bpm,
            **timing,
            "low": notes[0].low,
            "high": notes[0].high,
            "note_param": notes[0].name,
            "rest": "level" if "level" in names else "hold",
            **opts,
        }
        raw.pop(t.name)
        if is_folder:
            folders[t.name] = MidiFolder(p, **grid)
            continue
        if not p.is_file():
            raise ctx.error(
                key, "an existing .mid file (relative to the scenario file)", f"{p} (missing)", t.name
            )
        try:
            block = midi_reference(p, **grid)
        except ScenarioError as e:
            raise ctx.error(key, f"a MIDI note line this track can play ({e})", str(v), t.name) from None
        raw_refs[t.name] = {**(raw_refs[t.name] or {}), **block}
    return folders


def _audio_folder(ctx: Ctx, tracks: list[Track], v: Any, base: Path) -> FolderTargets | None:
    """``[targets] folder = "loops/"``: a folder of audio loops, split by subfolder name."""
    if v is None:
        return None
    if not isinstance(v, (str, os.PathLike)):
        raise ctx.error("targets.folder", "a folder of audio loops (a path)", v)
    p = base / os.fspath(v)
    try:
        return FolderTargets(p, tracks=[t.name for t in tracks])
    except ScenarioError as e:
        raise ctx.error("targets.folder", f"a folder of audio loops ({e})", str(v)) from None


# -- the builder -----------------------------------------------------------------------------------------------


def build(data: dict[str, Any], path: Path | None, *, strict_patterns: bool) -> Scenario:
    """Validate a scenario table and build the :class:`Scenario`, targets included."""
    ctx = Ctx(path)
    base_dir = (path.parent if path.is_file() or path.suffix == ".toml" else path) if path else Path.cwd()
    source = copy.copy(data)
    data = ctx.table(data, "", _TOP_KEYS)

    name = data.get("name", path.stem if path is not None and path.suffix else "scenario")
    if not isinstance(name, str) or not name:
        raise ctx.error("name", "a non-empty string", name)
    description = data.get("description", "")
    if not isinstance(description, str):
        raise ctx.error("description", "a string", description)
    seed_raw = data.get("seed", DEFAULT_SEED)
    if isinstance(seed_raw, float) and seed_raw.is_integer():
        seed_raw = int(seed_raw)  # 42.0 from Python is 42
    try:
        seed = glicol_wasm.check_seed(seed_raw, "scenario seed")
    except (TypeError, ValueError) as e:
        raise ctx.error("seed", f"an integer seed the engine honours ({e})", seed_raw) from None

    # timing
    timing = ctx.table(data.get("timing"), "timing", _TIMING_KEYS)
    sr = int(
        number(
            ctx,
            timing.get("sample_rate", DEFAULT_SAMPLE_RATE),
            "timing.sample_rate",
            lo=8000,
            hi=192000,
            integer=True,
            what="an integer sample rate in Hz within 8000..192000",
        )
    )
    bpm = number(
        ctx, timing.get("bpm", DEFAULT_BPM), "timing.bpm", lo=1, hi=999, what="a tempo within 1..999 bpm"
    )
    steps = int(
        number(
            ctx,
            timing.get("steps", 16),
            "timing.steps",
            lo=1,
            hi=1_000_000,
            integer=True,
            what="a positive integer number of steps",
        )
    )
    if "step_beats" in timing and "step_seconds" in timing:
        raise ctx.error("timing.step_seconds", "either step_beats or step_seconds, not both")
    step_beats: float | None
    if "step_seconds" in timing:
        step_seconds = number(
            ctx, timing["step_seconds"], "timing.step_seconds", lo=1e-9, what="a positive number of seconds"
        )
        step_beats = None
    else:
        step_beats = number(
            ctx,
            timing.get("step_beats", 0.25),
            "timing.step_beats",
            lo=1e-9,
            what="a positive number of beats",
        )
        step_seconds = step_beats * 60.0 / bpm
    if steps * step_seconds > MAX_EPISODE_SECONDS:
        raise ctx.error(
            "timing",
            f"an episode of at most {MAX_EPISODE_SECONDS:g} s (steps x step length)",
            f"{steps} steps of {step_seconds:g} s = {steps * step_seconds:g} s",
        )
    bounds = tuple((round(i * step_seconds * sr), round((i + 1) * step_seconds * sr)) for i in range(steps))
    shortest = min(b - a for a, b in bounds)
    if shortest < glicol_wasm.BLOCK:
        raise ctx.error(
            "timing",
            f"steps of at least {glicol_wasm.BLOCK} frames ({glicol_wasm.BLOCK / sr:.3g} s at {sr} Hz): "
            f"the engine takes new numbers once per block of {glicol_wasm.BLOCK} frames, so "
            "the actions of shorter steps could not all be played",
            f"steps of {step_seconds:g} s = {shortest} frames",
        )
    total = bounds[-1][1]
    end = timing.get("end", "truncate")
    if end not in ("truncate", "terminate"):
        raise ctx.error(
            "timing.end",
            '"truncate" (the performance is cut off; the default) or "terminate" '
            "(the task is complete after its steps)",
            repr(end),
        )

    # constants
    constants = constants_table(
        ctx,
        data.get("constants"),
        {
            "sample_rate": float(sr),
            "bpm": bpm,
            "steps": float(steps),
            "step_seconds": step_seconds,
            "beat": 60.0 / bpm,
            "bar": 240.0 / bpm,
        },
    )

    # shared refs
    shared_in = data.get("shared")
    shared_raw = ctx.table(shared_in, "shared", list(shared_in) if isinstance(shared_in, Mapping) else [])
    shared_t: dict[str, Template] = {}
    for rname, body in shared_raw.items():
        key = f"shared.{rname}"
        check_name(ctx, rname, key, "shared ref name (without ~)")
        if not isinstance(body, str) or not body.strip():
            raise ctx.error(key, "a Glicol chain (a string)", body)
        check_text(ctx, body.strip(), key, None, one_line=True)
        t = parse(ctx, body, key)
        for h in t.holes:
            if h not in constants:
                raise ctx.error(
                    key,
                    "holes that name constants only: a shared ref belongs to no agent, "
                    f"so it cannot hold a parameter (hole {{{h}}})",
                    body,
                )
        shared_t[rname] = t.map_holes(lambda n, k: format_number(constants[n]))
    for rname, t in shared_t.items():
        for r in t.refs:
            if r not in shared_t:
                raise ctx.error(
                    f"shared.{rname}",
                    f"refs to other shared refs only ({sorted(shared_t)}); ~{r} is not one",
                    shared_raw[rname],
                )
    shared_lines = tuple(CodeLine("~" + n, t, f"shared.{n}") for n, t in shared_t.items())

    # samples
    samples = load_samples(ctx, data.get("samples"), base_dir)

    # reward and observation
    reward = ctx.table(data.get("reward"), "reward", _REWARD_KEYS)
    default_crit = criterion(ctx, reward.get("criterion", DEFAULT_CRITERION), "reward.criterion", sr)
    mix_crit = criterion(
        ctx,
        reward.get("mix_criterion", reward.get("criterion", DEFAULT_CRITERION)),
        "reward.mix_criterion",
        sr,
    )
    shared_weight = number(
        ctx,
        reward.get("shared_weight", DEFAULT_SHARED_WEIGHT),
        "reward.shared_weight",
        lo=0.0,
        hi=1.0,
        what="a weight within 0..1",
    )
    obs = ctx.table(data.get("observation"), "observation", _OBS_KEYS)
    observation = obs.get("kind", "default")
    if observation not in OBSERVATION_KINDS:
        raise ctx.error("observation.kind", f"one of {list(OBSERVATION_KINDS)}", observation)

    # tracks
    tracks_raw = data.get("tracks")
    if not isinstance(tracks_raw, Mapping) or not tracks_raw:
        raise ctx.error("tracks", "at least one track: a [tracks.<name>] table", tracks_raw)
    if len(tracks_raw) > MAX_TRACKS:
        raise ctx.error(
            "tracks", f"at most {MAX_TRACKS} tracks (each plays in its own engine)", f"{len(tracks_raw)}"
        )
    tracks: list[Track] = []
    raw_refs: dict[str, Any] = {}
    roles: dict[str, int] = {}
    for tname, traw in tracks_raw.items():
        track, ref = track_from_table(
            ctx, tname, traw, constants, shared_t, shared_lines, default_crit, sr, roles
        )
        tracks.append(track)
        raw_refs[tname] = ref
    names_used = {ln.lhs for t in tracks for ln in t.own_lines}
    clash = names_used & {"~" + n for n in shared_t}
    if clash:
        raise ctx.error(
            "shared", f"shared ref names that no track's namespaced refs use; {sorted(clash)[0]} is both"
        )

    criteria = FrozenDict({t.name: t.criterion for t in tracks} | {"mix": mix_crit})

    stage = Stage(sr, bpm, seed, FrozenDict(samples), tuple(tracks), bounds)
    probe(ctx, stage)

    # targets
    targets_raw = ctx.table(
        data.get("targets"), "targets", list(_TARGET_KEYS_FIXED) + ["folder"] + [t.name for t in tracks]
    )
    per_track = targets_raw.pop("per_track", True)
    if not isinstance(per_track, bool):
        raise ctx.error("targets.per_track", "true or false", per_track)
    grid_timing = {"step_beats": step_beats} if step_beats is not None else {"step_seconds": step_seconds}
    midi_folders = _midi_targets(ctx, tracks, targets_raw, raw_refs, base_dir, steps, bpm, grid_timing)
    folder = _audio_folder(ctx, tracks, targets_raw.pop("folder", None), base_dir)
    dist_specs = {
        t.name: tracks_raw[t.name]["distribution"]
        for t in tracks
        if isinstance(tracks_raw[t.name], Mapping) and tracks_raw[t.name].get("distribution") is not None
    }
    splits = None
    if dist_specs:
        params: dict[str, dict[str, Any]] = {t.name: {p.name: p for p in t.params} for t in tracks}
        splits = TargetSplits(TargetSampler(dist_specs, params, steps, where=ctx.where), name)
    if folder is not None and (dist_specs or midi_folders):
        raise ctx.error(
            "targets.folder",
            "either a folder of audio loops or parameter distributions / MIDI folders, not both",
            targets_raw.get("folder", "folder"),
        )
    tsource: TargetSource | None = None
    if splits is not None or midi_folders or folder is not None:
        tsource = TargetSource(
            splits,
            FrozenDict(midi_folders),
            folder,
            FrozenDict({n: FrozenDict(b) for n, b in raw_refs.items() if b is not None}),
            per_track,
        )
        for n, mf in midi_folders.items():
            # the fixed reference of a track whose notes come from a folder: its first train file
            block = mf.reference("train", 0) if mf.split("train") else mf.reference("test", 0)
            raw_refs[n] = {
                **(raw_refs[n] or {}),
                **{k: v for k, v in block.items() if k not in (raw_refs[n] or {})},
            }
        if folder is None:
            # a track with no reference block plays the first train target
            missing_refs = [t.name for t in tracks if raw_refs[t.name] is None]
            if missing_refs:
                first = tsource.blocks_for("train", 0)
                for n in missing_refs:
                    if n in first:
                        raw_refs[n] = first[n]
    have_ref = [t.name for t in tracks if raw_refs[t.name] is not None]
    if folder is not None:
        if have_ref or targets_raw:
            raise ctx.error(
                "targets.folder",
                "a folder of loops as the only target (no reference blocks, no other target files)",
                str(folder.path),
            )
        train = folder.split("train")
        if not len(train):
            raise ctx.error("targets.folder", "a folder with at least one train target", str(folder.path))
        first_item = {k: str(v) for k, v in train[0].items() if v is not None}
        targets = audio_targets(ctx, stage, first_item, folder.path, per_track)
        reference = ref_actions = None
    elif targets_raw:
        if have_ref:
            raise ctx.error(
                f"tracks.{have_ref[0]}.reference",
                "either reference performances or target audio files ([targets]), not both",
                track=have_ref[0],
            )
        targets = audio_targets(ctx, stage, targets_raw, base_dir, per_track)
        reference = ref_actions = None
    else:
        if not have_ref:
            raise ctx.error(
                "targets",
                "a target: a [tracks.<name>.reference] for every track, or audio "
                'files under [targets] (mix = "mix.wav", <track> = "<track>.wav")',
            )
        missing = [t.name for t in tracks if raw_refs[t.name] is None]
        if missing:
            raise ctx.error(
                f"tracks.{missing[0]}.reference",
                f"a reference performance for every track when any track has one ({', '.join(have_ref)} do)",
                track=missing[0],
            )
        reference, ref_actions = reference_performance(ctx, stage, raw_refs, strict_patterns)
        targets = render_targets(ctx, stage, reference, per_track)

    return Scenario(
        name=name,
        description=description.strip(),
        path=path,
        sample_rate=sr,
        bpm=bpm,
        n_steps=steps,
        step_seconds=step_seconds,
        step_beats=step_beats,
        bounds=bounds,
        total_frames=total,
        end=end,
        tracks=tuple(tracks),
        agents=tuple(t.agent for t in tracks),
        shared_refs=FrozenDict({n: str(t) for n, t in shared_t.items()}),
        constants=FrozenDict(constants),
        targets=targets,
        reference=reference,
        criteria=criteria,
        shared_weight=shared_weight,
        observation=observation,
        seed=seed,
        samples=stage.samples,
        source=source,
        reference_steps=ref_actions,
        shared_lines=shared_lines,
        target_source=tsource,
    )


def _replace(sc: Scenario, overrides: Mapping[str, Any]) -> Scenario:
    data = _apply_overrides(sc.source, overrides, sc.path)
    return build(data, sc.path, strict_patterns="steps" not in _norm_keys(overrides))


model._rebuild[:] = [_replace]
