"""Private files and folders: created for the current user only, refused otherwise.

Used for everything the package keeps on disk (the verified binary, compiled
modules and the key that authenticates them).
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from .errors import EngineCacheError

__all__ = ["check_private", "private_dir", "read_private", "write_private"]


def _describe(st: os.stat_result) -> str:
    return f"owner uid {st.st_uid}, mode {stat.filemode(st.st_mode)} ({stat.S_IMODE(st.st_mode):04o})"


def check_private(path: Path, st: os.stat_result, *, secret: bool = False) -> None:
    """Refuse a cache folder or file that another user owns or can write.

    Args:
        path: The path, for the message.
        st: Its ``stat`` result (of the opened file, for files).
        secret: Also refuse it if other users can read it (the key).

    Raises:
        EngineCacheError: naming the path, its owner and mode, and the fix.
    """
    if not hasattr(os, "geteuid"):  # pragma: no cover - no POSIX owners (Windows)
        return
    uid = os.geteuid()
    kind = "folder" if stat.S_ISDIR(st.st_mode) else "file"
    fix = f"chmod 700 {path}" if kind == "folder" else f"chmod 600 {path}"
    if st.st_uid != uid:
        raise EngineCacheError(
            f"glicol_wasm refuses the cache {kind} {path}: it is owned by another user "
            f"({_describe(st)}; you are uid {uid}). Compiled modules are native code, so the "
            "cache must belong to you. Remove it, or set GLICOL_WASM_CACHE (and "
            "GLICOL_WASM_KEY_DIR for the key) to a folder of your own."
        )
    bad = stat.S_IWGRP | stat.S_IWOTH | (stat.S_IRWXG | stat.S_IRWXO if secret else 0)
    if stat.S_IMODE(st.st_mode) & bad:
        who = "read or written" if secret else "written"
        raise EngineCacheError(
            f"glicol_wasm refuses the cache {kind} {path}: it can be {who} by other users "
            f"({_describe(st)}). Compiled modules are native code, so the cache must be "
            f"private. Fix it with `{fix}`, or set GLICOL_WASM_CACHE to a private folder."
        )


def private_dir(path: Path) -> Path:
    """Create ``path`` (mode 0700) if needed and check that it is private.

    Raises:
        EngineCacheError: if it exists and another user owns or can write it.
        OSError: if it cannot be created.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass  # another process created it first; it is checked below
        st = os.stat(path)
    if not stat.S_ISDIR(st.st_mode):
        raise NotADirectoryError(f"{path} is not a folder")
    check_private(path, st)
    return path


def read_private(path: Path, *, secret: bool = False) -> bytes | None:
    """Read a file that must be ours and private; ``None`` if it does not exist.

    The file is opened without following a symbolic link, and the checks are made on
    the opened file, so it cannot be swapped between the check and the read.
    """
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return None
    except OSError as e:  # e.g. ELOOP: a symbolic link where a file should be
        raise EngineCacheError(f"glicol_wasm refuses the cache file {path}: {e.strerror}; remove it") from e
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise EngineCacheError(
                f"glicol_wasm refuses the cache file {path}: not a regular file; remove it"
            )
        check_private(path, st, secret=secret)
        return f.read()


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically, mode 0600 (a temporary file, then a rename)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:  # mkstemp creates the file 0600
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
