"""Obtaining, verifying and locating the Glicol WebAssembly binary.

The engine is the file ``package/glicol_wasm.wasm`` of the npm package
``glicol@0.4.0`` (MIT licence, by Qichao Lan). It is third-party code, so it is not
shipped with this project: ``python -m glicol_wasm fetch`` obtains it once with
``npm pack`` (using the machine's own npm configuration), verifies the tarball and the
binary against the hashes below and stores it in a per-user cache. Nothing is ever
downloaded while an engine runs.

Where the binary is looked for, in order:

1. ``$GLICOL_WASM``: a path to a ``glicol_wasm.wasm`` file (verified too);
2. the cache: ``$GLICOL_WASM_CACHE``, else ``$XDG_CACHE_HOME/glicol_wasm``, else
   ``~/.cache/glicol_wasm``.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from ._private import private_dir, write_private
from .errors import EngineIntegrityError, EngineUnavailableError

__all__ = [
    "PACKAGE",
    "WASM_SHA256",
    "cache_dir",
    "fetch",
    "locate",
    "verify_file",
]

PACKAGE = "glicol@0.4.0"
TARBALL_SHA512 = (
    "sha512-1ebgPZa9C/Bu6D16+SI6DDO7xcjULgan21NRRruCQeFjUwIsfY3BlKmiQ3geid9PfTEyWr4hEZabHRSl2YLCGw=="
)
TARBALL_SHA256 = "1eb54f0bef6208c529bff809822908c3529fbfc237fdf963bd107a3e5aa3f69b"
WASM_MEMBER = "package/glicol_wasm.wasm"
WASM_SIZE = 2_235_795
WASM_SHA256 = "6b23d4ea0d00cbf31605f208446187bd8500880533d89bf92d6947dba9dc2f55"
WASM_NAME = f"glicol_wasm-0.4.0-{WASM_SHA256[:12]}.wasm"

_HOW_TO = (
    "Run `python -m glicol_wasm fetch` once (it needs npm and access to the npm "
    "registry), or set GLICOL_WASM=/path/to/glicol_wasm.wasm (the file "
    f"package/glicol_wasm.wasm from the npm package {PACKAGE})."
)


def cache_dir() -> Path:
    """Return the per-user cache folder (it may not exist yet)."""
    env = os.environ.get("GLICOL_WASM_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "glicol_wasm"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def verify_bytes(data: bytes, what: str = "glicol_wasm.wasm") -> None:
    """Check that ``data`` is the expected Glicol binary.

    Raises:
        EngineIntegrityError: if the size or sha256 differs.
    """
    digest = _sha256(data)
    if digest != WASM_SHA256:
        raise EngineIntegrityError(
            f"{what}: sha256 is {digest} ({len(data)} bytes), expected {WASM_SHA256} "
            f"({WASM_SIZE} bytes, from npm {PACKAGE}). The file was modified or is a "
            f"different Glicol build; refusing to load it. {_HOW_TO}"
        )


def verify_file(path: str | os.PathLike[str]) -> bytes:
    """Read ``path`` and verify it is the expected Glicol binary.

    Returns:
        The file's bytes.

    Raises:
        EngineUnavailableError: if the file cannot be read.
        EngineIntegrityError: if its hash is wrong.
    """
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as e:
        raise EngineUnavailableError(f"cannot read the Glicol binary {p}: {e}. {_HOW_TO}") from e
    verify_bytes(data, str(p))
    return data


def locate() -> Path:
    """Return the path of the Glicol binary to use (not yet verified).

    Raises:
        EngineUnavailableError: if ``$GLICOL_WASM`` names a missing file, or if the
            binary has not been fetched.
    """
    env = os.environ.get("GLICOL_WASM")
    if env:
        p = Path(env).expanduser()
        if not p.is_file():
            raise EngineUnavailableError(f"GLICOL_WASM={env!r} does not name a file. {_HOW_TO}")
        return p
    p = cache_dir() / WASM_NAME
    if not p.is_file():
        raise EngineUnavailableError(f"the Glicol engine is not installed ({p} is missing). {_HOW_TO}")
    return p


def verify_tarball(data: bytes, what: str = "tarball") -> bytes:
    """Verify an npm tarball of glicol@0.4.0 and return the wasm it contains.

    Raises:
        EngineIntegrityError: if the tarball's integrity or the wasm's hash is wrong.
    """
    integrity = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
    if integrity != TARBALL_SHA512 or _sha256(data) != TARBALL_SHA256:
        raise EngineIntegrityError(
            f"{what}: integrity {integrity} does not match {PACKAGE} ({TARBALL_SHA512}); refusing it."
        )
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        member = tar.extractfile(WASM_MEMBER)
        if member is None:  # pragma: no cover - the hash above pins the content
            raise EngineIntegrityError(f"{what} has no {WASM_MEMBER}")
        wasm = member.read()
    verify_bytes(wasm, f"{what}:{WASM_MEMBER}")
    return wasm


def _npm_pack(dest: Path) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        raise EngineUnavailableError(
            "npm was not found on PATH; it is needed once to obtain the Glicol engine "
            f"({PACKAGE}). Install Node.js with npm, or set "
            "GLICOL_WASM=/path/to/glicol_wasm.wasm."
        )
    try:
        proc = subprocess.run(
            [npm, "pack", PACKAGE, "--json", "--pack-destination", str(dest)],
            cwd=dest,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    except subprocess.TimeoutExpired as e:
        raise EngineUnavailableError(
            f"`npm pack {PACKAGE}` did not finish in 300 s (no network?). {_HOW_TO}"
        ) from e
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-6:])
        raise EngineUnavailableError(
            f"`npm pack {PACKAGE}` failed with exit code {proc.returncode}:\n{tail}\n"
            "Check the network and npm's configuration, or set "
            "GLICOL_WASM=/path/to/glicol_wasm.wasm."
        )
    try:
        name = json.loads(proc.stdout)[0]["filename"]
    except (ValueError, LookupError, TypeError):
        name = "glicol-0.4.0.tgz"
    path = dest / name
    if not path.is_file():
        raise EngineUnavailableError(f"`npm pack {PACKAGE}` reported success but {path} is missing")
    return path


def fetch(tarball: str | os.PathLike[str] | None = None, *, force: bool = False) -> Path:
    """Obtain the verified Glicol binary and store it in the per-user cache.

    Args:
        tarball: An already downloaded ``glicol-0.4.0.tgz`` to use instead of running
            ``npm pack`` (for machines without network access).
        force: Fetch again even if a verified copy is cached.

    Returns:
        The path of the cached binary.

    Raises:
        EngineUnavailableError: if npm is missing or fails, or the cache is unwritable.
        EngineIntegrityError: if the tarball or the binary fails verification.
    """
    target = cache_dir() / WASM_NAME
    if not force and target.is_file():
        try:
            verify_file(target)
            return target
        except EngineIntegrityError:
            pass  # a damaged cached copy is replaced below
    if tarball is not None:
        data = Path(tarball).read_bytes()
        wasm = verify_tarball(data, str(tarball))
    else:
        with tempfile.TemporaryDirectory(prefix="glicol-fetch-") as tmp:
            path = _npm_pack(Path(tmp))
            wasm = verify_tarball(path.read_bytes(), f"npm pack {PACKAGE}")
    try:
        # Private like the compiled modules next to it (0700 folder, 0600 file); the
        # binary is verified by hash in every process anyway.
        private_dir(target.parent)
        write_private(target, wasm)
    except OSError as e:
        raise EngineUnavailableError(
            f"cannot write the Glicol binary to the cache {target}: {e}. Set "
            "GLICOL_WASM_CACHE to a writable folder."
        ) from e
    return target
