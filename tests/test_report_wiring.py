"""The listening page as the CLI and the export write it: where it goes, what replaces it.

The page itself (what it shows, in a browser) is tested in ``tests/test_report.py``;
here: ``raveforce-mae run`` writes it by default, ``raveforce-mae report`` writes it
for a folder, ``export_episode`` writes it, and ``--overwrite`` replaces only a page
that a run wrote (the manifest lists it), never someone else's.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import raveforce_mae
from raveforce_mae import baselines, cli
from raveforce_mae.export import MANIFEST, OutputFolderError, export_episode


def _cli(*args: str):
    return CliRunner().invoke(cli.main, list(args))


def _page_links(page: Path) -> list[str]:
    import re

    return re.findall(r'(?:src|href)="([^"#][^"]*)"', page.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wiring") / "run"
    r = _cli(
        "run", "kick", "--agent", "random", "--episodes", "2", "--seed", "3", "--no-plots", "--out", str(out)
    )
    assert r.exit_code == 0, r.output
    return out


def test_run_writes_the_report_by_default_and_lists_it(run_dir):
    page = run_dir / "report.html"
    assert page.is_file()
    pictures = sorted(
        p.relative_to(run_dir / "report_files").as_posix() for p in (run_dir / "report_files").rglob("*.png")
    )
    # One spectrogram per WAV: 2 episodes x (mix + kick) + targets (mix + kick).
    assert len(pictures) == 6
    manifest = json.loads((run_dir / MANIFEST).read_text())["entries"]
    assert manifest["report.html"] is None
    assert sorted(manifest["report_files"]) == pictures
    for link in _page_links(page):
        if not link.startswith("data:"):
            assert (run_dir / link).exists(), link


def test_overwrite_replaces_the_runs_own_page_and_pictures(run_dir, tmp_path):
    out = tmp_path / "again"
    assert (
        _cli("run", "kick", "--agent", "random", "--episodes", "2", "--no-plots", "--out", str(out)).exit_code
        == 0
    )
    assert (out / "report_files" / "episode_001").is_dir()
    r = _cli(
        "run", "kick", "--agent", "random", "--no-plots", "--no-report", "--overwrite", "--out", str(out)
    )
    assert r.exit_code == 0, r.output
    # The page and pictures of the old run are gone (a stale page would show episodes
    # that no longer exist); nothing else of ours is left behind.
    assert not (out / "report.html").exists()
    assert not (out / "report_files").exists()
    assert {p.name for p in out.iterdir()} == {MANIFEST, "summary.json", "targets", "episode_000"}


@pytest.mark.parametrize("foreign", ["report.html", "report_files/notes.png"])
def test_a_page_the_run_did_not_write_is_left_alone(tmp_path, foreign):
    out = tmp_path / "theirs"
    target = out / foreign
    target.parent.mkdir(parents=True)
    target.write_text("mine")
    r = _cli("run", "kick", "--agent", "random", "--no-plots", "--overwrite", "--out", str(out))
    assert r.exit_code != 0
    assert foreign.split("/")[0] in r.output
    assert target.read_text() == "mine"


def test_report_command_writes_the_page_for_a_folder(run_dir, tmp_path):
    page = run_dir / "report.html"
    before = page.read_bytes()
    page.unlink()
    r = _cli("report", str(run_dir))
    assert r.exit_code == 0, r.output
    assert "report.html" in r.output
    assert page.read_bytes() == before  # the same run gives the same page, byte for byte


@pytest.mark.parametrize("make_dir", ["missing", "empty", "not-a-run"])
def test_report_command_refuses_what_is_not_a_run_folder(tmp_path, make_dir):
    d = tmp_path / make_dir
    if make_dir != "missing":
        d.mkdir()
    if make_dir == "not-a-run":
        (d / "summary.json").write_text("{not json")
    r = _cli("report", str(d))
    assert r.exit_code == 2
    assert "RUN_DIR" in r.output and str(d) in r.output
    assert "Traceback" not in r.output


def test_export_episode_writes_the_page(tmp_path):
    env = raveforce_mae.parallel_env("kick")
    result = baselines.play_episode(env, baselines.random_policy(env, seed=1), seed=1)
    out = export_episode(env, tmp_path / "py", result, agent="random", seed=1, plots=False)
    assert (out / "report.html").is_file()
    assert (out / "report_files" / "episode_000" / "mix.png").is_file()
    # Someone else's page in the way: refused, and left as it was.
    other = tmp_path / "other"
    other.mkdir()
    (other / "report.html").write_text("mine")
    with pytest.raises(OutputFolderError, match="report.html"):
        export_episode(env, other, result, agent="random", seed=1, plots=False)
    assert (other / "report.html").read_text() == "mine"
