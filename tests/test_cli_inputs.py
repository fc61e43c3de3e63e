"""Bad input at the command line's edge: each ends in a usage error that names it.

Fixed cases for each input the robustness review tried, then property-based tests
(hypothesis) over option values, ``--set`` overrides and ``.glicol`` headers: whatever
the input, the command succeeds or stops with exit code 2 and a message, never a
traceback or an internal error ("please report it").
"""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from raveforce_mae import baselines, cli
from raveforce_mae.export import MANIFEST
from raveforce_mae.timeline import MAX_RENDER_FRAMES, render_timeline

PATCH = "o: sin 220 >> mul 0.3\n"


def invoke(*args: str, **kw):
    return CliRunner().invoke(cli.main, list(args), catch_exceptions=False, **kw)


def assert_clean_usage_error(r, *names: str) -> None:
    assert r.exit_code == 2, r.output
    assert "error:" in r.stderr or "Error:" in r.stderr
    assert "Traceback" not in r.output and "please report" not in r.output
    for name in names:
        assert name in r.stderr, (name, r.stderr)


# -- run --out . --overwrite: only what the tool wrote is removed --------------------------------


def test_overwrite_in_the_current_folder_keeps_foreign_targets_and_summary(tmp_path):
    runner = CliRunner()
    with runner.isolated_filesystem(temp_dir=tmp_path) as here:
        Path("targets").mkdir()
        Path("targets/my-take.wav").write_bytes(b"RIFF mine")
        Path("summary.json").write_text('{"my": "notes"}')
        r = runner.invoke(cli.main, ["run", "kick", "--out", ".", "--overwrite", "--no-plots"])
        assert r.exit_code == 1, r.output
        assert "targets" in r.stderr and "summary.json" in r.stderr and "did not write" in r.stderr
        assert Path("targets/my-take.wav").read_bytes() == b"RIFF mine"
        assert json.loads(Path("summary.json").read_text()) == {"my": "notes"}
        assert sorted(p.name for p in Path(here).iterdir()) == ["summary.json", "targets"]


def test_overwrite_replaces_only_the_files_of_the_previous_run(tmp_path):
    out = tmp_path / "o"
    assert invoke("run", "kick", "-n", "2", "--out", str(out), "--no-plots").exit_code == 0
    manifest = json.loads((out / MANIFEST).read_text())
    assert set(manifest["entries"]) == {
        "targets",
        "episode_000",
        "episode_001",
        "summary.json",
        "report.html",
        "report_files",
    }
    (out / "notes.txt").write_text("mine")
    r = invoke("run", "kick", "--out", str(out), "--no-plots", "--overwrite")
    assert r.exit_code == 0, r.output
    assert {p.name for p in out.iterdir()} == {
        "targets",
        "episode_000",
        "summary.json",
        MANIFEST,
        "notes.txt",
        "report.html",
        "report_files",
    }
    assert not (out / "report_files" / "episode_001").exists()  # the old run's page is replaced


def test_interrupted_run_never_removes_a_folder_it_did_not_create(tmp_path, monkeypatch):
    def interrupt(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(baselines, "play_episode", interrupt)
    out = tmp_path / "existing"
    out.mkdir()
    r = invoke("run", "kick", "--out", str(out))
    assert r.exit_code == 130
    assert out.is_dir() and not list(out.iterdir())


def test_agent_help_says_to_load_only_trusted_files():
    r = invoke("run", "--help")
    assert "only load files you trust" in " ".join(r.output.split())


# -- render: every number checked, with its name, value and range --------------------------------


@pytest.fixture
def patch_file(tmp_path) -> Path:
    p = tmp_path / "p.glicol"
    p.write_text(PATCH)
    return p


def test_render_seconds_beyond_the_limit(patch_file):
    r = invoke("render", str(patch_file), "--seconds", "1e12")
    assert_clean_usage_error(r, "--seconds", "1000000000000", f"{MAX_RENDER_FRAMES:,}")
    assert not patch_file.with_suffix(".wav").exists()


def test_render_step_frames_beyond_the_limit(tmp_path):
    p = tmp_path / "long.glicol"
    p.write_text("// @step 0 frames=0-400000000\n" + PATCH)
    assert_clean_usage_error(invoke("render", str(p)), "400,000,000", f"{MAX_RENDER_FRAMES:,}", str(p))


@pytest.mark.parametrize(
    ("header", "names"),
    [
        ("sample_rate=nan", ["sample_rate", "nan", "8000..192000"]),
        ("sample_rate=1000", ["sample_rate", "1000", "8000..192000"]),
        ("seed=inf", ["seed", "inf", "0..16777216"]),
        ("seed=-1", ["seed", "-1", "0..16777216"]),
        ("bpm=0.5", ["bpm", "0.5", "1..999"]),
    ],
)
def test_render_header_values_out_of_range(tmp_path, header, names):
    p = tmp_path / "h.glicol"
    p.write_text(f"// @render {header}\n// @step 0 frames=0-441\n{PATCH}")
    assert_clean_usage_error(invoke("render", str(p)), "@render header", *names)


@pytest.mark.parametrize(
    ("option", "value", "shown"),
    [
        ("--sample-rate", "1000", "8000<=x<=192000"),
        ("--sample-rate", "384000", "8000<=x<=192000"),
        ("--bpm", "0.5", "1.0<=x<=999.0"),
        ("--seed", "-1", "0<=x<=16777216"),
        ("--seconds", "nan", "--seconds"),
        ("--seconds", "inf", "--seconds"),
    ],
)
def test_render_options_out_of_range(patch_file, option, value, shown):
    assert_clean_usage_error(invoke("render", str(patch_file), option, value), option, shown)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"seconds": 1e12}, "seconds"),
        ({"sample_rate": 1000}, "sample_rate"),
        ({"sample_rate": float("nan")}, "sample_rate"),
        ({"bpm": 0.5}, "bpm"),
        ({"seed": float("inf")}, "seed"),
        ({"seed": 2**24 + 1}, "seed"),
    ],
)
def test_render_timeline_checks_its_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        render_timeline(PATCH, **kwargs)


def test_render_timeline_checks_the_header_and_frames():
    with pytest.raises(ValueError, match="@render header's sample_rate"):
        render_timeline("// @render sample_rate=nan\n" + PATCH)
    with pytest.raises(ValueError, match="400,000,000 frames"):
        render_timeline("// @step 0 frames=0-400000000\n" + PATCH)


def test_render_at_the_edges_of_the_ranges(patch_file, tmp_path):
    """The limits themselves are accepted: 8 kHz and 192 kHz render a 220 Hz sine."""
    for sr in (8000, 192000):
        out = tmp_path / f"{sr}.wav"
        r = invoke(
            "render", str(patch_file), "-r", str(sr), "-t", "0.25", "--seed", "16777216", "-o", str(out)
        )
        assert r.exit_code == 0, r.output
        y, got = sf.read(out, dtype="float32")
        assert got == sr and y.shape == (sr // 4,)
        spectrum = np.abs(np.fft.rfft(y * np.hanning(len(y))))
        assert np.fft.rfftfreq(len(y), 1 / sr)[spectrum.argmax()] == pytest.approx(220, abs=8)


# -- property-based: nothing invalid gets past the edge -------------------------------------------

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 1e-300, 1e308, 7999, 8000, 192000, 192001, 2**24, 2**24 + 1, 999.0, 999.5]),
)
words = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=12)
values = st.one_of(
    numbers.map(str), words, st.sampled_from(["nan", "inf", "-inf", "1e999", "0x10", "", "1_000"])
)


def _ok_or_usage_error(r) -> None:
    event(f"exit code {r.exit_code}")
    assert r.exit_code in (0, 2), r.output
    assert "Traceback" not in r.output and "please report" not in r.output
    if r.exit_code == 2:
        assert "rror" in r.stderr  # "error: ..." or click's "Error: ..."


def _option(valid: st.SearchStrategy) -> st.SearchStrategy:
    """An option's value: absent, valid, or anything."""
    return st.one_of(st.none(), valid.map(str), valid.map(str), values)


@FAST
@given(
    seconds=_option(st.floats(min_value=0.005, max_value=0.05)),
    sample_rate=_option(st.sampled_from([8000, 22050, 44100, 192000])),
    bpm=_option(st.floats(min_value=1, max_value=999)),
    seed=_option(st.integers(min_value=0, max_value=2**24)),
)
def test_property_render_options(tmp_path, patch_file, seconds, sample_rate, bpm, seed):
    if seconds is None:
        seconds = "0.01"  # keep the valid renders short (4 s is the default)
    try:
        if 0.1 < float(seconds) < 1e4:
            seconds = "1e4"  # long but not absurd: must be refused by the limit, not rendered
    except ValueError:
        pass
    out = tmp_path / "o.wav"
    args = ["render", str(patch_file), "-o", str(out)]
    for opt, v in (("--seconds", seconds), ("--sample-rate", sample_rate), ("--bpm", bpm), ("--seed", seed)):
        if v is not None:
            args += [f"{opt}={v}"]
    r = CliRunner().invoke(cli.main, args)
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    _ok_or_usage_error(r)
    if r.exit_code == 0:
        y, sr = sf.read(out, dtype="float32")
        assert sr == (44100 if sample_rate is None else int(float(sample_rate)))
        assert len(y) == round(float(seconds) * sr) >= 1
        assert np.isfinite(y).all()
        if len(y) >= sr / 200:  # a whole period of the 220 Hz sine: its peak is the amplitude
            assert np.abs(y).max() == pytest.approx(0.3, abs=0.02)


@FAST
@given(
    keys=st.lists(st.sampled_from(["sample_rate", "bpm", "seed", "other", "sample_rate="]), max_size=4),
    vals=st.lists(values, min_size=4, max_size=4),
    frames=st.lists(st.integers(min_value=-5, max_value=10**10), max_size=3),
)
def test_property_glicol_headers(tmp_path, keys, vals, frames):
    header = " ".join(f"{k}={v}".replace("\n", " ") for k, v in zip(keys, vals, strict=False))
    lines = [f"// @render {header}"]
    start = 0
    for f in frames:
        lines.append(f"// @step {len(lines)} frames={start}-{f}")
        lines.append(PATCH.strip())
        start = f
    p = tmp_path / "h.glicol"
    p.write_text("\n".join(lines) + "\n" + ("" if frames else PATCH))
    r = CliRunner().invoke(cli.main, ["render", str(p), "--seconds", "0.01", "-o", str(tmp_path / "h.wav")])
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    _ok_or_usage_error(r)


SETTINGS = [
    "shared_weight",
    "criterion",
    "observation",
    "steps",
    "bpm",
    "sample_rate",
    "seed",
    "step_seconds",
    "step_beats",
    "max_cycles",
    "render_mode",
    "end",
]
counter = itertools.count()


@FAST
@given(
    items=st.lists(
        st.tuples(st.one_of(st.sampled_from(SETTINGS), words), values).map(lambda kv: f"{kv[0]}={kv[1]}"),
        min_size=1,
        max_size=3,
    ),
    seed=st.one_of(st.integers(min_value=-(2**40), max_value=2**40).map(str), values),
    episodes=st.one_of(st.integers(min_value=-3, max_value=10**12).map(str), values),
)
def test_property_run_options_stop_at_the_edge(tmp_path, monkeypatch, items, seed, episodes):
    """Invalid input is a usage error; valid input reaches the first episode (stopped there)."""

    def stop(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(baselines, "play_episode", stop)
    out = tmp_path / f"o{next(counter)}"
    args = ["run", "kick", "--out", str(out), "--seed", seed, "--episodes", episodes]
    for item in items:
        args += ["--set", item]
    r = CliRunner().invoke(cli.main, args)
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    event(f"exit code {r.exit_code}")
    assert r.exit_code in (2, 130), r.output
    assert "Traceback" not in r.output and "please report" not in r.output
    assert not out.exists()
    if r.exit_code == 2:
        assert "rror" in r.stderr


def test_seconds_limit_is_the_documented_one():
    assert MAX_RENDER_FRAMES == 600 * 48000
    assert math.isclose(MAX_RENDER_FRAMES / 48000 / 60, 10.0)


# -- bench: a command of the source checkout -----------------------------------------------------


def test_bench_without_a_checkout_says_where_the_scripts_are(tmp_path, monkeypatch):
    from raveforce_mae.cli import bench

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(bench, "benchmarks_dir", lambda: None)
    r = invoke("bench", "--list")
    assert_clean_usage_error(r, "source checkout", "pip install -e .")


@pytest.mark.slow
def test_installed_wheel_has_every_command_but_bench(tmp_path):
    """Build the wheel, install it into a bare folder, and run the CLI from there."""
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    wheels = tmp_path / "wheels"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(root)],
        check=True,
        cwd=tmp_path,
        timeout=300,
    )
    site = tmp_path / "site"
    wheel = next(wheels.glob("raveforce_mae-*.whl"))
    subprocess.run([*pip, "install", "--no-deps", "--target", str(site), str(wheel)], check=True, timeout=300)
    env = {**os.environ, "PYTHONPATH": str(site)}

    def cli_run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "raveforce_mae", *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=300,
        )

    assert cli_run("scenarios", "--json").returncode == 0
    p = cli_run("--help")
    listed = p.stdout.split("Commands:")[1].split()
    assert {"scenarios", "describe", "run", "render", "check"} <= set(listed) and "bench" not in listed
    p = cli_run("bench")
    assert p.returncode == 2 and "source checkout" in p.stderr
