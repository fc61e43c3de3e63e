"""Targets from a folder of audio loops: users bring their own mixes and stems.

Layout: one subfolder per target; each holds ``mix.wav`` and/or one file per track
(``bass.wav``, ``kick.wav``, ...; ``.wav``, ``.flac``, ``.ogg`` or ``.aiff``)::

    loops/
      001_acid/      mix.wav  bass.wav
      002_break/     kick.wav hat.wav        (no mix: the mix is the sum of the stems)
      ...

Subfolders are sorted by name. The split rule: a subfolder is a *test* target when
``hash_partition(name.encode("utf-8"), modulus) == 0`` (SHA-256 of its name, first 8
bytes big-endian, mod ``modulus``; default 5, about one in five), a *train* target
otherwise. The rule depends on the name only, so adding or removing loops never moves
another loop between splits. A folder that has ``train/`` and ``test/`` subfolders uses
them as the splits instead.

Every file of a target is checked when the target is first used (or all at once with
:meth:`FolderTargets.validate`): readable, the expected sample rate, mono or stereo,
not empty, finite, and a peak within ``max_peak``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .distributions import hash_partition
from .errors import ScenarioError

__all__ = ["FolderTargets", "FolderSplit", "AUDIO_SUFFIXES"]

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".aiff", ".aif")
"""File types a target subfolder may hold."""


class FolderSplit(Sequence[dict[str, "Path | None"]]):
    """One split of a :class:`FolderTargets`: ``split[k]`` is target k's files.

    ``split[k]`` is ``{"mix": path or None, <track>: path or None, ...}`` with a key
    for every track; its files are validated the first time it is returned.
    ``split.names[k]`` is its subfolder's name.
    """

    def __init__(self, owner: FolderTargets, name: str, dirs: list[Path]) -> None:
        self._owner = owner
        self.name = name
        self._dirs = dirs

    @property
    def names(self) -> list[str]:
        """Subfolder names, in order."""
        return [d.name for d in self._dirs]

    def __len__(self) -> int:
        return len(self._dirs)

    def __getitem__(self, k: Any) -> Any:
        if isinstance(k, slice):
            return [self[i] for i in range(*k.indices(len(self)))]
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
            raise TypeError(f"target index must be an integer, got {k!r}")
        if not -len(self) <= k < len(self):
            if not self._dirs:
                raise IndexError(f"{self._owner.path}: the {self.name} split is empty")
            raise IndexError(f"{self._owner.path}: {self.name} target {k} out of range 0..{len(self) - 1}")
        return self._owner.item(self._dirs[int(k)])


class FolderTargets:
    """A folder of target loops, split into train and test.

    Args:
        path: The folder (see the module docstring for its layout).
        tracks: The scenario's track names. Stems must be named after them; a
            subfolder without ``mix`` must have a stem for every track. ``None``: the
            tracks are the stem names found.
        sample_rate: Expected sample rate in Hz, or ``None`` for any.
        max_peak: Largest allowed absolute sample value.
        modulus: One subfolder in ``modulus`` (by hash of its name) is a test target.

    Raises:
        ScenarioError: if the folder is missing, empty, a subfolder holds no audio, a
            file name is not ``mix`` or a track, or a mix-less subfolder lacks a stem.
            The message names the file and what was expected.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        tracks: Sequence[str] | None = None,
        sample_rate: int | None = None,
        max_peak: float = 1.0,
        modulus: int = 5,
    ) -> None:
        self.path = Path(path)
        if not self.path.is_dir():
            raise ScenarioError(f"{self.path}: expected a folder of target subfolders")
        if modulus < 2:
            raise ValueError(f"modulus must be >= 2, got {modulus}")
        if not max_peak > 0:
            raise ValueError(f"max_peak must be > 0, got {max_peak}")
        self.sample_rate = sample_rate
        self.max_peak = float(max_peak)
        self.modulus = modulus
        fixed = {d.name for d in self._subdirs(self.path)} >= {"train", "test"}
        if fixed:
            parts = {s: self._subdirs(self.path / s) for s in ("train", "test")}
        else:
            dirs = self._subdirs(self.path)
            parts = {
                "train": [d for d in dirs if hash_partition(d.name.encode(), modulus) != 0],
                "test": [d for d in dirs if hash_partition(d.name.encode(), modulus) == 0],
            }
        self.presplit = fixed
        everything = parts["train"] + parts["test"]
        if not everything:
            raise ScenarioError(f"{self.path}: no target subfolders (expected e.g. {self.path}/001/mix.wav)")
        self._files: dict[Path, dict[str, Path]] = {}
        found: set[str] = set()
        for d in everything:
            files: dict[str, Path] = {}
            for f in sorted(d.iterdir()):
                if not f.is_file() or f.suffix.lower() not in AUDIO_SUFFIXES:
                    continue
                stem = f.stem
                if stem in files:
                    raise ScenarioError(f"{f}: a second file for {stem!r} (also {files[stem].name})")
                if stem != "mix" and tracks is not None and stem not in tracks:
                    raise ScenarioError(f"{f}: expected 'mix' or a track name ({list(tracks)}), got {stem!r}")
                files[stem] = f
            if not files:
                raise ScenarioError(f"{d}: no audio file (expected mix.wav and/or <track>.wav)")
            found.update(k for k in files if k != "mix")
            self._files[d] = files
        self.tracks: tuple[str, ...] = tuple(tracks) if tracks is not None else tuple(sorted(found))
        for d, files in self._files.items():
            if "mix" not in files:
                missing = [t for t in self.tracks if t not in files]
                if missing:
                    raise ScenarioError(
                        f"{d}: no mix.wav, so a stem for every track is needed (the mix is their sum); "
                        f"missing {missing[0]!r}"
                    )
        self._splits = {s: FolderSplit(self, s, parts[s]) for s in ("train", "test")}
        self._checked: set[Path] = set()

    @staticmethod
    def _subdirs(p: Path) -> list[Path]:
        return sorted(
            (d for d in p.iterdir() if d.is_dir() and not d.name.startswith(".")), key=lambda d: d.name
        )

    def split(self, name: str) -> FolderSplit:
        """The targets of split ``name`` (``"train"`` or ``"test"``)."""
        if name not in self._splits:
            raise ValueError(f"split must be 'train' or 'test', got {name!r}")
        return self._splits[name]

    def item(self, folder: Path) -> dict[str, Path | None]:
        """The validated files of one target subfolder: ``{"mix": ..., <track>: ...}``."""
        files = self._files[folder]
        if folder not in self._checked:
            for f in files.values():
                self.check_file(f)
            self._checked.add(folder)
        out: dict[str, Path | None] = {"mix": files.get("mix")}
        for t in self.tracks:
            out[t] = files.get(t)
        return out

    def validate(self) -> int:
        """Check every file of every target now; returns the number of files checked."""
        n = 0
        for s in ("train", "test"):
            for d in self._splits[s]._dirs:
                self.item(d)
                n += len(self._files[d])
        return n

    def check_file(self, f: Path) -> None:
        """Check one audio file (see the module docstring).

        Raises:
            ScenarioError: naming the file, what is wrong and what was expected.
        """
        import soundfile as sf

        try:
            data, sr = sf.read(str(f), dtype="float64", always_2d=True)
        except Exception as e:  # soundfile raises its own LibsndfileError, RuntimeError, ...
            raise ScenarioError(f"{f}: cannot read as audio ({e})") from None
        if self.sample_rate is not None and sr != self.sample_rate:
            raise ScenarioError(
                f"{f}: sample rate {sr} Hz, expected {self.sample_rate} Hz (resample the file)"
            )
        if data.shape[0] == 0:
            raise ScenarioError(f"{f}: the file is empty (0 frames)")
        if data.shape[1] > 2:
            raise ScenarioError(f"{f}: {data.shape[1]} channels, expected mono or stereo")
        if not np.isfinite(data).all():
            raise ScenarioError(f"{f}: holds NaN or infinite samples; expected finite audio")
        peak = float(np.abs(data).max())
        if peak > self.max_peak:
            raise ScenarioError(f"{f}: peak {peak:.3g} exceeds the amplitude bound {self.max_peak:g}")
        if peak == 0.0:
            raise ScenarioError(f"{f}: the file is silent; a target needs sound")
