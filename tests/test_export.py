"""Episode export from Python (``raveforce_mae.export``): files, summary.json, the manifest.

One episode of ``drums`` (two tracks, per-track targets) is played once per module and
exported twice: with the ``EpisodeResult`` of ``play_episode``, and read back from the
env alone. The tests read the files back and compare numbers.
"""

from __future__ import annotations

import csv
import json
import platform
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import raveforce_mae
from raveforce_mae import baselines
from raveforce_mae.export import (
    MANIFEST,
    OutputFolderError,
    RunWriter,
    episode_from_env,
    episode_timing,
    export_episode,
    scenario_summary,
)
from raveforce_mae.timeline import render_timeline


@pytest.fixture(scope="module")
def played(tmp_path_factory):
    env = raveforce_mae.parallel_env("drums")
    result = baselines.play_episode(env, baselines.random_policy(env, seed=5), seed=5)
    base = tmp_path_factory.mktemp("export")
    with_result = export_episode(
        env, base / "with-result", result, agent="random", seed=5, plots=False, report=False
    )
    from_env = export_episode(env, base / "from-env", agent="random", seed=5, plots=False, report=False)
    return env, result, with_result, from_env


def _rows(folder: Path) -> list[dict[str, str]]:
    with open(folder / "episode_000" / "rewards.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_export_writes_the_run_layout(played):
    env, _, out, _ = played
    tracks = [t.name for t in env.scenario.tracks]
    assert {p.name for p in out.iterdir()} == {"targets", "episode_000", "summary.json", MANIFEST}
    assert {p.name for p in (out / "episode_000").iterdir()} == {
        "mix.wav",
        "performance.glicol",
        "rewards.csv",
        *(f"{t}.wav" for t in tracks),
    }
    assert {p.name for p in (out / "targets").iterdir()} == {"mix.wav", *(f"{t}.wav" for t in tracks)}


def test_exported_audio_is_what_the_env_played(played):
    env, _, out, _ = played
    for name, y in env.audio().items():
        wav, sr = sf.read(out / "episode_000" / f"{name}.wav", dtype="float32")
        assert sr == env.scenario.sample_rate
        np.testing.assert_array_equal(wav, y)  # float WAV: bit-identical


def test_exported_performance_renders_the_mix_again(played):
    _, _, out, _ = played
    again = render_timeline((out / "episode_000" / "performance.glicol").read_text())[0]
    mix, _ = sf.read(out / "episode_000" / "mix.wav", dtype="float32")
    assert again.shape == mix.shape
    np.testing.assert_allclose(again, mix, atol=1e-5)


def test_rewards_read_back_from_the_env_equal_the_recorded_ones(played):
    """Without an EpisodeResult the per-track parts are solved from the blend; same numbers."""
    env, result, with_result, from_env = played
    a, b = _rows(with_result), _rows(from_env)
    assert len(a) == len(b) == env.scenario.n_steps * len(env.possible_agents)
    for ra, rb in zip(a, b, strict=True):
        assert ra["agent"] == rb["agent"] and ra["step"] == rb["step"]
        for key in ("reward", "shared", "track_reward"):
            assert float(ra[key]) == pytest.approx(float(rb[key]), abs=1e-5)
    ep = episode_from_env(env)
    np.testing.assert_allclose(ep.track, result.track, atol=1e-9)


def test_summary_carries_versions_timing_and_command(played):
    env, _, out, _ = played
    s = json.loads((out / "summary.json").read_text())
    v = s["versions"]
    assert v["python"] == platform.python_version()
    assert v["raveforce_mae"] == raveforce_mae.__version__
    for dist in ("numpy", "wasmtime", "gymnasium", "pettingzoo", "librosa"):
        assert isinstance(v[dist], str) and v[dist][0].isdigit(), dist
    assert v["numpy"] == np.__version__
    assert v["glicol"]["package"].startswith("glicol@") and len(v["glicol"]["sha256"]) == 64
    t = s["timing"]
    sc = env.scenario
    assert t["sample_rate"] == sc.sample_rate and t["bpm"] == sc.bpm
    assert t["step_frames"] == [list(b) for b in sc.bounds]
    mix, _ = sf.read(out / "episode_000" / "mix.wav", dtype="float32")
    assert t["total_frames"] == len(mix) == t["step_frames"][-1][1]
    starts = sorted({float(r["time_s"]) for r in _rows(out)})
    np.testing.assert_allclose(starts, [a / sc.sample_rate for a, _ in t["step_frames"]], atol=1e-5)
    assert s["command"] is None  # nothing reproduces a Python session's episode
    assert s["scenario"] == scenario_summary(sc)
    assert s["episodes"][0]["seed"] == 5 and s["episodes"][0]["steps"] == sc.n_steps


def test_timing_of_steps_beyond_one_pass_continues_the_frames():
    sc = raveforce_mae.load_scenario("drums")
    t = episode_timing(sc, 2 * sc.n_steps)
    assert len(t["step_frames"]) == 2 * sc.n_steps
    assert t["total_frames"] == 2 * sc.total_frames
    assert all(a[1] == b[0] for a, b in zip(t["step_frames"], t["step_frames"][1:], strict=False))


def test_export_refuses_a_previous_run_unless_overwrite(played, tmp_path):
    env, result, _, _ = played
    out = export_episode(env, tmp_path / "o", result, plots=False)
    with pytest.raises(OutputFolderError, match="previous run"):
        export_episode(env, out, result, plots=False)
    (out / "notes.txt").write_text("mine")
    export_episode(env, out, result, plots=False, overwrite=True)
    assert (out / "notes.txt").read_text() == "mine"
    assert (out / "episode_000" / "mix.wav").is_file()


def test_overwrite_keeps_a_file_added_inside_a_written_folder(played, tmp_path):
    env, result, _, _ = played
    out = export_episode(env, tmp_path / "o", result, plots=False)
    (out / "episode_000" / "listening-notes.txt").write_text("keep me")
    with pytest.raises(OutputFolderError, match="listening-notes.txt"):
        export_episode(env, out, result, plots=False, overwrite=True)
    assert (out / "episode_000" / "listening-notes.txt").read_text() == "keep me"
    assert (out / "episode_000" / "mix.wav").is_file()  # nothing was removed


def test_a_tampered_manifest_cannot_make_a_run_delete_other_files(played, tmp_path):
    env, result, _, _ = played
    out = export_episode(env, tmp_path / "o", result, plots=False)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (out / "precious.txt").write_text("precious")
    m = json.loads((out / MANIFEST).read_text())
    m["entries"]["../victim.txt"] = None
    m["entries"]["precious.txt"] = None
    m["entries"]["episode_000"].append("../../victim.txt")
    (out / MANIFEST).write_text(json.dumps(m))
    export_episode(env, out, result, plots=False, overwrite=True)
    assert victim.read_text() == "precious"
    assert (out / "precious.txt").read_text() == "precious"


def test_discard_removes_only_what_the_writer_wrote(played, tmp_path):
    env, result, _, _ = played
    out = tmp_path / "new"
    w = RunWriter(out, env, plots=False)
    w.open()
    w.write_targets()
    (out / "mine.txt").write_text("x")
    w.discard()
    assert {p.name for p in out.iterdir()} == {"mine.txt"}  # folder kept: not empty
    w2 = RunWriter(tmp_path / "new2", env, plots=False)
    w2.open()
    w2.write_targets()
    w2.discard()
    assert not (tmp_path / "new2").exists()  # created by the writer and now empty
