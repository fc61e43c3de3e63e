"""Every ```python block of the README and docs runs, so the docs cannot drift from the code.

Each block runs in a fresh interpreter (a subprocess) in a temporary directory, so files
it writes (``runs/...``) go there. An HTML comment right before a block's fence tells
this test how to treat it; directives are separated by ``;``:

- ``<!-- doc-test: skip REASON -->``: not run (reported as a skip with the reason);
  for blocks that cannot run on their own, e.g. they need a run folder made earlier.
- ``<!-- doc-test: requires MODULE[, MODULE] -->``: skipped (and reported) when one of
  the modules is not installed, e.g. ``torchrl``; run otherwise.
- ``<!-- doc-test: slow -->``: runs only with ``-m slow`` (long searches, training).
- ``<!-- doc-test: files NAME=REPO_PATH[, ...] -->``: copies a file of the repository
  into the temporary directory under ``NAME`` first (a block that loads
  ``my_task.toml``).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "scenarios" / "README.md"]
TIMEOUT = 600

_BLOCK = re.compile(r"(?:<!--\s*doc-test:(?P<directives>.*?)-->\s*\n)?```python\n(?P<code>.*?)```", re.S)


@dataclass
class Block:
    path: Path
    line: int
    code: str
    skip: str | None = None
    requires: list[str] = field(default_factory=list)
    slow: bool = False
    files: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def _parse(directives: str, block: Block) -> None:
    for d in filter(None, (x.strip() for x in directives.split(";"))):
        word, _, rest = d.partition(" ")
        rest = rest.strip()
        if word == "skip":
            if not rest:
                raise ValueError(f"{block.id}: 'doc-test: skip' needs a reason")
            block.skip = rest
        elif word == "requires":
            block.requires = [m.strip() for m in rest.split(",") if m.strip()]
        elif word == "slow":
            block.slow = True
        elif word == "files":
            for pair in rest.split(","):
                name, _, src = pair.strip().partition("=")
                block.files[name.strip()] = src.strip()
        else:
            raise ValueError(f"{block.id}: unknown doc-test directive {d!r}")


def blocks() -> list[Block]:
    out = []
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        for m in _BLOCK.finditer(text):
            line = text.count("\n", 0, m.start("code"))  # the fence's line, 1-based
            b = Block(path, line, m.group("code"))
            if m.group("directives"):
                _parse(m.group("directives"), b)
            out.append(b)
    return out


BLOCKS = blocks()


def _params():
    for b in BLOCKS:
        marks = [pytest.mark.slow] if b.slow else []
        yield pytest.param(b, id=b.id, marks=marks)


def test_the_docs_have_python_blocks():
    # guards the extraction itself: a changed fence style would silently test nothing
    assert len(BLOCKS) >= 8
    assert {b.path.name for b in BLOCKS} >= {"README.md", "cli.md", "learning.md"}


@pytest.mark.parametrize("block", _params())
def test_doc_block_runs(block: Block, tmp_path: Path):
    if block.skip:
        pytest.skip(f"marked in the docs: {block.skip}")
    missing = [m for m in block.requires if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (not installed)")
    for name, src in block.files.items():
        shutil.copy(ROOT / src, tmp_path / name)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    env["MPLBACKEND"] = "Agg"
    proc = subprocess.run(
        [sys.executable, "-c", block.code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert proc.returncode == 0, (
        f"the python block at {block.id} failed:\n{block.code}\n--- stderr ---\n{proc.stderr[-3000:]}"
    )
