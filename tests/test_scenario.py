"""Scenarios: built-ins, targets, overrides, audio files and validation of broken files."""

from __future__ import annotations

import dataclasses
import pickle
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import sonic_pi_sample

import glicol_wasm
import raveforce_mae
from raveforce_mae.errors import ScenarioError
from raveforce_mae.params import format_number
from raveforce_mae.scenario import (
    Scenario,
    list_scenarios,
    load_scenario,
    scenario_from_dict,
    scenario_path,
)

BUILTINS = list_scenarios()


def test_builtins_listed():
    assert {"kick", "bassline", "drums", "ensemble", "drum_loop", "drums_mix"} <= set(BUILTINS)
    assert raveforce_mae.list_scenarios() == BUILTINS
    assert scenario_path("kick").name == "kick.toml"


# -- built-in scenarios ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", BUILTINS)
def test_builtin_loads_with_sound_targets(name):
    sc = load_scenario(name)
    assert isinstance(sc, Scenario) and sc.name == name
    assert sc.agents == tuple(t.agent for t in sc.tracks)
    assert all(a.rsplit("_", 1)[1].isdigit() for a in sc.agents)
    mix = sc.targets.mix
    assert mix.shape == (sc.total_frames,) and mix.dtype == np.float32
    assert np.isfinite(mix).all() and np.abs(mix).mean() > 1e-3
    assert np.abs(mix).max() <= 1.0  # no clipping when exported
    for t in sc.tracks:
        stem = sc.targets.stems[t.name]
        if sc.targets.per_track_available:
            assert stem.shape == (sc.total_frames,) and np.isfinite(stem).all()
            assert np.abs(stem).mean() > 1e-4, t.name
        else:
            assert stem is None
        assert sc.criteria[t.name] == t.criterion and len(t.free) >= 1
    assert "mix" in sc.criteria
    assert sc.observation in ("default", "mel", "waveform")


@pytest.mark.parametrize("name", BUILTINS)
def test_bounds_are_exact_and_never_drift(name):
    sc = load_scenario(name)
    sr = sc.sample_rate
    for i, (a, b) in enumerate(sc.bounds):
        assert a == round(i * sc.step_seconds * sr) and b == round((i + 1) * sc.step_seconds * sr)
        assert i == 0 or sc.bounds[i - 1][1] == a
    assert sc.bounds[-1][1] == sc.total_frames == round(sc.n_steps * sc.step_seconds * sr)


@pytest.mark.parametrize("name", BUILTINS)
def test_reference_actions_reproduce_reference_and_targets(name):
    sc = load_scenario(name)
    assert sc.targets.kind in ("reference", "mix-only") and sc.reference is not None
    for i in range(sc.n_steps):
        acts = sc.reference_actions(i)
        assert set(acts) == set(sc.agents)
        for t in sc.tracks:
            a = acts[t.agent]
            assert a.dtype == np.float32 and a.shape == (len(t.free),) and np.all(np.abs(a) <= 1)
            v = t.values(a.astype(np.float64))
            assert v == dict(sc.reference[i][t.name])
            assert t.code(v) == t.code(sc.reference[i][t.name])
    stems, mix = raveforce_mae.core.render_values(sc, sc.reference)
    np.testing.assert_array_equal(mix, sc.targets.mix)


def test_kick_is_the_seed_example():
    sc = load_scenario("kick")
    (t,) = sc.tracks
    assert [p.name for p in t.params] == ["attack", "decay", "freq"]
    assert [p.kind for p in t.params] == ["lin", "rel", "exp"]
    assert [p.name for p in t.free] == ["attack", "freq"]
    v = t.values(np.array([-1.0, 0.0]))
    assert v["decay"] == pytest.approx(0.5 - 0.0001 - 0.0001)
    code = t.code(sc.reference[0]["kick"])
    assert "envperc 0.002 0.4979" in code and "kick: sin 58 >> mul ~kick__env" in code
    assert sc.n_steps == 1 and sc.total_frames == 22050


def test_bassline_notes_are_in_tune():
    sc = load_scenario("bassline")
    bass = sc.targets.stems["bass"]
    for i in (0, 2, 6, 15):
        a, b = sc.bounds[i]
        hz = sc.reference[i]["bass"]["note"]
        seg = bass[a + 300 : b]
        spec = np.abs(np.fft.rfft(seg * np.hanning(len(seg)), n=1 << 17))
        freqs = np.fft.rfftfreq(1 << 17, 1 / sc.sample_rate)
        low = freqs < 1.5 * hz  # the saw's strongest partial is its fundamental
        assert abs(freqs[low][np.argmax(spec[low])] - hz) < 1.0, (i, hz)


@pytest.mark.parametrize("name", ["drums", "ensemble", "drum_loop"])
def test_hats_sound_like_hats(name):
    """Most of the hat's energy is high: checked with a spectrum (this build's hpf is not a high-pass)."""
    sc = load_scenario(name)
    hat = sc.targets.stems["hat"].astype(np.float64)
    power = np.abs(np.fft.rfft(hat)) ** 2
    freqs = np.fft.rfftfreq(len(hat), 1 / sc.sample_rate)
    assert power[freqs > 5000].sum() / power.sum() > 0.95
    assert power[freqs > 8000].sum() / power.sum() > 0.85
    assert power[freqs < 1000].sum() / power.sum() < 0.005
    # white noise through this build's hpf would not pass: it leaks the lows
    noisy = glicol_wasm.render("o: noise 17 >> hpf 8000 1.0", 1.0)[0].astype(np.float64)
    p2 = np.abs(np.fft.rfft(noisy)) ** 2
    f2 = np.fft.rfftfreq(len(noisy), 1 / 44100)
    assert p2[f2 > 5000].sum() / p2.sum() < 0.95


@pytest.mark.parametrize("name", ["drums", "ensemble", "drum_loop"])
def test_level_zero_means_no_hit(name):
    sc = load_scenario(name)
    s = raveforce_mae.core.RenderSession(sc)
    silent = {t.name: t.values(-np.ones(len(t.free))) for t in sc.tracks}
    for i in range(4):
        out = s.step(i, {n: silent[n] if n != "bass" else sc.reference[i][n] for n in silent})
        for k, t in enumerate(sc.tracks):
            if t.name != "bass":
                assert np.abs(out[k]).max() < 1e-5, (t.name, i)  # even envperc's first hit is silent


def test_drums_mix_is_mix_only():
    sc = load_scenario("drums_mix")
    assert sc.targets.kind == "mix-only" and not sc.targets.per_track_available
    assert sc.targets.stems == {"kick": None, "hat": None}
    np.testing.assert_array_equal(sc.targets.mix, load_scenario("drums").targets.mix)


def test_scenario_is_frozen_and_pickles():
    sc = load_scenario("ensemble")
    with pytest.raises(dataclasses.FrozenInstanceError):
        sc.n_steps = 3  # type: ignore[misc]
    with pytest.raises(TypeError):
        sc.criteria["mix"] = "mse"  # type: ignore[index]
    with pytest.raises(ValueError):
        sc.targets.mix[0] = 1.0
    sc2 = pickle.loads(pickle.dumps(sc))
    np.testing.assert_array_equal(sc2.targets.mix, sc.targets.mix)
    u = np.array([0.25, -0.5])
    for t, t2 in zip(sc.tracks, sc2.tracks, strict=False):
        assert t2.values(u) == t.values(u)
        assert t2.code(sc.reference[1][t.name]) == t.code(sc.reference[1][t.name])


def test_describe_names_everything():
    text = load_scenario("ensemble").describe()
    for word in ("ensemble", "bass_0", "kick_0", "hat_0", "cutoff", "mrstft+pitch", "120 bpm", "16 steps"):
        assert word in text


def test_track_values_errors_name_agent_and_parameter():
    sc = load_scenario("ensemble")
    bass = sc.track("bass_0")
    with pytest.raises(raveforce_mae.ParameterError, match="bass_0.*'cutoff'"):
        bass.values(np.array([0.0, np.nan]))
    with pytest.raises(raveforce_mae.ParameterError, match="bass_0.*'note'"):
        bass.values(np.array([np.inf, 0.0]))
    with pytest.raises(raveforce_mae.ParameterError, match="length 2"):
        bass.values(np.array([0.0]))
    v = bass.values(np.array([5.0, -5.0]))  # clipped
    assert v["cutoff"] == pytest.approx(100) and v["note"] == pytest.approx(
        raveforce_mae.params.midi_to_hz(52)
    )


# -- overrides ----------------------------------------------------------------------------------------


def test_replace_and_load_overrides():
    sc = load_scenario("ensemble")
    short = sc.replace(steps=4)
    assert short.n_steps == 4 and short.total_frames == sc.bounds[3][1]
    np.testing.assert_array_equal(short.targets.mix, sc.targets.mix[: short.total_frames])
    long = load_scenario("ensemble", n_steps=32)
    assert long.reference[18] == sc.reference[2]
    w = sc.replace(shared_weight=0.25, criterion="mrstft", observation="mel", seed=7)
    assert w.shared_weight == 0.25 and w.observation == "mel" and w.seed == 7
    assert set(w.criteria.values()) == {"mrstft"}
    c = sc.replace(criteria={"hat": "mrstft", "mix": "mrstft+onset"})
    assert c.criteria["hat"] == "mrstft" and c.criteria["mix"] == "mrstft+onset"
    assert c.criteria["bass"] == "mrstft+pitch"
    lo = sc.replace(sample_rate=22050)
    assert lo.sample_rate == 22050 and lo.total_frames == 44100 and np.abs(lo.targets.mix).mean() > 1e-3
    fast = sc.replace(bpm=140)
    assert fast.step_seconds == pytest.approx(60 / 140 / 4)
    secs = sc.replace(step_seconds=0.1)
    assert secs.step_beats is None and secs.total_frames == round(1.6 * 44100)
    assert sc.replace(per_track=False).targets.kind == "mix-only"
    assert sc.replace() is sc and sc.replace(steps=None).n_steps == 16


def test_unknown_override_lists_valid_ones():
    with pytest.raises(ScenarioError, match="'tempo'.*valid overrides: steps"):
        load_scenario("kick", tempo=99)
    with pytest.raises(ScenarioError, match="shared_weight"):
        load_scenario("kick", shared_weight=2)
    with pytest.raises(ScenarioError, match="no track 'snare'"):
        load_scenario("drums").replace(criteria={"snare": "mrstft"})


def test_missing_scenarios():
    with pytest.raises(ScenarioError, match="built-in scenarios: .*ensemble"):
        load_scenario("nope")
    with pytest.raises(ScenarioError, match="not found"):
        load_scenario("/tmp/definitely/missing.toml")


def test_load_by_path_and_relative_names(tmp_path):
    p = tmp_path / "mine.toml"
    shutil.copy(scenario_path("kick"), p)
    sc = load_scenario(p)
    assert sc.name == "mine" and sc.path == p.resolve()
    np.testing.assert_array_equal(sc.targets.mix, load_scenario("kick").targets.mix)
    assert load_scenario(str(p)).name == "mine"
    assert load_scenario(sc, steps=1).n_steps == 1


def test_scenario_from_dict_with_callables_and_arrays():
    dur = 0.5
    sc = scenario_from_dict(
        {
            "timing": {"steps": 1, "step_seconds": dur},
            "tracks": {
                "kick": {
                    "code": "~env: imp 0.1 >> envperc {} {}\nkick_drum: sin {} >> mul ~env",
                    "params": [
                        {"name": "attack", "kind": "lin", "low": 0.0001, "high": dur - 0.0001},
                        {
                            "name": "decay",
                            "kind": "rel",
                            "expr": lambda x: dur - 0.0001 - x,
                            "depends": ["attack"],
                        },
                        {"name": "freq", "kind": "exp", "low": 10, "high": 10000},
                    ],
                }
            },
            "targets": {"mix": load_scenario("kick").targets.mix},
        }
    )
    assert sc.targets.kind == "mix-only" and sc.reference is None
    assert sc.tracks[0].values(np.array([-1.0, 0.0]))["decay"] == pytest.approx(0.4998)
    with pytest.raises(ScenarioError, match="no reference"):
        sc.reference_actions(0)


# -- audio-file targets ------------------------------------------------------------------------------


def _audio_scenario(tmp_path, targets: str) -> Path:
    text = scenario_path("bassline").read_text()
    head, _, _ = text.partition("[tracks.bass.reference]")
    p = tmp_path / "from_audio.toml"
    p.write_text(head + targets)
    return p


@pytest.mark.parametrize("sr, channels", [(22050, 2), (48000, 1)])
def test_audio_targets_resampled_and_mixed_down(tmp_path, sr, channels):
    import librosa

    ref = load_scenario("bassline")
    y = librosa.resample(ref.targets.stems["bass"], orig_sr=44100, target_sr=sr)
    data = np.stack([y] * channels, axis=1) if channels > 1 else y
    sf.write(tmp_path / "bass.wav", data, sr)
    sf.write(tmp_path / "mix.flac", data, sr)
    p = _audio_scenario(tmp_path, '[targets]\nmix = "mix.flac"\nbass = "bass.wav"\n')
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # librosa's one-frame rounding is not a length mismatch
        sc = load_scenario(p)
    assert sc.targets.kind == "audio" and sc.targets.per_track_available and sc.reference is None
    for got in (sc.targets.stems["bass"], sc.targets.mix):
        assert got.shape == (ref.total_frames,) and got.dtype == np.float32
        # resampling twice keeps the bass line (it lives far below either Nyquist)
        err = np.linalg.norm(got - ref.targets.mix) / np.linalg.norm(ref.targets.mix)
        assert err < 0.05, err
    assert sc.targets.files["bass"].endswith("bass.wav")


def test_audio_length_mismatch_warns_with_file_name(tmp_path):
    ref = load_scenario("bassline")
    sf.write(tmp_path / "mix.wav", ref.targets.mix[:30000], 44100, subtype="FLOAT")
    sf.write(
        tmp_path / "bass.wav",
        np.concatenate([ref.targets.mix, np.ones(1000, np.float32)]),
        44100,
        subtype="FLOAT",
    )
    p = _audio_scenario(tmp_path, '[targets]\nmix = "mix.wav"\nbass = "bass.wav"\n')
    with pytest.warns(UserWarning) as rec:
        sc = load_scenario(p)
    msgs = " ".join(str(w.message) for w in rec)
    assert "mix.wav" in msgs and "padded" in msgs and "bass.wav" in msgs and "trimmed" in msgs
    assert sc.targets.mix.shape == (ref.total_frames,) and not sc.targets.mix[30000:].any()
    np.testing.assert_array_equal(sc.targets.stems["bass"], ref.targets.mix)


def test_mix_only_audio_target(tmp_path):
    ref = load_scenario("bassline")
    sf.write(tmp_path / "mix.wav", ref.targets.mix, 44100, subtype="FLOAT")
    sc = load_scenario(_audio_scenario(tmp_path, '[targets]\nmix = "mix.wav"\n'))
    assert sc.targets.kind == "mix-only" and not sc.targets.per_track_available
    assert sc.targets.stems == {"bass": None}
    np.testing.assert_array_equal(sc.targets.mix, ref.targets.mix)


def test_real_kick_sample_as_target(tmp_path):
    """A real drum sample (Debian's sonic-pi-samples) as the kick task's target."""
    sample = sonic_pi_sample("bd_haus.flac", "bd_tek.flac", "bd_808.flac")
    text = scenario_path("kick").read_text()
    head, _, _ = text.partition("[tracks.kick.reference]")
    p = tmp_path / "real_kick.toml"
    p.write_text(head + f'[targets]\nkick = "{sample}"\nmix = "{sample}"\n')
    with pytest.warns(UserWarning, match=sample.name):  # its length is not 0.5 s
        sc = load_scenario(p)
    assert sc.targets.per_track_available and np.abs(sc.targets.mix).max() > 0.05


# -- validation: real broken files -----------------------------------------------------------------------

GOOD = """
description = "a test"
[timing]
steps = 2
step_seconds = 0.1
[constants]
dur = "step_seconds"
[shared]
clock = "imp 10"
[tracks.lead]
chain = "sin {freq} >> mul ~env"
refs.env = "~clock >> envperc {attack} {decay}"
[tracks.lead.params]
freq = { kind = "exp", low = 100, high = 1000 }
attack = { kind = "lin", low = 0.001, high = 0.01 }
decay = { kind = "rel", expr = "dur - attack" }
[tracks.lead.reference]
freq = [220, 330]
attack = 0.005
"""


def _write(tmp_path, text, name="broken.toml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_good_file_loads(tmp_path):
    sc = load_scenario(_write(tmp_path, GOOD, "good.toml"))
    assert sc.agents == ("lead_0",) and sc.targets.kind == "reference"
    assert sc.tracks[0].shared == ("clock",)


def _edit(old, new):
    assert old in GOOD, old
    return GOOD.replace(old, new)


BROKEN = [
    # (file text, track or None, key, words of the explanation)
    (
        GOOD.replace('description = "a test"', 'description = "a test"\ntempo = 120'),
        None,
        "tempo",
        "valid keys",
    ),
    (_edit("[timing]\n", "[timing]\nswing = 0.1\n"), None, "timing.swing", "valid keys"),
    (_edit('chain = "sin', 'colour = "red"\nchain = "sin'), "lead", "tracks.lead.colour", "valid keys"),
    (
        _edit(
            'freq = { kind = "exp", low = 100, high = 1000 }',
            'freq = { kind = "exp", low = 100, high = 1000, step = 2 }',
        ),
        "lead",
        "tracks.lead.params.freq.step",
        "valid keys",
    ),
    (_edit("steps = 2", 'steps = "two"'), None, "timing.steps", "positive integer"),
    (_edit("steps = 2", "steps = 2.5"), None, "timing.steps", "positive integer"),
    (
        _edit("step_seconds = 0.1", "step_seconds = 0.1\nstep_beats = 1"),
        None,
        "timing.step_seconds",
        "not both",
    ),
    (_edit('chain = "sin {freq} >> mul ~env"', "chain = 440"), "lead", "tracks.lead.chain", "a string"),
    (
        _edit("sin {freq} >> mul ~env", "sin {freq} >> mul ~env >> mul {gain}"),
        "lead",
        "tracks.lead.params.gain",
        "without a spec",
    ),
    (
        _edit(
            "[tracks.lead.reference]", 'gain = { kind = "lin", low = 0, high = 1 }\n[tracks.lead.reference]'
        ),
        "lead",
        "tracks.lead.params.gain",
        "without a hole",
    ),
    (
        _edit(
            'attack = { kind = "lin", low = 0.001, high = 0.01 }',
            'attack = { kind = "rel", expr = "decay / 2" }',
        ).replace("attack = 0.005\n", ""),
        "lead",
        "tracks.lead.params",
        "cycle",
    ),
    (
        _edit("low = 100, high = 1000", "low = 1000, high = 100"),
        "lead",
        "tracks.lead.params.freq",
        "low < high",
    ),
    (
        _edit("low = 100, high = 1000", "low = 100, high = 100"),
        "lead",
        "tracks.lead.params.freq",
        "low < high",
    ),
    (
        _edit("low = 0.001, high = 0.01", "low = 0.001"),
        "lead",
        "tracks.lead.params.attack.high",
        "high bound",
    ),
    (_edit('kind = "exp"', 'kind = "log"'), "lead", "tracks.lead.params.freq.kind", "one of"),
    (
        _edit("sin {freq} >> mul ~env", "sin {freq} >> mul ~env >> lpf 800"),
        "lead",
        "tracks.lead.chain",
        "engine accepts",
    ),
    (_edit("sin {freq} >> mul ~env", "sin {freq} >> mul ~nowhere"), "lead", "tracks.lead.chain", "~nowhere"),
    (
        _edit("envperc {attack} {decay}", "envperc {attack} {decay} >> wobble 3"),
        "lead",
        "tracks.lead.refs.env",
        "engine accepts",
    ),
    (_edit('clock = "imp 10"', 'clock = "imp {freq}"'), None, "shared.clock", "constants only"),
    (_edit("freq = [220, 330]", "freq = [220, 330, 440]"), "lead", "tracks.lead.reference.freq", "divides"),
    (_edit("freq = [220, 330]", "freq = 5000"), "lead", "tracks.lead.reference.freq", "[100, 1000]"),
    (
        _edit("attack = 0.005\n", "attack = 0.005\ndecay = 0.1\n"),
        "lead",
        "tracks.lead.reference.decay",
        "computed",
    ),
    (_edit("attack = 0.005\n", ""), "lead", "tracks.lead.reference.attack", "every free parameter"),
    (
        _edit("[tracks.lead.reference]", '[observation]\nkind = "spectrogram"\n[tracks.lead.reference]'),
        None,
        "observation.kind",
        "one of",
    ),
    (
        _edit("sin {freq} >> mul ~env", "sin {} >> mul ~env >> mul {freq}"),
        "lead",
        "tracks.lead.chain",
        "not both",
    ),
    (_edit("[tracks.lead]", "[tracks.Lead]"), None, "tracks.Lead", "lowercase"),
    (
        _edit('expr = "dur - attack"', 'expr = "dur - attack.real"'),
        "lead",
        "tracks.lead.params.decay.expr",
        "not allowed",
    ),
]


@pytest.mark.parametrize("text, track, key, words", BROKEN, ids=[b[2] + ":" + b[3] for b in BROKEN])
def test_broken_file_names_file_track_key(tmp_path, text, track, key, words):
    p = _write(tmp_path, text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(p)
    msg = str(info.value)
    assert str(p) in msg, msg
    assert f"'{key}" in msg, msg
    assert "expected" in msg and words in msg, msg
    if track is not None:
        assert f"track {track!r}" in msg, msg
    assert info.value.key.startswith(key)  # type: ignore[attr-defined]


def test_invalid_toml_and_unreadable_files(tmp_path):
    p = _write(tmp_path, "[timing\nsteps = 2")
    with pytest.raises(ScenarioError, match="not valid TOML"):
        load_scenario(p)
    head = GOOD.partition("[tracks.lead.reference]")[0]
    missing = _write(tmp_path, head + '[targets]\nmix = "nowhere.wav"\n')
    with pytest.raises(ScenarioError, match=r"targets\.mix.*nowhere\.wav \(missing\)"):
        load_scenario(missing)
    (tmp_path / "junk.wav").write_bytes(b"RIFF not really a wave file")
    junk = _write(tmp_path, head + '[targets]\nmix = "junk.wav"\n')
    with pytest.raises(ScenarioError, match=r"targets\.mix.*readable"):
        load_scenario(junk)
    mp3 = _write(tmp_path, head + '[targets]\nmix = "song.mp3"\n')
    with pytest.raises(ScenarioError, match="WAV or FLAC"):
        load_scenario(mp3)
    both = _write(tmp_path, GOOD + '[targets]\nmix = "mix.wav"\n')
    with pytest.raises(ScenarioError, match="not both"):
        load_scenario(both)
    none = _write(tmp_path, head)
    with pytest.raises(ScenarioError, match="a target"):
        load_scenario(none)


def test_unknown_criterion_is_a_scenario_error(tmp_path):
    pytest.importorskip("raveforce_mae.rewards")
    p = _write(
        tmp_path, GOOD.replace("[tracks.lead.params]", 'criterion = "loudness_war"\n[tracks.lead.params]')
    )
    with pytest.raises(ScenarioError, match=r"track 'lead', key 'tracks.lead.criterion'.*loudness_war"):
        load_scenario(p)


def test_glicol_rejection_at_an_extreme_value_is_reported(tmp_path):
    # delayms traps on huge values: the probe at the highest values finds it
    p = _write(
        tmp_path,
        GOOD.replace("sin {freq} >> mul ~env", "sin {freq} >> mul ~env >> delayms {d}")
        .replace(
            "[tracks.lead.reference]",
            'd = { kind = "exp", low = 1, high = 1000000000 }\n[tracks.lead.reference]',
        )
        .replace("attack = 0.005", "attack = 0.005\nd = 10"),
    )
    with pytest.raises(ScenarioError, match="highest values"):
        load_scenario(p)


def test_two_roles_and_explicit_role(tmp_path):
    text = (
        GOOD
        + """
[tracks.lead_two]
role = "lead"
chain = "saw {freq} >> mul ~env >> mul 0.2"
refs.env = "~clock >> envperc 0.001 0.05"
params.freq = { kind = "exp", low = 100, high = 1000 }
reference.freq = 440
"""
    )
    sc = load_scenario(_write(tmp_path, text, "two.toml"))
    assert sc.agents == ("lead_0", "lead_1")
    code = sc.tracks[1].code(sc.reference[0]["lead_two"])
    assert "~lead_two__env" in code and "lead_two: saw 440" in code
    assert format_number(sc.reference[0]["lead_two"]["freq"]) == "440"
