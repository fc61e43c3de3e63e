"""Reading a run folder (as ``raveforce-mae run`` writes it) into plain data.

Everything the page needs is read here, with the fallbacks for folders written before
``summary.json`` recorded the timing and the library versions: the step grid then comes
from ``rewards.csv``'s ``time_s`` column and the WAV length, the versions from the
libraries installed when the report is written (and the page says so).
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import RaveforceError

__all__ = ["Audio", "Episode", "Run", "RunFolderError", "Section", "read_run"]

_EPISODE_DIR = re.compile(r"^episode_(\d{3,})$")
_STEP = re.compile(r"^//\s*@step\s+(\d+)\s+frames=(\d+)-(\d+)\s*$")

# The libraries whose versions decide what a run sounds like and how it is scored.
_LIBRARIES = (
    "raveforce-mae",
    "numpy",
    "wasmtime",
    "gymnasium",
    "pettingzoo",
    "librosa",
    "scipy",
    "soundfile",
)


class RunFolderError(RaveforceError, ValueError):
    """A folder is not a run folder, or one of its files cannot be read as expected."""


@dataclass(frozen=True)
class Audio:
    """One WAV file of the run.

    Attributes:
        path: Path relative to the run folder, with ``/`` separators.
        frames: Length in frames (samples per channel).
        sample_rate: Sampling rate in Hz.
    """

    path: str
    frames: int
    sample_rate: int

    @property
    def seconds(self) -> float:
        """Length in seconds."""
        return self.frames / self.sample_rate


@dataclass(frozen=True)
class Section:
    """One ``// @step N frames=A-B`` section of ``performance.glicol``.

    Attributes:
        step: The first step the section is played for.
        start: First frame (from the episode's start).
        stop: Frame after the last one.
        text: The section's lines, its marker included.
    """

    step: int
    start: int
    stop: int
    text: str


@dataclass
class Episode:
    """One episode folder.

    Attributes:
        folder: Folder name, e.g. ``episode_000``.
        index: Episode number.
        seed: Seed the episode was played with, if known.
        agents: Agent names, in the order of ``rewards.csv``.
        agent_tracks: Agent -> track name.
        rewards: Blended reward per step and agent, shape (steps, agents).
        shared: Shared (mix) part per step, shape (steps,).
        track: Per-track part per step and agent, shape (steps, agents), NaN where the
            scenario has no target stems.
        steps: ``(start, stop)`` frames of each step from the episode's start.
        audio: Name (``mix`` and track names) -> the rendered WAV.
        header: The lines of ``performance.glicol`` before its first section.
        sections: The sections of ``performance.glicol``.
        files: Other files of the folder worth linking (name -> relative path).
        mean_reward: Mean blended reward over steps and agents.
        mean_shared: Mean shared part, or ``None`` without steps.
    """

    folder: str
    index: int
    seed: int | None
    agents: list[str]
    agent_tracks: dict[str, str]
    rewards: np.ndarray
    shared: np.ndarray
    track: np.ndarray
    steps: list[tuple[int, int]]
    audio: dict[str, Audio]
    header: str
    sections: list[Section]
    files: dict[str, str] = field(default_factory=dict)
    mean_reward: float = math.nan
    mean_shared: float | None = None

    def agent_means(self) -> dict[str, tuple[float, float | None]]:
        """Agent -> (mean blended reward, mean per-track part or ``None``)."""
        out: dict[str, tuple[float, float | None]] = {}
        for i, a in enumerate(self.agents):
            t = self.track[:, i]
            out[a] = (
                float(np.mean(self.rewards[:, i])) if len(t) else math.nan,
                float(np.nanmean(t)) if np.isfinite(t).any() else None,
            )
        return out


@dataclass
class Run:
    """A run folder.

    Attributes:
        root: The run folder.
        summary: ``summary.json`` as read (empty if absent).
        scenario: Scenario name.
        description: Scenario description.
        agent: Who played.
        seed: Seed of episode 0, if known.
        command: The command that wrote the run, if known.
        tracks: Track names in scenario order.
        sample_rate: Sampling rate in Hz.
        bpm: Tempo, if known.
        versions: Library -> version.
        versions_recorded: Whether ``versions`` come from the run (else from this machine now).
        targets: Name (``mix`` and track names) -> target WAV.
        episodes: The episode folders, in order.
        best: Folder name of the best episode, if known.
    """

    root: Path
    summary: dict[str, Any]
    scenario: str
    description: str
    agent: str
    seed: int | None
    command: str
    tracks: list[str]
    sample_rate: int
    bpm: float | None
    versions: dict[str, str]
    versions_recorded: bool
    targets: dict[str, Audio]
    episodes: list[Episode]
    best: str | None


def safe_name(name: str) -> str:
    """The file name the CLI gives a track's WAV (same rule as the writer)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "track"


def _audio(root: Path, path: Path) -> Audio:
    import soundfile as sf

    try:
        info = sf.info(str(path))
    except Exception as e:  # noqa: BLE001 - libsndfile raises its own types; re-raised with the path
        raise RunFolderError(f"cannot read the WAV file {str(path)!r}: {e}") from e
    return Audio(path.relative_to(root).as_posix(), int(info.frames), int(info.samplerate))


def _wavs(root: Path, folder: Path, tracks: Sequence[str]) -> dict[str, Audio]:
    """``mix`` then the tracks' WAVs, in scenario order; other WAVs after, sorted."""
    out: dict[str, Audio] = {}
    if not folder.is_dir():
        return out
    if (folder / "mix.wav").is_file():
        out["mix"] = _audio(root, folder / "mix.wav")
    known = {"mix.wav"}
    for t in tracks:
        p = folder / f"{safe_name(t)}.wav"
        known.add(p.name)
        if p.is_file():
            out[t] = _audio(root, p)
    for p in sorted(folder.glob("*.wav")):
        if p.name not in known:
            out[p.stem] = _audio(root, p)
    return out


def _float(text: str, where: str) -> float:
    if text.strip() == "":
        return math.nan
    try:
        return float(text)
    except ValueError:
        raise RunFolderError(f"{where}: expected a number, got {text!r}") from None


def _read_rewards(
    path: Path,
) -> tuple[list[str], dict[str, str], np.ndarray, np.ndarray, np.ndarray, list[float]]:
    """Agents, agent -> track, rewards, shared, track parts and step start times of rewards.csv."""
    if not path.is_file():
        return [], {}, np.zeros((0, 0)), np.zeros(0), np.zeros((0, 0)), []
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        need = {"step", "time_s", "agent", "reward", "shared", "track_reward"}
        missing = need - set(reader.fieldnames or ())
        if missing:
            raise RunFolderError(
                f"{str(path)!r} lacks the column(s) {', '.join(sorted(missing))}; "
                f"expected the columns {', '.join(sorted(need | {'track'}))}"
            )
        rows = list(reader)
    agents: list[str] = []
    tracks: dict[str, str] = {}
    for r in rows:
        if r["agent"] not in tracks:
            agents.append(r["agent"])
            tracks[r["agent"]] = r.get("track") or r["agent"]
    steps = sorted({int(r["step"]) for r in rows})
    if steps != list(range(len(steps))):
        raise RunFolderError(f"{str(path)!r}: steps {steps[:5]}... are not 0, 1, 2, ... in order")
    n, m = len(steps), len(agents)
    rewards = np.full((n, m), math.nan)
    track = np.full((n, m), math.nan)
    shared = np.full(n, math.nan)
    times = [math.nan] * n
    col = {a: i for i, a in enumerate(agents)}
    for line, r in enumerate(rows, start=2):
        k, i = int(r["step"]), col[r["agent"]]
        where = f"{str(path)!r} line {line}"
        rewards[k, i] = _float(r["reward"], where)
        track[k, i] = _float(r["track_reward"], where)
        shared[k] = _float(r["shared"], where)
        times[k] = _float(r["time_s"], where)
    return agents, tracks, rewards, shared, track, times


def _read_performance(path: Path) -> tuple[str, list[Section]]:
    if not path.is_file():
        return "", []
    header: list[str] = []
    sections: list[tuple[int, int, int, list[str]]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        m = _STEP.match(line.strip())
        if m:
            sections.append((int(m.group(1)), int(m.group(2)), int(m.group(3)), [line]))
        elif sections:
            sections[-1][3].append(line)
        else:
            header.append(line)
    return "\n".join(header), [Section(s, a, b, "\n".join(body)) for s, a, b, body in sections]


def _step_grid(
    timing: Mapping[str, Any] | None,
    times: Sequence[float],
    n_steps: int,
    sample_rate: int,
    frames: int,
) -> list[tuple[int, int]]:
    """``(start, stop)`` frames of each played step.

    Preferred source: the run's recorded timing (``step_frames`` of one pass over the
    scenario's steps; an episode longer than that repeats it, ``total_frames`` apart,
    as the environment does). Otherwise the start times of ``rewards.csv``, each step
    ending where the next starts and the last at the end of the WAV.
    """
    if timing and timing.get("step_frames"):
        grid = [(int(a), int(b)) for a, b in timing["step_frames"]]
        total = int(timing.get("total_frames") or grid[-1][1])
        n = n_steps or len(grid)
        return [
            (
                grid[k % len(grid)][0] + (k // len(grid)) * total,
                grid[k % len(grid)][1] + (k // len(grid)) * total,
            )
            for k in range(n)
        ]
    if n_steps and all(math.isfinite(t) for t in times):
        starts = [int(round(t * sample_rate)) for t in times]
        stops = starts[1:] + [max(frames, starts[-1])]
        return list(zip(starts, stops, strict=True))
    return [(0, frames)]


def _installed_versions() -> dict[str, str]:
    from importlib import metadata

    out = {"python": sys.version.split()[0]}
    for name in _LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def read_run(run_dir: str | os.PathLike[str]) -> Run:
    """Read a run folder.

    Args:
        run_dir: A folder written by ``raveforce-mae run``.

    Returns:
        The run, its targets and its episodes (each with rewards, step grid and audio).

    Raises:
        FileNotFoundError: if ``run_dir`` does not exist.
        RunFolderError: if it is not a run folder (no ``summary.json`` and no
            ``episode_NNN`` folder) or a file in it is malformed.
    """
    root = Path(run_dir)
    if not root.exists():
        raise FileNotFoundError(f"no run folder at {str(root)!r} (no such file or folder)")
    if not root.is_dir():
        raise RunFolderError(
            f"the run folder {str(root)!r} is a file; expected a folder written by `raveforce-mae run`"
        )
    summary: dict[str, Any] = {}
    if (root / "summary.json").is_file():
        try:
            summary = json.loads((root / "summary.json").read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise RunFolderError(f"{str(root / 'summary.json')!r} is not valid JSON: {e}") from None
        if not isinstance(summary, dict):
            raise RunFolderError(
                f"{str(root / 'summary.json')!r} holds a {type(summary).__name__}; expected an object"
            )
    folders = sorted(p for p in root.iterdir() if p.is_dir() and _EPISODE_DIR.match(p.name))
    if not summary and not folders:
        raise RunFolderError(
            f"{str(root)!r} is not a run folder: it has neither summary.json nor episode_NNN folders "
            "(expected the output folder of `raveforce-mae run`)"
        )
    sc = summary.get("scenario") or {}
    tracks = [str(t) for t in sc.get("tracks") or []]
    timing = summary.get("timing") if isinstance(summary.get("timing"), dict) else None
    known = {str(e.get("folder")): e for e in summary.get("episodes") or [] if isinstance(e, dict)}

    targets = _wavs(root, root / "targets", tracks)
    episodes: list[Episode] = []
    for folder in folders:
        agents, agent_tracks, rewards, shared, track, times = _read_rewards(folder / "rewards.csv")
        if not tracks:
            tracks = list(dict.fromkeys(agent_tracks.values()))
        audio = _wavs(root, folder, tracks)
        any_audio = next(iter(audio.values()), None)
        sr = int(
            (timing or {}).get("sample_rate")
            or sc.get("sample_rate")
            or (any_audio.sample_rate if any_audio else 0)
            or 44100
        )
        frames = audio["mix"].frames if "mix" in audio else (any_audio.frames if any_audio else 0)
        header, sections = _read_performance(folder / "performance.glicol")
        info = known.get(folder.name, {})
        files = {
            name: f"{folder.name}/{name}"
            for name in ("performance.glicol", "rewards.csv", "spectrogram.png", "rewards.png")
            if (folder / name).is_file()
        }
        index = int(_EPISODE_DIR.match(folder.name).group(1))  # type: ignore[union-attr]
        ep = Episode(
            folder=folder.name,
            index=int(info.get("episode", index)),
            seed=info.get("seed"),
            agents=agents,
            agent_tracks=agent_tracks,
            rewards=rewards,
            shared=shared,
            track=track,
            steps=_step_grid(timing, times, len(times), sr, frames),
            audio=audio,
            header=header,
            sections=sections,
            files=files,
        )
        ep.mean_reward = (
            float(info["mean_reward"])
            if "mean_reward" in info
            else float(np.mean(rewards))
            if rewards.size
            else math.nan
        )
        if info.get("mean_shared") is not None:
            ep.mean_shared = float(info["mean_shared"])
        elif shared.size:
            ep.mean_shared = float(np.mean(shared))
        episodes.append(ep)

    versions = summary.get("versions")
    recorded = isinstance(versions, dict) and bool(versions)
    any_audio = next((a for e in episodes for a in e.audio.values()), None) or next(
        iter(targets.values()), None
    )
    seed = summary.get("seed", episodes[0].seed if episodes else None)
    return Run(
        root=root,
        summary=summary,
        scenario=str(sc.get("name") or root.name),
        description=str(sc.get("description") or ""),
        agent=str(summary.get("agent") or "unknown"),
        seed=int(seed) if seed is not None else None,
        command=str(summary.get("command") or ""),
        tracks=tracks,
        sample_rate=int(
            (timing or {}).get("sample_rate")
            or sc.get("sample_rate")
            or (any_audio.sample_rate if any_audio else 44100)
        ),
        bpm=float(timing["bpm"])
        if timing and timing.get("bpm")
        else (float(sc["bpm"]) if sc.get("bpm") else None),
        versions={str(k): str(v) for k, v in versions.items()} if recorded else _installed_versions(),  # type: ignore[union-attr]
        versions_recorded=recorded,
        targets=targets,
        episodes=episodes,
        best=summary.get("best_episode")
        or (
            max(episodes, key=lambda e: e.mean_reward).folder
            if episodes and any(math.isfinite(e.mean_reward) for e in episodes)
            else None
        ),
    )
