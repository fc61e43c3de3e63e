"""The run folder's bookkeeping: the manifest of what this library wrote, and nothing else.

A run folder (see :mod:`raveforce_mae.export`) may sit beside the user's own files. The
manifest (``.raveforce-run.json``) lists every top-level name a run wrote and the files
inside it; a later run replaces only what a manifest lists, and refuses to start when a
name it would write is there without being listed. An edited manifest cannot widen
this: entries that a run never writes, and paths that leave the folder, are ignored.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

from .errors import RaveforceError

__all__ = [
    "FILES_DIR",
    "MANIFEST",
    "REPORT_NAME",
    "SUMMARY",
    "OutputFolderError",
    "check_output_folder",
    "foreign_files",
    "previous_run",
    "read_manifest",
    "remove_entries",
    "write_atomic",
]

REPORT_NAME = "report.html"
"""The listening page of a run (:func:`raveforce_mae.report.write_report`)."""
FILES_DIR = "report_files"
"""The listening page's pictures."""

MANIFEST = ".raveforce-run.json"
"""The manifest's file name (hidden: it is for the tool, not for listening)."""
SUMMARY = "summary.json"

_EPISODE_DIR = re.compile(r"^episode_\d{3,}$")
_STAGING = re.compile(r"^\.(episode_\d{3,}|targets)\.partial-\d+$")
_PLAIN_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


class OutputFolderError(RaveforceError):
    """The output folder cannot be used without destroying files this library did not write.

    Attributes:
        paths: The paths in the way.
    """

    def __init__(self, message: str, paths: Sequence[Path] = ()) -> None:
        super().__init__(message)
        self.paths = list(paths)


def write_atomic(path: Path, data: str) -> None:
    """Write a file under a temporary name, then rename it into place."""
    tmp = path.with_name(f".{path.name}.partial-{os.getpid()}")
    try:
        tmp.write_text(data, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _ours(name: str) -> bool:
    """Whether ``name`` is one of the top-level names a run writes (what a manifest may list)."""
    return bool(
        name in ("targets", SUMMARY, REPORT_NAME, FILES_DIR)
        or _EPISODE_DIR.match(name)
        or _STAGING.match(name)
    )


def _plain_path(f: object) -> bool:
    """A relative path of plain names (no ``..``, no absolute path): what a manifest may list."""
    return isinstance(f, str) and all(_PLAIN_NAME.match(part) for part in f.split("/"))


def read_manifest(out: Path) -> dict[str, list[str] | None]:
    """The entries of the manifest in ``out``: top-level name -> files inside (None: a file).

    Entries that a run never writes, or with path separators, are ignored, so that an
    edited manifest cannot make a later run delete anything else.
    """
    try:
        data = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    entries = data.get("entries") if isinstance(data, dict) else None
    if not isinstance(entries, dict):
        return {}
    clean: dict[str, list[str] | None] = {}
    for name, files in entries.items():
        if not isinstance(name, str) or not _ours(name):
            continue
        if files is None:
            clean[name] = None
        elif isinstance(files, list):
            clean[name] = [f for f in files if _plain_path(f)]
    return clean


def previous_run(out: str | os.PathLike[str]) -> list[Path]:
    """Entries of an earlier run in ``out``, as its manifest lists them."""
    out = Path(out)
    if not out.is_dir():
        return []
    return [out / n for n in sorted(read_manifest(out)) if (out / n).exists()]


def foreign_files(out: str | os.PathLike[str]) -> list[Path]:
    """Paths in ``out`` where a run writes that no manifest says this library wrote."""
    out = Path(out)
    if not out.is_dir():
        return []
    listed = read_manifest(out)
    found: list[Path] = []
    for p in sorted(out.iterdir()):
        if not _ours(p.name) or (_STAGING.match(p.name) and p.name in listed):
            continue  # not a name a run writes, or a killed run's temporary folder
        if p.name not in listed:
            found.append(p)
            continue
        files = listed[p.name]
        if files is None:
            if p.is_dir() and not p.is_symlink():
                found.append(p)
        elif not p.is_dir() or p.is_symlink():
            found.append(p)
        else:
            # Files at any depth (the report's pictures are in sub-folders); a folder
            # counts as ours when it holds only files the manifest lists.
            wanted = set(files)
            for q in sorted(p.rglob("*")):
                rel = q.relative_to(p).as_posix()
                if q.is_dir() and not q.is_symlink():
                    if not any(f.startswith(rel + "/") for f in wanted):
                        found.append(q)
                elif rel not in wanted and not any(q.is_relative_to(f) for f in found):
                    found.append(q)
    return found


def check_output_folder(out: str | os.PathLike[str], *, overwrite: bool = False) -> None:
    """Raise if ``out`` holds files that a run would replace and may not.

    Raises:
        OutputFolderError: naming files that no manifest lists (always: they are left
            alone), or a previous run (unless ``overwrite``).
    """
    out = Path(out)
    foreign = foreign_files(out)
    if foreign:
        shown = ", ".join(str(p) for p in foreign[:4]) + (", ..." if len(foreign) > 4 else "")
        raise OutputFolderError(
            f"the output folder {str(out)!r} holds {shown}, which raveforce-mae did not write "
            f"(no {MANIFEST} lists it); it is left alone: move it away or choose another folder",
            foreign,
        )
    previous = previous_run(out)
    if previous and not overwrite:
        shown = ", ".join(p.name for p in previous[:4]) + (", ..." if len(previous) > 4 else "")
        raise OutputFolderError(f"the output folder {str(out)!r} holds a previous run ({shown})", previous)


def remove_entries(out: Path, entries: Mapping[str, list[str] | None]) -> None:
    """Remove what ``entries`` lists, and directories only once they are empty."""
    for name, files in entries.items():
        p = out / name
        if _STAGING.match(name) and p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)  # our own temporary folder
        elif files is None:
            if p.is_file() or p.is_symlink():
                p.unlink()
        elif p.is_dir() and not p.is_symlink():
            parents: set[Path] = set()
            for f in files:
                q = p / f
                if q.is_file() or q.is_symlink():
                    q.unlink()
                parents.update(q.parents)
            # Sub-folders (the report's pictures), deepest first, then the folder itself.
            for d in sorted((d for d in parents if p in d.parents), key=lambda d: -len(d.parts)):
                try:
                    d.rmdir()
                except OSError:
                    pass  # something else is inside: not ours to remove
            try:
                p.rmdir()
            except OSError:
                pass  # something else is inside: not ours to remove
