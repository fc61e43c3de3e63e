"""The ``raveforce-mae`` command line: every command through click's runner, and as a process.

The expensive part (playing an episode and drawing its pictures) runs once per module;
the tests then read its files back.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

import raveforce_mae
from raveforce_mae import cli

ROOT = Path(__file__).resolve().parent.parent


def invoke(*args: str, **kw):
    return CliRunner().invoke(cli.main, list(args), catch_exceptions=False, **kw)


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", head[16:24])


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "ensemble-random"
    r = invoke("run", "ensemble", "--agent", "random", "--seed", "3", "--out", str(out))
    assert r.exit_code == 0, r.output
    assert r.stdout == ""  # human output goes to stderr only
    return out


@pytest.fixture(scope="module")
def scenario():
    return raveforce_mae.load_scenario("ensemble")


# -- help, scenarios, describe -------------------------------------------------------------


@pytest.mark.parametrize("command", ["", "scenarios", "describe", "run", "render", "bench", "check"])
def test_help(command):
    r = invoke(*([command] if command else []), "--help")
    assert r.exit_code == 0
    assert "Usage:" in r.output


def test_scenarios_lists_every_builtin():
    r = invoke("scenarios")
    assert r.exit_code == 0
    for name in raveforce_mae.list_scenarios():
        assert name in r.stderr
    for column in ("tracks", "steps", "duration", "criterion"):
        assert column in r.stderr
    assert "\x1b[" not in r.stderr  # no colours when not on a terminal


def test_scenarios_json():
    r = invoke("scenarios", "--json")
    data = json.loads(r.stdout)
    ens = next(d for d in data if d["name"] == "ensemble")
    assert ens["tracks"] == ["bass", "kick", "hat"]
    assert ens["steps"] == 16 and ens["duration_seconds"] > 0


def test_describe_shows_chains_params_ranges_targets(scenario):
    r = invoke("describe", "ensemble")
    assert r.exit_code == 0, r.output
    text = r.stderr
    for t in scenario.tracks:
        assert f"track {t.name}" in text
        assert t.template.strip() in text
        for p in t.params:
            assert p.name in text
    assert "cutoff" in text and "100 .. 4000" in text
    assert "targets" in text and "mix:" in text


def test_describe_json(scenario):
    data = json.loads(invoke("describe", "ensemble", "--json").stdout)
    assert [t["name"] for t in data["tracks"]] == [t.name for t in scenario.tracks]
    assert data["targets"]["per_track_available"] is True


def test_describe_a_toml_path():
    from raveforce_mae.scenario import scenario_path

    r = invoke("describe", str(scenario_path("kick")))
    assert r.exit_code == 0, r.output
    assert "track kick" in r.stderr


@pytest.mark.parametrize("command", ["describe", "run"])
def test_bad_scenario_name_suggests_the_closest(command, tmp_path):
    r = invoke(command, "ensembel", *(["--out", str(tmp_path / "o")] if command == "run" else []))
    assert r.exit_code == 2
    assert "unknown scenario 'ensembel'" in r.stderr
    assert "did you mean 'ensemble'" in r.stderr
    assert not (tmp_path / "o").exists()


def test_bad_scenario_path_names_the_path(tmp_path):
    missing = tmp_path / "nope.toml"
    r = invoke("describe", str(missing))
    assert r.exit_code == 2
    assert str(missing) in r.stderr


# -- run: the files ------------------------------------------------------------------------


def test_run_layout(run_dir, scenario):
    ep = run_dir / "episode_000"
    names = {"mix.wav", "performance.glicol", "rewards.csv", "spectrogram.png", "rewards.png"}
    names |= {f"{t.name}.wav" for t in scenario.tracks}
    assert {p.name for p in ep.iterdir()} == names
    assert {p.name for p in (run_dir / "targets").iterdir()} == {"mix.wav"} | {
        f"{t.name}.wav" for t in scenario.tracks
    }
    assert not [p for p in run_dir.rglob("*") if "partial" in p.name]


@pytest.mark.parametrize("folder", ["episode_000", "targets"])
def test_wavs_are_non_silent_with_the_right_length(run_dir, scenario, folder):
    for wav in (run_dir / folder).glob("*.wav"):
        y, sr = sf.read(wav, dtype="float32")
        assert sr == scenario.sample_rate
        assert y.shape == (scenario.total_frames,), wav.name
        assert np.isfinite(y).all()
        assert np.abs(y).mean() > 1e-4, f"{wav} is silent"


def test_mix_is_the_sum_of_the_stems(run_dir, scenario):
    ep = run_dir / "episode_000"
    mix, _ = sf.read(ep / "mix.wav", dtype="float32")
    stems = sum(sf.read(ep / f"{t.name}.wav", dtype="float32")[0] for t in scenario.tracks)
    np.testing.assert_allclose(mix, stems, atol=1e-5)


def test_glicol_file_rendered_again_reproduces_the_mix(run_dir, tmp_path):
    ep = run_dir / "episode_000"
    out = tmp_path / "again.wav"
    r = invoke("render", str(ep / "performance.glicol"), "--out", str(out))
    assert r.exit_code == 0, r.output
    again, _ = sf.read(out, dtype="float32")
    mix, _ = sf.read(ep / "mix.wav", dtype="float32")
    assert again.shape == mix.shape
    np.testing.assert_allclose(again, mix, atol=1e-5)


def test_rewards_csv(run_dir, scenario):
    with open(run_dir / "episode_000" / "rewards.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    agents = list(scenario.agents)
    assert len(rows) == scenario.n_steps * len(agents)
    assert list(rows[0]) == [
        "episode",
        "step",
        "time_s",
        "agent",
        "track",
        "reward",
        "shared",
        "track_reward",
    ]
    assert [r["agent"] for r in rows[: len(agents)]] == agents
    w = scenario.shared_weight
    for r in rows:
        blended = w * float(r["shared"]) + (1 - w) * float(r["track_reward"])
        assert float(r["reward"]) == pytest.approx(blended, abs=1e-5)
    assert float(rows[-1]["time_s"]) == pytest.approx(
        (scenario.n_steps - 1) * scenario.step_seconds, abs=1e-3
    )


def test_summary_json(run_dir):
    s = json.loads((run_dir / "summary.json").read_text())
    assert s["agent"] == "random" and s["seed"] == 3
    assert s["episodes_finished"] == 1 and not s["interrupted"]
    assert s["best_episode"] == "episode_000"
    assert set(s["episodes"][0]["agents"]) == {"bass_0", "kick_0", "hat_0"}


@pytest.mark.parametrize(
    ("name", "min_size"), [("spectrogram.png", (1200, 800)), ("rewards.png", (900, 500))]
)
def test_pngs_have_sensible_sizes(run_dir, name, min_size):
    path = run_dir / "episode_000" / name
    w, h = png_size(path)
    assert w >= min_size[0] and h >= min_size[1]
    assert w <= 4000 and h <= 4000
    assert 20_000 < path.stat().st_size < 5_000_000


def test_reward_picture_shows_one_colour_per_track(run_dir):
    """Look at the picture: each track's colour is drawn, and the figure is not blank."""
    import matplotlib.image as mpimg

    from raveforce_mae.plots import track_colours

    img = mpimg.imread(run_dir / "episode_000" / "rewards.png")[..., :3]
    flat = img.reshape(-1, 3)
    assert flat.std() > 0.05
    for agent, hexcol in track_colours(["bass_0", "kick_0", "hat_0"]).items():
        rgb = np.array([int(hexcol[i : i + 2], 16) / 255 for i in (1, 3, 5)])
        close = np.abs(flat - rgb).max(axis=1) < 0.03
        assert close.sum() > 500, f"no line in {agent}'s colour {hexcol}"


def test_spectrogram_picture_has_content_in_every_panel(run_dir):
    import matplotlib.image as mpimg

    img = mpimg.imread(run_dir / "episode_000" / "spectrogram.png")[..., :3]
    h, w, _ = img.shape
    # 4 rows (mix, bass, kick, hat) x 2 columns (rendered, target): no panel is flat.
    for r in range(4):
        y0 = int(h * (0.08 + 0.225 * r))
        for c in range(2):
            x0 = int(w * (0.1 + 0.45 * c))
            panel = img[y0 : y0 + int(0.15 * h), x0 : x0 + int(0.3 * w)]
            assert panel.std() > 0.05, ("mix bass kick hat".split()[r], ("rendered", "target")[c])


# -- run: behaviour --------------------------------------------------------------------------


def test_run_search_and_reference_on_a_small_scenario(tmp_path):
    r = invoke(
        "run",
        "kick",
        "--agent",
        "search",
        "--budget",
        "3",
        "--out",
        str(tmp_path / "s"),
        "--no-plots",
    )
    assert r.exit_code == 0, r.output
    assert "reward" in r.stderr and "all" in r.stderr
    # --no-plots skips the episode pictures; the listening page keeps its own.
    assert not [p for p in (tmp_path / "s").rglob("*.png") if "report_files" not in p.parts]
    assert (tmp_path / "s" / "report.html").is_file()
    r = invoke("run", "kick", "--agent", "reference", "-n", "2", "--out", str(tmp_path / "r"), "--no-plots")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "r" / "episode_001" / "mix.wav").is_file()
    assert json.loads((tmp_path / "r" / "summary.json").read_text())["episodes_finished"] == 2


def test_run_default_folder_is_named_after_scenario_and_agent(tmp_path):
    runner = CliRunner()
    with runner.isolated_filesystem(temp_dir=tmp_path):
        r = runner.invoke(cli.main, ["run", "kick", "--no-plots"], catch_exceptions=False)
        assert r.exit_code == 0, r.output
        assert Path("runs/kick-random/episode_000/mix.wav").is_file()


def test_run_unwritable_output_is_reported_before_any_work(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    called = []
    monkeypatch.setattr(raveforce_mae, "parallel_env", lambda *a, **k: called.append(1))
    r = invoke("run", "kick", "--out", str(blocker / "out"))
    assert r.exit_code == 1
    assert str(blocker) in r.stderr and "not a folder" in r.stderr
    assert not called


def test_run_bad_agent_path_names_the_path(tmp_path):
    missing = tmp_path / "policy.zip"
    r = invoke("run", "kick", "--agent", str(missing), "--out", str(tmp_path / "o"))
    assert r.exit_code == 2
    assert str(missing) in r.stderr
    r = invoke("run", "kick", "--agent", "serch", "--out", str(tmp_path / "o"))
    assert r.exit_code == 2 and "did you mean 'search'" in r.stderr
    assert not (tmp_path / "o").exists()


def test_run_bad_override_is_a_usage_error(tmp_path):
    r = invoke("run", "kick", "--set", "no_such_setting=1", "--out", str(tmp_path / "o"))
    assert r.exit_code == 2
    assert "no_such_setting" in r.stderr


def test_run_refuses_to_mix_with_a_previous_run_unless_overwrite(tmp_path):
    out = tmp_path / "o"
    assert invoke("run", "kick", "-n", "2", "--out", str(out), "--no-plots").exit_code == 0
    r = invoke("run", "kick", "--out", str(out), "--no-plots")
    assert r.exit_code == 1 and "--overwrite" in r.stderr
    r = invoke("run", "kick", "--out", str(out), "--no-plots", "--overwrite")
    assert r.exit_code == 0, r.output
    assert (out / "episode_000").is_dir() and not (out / "episode_001").exists()


def test_ctrl_c_keeps_finished_episodes_and_no_partial_files(tmp_path, monkeypatch):
    from raveforce_mae import baselines

    real = baselines.play_episode
    calls = []

    def interrupted_second_time(env, policy, seed=None):
        calls.append(seed)
        if len(calls) == 2:
            env.reset(seed=seed)
            env.step({a: env.action_space(a).sample() for a in env.agents})
            raise KeyboardInterrupt
        return real(env, policy, seed)

    monkeypatch.setattr(baselines, "play_episode", interrupted_second_time)
    out = tmp_path / "o"
    r = invoke("run", "drums", "-n", "3", "--out", str(out))
    assert r.exit_code == 130
    assert "interrupted" in r.stderr
    # The finished episode is kept, with its listening page.
    assert {p.name for p in out.iterdir()} == {
        "episode_000",
        "targets",
        "summary.json",
        ".raveforce-run.json",
        "report.html",
        "report_files",
    }
    assert len(list((out / "episode_000").iterdir())) == 7
    s = json.loads((out / "summary.json").read_text())
    assert s["interrupted"] and s["episodes_finished"] == 1


def test_ctrl_c_before_any_episode_leaves_nothing(tmp_path, monkeypatch):
    from raveforce_mae import baselines

    def interrupt(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(baselines, "play_episode", interrupt)
    out = tmp_path / "o"
    r = invoke("run", "kick", "--out", str(out))
    assert r.exit_code == 130
    assert not out.exists()


# -- render ------------------------------------------------------------------------------------


def test_render_plain_patch(tmp_path):
    patch = tmp_path / "p.glicol"
    patch.write_text("o: sin 220 >> mul 0.3\n")
    r = invoke("render", str(patch), "--seconds", "0.5", "--sample-rate", "22050")
    assert r.exit_code == 0, r.output
    y, sr = sf.read(tmp_path / "p.wav", dtype="float32")
    assert sr == 22050 and y.shape == (11025,)
    assert np.abs(y).max() == pytest.approx(0.3, abs=0.01)
    r = invoke("render", str(patch), "--seconds", "0.25", "--stereo", "--out", str(tmp_path / "s.wav"))
    assert sf.read(tmp_path / "s.wav")[0].shape == (11025, 2)


def test_render_errors(tmp_path):
    r = invoke("render", str(tmp_path / "missing.glicol"))
    assert r.exit_code == 2 and "missing.glicol" in r.stderr
    bad = tmp_path / "bad.glicol"
    bad.write_text("o: sin 220 >> mul\n")
    r = invoke("render", str(bad))
    assert r.exit_code == 1 and "parse error" in r.stderr
    assert not (tmp_path / "bad.wav").exists()


# -- bench ---------------------------------------------------------------------------------------


def test_bench_runs_scripts_and_reports_failures(tmp_path):
    (tmp_path / "engine.py").write_text("print('| engine | 1.0x |')\n")
    (tmp_path / "env.py").write_text("import sys\nprint('| env | broken |')\nsys.exit(3)\n")
    r = invoke("bench", "--dir", str(tmp_path), "--only", "engine")
    assert r.exit_code == 0, r.output
    assert "| engine | 1.0x |" in r.stderr and "env |" not in r.stderr
    r = invoke("bench", "--dir", str(tmp_path), "--out", str(tmp_path / "tables.txt"))
    assert r.exit_code == 1
    assert "exit code 3" in r.stderr
    assert "| env | broken |" in (tmp_path / "tables.txt").read_text()
    r = invoke("bench", "--dir", str(tmp_path), "--only", "vector")
    assert r.exit_code == 2 and "vector" in r.stderr


def test_bench_finds_the_repository_benchmarks():
    r = invoke("bench", "--list")
    assert r.exit_code == 0
    assert set(r.stdout.split()) == {p.stem for p in (ROOT / "benchmarks").glob("*.py")}


# -- check ---------------------------------------------------------------------------------------


def test_check_passes_on_a_working_installation():
    r = invoke("check")
    assert r.exit_code == 0, r.output
    assert "verified" in r.stderr and "renders" in r.stderr and "all good" in r.stderr


def test_check_says_what_to_do_when_the_engine_is_missing(tmp_path, monkeypatch):
    monkeypatch.delenv("GLICOL_WASM", raising=False)
    monkeypatch.setenv("GLICOL_WASM_CACHE", str(tmp_path / "empty"))
    r = invoke("check")
    assert r.exit_code == 1
    assert "python -m glicol_wasm fetch" in r.stderr


# -- as a real process --------------------------------------------------------------------------


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def test_subprocess_run_and_render(tmp_path):
    out = tmp_path / "o"
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "raveforce_mae",
            "run",
            "kick",
            "--agent",
            "reference",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=300,
    )
    assert p.returncode == 0, p.stderr
    assert p.stdout == ""
    assert "\x1b[" not in p.stderr
    assert "episode_000" in p.stderr
    y, _ = sf.read(out / "episode_000" / "mix.wav")
    assert np.abs(y).mean() > 1e-4
    p = subprocess.run(
        [sys.executable, "-m", "raveforce_mae", "render", "nope.glicol"],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
        cwd=tmp_path,
    )
    assert p.returncode == 2 and "nope.glicol" in p.stderr


@pytest.mark.slow
def test_subprocess_sigint_keeps_finished_episodes(tmp_path):
    out = tmp_path / "o"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "raveforce_mae",
            "run",
            "drums",
            "-n",
            "50",
            "--no-plots",
            "--out",
            str(out),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    deadline = time.time() + 240
    while not (out / "episode_001").exists() and time.time() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert not [p for p in out.rglob("*") if "partial" in p.name]
    s = json.loads((out / "summary.json").read_text())
    assert s["interrupted"]
    done = sorted(p.name for p in out.glob("episode_*"))
    assert done == [f"episode_{i:03d}" for i in range(s["episodes_finished"])]
    for d in done:
        assert len(list((out / d).iterdir())) == 5  # 3 WAVs, .glicol, .csv
