"""Compile the Glicol module once per process, with an authenticated copy cached on disk.

Compiling the 2.2 MB module with wasmtime takes about a second; deserializing a
cached artefact takes milliseconds. But a serialized module is native code that
wasmtime runs without checking it (``Module.deserialize`` is documented as unsafe
on untrusted bytes), so the cache is guarded as follows:

* **Private folders.** The cache folder and its ``compiled/`` sub-folder are created
  with mode 0700 and artefacts with mode 0600. A folder or artefact that another user
  can write, or that another user owns, is refused with :class:`EngineCacheError`
  (nothing is read from it).
* **Authenticated artefacts.** Each artefact carries an HMAC-SHA256 over the cache key
  and the serialized bytes, keyed by a 32-byte per-user secret kept in a separate
  private folder (``$GLICOL_WASM_KEY_DIR``, else ``$XDG_CONFIG_HOME/glicol_wasm``, else
  ``~/.config/glicol_wasm``; the key file is 0600). Whoever can write the cache folder
  but cannot read the key cannot produce an artefact that is accepted, so a forged or
  copied-in artefact (a restored CI cache, a shared folder, a hash file written next
  to it) is simply recompiled. The tag is checked on the bytes in memory, which are
  the bytes deserialized: there is no window between check and use.
* **Atomic writes.** An artefact is written to a private temporary file in the same
  folder, then renamed over the old one, so readers see a whole file or none.
* **Recompile on any mismatch**: a bad header, tag, key or a failed deserialization
  rebuilds the entry.

The cache key covers the binary's hash, the wasmtime version and the machine, so an
upgrade or another binary never loads a stale artefact. An unwritable cache only
costs the compile time (with a warning). The binary itself is verified by hash in
every process before anything is compiled or loaded.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib.metadata
import os
import platform
import secrets
import tempfile
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

import wasmtime

from . import binary
from ._abi import LOOP_WAT, Modules
from ._private import private_dir, read_private, write_private
from .errors import EngineCacheError

__all__ = ["Compiled", "compiled", "key_dir"]

_MAGIC = b"glicol_wasm compiled module, HMAC-SHA256 authenticated, v4\n"
_TAG_LEN = 32
_KEY_NAME = "cache.key"


@dataclass(frozen=True)
class Compiled(Modules):
    """The compiled modules plus where they came from.

    Attributes:
        wasm_path: The verified binary they were compiled from.
        from_cache: ``True`` if the engine module was deserialized from an artefact
            whose tag was valid, ``False`` if it was compiled in this process.
        artefact: The artefact's path (it may not exist if the cache is unwritable).
    """

    wasm_path: Path
    from_cache: bool
    artefact: Path


_lock = threading.Lock()
_compiled: dict[str, Compiled] = {}
_by_env: dict[tuple[str | None, ...], Compiled] = {}


def key_dir() -> Path:
    """The private folder holding the per-user key that authenticates cached artefacts."""
    env = os.environ.get("GLICOL_WASM_KEY_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CONFIG_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".config"
    return base / "glicol_wasm"


def _key() -> bytes:
    """The per-user secret key, created (32 random bytes, mode 0600) on first use.

    Raises:
        EngineCacheError: if the key folder or file is not private.
        OSError: if the key cannot be created.
    """
    folder = private_dir(key_dir())
    path = folder / _KEY_NAME
    key = read_private(path, secret=True)
    if key is None:
        # Create-or-keep without a race: link a complete private file into place; if
        # another process linked its key first, use that one.
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".key.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(secrets.token_bytes(32))
                f.flush()
                os.fsync(f.fileno())
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass
        finally:
            Path(tmp).unlink(missing_ok=True)
        key = read_private(path, secret=True)
    if key is None or len(key) != 32:
        raise EngineCacheError(
            f"glicol_wasm: the cache key {path} is damaged ({0 if key is None else len(key)} bytes, "
            "expected 32). Remove it; a new one is created and the cache is rebuilt."
        )
    return key


def _ident(wasm_sha: str) -> str:
    ver = importlib.metadata.version("wasmtime")
    return f"{wasm_sha}|wasmtime-{ver}|{platform.machine()}|{platform.system()}|v4"


def _tag(key: bytes, ident: str, payload: bytes) -> bytes:
    return hmac.new(key, ident.encode() + b"\x00" + payload, hashlib.sha256).digest()


def _load(engine: wasmtime.Engine, path: Path, key: bytes, ident: str) -> wasmtime.Module | None:
    """Deserialize the artefact at ``path`` if its tag is valid, else ``None``."""
    blob = read_private(path)
    head = len(_MAGIC) + _TAG_LEN
    if blob is None or len(blob) <= head or not blob.startswith(_MAGIC):
        return None
    tag, payload = blob[len(_MAGIC) : head], blob[head:]
    if not hmac.compare_digest(tag, _tag(key, ident, payload)):
        return None  # forged, damaged, or written with another key: recompile
    try:
        return wasmtime.Module.deserialize(engine, payload)
    except Exception:  # noqa: BLE001 - any failure means: rebuild the entry
        return None


def _store(module: wasmtime.Module, path: Path, key: bytes, ident: str) -> None:
    payload = bytes(module.serialize())
    write_private(path, _MAGIC + _tag(key, ident, payload) + payload)


def _warn_unwritable(where: Path, e: OSError) -> None:
    warnings.warn(
        f"glicol_wasm: cannot write the compiled-module cache at {where} ({e}); "
        "the engine still works but every process compiles it again (about 1 s). "
        "Set GLICOL_WASM_CACHE (and GLICOL_WASM_KEY_DIR) to writable private folders.",
        RuntimeWarning,
        stacklevel=4,
    )


def compiled() -> Compiled:
    """Return the process-wide compiled modules, compiling or loading them once.

    Raises:
        EngineUnavailableError: if the binary is missing.
        EngineIntegrityError: if it fails verification.
        EngineCacheError: if the cache (or its key) is not private to this user.
    """
    env_key = tuple(
        os.environ.get(v)
        for v in (
            "GLICOL_WASM",
            "GLICOL_WASM_CACHE",
            "XDG_CACHE_HOME",
            "GLICOL_WASM_KEY_DIR",
            "XDG_CONFIG_HOME",
        )
    )
    hit = _by_env.get(env_key)
    if hit is not None:  # fast path: no file-system look-ups for every new Engine
        return hit
    path = binary.locate()
    key_id = str(path.resolve())
    with _lock:
        hit = _compiled.get(key_id)
        if hit is not None:
            _by_env[env_key] = hit
            return hit
        data = binary.verify_file(path)
        engine = wasmtime.Engine()
        ident = _ident(binary.WASM_SHA256)
        name = hashlib.sha256(ident.encode()).hexdigest()[:32]
        art = binary.cache_dir() / "compiled" / f"glicol-{name}.cwasm"
        module: wasmtime.Module | None = None
        key: bytes | None = None
        try:
            private_dir(binary.cache_dir())
            private_dir(art.parent)
            key = _key()
            module = _load(engine, art, key, ident)
        except OSError as e:
            _warn_unwritable(art.parent, e)
        from_cache = module is not None
        if module is None:
            module = wasmtime.Module(engine, data)
            if key is not None:
                try:
                    _store(module, art, key, ident)
                except OSError as e:
                    _warn_unwritable(art.parent, e)
        loop = wasmtime.Module(engine, LOOP_WAT)
        result = Compiled(engine, module, loop, path, from_cache, art)
        _compiled[key_id] = result
        _by_env[env_key] = result
        return result
