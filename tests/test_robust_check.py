"""``raveforce-mae check`` with a compiled-module cache that others can write.

The engine refuses such a cache with an ``EngineCacheError`` whose message names the
folder and the ``chmod`` that fixes it; ``check`` must show that message and that
command as the fix, not the generic "fetch --force" hint (fetching again would not
help). Run in a fresh process, so that no compiled module is already in memory.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import glicol_wasm

ROOT = Path(__file__).resolve().parent.parent


def test_check_shows_the_cache_error_and_its_own_fix(tmp_path):
    cache = tmp_path / "shared-cache"
    cache.mkdir()
    shutil.copy(glicol_wasm.locate(), cache)
    cache.chmod(0o777)
    env = {k: v for k, v in os.environ.items() if k != "GLICOL_WASM"}
    env.update(
        GLICOL_WASM_CACHE=str(cache),
        GLICOL_WASM_KEY_DIR=str(tmp_path / "key"),
        PYTHONPATH=str(ROOT),
        NO_COLOR="1",
    )
    p = subprocess.run(
        [sys.executable, "-m", "raveforce_mae", "check"], capture_output=True, text=True, env=env, timeout=300
    )
    assert p.returncode == 1, p.stderr
    assert f"refuses the cache folder {cache}" in p.stderr
    assert f"fix: chmod 700 {cache}" in p.stderr
    assert "fetch --force" not in p.stderr
