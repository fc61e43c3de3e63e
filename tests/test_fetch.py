"""Obtaining, verifying and caching the Glicol binary, on the real npm tarball.

Tests that exercise the compiled-module disk cache run in subprocesses, because
``glicol_wasm._module`` keeps compiled modules per process.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import glicol_wasm as gw
from glicol_wasm import EngineIntegrityError, EngineUnavailableError, binary

ROOT = Path(__file__).resolve().parent.parent
KNOWN_TARBALL = Path("/tmp/npmp/glicol-0.4.0.tgz")
HOW_TO_FETCH = "python -m glicol_wasm fetch"


@pytest.fixture(scope="session")
def tarball(tmp_path_factory) -> Path:
    """The real glicol-0.4.0.tgz: a known local copy, else ``npm pack`` obtains it."""
    if KNOWN_TARBALL.is_file():
        return KNOWN_TARBALL
    npm = shutil.which("npm")
    assert npm, "npm is needed to obtain glicol@0.4.0 for these tests"
    dest = tmp_path_factory.mktemp("npm")
    subprocess.run(
        [npm, "pack", binary.PACKAGE, "--pack-destination", str(dest)],
        cwd=dest,
        check=True,
        capture_output=True,
        timeout=300,
    )
    return dest / "glicol-0.4.0.tgz"


@pytest.fixture(scope="session")
def good_wasm(tarball, tmp_path_factory) -> Path:
    """A verified copy of glicol_wasm.wasm outside every cache."""
    path = tmp_path_factory.mktemp("wasm") / "glicol_wasm.wasm"
    path.write_bytes(binary.verify_tarball(tarball.read_bytes()))
    return path


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """An empty per-test cache; GLICOL_WASM unset."""
    d = tmp_path / "cache"
    monkeypatch.setenv("GLICOL_WASM_CACHE", str(d))
    monkeypatch.delenv("GLICOL_WASM", raising=False)
    return d


def flip_byte(path: Path, offset: int | None = None) -> None:
    data = bytearray(path.read_bytes())
    i = len(data) // 2 if offset is None else offset
    data[i] ^= 0x01
    path.write_bytes(bytes(data))


def run_py(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    if "GLICOL_WASM" not in env:
        full.pop("GLICOL_WASM", None)
    return subprocess.run(
        [sys.executable, "-c", code], env=full, capture_output=True, text=True, timeout=120, check=False
    )


# --- fetch and verification ------------------------------------------------------------


def test_tarball_hash_is_the_published_one(tarball):
    assert hashlib.sha256(tarball.read_bytes()).hexdigest() == binary.TARBALL_SHA256


def test_fetch_from_tarball_into_empty_cache(tarball, cache):
    assert not cache.exists()
    path = gw.fetch(tarball)
    assert path.parent == cache and path.name == binary.WASM_NAME
    data = path.read_bytes()
    assert len(data) == binary.WASM_SIZE == 2_235_795
    assert hashlib.sha256(data).hexdigest() == binary.WASM_SHA256
    assert gw.locate() == path
    assert gw.fetch() == path  # already cached and verified: no npm, no tarball needed
    assert not list(cache.glob("*.tmp*"))


def test_fetch_command_line_with_tarball(tarball, tmp_path):
    d = tmp_path / "clicache"
    proc = subprocess.run(
        [sys.executable, "-m", "glicol_wasm", "fetch", "--tarball", str(tarball)],
        env={**os.environ, "PYTHONPATH": str(ROOT), "GLICOL_WASM_CACHE": str(d)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "verified" in proc.stderr
    assert hashlib.sha256((d / binary.WASM_NAME).read_bytes()).hexdigest() == binary.WASM_SHA256
    # the module is compiled at fetch time, so the first environment does not pay it
    assert "module compiled into" in proc.stderr
    assert len(list((d / "compiled").glob("glicol-*.cwasm"))) == 1


def test_tampered_tarball_is_refused(tarball, cache, tmp_path):
    bad = tmp_path / "glicol-0.4.0.tgz"
    shutil.copy(tarball, bad)
    flip_byte(bad)
    with pytest.raises(EngineIntegrityError, match="integrity"):
        gw.fetch(bad)
    assert not (cache / binary.WASM_NAME).exists()


def test_tampered_cached_wasm_is_refused_then_repaired(tarball, cache):
    path = gw.fetch(tarball)
    flip_byte(path)
    with pytest.raises(EngineIntegrityError, match="sha256"):
        binary.verify_file(gw.locate())
    with pytest.raises(EngineIntegrityError, match="refusing"):
        gw.Engine()
    assert gw.fetch(tarball) == path  # a damaged cached copy is replaced
    binary.verify_file(path)


def test_glicol_wasm_pointing_to_tampered_file_is_refused(good_wasm, tmp_path, monkeypatch):
    bad = tmp_path / "glicol_wasm.wasm"
    shutil.copy(good_wasm, bad)
    flip_byte(bad, offset=100)
    monkeypatch.setenv("GLICOL_WASM", str(bad))
    with pytest.raises(EngineIntegrityError, match="refusing to load"):
        gw.Engine()
    with pytest.raises(EngineIntegrityError):
        gw.render("o: sin 440", 0.1)


def test_glicol_wasm_pointing_to_missing_file(tmp_path, monkeypatch):
    missing = tmp_path / "nope" / "glicol_wasm.wasm"
    monkeypatch.setenv("GLICOL_WASM", str(missing))
    with pytest.raises(EngineUnavailableError) as ei:
        gw.Engine()
    msg = str(ei.value)
    assert "GLICOL_WASM" in msg and str(missing) in msg and HOW_TO_FETCH in msg


def test_empty_cache_says_what_to_run(cache):
    with pytest.raises(EngineUnavailableError) as ei:
        gw.Engine()
    msg = str(ei.value)
    assert str(cache) in msg and HOW_TO_FETCH in msg and "GLICOL_WASM=" in msg
    # the command line says the same and exits with 1, without a traceback
    proc = run_py(
        "import sys; from glicol_wasm.__main__ import main; sys.exit(main(['info']))",
        {"GLICOL_WASM_CACHE": str(cache)},
    )
    assert proc.returncode == 1
    assert HOW_TO_FETCH in proc.stderr and "Traceback" not in proc.stderr


def test_fetch_without_npm_says_what_to_do(cache, tmp_path, monkeypatch):
    """No npm on PATH: one clear error naming npm and the GLICOL_WASM alternative."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(EngineUnavailableError) as ei:
        gw.fetch()
    msg = str(ei.value)
    assert "npm was not found" in msg and "GLICOL_WASM=" in msg
    assert not (cache / binary.WASM_NAME).exists()


def test_fetch_without_network_says_what_to_do(cache, tmp_path, monkeypatch):
    """npm cannot reach its registry (offline mode, empty npm cache): a clear error, nothing cached."""
    monkeypatch.setenv("npm_config_offline", "true")
    monkeypatch.setenv("npm_config_cache", str(tmp_path / "empty-npm-cache"))
    with pytest.raises(EngineUnavailableError) as ei:
        gw.fetch()
    msg = str(ei.value)
    assert f"npm pack {binary.PACKAGE}` failed" in msg and "GLICOL_WASM=" in msg
    assert not (cache / binary.WASM_NAME).exists()


@pytest.mark.slow
def test_fetch_with_npm(cache):
    """The default path: ``npm pack`` with the machine's npm configuration (network)."""
    path = gw.fetch()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == binary.WASM_SHA256


# --- compiled-module cache (fresh processes) ---------------------------------------------

PROBE = """
import numpy as np, glicol_wasm as gw
from glicol_wasm._module import compiled
a = gw.render("o: sin 440", 0.05)
assert np.abs(a).max() > 0.9
print("FROM_CACHE", compiled().from_cache)
"""

# A valid serialized wasmtime module that is not the engine: what an attacker would
# plant. Deserializing and linking it in place of the engine fails (or runs its code).
FORGE = """
import sys, wasmtime
m = wasmtime.Module(wasmtime.Engine(), '(module (func (export "pwned") (result i32) i32.const 1337))')
open(sys.argv[1], "wb").write(m.serialize())
"""


def _probe(env: dict[str, str]) -> bool:
    proc = run_py(PROBE, env)
    assert proc.returncode == 0, proc.stderr
    assert "Warning" not in proc.stderr, proc.stderr
    return proc.stdout.split("FROM_CACHE", 1)[1].strip() == "True"


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


@pytest.fixture(scope="session")
def template_cache(tarball, tmp_path_factory) -> Path:
    """A cache (binary fetched, artefact compiled) and its key folder, made once."""
    root = tmp_path_factory.mktemp("template")
    env = {"GLICOL_WASM_CACHE": str(root / "cache"), "GLICOL_WASM_KEY_DIR": str(root / "key")}
    proc = run_py(f"import glicol_wasm as gw; gw.fetch({str(tarball)!r})", env)
    assert proc.returncode == 0, proc.stderr
    assert _probe(env) is False  # the first process compiles and writes the cache
    return root


@pytest.fixture
def warm_cache(template_cache, tmp_path) -> tuple[Path, dict[str, str]]:
    """A private copy of the template cache for one test, and the environment using it."""
    for name in ("cache", "key"):
        shutil.copytree(template_cache / name, tmp_path / name, symlinks=True)  # keeps the modes
    env = {"GLICOL_WASM_CACHE": str(tmp_path / "cache"), "GLICOL_WASM_KEY_DIR": str(tmp_path / "key")}
    return tmp_path / "cache", env


@pytest.fixture
def load_in_process(monkeypatch):
    """``load(env)``: ``compiled()`` in this process as a fresh one would run it."""
    from glicol_wasm import _module

    def load(env: dict[str, str]) -> _module.Compiled:
        monkeypatch.setattr(_module, "_compiled", {})
        monkeypatch.setattr(_module, "_by_env", {})
        monkeypatch.delenv("GLICOL_WASM", raising=False)
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        return _module.compiled()

    return load


def test_compiled_cache_is_private_written_reused_and_rebuilt_when_corrupt(
    warm_cache, tmp_path, load_in_process
):
    d, env = warm_cache
    (art,) = (d / "compiled").glob("*.cwasm")
    key = tmp_path / "key" / "cache.key"
    # private: folders 0700, files 0600, the key 32 bytes
    assert (_mode(d), _mode(d / "compiled"), _mode(tmp_path / "key")) == (0o700, 0o700, 0o700)
    assert (_mode(art), _mode(d / binary.WASM_NAME), _mode(key)) == (0o600, 0o600, 0o600)
    assert len(key.read_bytes()) == 32
    assert sorted(p.name for p in (d / "compiled").iterdir()) == [art.name]  # no temporary left
    assert _probe(env) is True  # second process deserializes
    info = run_py("from glicol_wasm.__main__ import main; main(['info'])", env)
    assert "loaded from the compiled cache" in info.stdout and "HMAC-SHA256 valid" in info.stdout

    flip_byte(art)  # corrupt payload: the tag no longer matches
    assert load_in_process(env).from_cache is False
    assert load_in_process(env).from_cache is True

    art.write_bytes(b"not a compiled module" * 100)  # no header
    assert load_in_process(env).from_cache is False
    assert load_in_process(env).from_cache is True
    other_key = {**env, "GLICOL_WASM_KEY_DIR": str(tmp_path / "k2")}
    info = run_py("from glicol_wasm.__main__ import main; main(['info'])", other_key)
    assert "compiled from the verified binary" in info.stdout


def test_forged_artefact_with_matching_sha256_is_not_executed(warm_cache, tmp_path, load_in_process):
    """An attacker who can write the cache folder plants a module and its hash: recompiled."""
    d, env = warm_cache
    forged = tmp_path / "forged.cwasm"
    subprocess.run([sys.executable, "-c", FORGE, str(forged)], capture_output=True, check=True)
    data = forged.read_bytes()
    for art in (d / "compiled").glob("*.cwasm"):
        art.write_bytes(data)  # the old cache format: artefact plus a .sha256 beside it
        art.with_suffix(".sha256").write_text(hashlib.sha256(data).hexdigest())
    assert _probe(env) is False  # not deserialized: compiled from the verified binary
    (art,) = (d / "compiled").glob("*.cwasm")
    assert data not in art.read_bytes()  # and the forged entry was replaced
    assert load_in_process(env).from_cache is True

    # the new format, with a tag made under a key the attacker chose
    import hmac

    from glicol_wasm import _module

    ident = _module._ident(binary.WASM_SHA256).encode()
    art.write_bytes(
        _module._MAGIC + hmac.new(b"k" * 32, ident + b"\x00" + data, hashlib.sha256).digest() + data
    )
    c = load_in_process(env)
    assert c.from_cache is False
    eng = gw.Engine()
    eng.set_code("o: sin 440")
    assert np.abs(eng.render(4410)).max() > 0.9  # the real engine runs


@pytest.mark.parametrize("which", ["cache", "compiled", "key"])
@pytest.mark.parametrize("mode", [0o777, 0o720])
def test_cache_folder_writable_by_others_is_refused(warm_cache, tmp_path, which, mode, load_in_process):
    d, env = warm_cache
    folder = {"cache": d, "compiled": d / "compiled", "key": tmp_path / "key"}[which]
    folder.chmod(mode)
    with pytest.raises(gw.EngineCacheError) as ei:
        load_in_process(env)
    msg = str(ei.value)
    assert f"refuses the cache folder {folder}" in msg
    assert "can be written by other users" in msg and f"chmod 700 {folder}" in msg
    folder.chmod(0o700)
    assert load_in_process(env).from_cache is True


@pytest.mark.parametrize("what", ["artefact", "key"])
def test_cache_file_writable_or_readable_by_others_is_refused(warm_cache, tmp_path, what, load_in_process):
    d, env = warm_cache
    if what == "artefact":
        (path,) = (d / "compiled").glob("*.cwasm")
        path.chmod(0o666)
        expect = "can be written by other users"
    else:
        path = tmp_path / "key" / "cache.key"
        path.chmod(0o644)  # a readable key lets others forge artefacts
        expect = "can be read or written by other users"
    with pytest.raises(gw.EngineCacheError, match="refuses the cache file") as ei:
        load_in_process(env)
    assert str(path) in str(ei.value) and expect in str(ei.value)


def test_symlinked_artefact_is_refused(warm_cache, tmp_path, load_in_process):
    d, env = warm_cache
    (art,) = (d / "compiled").glob("*.cwasm")
    elsewhere = tmp_path / "elsewhere.cwasm"
    art.rename(elsewhere)
    art.symlink_to(elsewhere)
    with pytest.raises(gw.EngineCacheError, match="refuses the cache file") as ei:
        load_in_process(env)
    assert str(art) in str(ei.value)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="chown needs root")
@pytest.mark.parametrize("what", ["artefact", "compiled", "key"])
def test_cache_owned_by_another_user_is_refused(warm_cache, tmp_path, what, load_in_process):
    d, env = warm_cache
    (art,) = (d / "compiled").glob("*.cwasm")
    path = {"artefact": art, "compiled": d / "compiled", "key": tmp_path / "key" / "cache.key"}[what]
    os.chown(path, 65534, 65534)  # nobody
    with pytest.raises(gw.EngineCacheError) as ei:
        load_in_process(env)
    assert f"{path}: it is owned by another user" in str(ei.value) and "uid 65534" in str(ei.value)


def test_artefact_written_under_another_key_is_recompiled(warm_cache, tmp_path, load_in_process):
    """A cache copied from elsewhere (another key) is never trusted, only rebuilt."""
    d, env = warm_cache
    assert load_in_process(env).from_cache is True
    other = {**env, "GLICOL_WASM_KEY_DIR": str(tmp_path / "other_key")}
    assert load_in_process(other).from_cache is False
    assert load_in_process(other).from_cache is True
    assert load_in_process(env).from_cache is False  # the rewritten entry fails the first key


def test_unusable_cache_dir_falls_back_with_a_warning(good_wasm, tmp_path, monkeypatch):
    blocker = tmp_path / "a_file"
    blocker.write_text("a regular file: nothing can be created below it")
    monkeypatch.setenv("GLICOL_WASM_CACHE", str(blocker / "cache"))
    wasm = tmp_path / "copy" / "glicol_wasm.wasm"  # a path this process has not compiled yet
    wasm.parent.mkdir()
    shutil.copy(good_wasm, wasm)
    monkeypatch.setenv("GLICOL_WASM", str(wasm))
    with pytest.warns(RuntimeWarning, match="cannot write the compiled-module cache"):
        eng = gw.Engine()
    eng.set_code("o: sin 440")
    out = eng.render(4410)
    assert np.abs(out).max() > 0.9
    assert blocker.is_file()

    # a fresh process: the warning, then a working engine; nothing was cached
    env = {"GLICOL_WASM_CACHE": str(blocker / "cache"), "GLICOL_WASM": str(wasm)}
    proc = run_py(PROBE, env)
    assert proc.returncode == 0, proc.stderr
    assert "RuntimeWarning" in proc.stderr and "GLICOL_WASM_CACHE" in proc.stderr
    assert "FROM_CACHE False" in proc.stdout
