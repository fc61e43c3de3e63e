"""Episodes written to a folder: audio, the performance, rewards, pictures and a summary.

The command line's ``raveforce-mae run`` writes its folder with this module, and so can
any Python program::

    import raveforce_mae
    from raveforce_mae import baselines
    from raveforce_mae.export import export_episode

    env = raveforce_mae.parallel_env("ensemble")
    result = baselines.play_episode(env, baselines.random_policy(env, seed=0), seed=0)
    export_episode(env, "runs/mine", result, agent="random", seed=0)

or, after any episode played by hand, ``export_episode(env, "runs/mine")`` (the rewards
then come from ``env.rewards_log``).

The folder (``docs/cli.md`` describes every file)::

    summary.json          settings, library versions, timing, results, the command
    .raveforce-run.json   the manifest: every file this module wrote here
    targets/              the target mix and stems (WAV)
    episode_000/          one folder per episode: mix.wav, <track>.wav,
                          performance.glicol, rewards.csv, spectrogram.png, rewards.png
    report.html           the listening page (players, spectrograms, rewards, the
    report_files/         performance), and its pictures; opens from disk, no server

Writing never destroys what it did not write. Each folder is written under a temporary
name and renamed into place when complete; the manifest lists every file written, and
replacing a previous run (``overwrite=True``) removes only files that the previous
run's manifest lists. A ``targets/``, ``summary.json``, ``report.html`` or ``episode_*`` that no manifest
lists is someone else's: the writer refuses to start rather than replace it.
"""

from __future__ import annotations

import csv
import io
import json
import os
import platform
import re
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .report import write_report
from .runfolder import (
    FILES_DIR,
    MANIFEST,
    REPORT_NAME,
    SUMMARY,
    OutputFolderError,
    check_output_folder,
    foreign_files,
    previous_run,
    read_manifest,
    remove_entries,
    write_atomic,
)

__all__ = [
    "MANIFEST",
    "SUMMARY",
    "SUMMARY_FORMAT",
    "EpisodeData",
    "OutputFolderError",
    "RunWriter",
    "check_output_folder",
    "episode_from_env",
    "episode_timing",
    "export_episode",
    "foreign_files",
    "library_versions",
    "previous_run",
    "safe_name",
    "scenario_summary",
    "write_wav",
]

SUMMARY_FORMAT = 2
"""Version of the layout of ``summary.json`` (2 added ``versions``, ``timing``, ``format``)."""


class EpisodeData(Protocol):
    """What is written of an episode (:class:`raveforce_mae.baselines.EpisodeResult` has it)."""

    @property
    def rewards(self) -> np.ndarray:
        """``(steps, n_agents)`` blended rewards."""

    @property
    def shared(self) -> np.ndarray:
        """``(steps,)`` the shared (mix) part."""

    @property
    def track(self) -> np.ndarray:
        """``(steps, n_agents)`` the per-track part, NaN where there is none."""

    @property
    def audio(self) -> dict[str, np.ndarray]:
        """Mono float32 audio per track name and ``"mix"``."""

    @property
    def patch(self) -> str:
        """The performance (see :mod:`raveforce_mae.timeline`)."""

    @property
    def agents(self) -> list[str]:
        """Agent names, the columns of ``rewards`` and ``track``."""

    @property
    def mean_reward(self) -> float:
        """Mean blended reward per step and agent."""


# ---------------------------------------------------------------------------------------
# Serialisation
# ---------------------------------------------------------------------------------------


def scenario_summary(sc: Any) -> dict[str, Any]:
    """A scenario as plain JSON data: names, timing, rewards, targets.

    The one serialisation of a scenario used by ``summary.json``, ``raveforce-mae
    scenarios --json`` and ``describe --json``.
    """
    return {
        "name": sc.name,
        "description": getattr(sc, "description", "") or "",
        "path": str(getattr(sc, "path", "") or ""),
        "tracks": [t.name for t in sc.tracks],
        "agents": [t.agent for t in sc.tracks],
        "steps": int(sc.n_steps),
        "step_seconds": float(sc.step_seconds),
        "duration_seconds": float(sc.total_frames) / float(sc.sample_rate),
        "bpm": float(sc.bpm),
        "sample_rate": int(sc.sample_rate),
        "seed": int(getattr(sc, "seed", 42)),
        "criteria": {str(k): str(v) for k, v in dict(sc.criteria).items()},
        "shared_weight": float(sc.shared_weight),
        "per_track_targets": bool(sc.targets.per_track_available),
        "reference": sc.reference is not None,
    }


def _version(dist: str) -> str | None:
    try:
        from importlib.metadata import PackageNotFoundError, version
    except ImportError:  # pragma: no cover - Python >= 3.8 has it
        return None
    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def library_versions() -> dict[str, Any]:
    """Versions of Python, this library, its main dependencies and the Glicol engine build."""
    from . import __version__

    out: dict[str, Any] = {
        "python": platform.python_version(),
        "raveforce_mae": __version__,
    }
    for dist in ("numpy", "wasmtime", "gymnasium", "pettingzoo", "librosa", "soundfile", "scipy"):
        out[dist] = _version(dist)
    try:
        from glicol_wasm import binary

        out["glicol"] = {"package": str(binary.PACKAGE), "sha256": str(binary.WASM_SHA256)}
    except (ImportError, AttributeError):  # an engine binding without build metadata
        out["glicol"] = None
    return out


def episode_timing(scenario: Any, steps: int | None = None) -> dict[str, Any]:
    """Where each step lies in an episode's audio.

    Args:
        scenario: The scenario played.
        steps: Steps played ([default: the scenario's ``n_steps``]); beyond ``n_steps``
            the scenario's steps repeat, as the environment plays them.

    Returns:
        ``sample_rate``, ``bpm``, ``step_seconds``, ``step_frames`` (``[start, end)``
        frame bounds per step) and ``total_frames``.
    """
    n = int(scenario.n_steps)
    steps = n if steps is None else int(steps)
    bounds = [(int(a), int(b)) for a, b in scenario.bounds]
    frames: list[list[int]] = []
    start = 0
    for k in range(steps):
        a, b = bounds[k % n]
        frames.append([start, start + (b - a)])
        start += b - a
    return {
        "sample_rate": int(scenario.sample_rate),
        "bpm": float(scenario.bpm),
        "step_seconds": float(scenario.step_seconds),
        "step_frames": frames,
        "total_frames": start,
    }


def safe_name(name: str) -> str:
    """``name`` as a file name without separators or leading dots."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "track"


def write_wav(path: str | os.PathLike[str], audio: np.ndarray, sample_rate: int) -> None:
    """Write mono ``(frames,)`` or multi-channel ``(channels, frames)`` audio as 32-bit float WAV."""
    import soundfile as sf

    # 32-bit float keeps the engine's samples exactly (re-renders compare bit for bit)
    # and never clips; every DAW and audio editor reads it.
    a = np.asarray(audio, dtype=np.float32)
    sf.write(str(path), a.T if a.ndim == 2 else a, int(sample_rate), subtype="FLOAT", format="WAV")


class _EnvEpisode:
    """An episode read back from an environment's public state."""

    def __init__(self, env: Any) -> None:
        sc = env.scenario
        agents = list(env.possible_agents)
        n = len(agents)
        log = np.asarray(env.rewards_log, dtype=np.float64).reshape(-1, n + 1)
        self.rewards = log[:, :n]
        self.shared = log[:, n]
        w = float(sc.shared_weight)
        if sc.targets.per_track_available and w < 1.0:
            # The env blends reward = w * shared + (1 - w) * track; solved for the track part.
            self.track = (self.rewards - w * self.shared[:, None]) / (1.0 - w)
        else:
            self.track = np.full_like(self.rewards, np.nan)
        self.audio = env.audio()
        self.patch = env.patch()
        self.agents = agents

    @property
    def mean_reward(self) -> float:
        return float(self.rewards.mean()) if self.rewards.size else float("nan")


def episode_from_env(env: Any) -> EpisodeData:
    """The episode an environment played since its last ``reset`` (rewards from ``rewards_log``).

    With ``shared_weight == 1`` the per-track parts are not recoverable and are NaN;
    :func:`raveforce_mae.baselines.play_episode` records them from ``infos`` instead.

    Raises:
        RuntimeError: if the env has not been reset.
    """
    return _EnvEpisode(env)


class RunWriter:
    """Writes a run folder: targets, one folder per episode, ``summary.json``, the manifest.

    Args:
        out: The folder (created if needed).
        env: The parallel env that plays the episodes.
        agent: Who played (a label written to ``summary.json``).
        seed: Seed of the first episode.
        episodes: Episodes that will be written (for ``summary.json``).
        plots: Draw ``spectrogram.png`` and ``rewards.png`` (matplotlib, slower).
        overrides: Scenario overrides used to build the env.
        command: The command that reproduces the run, if there is one.

    Call :meth:`open` (which checks the folder with :func:`check_output_folder`), then
    :meth:`write_targets` and :meth:`write_episode` per episode (each updates
    ``summary.json``); :meth:`discard` removes what was written.
    """

    def __init__(
        self,
        out: str | os.PathLike[str],
        env: Any,
        *,
        agent: str = "python",
        seed: int | None = None,
        episodes: int | None = None,
        plots: bool = True,
        overrides: Mapping[str, Any] | None = None,
        command: str | None = None,
    ) -> None:
        self.out = Path(out)
        self.env = env
        self.sc = env.scenario
        self.agent = agent
        self.seed = seed
        self.episodes_requested = episodes
        self.plots = plots
        self.overrides = dict(overrides or {})
        self.command = command
        self.finished: list[dict[str, Any]] = []
        self.interrupted = False
        self.error: str | None = None
        self.t0 = time.time()
        self._entries: dict[str, list[str] | None] = {}
        self._created_folder = False
        self._open = False

    # -- the folder ------------------------------------------------------------------------

    def open(self, *, overwrite: bool = False) -> list[Path]:
        """Create the folder and remove the previous run's files (with ``overwrite``).

        Returns:
            The previous run's entries that were removed.

        Raises:
            OutputFolderError: as :func:`check_output_folder`.
        """
        check_output_folder(self.out, overwrite=overwrite)
        if not self.out.exists():
            self.out.mkdir(parents=True)
            self._created_folder = True
        removed = previous_run(self.out)
        self._remove(read_manifest(self.out))
        self._open = True
        self._save_manifest()
        return removed

    def _remove(self, entries: Mapping[str, list[str] | None]) -> None:
        remove_entries(self.out, entries)

    def _save_manifest(self) -> None:
        data = {
            "tool": "raveforce-mae",
            "about": "files written by raveforce-mae; a later run with --overwrite removes only these",
            "created_folder": self._created_folder,
            "entries": self._entries,
        }
        write_atomic(self.out / MANIFEST, json.dumps(data, indent=1) + "\n")

    def _staging(self, name: str) -> Path:
        tmp = self.out / f".{name}.partial-{os.getpid()}"
        self._entries[tmp.name] = []
        self._save_manifest()  # listed before it exists, so a killed run's leftovers are known
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir()
        return tmp

    def _commit(self, tmp: Path, name: str) -> Path:
        final = self.out / name
        if final.exists():
            if name not in self._entries:
                raise OutputFolderError(f"{str(final)!r} appeared while writing; it is left alone", [final])
            self._remove({name: self._entries[name]})
        files = sorted(p.name for p in tmp.iterdir())
        os.rename(tmp, final)
        self._entries.pop(tmp.name, None)
        self._entries[name] = files
        self._save_manifest()
        return final

    def _abandon(self, tmp: Path) -> None:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
        if self._entries.pop(tmp.name, False) is not False:
            self._save_manifest()

    def discard(self) -> None:
        """Remove everything this writer wrote, and the folder if it created it and it is empty."""
        if not self._open:
            return
        self._remove(self._entries)
        self._entries = {}
        (self.out / MANIFEST).unlink(missing_ok=True)
        if self._created_folder:
            try:
                self.out.rmdir()
            except OSError:
                pass
        self._open = False

    # -- files -------------------------------------------------------------------------------

    def _title(self, episode: int, mean_reward: float) -> str:
        return f"{self.sc.name}: {self.agent}, episode {episode} (mean reward {mean_reward:.3f})"

    def _ylabel(self) -> str:
        crit = {str(v) for v in dict(self.sc.criteria).values()}
        return f"reward ({crit.pop()})" if len(crit) == 1 else "reward"

    def write_targets(self) -> Path:
        """Write ``targets/``: the target mix and stems."""
        if not self._open:
            self.open()
        tmp = self._staging("targets")
        try:
            for name, y in self.env.targets().items():
                if y is not None:
                    write_wav(tmp / f"{safe_name(name)}.wav", y, self.sc.sample_rate)
            return self._commit(tmp, "targets")
        finally:
            self._abandon(tmp)

    def write_episode(self, index: int, seed: int | None, result: EpisodeData) -> Path:
        """Write ``episode_NNN/`` and update ``summary.json``.

        Args:
            index: Episode number (the folder's ``NNN``).
            seed: The seed the episode was reset with, if any.
            result: The episode (e.g. from :func:`raveforce_mae.baselines.play_episode`
                or :func:`episode_from_env`).

        Returns:
            The episode's folder.
        """
        if not self._open:
            self.open()
        name = f"episode_{index:03d}"
        tmp = self._staging(name)
        sc = self.sc
        agents = list(result.agents or self.env.possible_agents)
        try:
            for track, y in result.audio.items():
                write_wav(tmp / f"{safe_name(track)}.wav", y, sc.sample_rate)
            patch = result.patch if result.patch.endswith("\n") else result.patch + "\n"
            (tmp / "performance.glicol").write_text(patch, encoding="utf-8")
            (tmp / "rewards.csv").write_text(self._rewards_csv(index, result, agents), encoding="utf-8")
            if self.plots:
                self._pictures(tmp, index, result, agents)
            final = self._commit(tmp, name)
        finally:
            self._abandon(tmp)
        track_means = [
            float(np.nanmean(result.track[:, i])) if np.isfinite(result.track[:, i]).any() else None
            for i in range(len(agents))
        ]
        steps = int(result.rewards.shape[0])
        self.finished.append(
            {
                "episode": index,
                "folder": name,
                "seed": seed,
                "steps": steps,
                "frames": int(len(result.audio["mix"])) if "mix" in result.audio else None,
                "mean_reward": float(result.mean_reward),
                "mean_shared": float(np.mean(result.shared)) if result.shared.size else None,
                "agents": {
                    a: {"mean_reward": float(np.mean(result.rewards[:, i])), "mean_track": track_means[i]}
                    for i, a in enumerate(agents)
                },
            }
        )
        self.write_summary()
        return final

    def _pictures(self, folder: Path, index: int, result: EpisodeData, agents: list[str]) -> None:
        from . import plots

        sc = self.sc
        title = self._title(index, result.mean_reward)
        plots.spectrogram_figure(
            result.audio,
            self.env.targets(),
            sc.sample_rate,
            tracks=[t.name for t in sc.tracks],
            step_seconds=sc.step_seconds,
            title=title,
            path=folder / "spectrogram.png",
        )
        plots.reward_figure(
            result.rewards,
            result.shared,
            agents=agents,
            track=result.track,
            step_seconds=sc.step_seconds,
            ylabel=self._ylabel(),
            title=title,
            path=folder / "rewards.png",
        )

    def _rewards_csv(self, index: int, result: EpisodeData, agents: list[str]) -> str:
        sc = self.sc
        track_of = {t.agent: t.name for t in sc.tracks}
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["episode", "step", "time_s", "agent", "track", "reward", "shared", "track_reward"])
        frames = episode_timing(sc, result.rewards.shape[0])["step_frames"]
        for k in range(result.rewards.shape[0]):
            t0 = frames[k][0] / sc.sample_rate
            for i, a in enumerate(agents):
                tr = result.track[k, i]
                w.writerow(
                    [
                        index,
                        k,
                        f"{t0:.6g}",
                        a,
                        track_of.get(a, a),
                        f"{result.rewards[k, i]:.6g}",
                        f"{result.shared[k]:.6g}",
                        "" if not np.isfinite(tr) else f"{tr:.6g}",
                    ]
                )
        return buf.getvalue()

    def summary(self) -> dict[str, Any]:
        """The content of ``summary.json`` (see ``docs/cli.md`` for every key)."""
        from . import __version__

        best = max(self.finished, key=lambda e: e["mean_reward"], default=None)
        steps = max((e["steps"] for e in self.finished), default=int(getattr(self.env, "max_cycles", 0) or 0))
        return {
            "format": SUMMARY_FORMAT,
            "raveforce_mae": __version__,
            "command": self.command,
            "versions": library_versions(),
            "scenario": scenario_summary(self.sc),
            "timing": episode_timing(self.sc, steps or None),
            "overrides": self.overrides,
            "agent": self.agent,
            "seed": self.seed,
            "episodes_requested": self.episodes_requested,
            "episodes_finished": len(self.finished),
            "interrupted": self.interrupted,
            "error": self.error,
            "seconds": round(time.time() - self.t0, 3),
            "best_episode": best["folder"] if best else None,
            "episodes": self.finished,
        }

    def write_report(self) -> Path:
        """Write the run's listening page (``report.html``, ``report_files/``) and list it.

        Returns:
            The page's path.
        """
        if not self._open:
            self.open()
        for name in (REPORT_NAME, FILES_DIR):
            if (self.out / name).exists() and name not in self._entries:
                raise OutputFolderError(
                    f"{str(self.out / name)!r} was not written by raveforce-mae; it is left alone",
                    [self.out / name],
                )
        self._entries.setdefault(REPORT_NAME, None)
        self._entries.setdefault(FILES_DIR, [])
        self._save_manifest()  # listed before it exists, so a killed run's leftovers are known
        page = write_report(self.out)
        files = self.out / FILES_DIR
        self._entries[FILES_DIR] = sorted(
            q.relative_to(files).as_posix() for q in files.rglob("*") if q.is_file()
        )
        self._save_manifest()
        return page

    def write_summary(self) -> Path:
        """Write ``summary.json`` (atomically) and list it in the manifest."""
        if not self._open:
            self.open()
        if SUMMARY not in self._entries:
            self._entries[SUMMARY] = None
            self._save_manifest()
        path = self.out / SUMMARY
        write_atomic(path, json.dumps(self.summary(), indent=2, default=str) + "\n")
        return path


def export_episode(
    env: Any,
    out: str | os.PathLike[str],
    result: EpisodeData | None = None,
    *,
    agent: str = "python",
    seed: int | None = None,
    plots: bool = True,
    overwrite: bool = False,
    command: str | None = None,
    report: bool = True,
) -> Path:
    """Write one played episode as a run folder (``targets/``, ``episode_000/``, ``summary.json``).

    Args:
        env: The parallel env, after the episode (before the next ``reset``).
        out: The folder; created if needed.
        result: The episode, e.g. from :func:`raveforce_mae.baselines.play_episode`
            ([default: read back from ``env`` with :func:`episode_from_env`]).
        agent: Who played (a label in ``summary.json`` and the pictures' titles).
        seed: The seed the episode was reset with, if known.
        plots: Draw the PNG pictures.
        overwrite: Replace a previous run in ``out`` (only files its manifest lists).
        command: The command that reproduces the episode, if there is one.
        report: Also write the listening page ``report.html`` (see
            :func:`raveforce_mae.report.write_report`).

    Returns:
        The folder.

    Raises:
        OutputFolderError: if ``out`` holds files this library did not write where it
            would write, or a previous run and not ``overwrite``.
    """
    episode = result if result is not None else episode_from_env(env)
    writer = RunWriter(out, env, agent=agent, seed=seed, episodes=1, plots=plots, command=command)
    writer.open(overwrite=overwrite)
    writer.write_targets()
    writer.write_episode(0, seed, episode)
    if report:
        writer.write_report()
    return writer.out
