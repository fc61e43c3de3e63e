"""Sampled targets through the environments: seeding, splits, options, MIDI and folders of loops."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import raveforce_mae as rm
from raveforce_mae.errors import ScenarioError
from raveforce_mae.midi import write_midi
from raveforce_mae.scenario import load_scenario, scenario_from_dict, scenario_path

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib


def _play(env: rm.RaveforceParallelEnv, seed: int | None = None, options: dict | None = None) -> dict:
    obs, infos = env.reset(seed=seed, options=options)
    rng = np.random.default_rng(7)
    out = {"obs": [obs["bass_0"].copy()], "rewards": [], "ids": [infos["bass_0"]["target_id"]]}
    while env.agents:
        obs, rew, _, _, infos = env.step({"bass_0": rng.uniform(-1, 1, 2).astype(np.float32)})
        out["obs"].append(obs["bass_0"].copy())
        out["rewards"].append(rew["bass_0"])
        out["ids"].append(infos["bass_0"]["target_id"])
    out["targets"] = env.targets()
    out["audio"] = env.audio()
    return out


def test_equal_seeds_give_bit_identical_targets_audio_observations_rewards() -> None:
    a = rm.parallel_env("bassline", targets="sampled")
    b = rm.parallel_env("bassline", targets="sampled")
    pa, pb = _play(a, seed=123), _play(b, seed=123)
    assert all(isinstance(i, int) for i in pa["ids"]) and len(set(pa["ids"])) == 1  # reset and every step
    assert pa["ids"] == pb["ids"]
    for key in ("mix", "bass"):
        assert pa["targets"][key].tobytes() == pb["targets"][key].tobytes()
        assert pa["audio"][key].tobytes() == pb["audio"][key].tobytes()
    assert np.array_equal(np.stack(pa["obs"]), np.stack(pb["obs"]))
    assert pa["rewards"] == pb["rewards"]
    # another seed draws another line: a different target, heard in the observation
    pc = _play(b, seed=124)
    assert pc["ids"][0] != pa["ids"][0]
    assert not np.array_equal(pc["targets"]["mix"], pa["targets"]["mix"])
    assert not np.array_equal(pc["obs"][0], pa["obs"][0])
    # the draw is the documented one: the generator's raw output, shifted
    gen = np.random.default_rng(123)
    assert pa["ids"][0] == int(gen.bit_generator.random_raw()) >> 1


def test_episodes_without_seed_continue_the_generator() -> None:
    env = rm.parallel_env("bassline", targets="sampled")
    env.reset(seed=5)
    ids = [env.target_id]
    for _ in range(3):
        env.reset()
        ids.append(env.target_id)
    assert len(set(ids)) == 4
    gen = np.random.default_rng(5)
    assert ids == [int(gen.bit_generator.random_raw()) >> 1 for _ in range(4)]


def test_reference_mode_is_the_default_and_fixed() -> None:
    env = rm.parallel_env("bassline")
    sc = env.scenario
    _, infos = env.reset(seed=1)
    assert infos["bass_0"]["target_id"] == 0
    assert env.targets()["mix"].tobytes() == sc.targets.mix.tobytes()
    env.reset(seed=2)
    assert env.targets()["mix"].tobytes() == sc.targets.mix.tobytes()
    with pytest.raises(ValueError, match='targets="sampled"'):
        env.reset(options={"target": 3})


def test_options_pick_the_kth_target_of_the_split_as_its_notes_written_as_a_reference() -> None:
    env = rm.parallel_env("bassline", targets="sampled", split="test")
    _, infos = env.reset(options={"target": 3})
    assert infos["bass_0"]["target_id"] == 3
    splits = env.scenario.target_source.splits
    drawn = splits.test(3)
    assert list(env.task.target.blocks["bass"]["note"]) == drawn["bass"]["note"]
    # the same notes and cutoffs written as a reference list render the same audio, bit for bit
    data = tomllib.loads(scenario_path("bassline").read_text(encoding="utf-8"))
    del data["tracks"]["bass"]["distribution"]
    data["tracks"]["bass"]["reference"] = drawn["bass"]
    sc = scenario_from_dict(data, path=scenario_path("bassline"))
    assert env.targets()["mix"].tobytes() == sc.targets.mix.tobytes()
    # replaying the target's own performance earns the maximum reward at every step
    rewards = []
    while env.agents:
        _, rew, _, _, _ = env.step(env.reference_actions(env.step_count))
        rewards.append(rew["bass_0"])
    assert rewards == [1.0] * 16
    # bad indices name the valid range
    with pytest.raises(ValueError, match=r"0\.\.63"):
        env.reset(options={"target": 64})
    with pytest.raises(ValueError, match="integer"):
        env.reset(options={"target": "3"})


def test_train_and_test_splits_are_disjoint_through_the_env() -> None:
    test_env = rm.parallel_env("bassline", targets="sampled", split="test")
    train_env = rm.parallel_env("bassline", targets="sampled")
    test_lines = set()
    for k in range(16):
        test_env.reset(options={"target": k})
        test_lines.add(tuple(test_env.task.target.blocks["bass"]["note"]))
    splits = train_env.scenario.target_source.splits
    test_lines |= {tuple(t["bass"]["note"]) for t in splits.test_set()}
    assert len(test_lines) == 64
    for s in range(40):
        train_env.reset(seed=s)
        line = tuple(train_env.task.target.blocks["bass"]["note"])
        assert line not in test_lines
        assert not splits.is_test(splits.train(train_env.target_id))


def test_bad_keywords_and_scenarios_without_distribution() -> None:
    with pytest.raises(ValueError, match="targets must be"):
        rm.parallel_env("bassline", targets="random")
    with pytest.raises(ValueError, match="split must be"):
        rm.parallel_env("bassline", targets="sampled", split="validation")
    data = tomllib.loads(scenario_path("bassline").read_text(encoding="utf-8"))
    del data["tracks"]["bass"]["distribution"]
    sc = scenario_from_dict(data, path=scenario_path("bassline"))
    with pytest.raises(ScenarioError, match="no target distribution"):
        rm.parallel_env(sc, targets="sampled")
    data["tracks"]["bass"]["distribution"] = {"note": {"kind": "notes", "key": "A", "scale": "klingon"}}
    with pytest.raises(ScenarioError, match=r"tracks\.bass\.distribution\.note\.scale"):
        scenario_from_dict(data, path=scenario_path("bassline"))


def test_gym_env_and_registered_sampled_ids() -> None:
    import gymnasium

    env = gymnasium.make("raveforce_mae/BasslineSampled-v1")
    _, info = env.reset(seed=9)
    assert info["target_id"] == int(np.random.default_rng(9).bit_generator.random_raw()) >> 1
    _, _, _, _, info = env.step(env.action_space.sample())
    assert isinstance(info["target_id"], int)
    assert set(env.unwrapped.targets()) == {"mix", "bass"}
    plain = gymnasium.make("raveforce_mae/Bassline-v1")
    _, info = plain.reset(seed=9)
    assert info["target_id"] == 0
    test = gymnasium.make("raveforce_mae/BasslineSampled-v1", split="test")
    _, info = test.reset(options={"target": 5})
    assert info["target_id"] == 5
    with pytest.raises(gymnasium.error.DeprecatedEnv):
        gymnasium.make("raveforce_mae/Bassline-v0")


def test_upstream_checkers_pass_with_sampled_targets() -> None:
    from gymnasium.utils.env_checker import check_env
    from pettingzoo.test import parallel_api_test, parallel_seed_test

    parallel_api_test(rm.parallel_env("drums", targets="sampled"), num_cycles=40)
    parallel_seed_test(lambda: rm.parallel_env("bassline", targets="sampled"))
    check_env(rm.gym_env("bassline", targets="sampled").unwrapped, skip_render_check=True)


def test_aec_seed_test_with_sampled_targets() -> None:
    from pettingzoo.test import seed_test

    seed_test(lambda: rm.env("drums", targets="sampled"), num_cycles=20)


# -- MIDI ---------------------------------------------------------------------------------------

LINE = ["A1", "A1", "C2", "E2", "G1", "G1", "B1", "D2", "F1", "A1", "C2", "F2", "E1", "G#1", "B1", "E2"]


def _toml_with(tmp_path: Path, extra: str, drop_reference_note: bool = True) -> Path:
    text = scenario_path("bassline").read_text(encoding="utf-8")
    if drop_reference_note:
        # the cutoff stays in the reference block; the notes come from MIDI
        start = text.index("[tracks.bass.reference]")
        end = text.index("[tracks.bass.distribution]")
        text = text[:start] + "[tracks.bass.reference]\ncutoff = 800\n\n" + text[end:]
    p = tmp_path / "riff.toml"
    p.write_text(text + "\n" + extra, encoding="utf-8")
    return p


def test_midi_target_equals_the_same_notes_as_a_reference_list_bit_for_bit(tmp_path: Path) -> None:
    pytest.importorskip("mido")
    sub = tmp_path / "midi"
    sub.mkdir()
    write_midi(LINE, sub / "riff.mid", bpm=120, step_beats=0.25)
    sc_midi = load_scenario(_toml_with(tmp_path, '[targets]\nbass = "midi/riff.mid"\n'))
    data = tomllib.loads(scenario_path("bassline").read_text(encoding="utf-8"))
    data["tracks"]["bass"]["reference"] = {"note": LINE, "cutoff": 800}
    sc_list = scenario_from_dict(data, path=scenario_path("bassline"))
    assert sc_midi.targets.mix.tobytes() == sc_list.targets.mix.tobytes()
    # the same through the environment and through load_scenario(..., targets=...)
    env = rm.parallel_env(sc_midi)
    env.reset(seed=0)
    assert env.targets()["mix"].tobytes() == sc_list.targets.mix.tobytes()
    sc_override = load_scenario("bassline", targets={"bass": sub / "riff.mid"})
    data["tracks"]["bass"]["reference"]["cutoff"] = sc_override.source["tracks"]["bass"]["reference"][
        "cutoff"
    ]
    sc_list2 = scenario_from_dict(data, path=scenario_path("bassline"))
    assert sc_override.targets.mix.tobytes() == sc_list2.targets.mix.tobytes()
    # notes outside the parameter's range are refused, naming the note and the step
    write_midi(["A4"] * 16, sub / "high.mid", bpm=120, step_beats=0.25)
    with pytest.raises(ScenarioError, match=r"targets\.bass.*A4"):
        load_scenario("bassline", targets={"bass": sub / "high.mid"})


def test_a_folder_of_midi_files_is_a_distribution(tmp_path: Path) -> None:
    pytest.importorskip("mido")
    folder = tmp_path / "riffs"
    folder.mkdir()
    rng = np.random.default_rng(0)
    lines = {}
    for i in range(12):
        notes = [int(n) for n in rng.integers(28, 53, 16)]
        lines[f"line{i:02d}.mid"] = notes
        write_midi(notes, folder / f"line{i:02d}.mid", bpm=120, step_beats=0.25)
    toml = _toml_with(tmp_path, '[targets]\nbass = "riffs"\n')
    text = toml.read_text(encoding="utf-8")
    start = text.index("[tracks.bass.distribution]")
    toml.write_text(text[:start] + text[start:].split("\n\n", 1)[1], encoding="utf-8")  # no note distribution
    sc = load_scenario(toml)
    src = sc.target_source
    test_files = {p.name for p in src.midi["bass"].split("test")}
    train_files = {p.name for p in src.midi["bass"].split("train")}
    assert test_files and train_files and not test_files & train_files
    env = rm.parallel_env(sc, targets="sampled", split="test")
    for k in range(len(test_files)):
        env.reset(options={"target": k})
        name = src.midi["bass"].split("test")[k].name
        assert list(env.task.target.blocks["bass"]["note"]) == lines[name]
    train_env = rm.parallel_env(sc, targets="sampled")
    for s in range(6):
        train_env.reset(seed=s)
        assert tuple(train_env.task.target.blocks["bass"]["note"]) in {tuple(lines[n]) for n in train_files}


# -- folders of audio loops ---------------------------------------------------------------------


def test_a_folder_of_loops_through_the_env(tmp_path: Path) -> None:
    import soundfile as sf

    sc0 = load_scenario("bassline")
    n, sr = sc0.total_frames, sc0.sample_rate
    t = np.arange(n) / sr
    loops = tmp_path / "loops"
    mixes = {}
    for i, f0 in enumerate([55.0, 61.7, 65.4, 73.4, 82.4, 98.0, 110.0, 123.5, 130.8, 146.8]):
        d = loops / f"{i:03d}_loop"
        d.mkdir(parents=True)
        y = (0.3 * np.sin(2 * np.pi * f0 * t)).astype(np.float32)
        sf.write(d / "mix.wav", y, sr, subtype="FLOAT")
        mixes[d.name] = y
    text = scenario_path("bassline").read_text(encoding="utf-8")
    start = text.index("[tracks.bass.reference]")
    toml = tmp_path / "loops.toml"
    toml.write_text(text[:start] + '[targets]\nfolder = "loops"\n', encoding="utf-8")
    sc = load_scenario(toml)
    folder = sc.target_source.folder
    assert set(folder.split("train").names).isdisjoint(folder.split("test").names)
    assert len(folder.split("train")) + len(folder.split("test")) == 10
    for split in ("train", "test"):
        env = rm.parallel_env(sc, targets="sampled", split=split)
        names = env.scenario.target_source.folder.split(split).names
        for k, name in enumerate(names):
            env.reset(options={"target": k})
            assert env.targets()["mix"].tobytes() == mixes[name].tobytes()
            _, rew, _, _, _ = env.step({"bass_0": np.zeros(2, np.float32)})
            assert np.isfinite(rew["bass_0"])
    with pytest.raises(ValueError, match="audio, not a performance"):
        env.reference_actions(0)


@pytest.mark.slow
def test_search_copies_a_bass_line_from_a_midi_file_by_its_pitch(tmp_path: Path) -> None:
    """A line written as MIDI, rendered through the bassline synth, recovered by the
    search baseline with the bass track's criterion ``mrstft+pitch``: at least 14 of
    its 16 notes (measured: 16; with ``pitch`` alone and the same budget, 12: the
    misses are neighbouring semitones)."""
    pytest.importorskip("mido")
    pytest.importorskip("cma")
    from raveforce_mae.baselines.search import search

    write_midi(LINE, tmp_path / "line.mid", bpm=120, step_beats=0.25)
    sc = load_scenario("bassline", targets={"bass": tmp_path / "line.mid"}, criterion="mrstft+pitch")
    result = search(sc, budget=100, seed=0, optimiser="cma")
    track = sc.track("bass")
    played = [
        int(round(69 + 12 * np.log2(track.values(result.actions[k]["bass_0"])["note"] / 440.0)))
        for k in range(16)
    ]
    wanted = [rm.params.note_number(n) for n in LINE]
    correct = sum(p == w for p, w in zip(played, wanted, strict=True))
    assert correct >= 14, (played, wanted)
