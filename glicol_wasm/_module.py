"""Compile the Glicol module once per process, with a serialized copy cached on disk.

Compiling the 2.2 MB module with wasmtime takes about a second; deserializing a
cached artefact takes milliseconds. The cache key covers the binary's hash, the
wasmtime version and the machine, so an upgrade or another binary can never load a
stale artefact. Each artefact is stored with its own sha256, checked before
deserializing (wasmtime trusts serialized code), so a corrupt entry is rebuilt
instead of crashing the process. An unwritable cache only costs the compile time.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import platform
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

import wasmtime

from . import binary

# The block loop: runs `n` blocks of `process` inside wasm, copying each block's
# planar stereo output (256 float32 = 1024 bytes) to dst + i * 1024. If `code_len` is
# non-zero, the code at the code buffer is submitted with `update` first, so one call
# from Python changes the code and renders a whole step. It stops at the first block
# whose result buffer reports an error and returns that block's index, or -1. The
# buffer addresses are set once per instance with `setup`: every argument of a call
# from Python costs a type check in wasmtime-py, so `run` takes only two.
LOOP_WAT = """
(module
 (import "g" "memory" (memory 1))
 (import "g" "process" (func $process (param i32 i32 i32 i32)))
 (import "g" "update" (func $update (param i32 i32)))
 (import "g" "alloc" (func $alloc (param i32) (result i32)))
 (import "g" "live_coding_mode" (func $live (param i32)))
 (import "g" "set_sr" (func $set_sr (param f32)))
 (import "g" "set_bpm" (func $set_bpm (param f32)))
 (import "g" "set_seed" (func $set_seed (param f32)))
 (global $in (mut i32) (i32.const 0))
 (global $out (mut i32) (i32.const 0))
 (global $res (mut i32) (i32.const 0))
 (global $dst (mut i32) (i32.const 0))
 (global $code (mut i32) (i32.const 0))
 ;; One call sets up a fresh instance: one allocation for every buffer (in 1 KiB,
 ;; out 1 KiB, result 256 B, dst $dst_bytes, code $code_bytes), live-coding mode off,
 ;; then sample rate, bpm and seed, all before any code. Returns the base address.
 (func (export "init") (param $sr f32) (param $bpm f32) (param $seed f32)
  (param $dst_bytes i32) (param $code_bytes i32) (result i32)
  (local $base i32)
  (local.set $base (call $alloc (i32.shr_u
   (i32.add (i32.add (i32.const 2304) (local.get $dst_bytes)) (local.get $code_bytes))
   (i32.const 2))))
  (global.set $in (local.get $base))
  (global.set $out (i32.add (local.get $base) (i32.const 1024)))
  (global.set $res (i32.add (local.get $base) (i32.const 2048)))
  (global.set $dst (i32.add (local.get $base) (i32.const 2304)))
  (global.set $code (i32.add (i32.add (local.get $base) (i32.const 2304)) (local.get $dst_bytes)))
  (call $live (i32.const 0))
  (call $set_sr (local.get $sr))
  (call $set_bpm (local.get $bpm))
  (call $set_seed (local.get $seed))
  (local.get $base))
 (func (export "setup") (param i32 i32 i32 i32 i32)
  (global.set $in (local.get 0)) (global.set $out (local.get 1))
  (global.set $res (local.get 2)) (global.set $dst (local.get 3))
  (global.set $code (local.get 4)))
 (func (export "run") (param $n i32) (param $code_len i32) (result i32)
  (local $i i32)
  (if (local.get $code_len) (then (call $update (global.get $code) (local.get $code_len))))
  (block $done
   (loop $next
    (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
    (call $process (global.get $in) (global.get $out) (i32.const 256) (global.get $res))
    (memory.copy
     (i32.add (global.get $dst) (i32.shl (local.get $i) (i32.const 10)))
     (global.get $out) (i32.const 1024))
    (if (i32.load8_u (global.get $res)) (then (return (local.get $i))))
    (local.set $i (i32.add (local.get $i) (i32.const 1)))
    (br $next)))
  (i32.const -1)))
"""


@dataclass(frozen=True)
class Compiled:
    """The compiled engine and loop modules, shared by every Engine in the process."""

    engine: wasmtime.Engine
    glicol: wasmtime.Module
    loop: wasmtime.Module
    wasm_path: Path
    from_cache: bool


_lock = threading.Lock()
_compiled: dict[str, Compiled] = {}
_by_env: dict[tuple[str | None, ...], Compiled] = {}


def _cache_key(wasm_sha: str) -> str:
    ver = importlib.metadata.version("wasmtime")
    ident = f"{wasm_sha}|wasmtime-{ver}|{platform.machine()}|{platform.system()}|v3"
    return hashlib.sha256(ident.encode()).hexdigest()[:32]


def _load_serialized(engine: wasmtime.Engine, path: Path) -> wasmtime.Module | None:
    try:
        data = path.read_bytes()
        want = path.with_suffix(".sha256").read_text().strip()
    except OSError:
        return None
    if hashlib.sha256(data).hexdigest() != want:
        return None
    try:
        return wasmtime.Module.deserialize(engine, data)
    except Exception:  # noqa: BLE001 - any failure means: rebuild the entry
        return None


def _store_serialized(module: wasmtime.Module, path: Path) -> None:
    try:
        data = module.serialize()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_bytes(data)
        sha_tmp = path.with_suffix(f".shatmp{os.getpid()}")
        sha_tmp.write_text(hashlib.sha256(data).hexdigest())
        os.replace(tmp, path)
        os.replace(sha_tmp, path.with_suffix(".sha256"))
    except OSError as e:
        warnings.warn(
            f"glicol_wasm: cannot write the compiled-module cache at {path.parent} ({e}); "
            "the engine still works but every process compiles it again (about 1 s). "
            "Set GLICOL_WASM_CACHE to a writable folder.",
            RuntimeWarning,
            stacklevel=3,
        )


def compiled() -> Compiled:
    """Return the process-wide compiled modules, compiling or loading them once.

    Raises:
        EngineUnavailableError: if the binary is missing.
        EngineIntegrityError: if it fails verification.
    """
    env_key = (
        os.environ.get("GLICOL_WASM"),
        os.environ.get("GLICOL_WASM_CACHE"),
        os.environ.get("XDG_CACHE_HOME"),
    )
    hit = _by_env.get(env_key)
    if hit is not None:  # fast path: no file-system look-ups for every new Engine
        return hit
    path = binary.locate()
    key = str(path.resolve())
    with _lock:
        hit = _compiled.get(key)
        if hit is not None:
            _by_env[env_key] = hit
            return hit
        data = binary.verify_file(path)
        engine = wasmtime.Engine()
        art = binary.cache_dir() / "compiled" / f"glicol-{_cache_key(binary.WASM_SHA256)}.cwasm"
        module = _load_serialized(engine, art)
        from_cache = module is not None
        if module is None:
            module = wasmtime.Module(engine, data)
            _store_serialized(module, art)
        loop = wasmtime.Module(engine, LOOP_WAT)
        result = Compiled(engine, module, loop, path, from_cache)
        _compiled[key] = result
        _by_env[env_key] = result
        return result
