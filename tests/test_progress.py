"""Progress bars of long calls, and the examples' --help."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import raveforce_mae
from raveforce_mae import baselines

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = sorted((ROOT / "examples").glob("*.py")) + [ROOT / "benchmarks" / "soak.py"]


@pytest.fixture(scope="module")
def kick():
    return raveforce_mae.load_scenario("kick")


def test_search_progress_bar_on_and_off(kick, capsys):
    r1 = baselines.search(kick, budget=20, seed=0, progress=True)
    err = capsys.readouterr().err
    assert "search kick" in err and "eval" in err  # tqdm's bar, on stderr
    r2 = baselines.search(kick, budget=20, seed=0, progress=False)
    assert capsys.readouterr().err == ""
    # the bar does not change the search
    assert r1.scores == r2.scores and r1.evaluations == r2.evaluations


def test_search_progress_default_is_silent_off_a_terminal(kick, capsys):
    baselines.search(kick, budget=10, seed=0)  # pytest's stderr is not a terminal
    assert capsys.readouterr().err == ""


def test_search_progress_callback_still_gets_counts(kick, capsys):
    seen = []
    r = baselines.search(kick, budget=15, seed=0, progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (15, 15) and seen[0] == (1, 15)
    assert len(seen) >= r.evaluations
    assert capsys.readouterr().err == ""  # a callback replaces the bar


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_scripts_show_defaults_and_a_no_progress_flag(script):
    out = subprocess.run(
        [sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert out.returncode == 0, out.stderr
    assert "(default:" in out.stdout
    assert "--no-progress" in out.stdout
