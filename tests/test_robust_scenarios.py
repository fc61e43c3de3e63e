"""Robustness: bad scenario files and bad target audio are refused at load.

Every broken file raises ``ScenarioError`` naming the problem (never another
exception, never a trap later at step time); every odd-but-valid audio file loads.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import raveforce_mae
from raveforce_mae import ScenarioError
from raveforce_mae.scenario import load_scenario, scenario_path

KICK = scenario_path("kick").read_text(encoding="utf-8")
DRUMS = scenario_path("drums").read_text(encoding="utf-8")


def _load_text(tmp_path, text, name="fuzz.toml"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # silent targets etc.
        return load_scenario(p)


def _load_or_scenario_error(tmp_path, text):
    """Loading either succeeds with a usable scenario or raises ScenarioError."""
    try:
        sc = _load_text(tmp_path, text)
    except ScenarioError as e:
        assert str(e).strip()
        return None
    # a file that loads must also play: one step at mid-range, no trap, no NaN
    env = raveforce_mae.parallel_env(sc)
    env.reset(seed=0)
    _, rew, _, _, infos = env.step({a: np.zeros(env.action_space(a).shape, np.float32) for a in env.agents})
    assert all(math.isfinite(r) for r in rew.values())
    assert not any(i["engine_error"] for i in infos.values())
    return sc


FUZZ = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@FUZZ
@given(src=st.sampled_from([KICK, DRUMS]), cut=st.floats(0, 1))
def test_truncated_files(tmp_path, src, cut):
    _load_or_scenario_error(tmp_path, src[: int(len(src) * cut)])


_VALUES = st.one_of(
    st.integers(-(2**63), 2**63 - 1).map(str),
    st.just("1" + "0" * 400),  # beyond float range
    st.floats(allow_nan=True, allow_infinity=True).map(
        lambda f: repr(f).replace("inf", "inf").replace("nan", "nan")
    ),
    st.text(max_size=12).map(lambda s: '"' + s.replace("\\", "").replace('"', "") + '"'),
    st.sampled_from(
        [
            '"pan 0.5"',
            '"reverb 0.5 0.5"',
            "true",
            "[]",
            "{}",
            '[1, "a"]',
            '"~nope"',
            '"sin 440 >> lpf"',
            '"{}"',
            '"{nope}"',
            '"é"',
            '"E99"',
            "-1",
            "0",
            "1e308",
            "inf",
        ]
    ),
)


@FUZZ
@given(src=st.sampled_from([KICK, DRUMS]), data=st.data())
def test_values_replaced_with_anything(tmp_path, src, data):
    lines = src.splitlines()
    idx = [i for i, ln in enumerate(lines) if "=" in ln and not ln.lstrip().startswith("#")]
    i = data.draw(st.sampled_from(idx), label="line")
    key = lines[i].split("=", 1)[0]
    lines[i] = key + "= " + data.draw(_VALUES, label="value")
    _load_or_scenario_error(tmp_path, "\n".join(lines))


@FUZZ
@given(src=st.sampled_from([KICK, DRUMS]), data=st.data())
def test_random_byte_damage(tmp_path, src, data):
    b = bytearray(src.encode())
    for _ in range(data.draw(st.integers(1, 4), label="n")):
        pos = data.draw(st.integers(0, len(b) - 1), label="pos")
        b[pos] = data.draw(st.integers(0, 255), label="byte")
    p = tmp_path / "bytes.toml"
    p.write_bytes(bytes(b))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            load_scenario(p)
    except ScenarioError:
        pass


# -- named cases --------------------------------------------------------------------------------------

MINI = """
[timing]
steps = 2
[tracks.lead]
chain = "{chain}"
params.x = {{ kind = "lin", low = 0, high = 1 }}
reference.x = 0.5
"""


def mini(chain: str) -> str:
    return MINI.format(chain=chain)


CASES = [
    # (id, text, words the message must contain)
    ("glicol-parse-error", mini("sin {x} >> lpf"), ["tracks.lead.chain", "parse error"]),
    ("unknown-node", mini("foo {x}"), ["tracks.lead.chain"]),
    ("undefined-ref", mini("sin 440 >> mul ~nope >> mul {x}"), ["~nope is undefined"]),
    ("bare-word-ref", mini("sin abc >> mul {x}"), ["tracks.lead.chain", "reference"]),
    ("missing-sample", mini("seq 60 >> sp \\\\nosuch >> mul {x}"), ["tracks.lead.chain"]),
    ("trap-pan", mini("sin 440 >> pan {x}"), ["tracks.lead.chain", "panicked"]),
    (
        "reverb-not-in-grammar",
        mini("sin 440 >> reverb {x} 0.5"),
        ["tracks.lead.chain", "parse error"],
    ),
    ("trap-expr", mini("sin 440 >> expr {x}"), ["tracks.lead.chain"]),
    (
        "trap-delayms-huge",
        mini("sin 440 >> delayms 100000000 >> mul {x}"),
        ["tracks.lead.chain", "panicked"],
    ),
    (
        "trap-at-high-value",
        mini("sin 440 >> delayms {x}").replace("high = 1", "high = 100000000"),
        ["panicked", "delayms 50000000"],
    ),
    ("nan-node", mini("sin 440 >> lpf 100 0 >> mul {x}"), ["tracks.lead.chain", "NaN"]),
    (
        "nan-onepole-negative",
        mini("noise 3 >> onepole -1 >> mul {x}"),
        ["tracks.lead.chain", "NaN"],
    ),
    ("nul-in-chain", mini("sin 440\\u0000 >> mul {x}"), ["tracks.lead.chain"]),
    ("unicode-in-chain", mini("sin 440 >> mul {x} >> lpf ♫ 1.0"), ["tracks.lead.chain"]),
    (
        "unicode-track-name",
        mini("sin 440 >> mul {x}").replace("tracks.lead", 'tracks."bäss"'),
        ["lowercase track name"],
    ),
    (
        "unicode-bare-key",
        mini("sin 440 >> mul {x}").replace("tracks.lead", "tracks.bäss"),
        ["not valid TOML"],
    ),
    ("unicode-ref-name", mini("sin 440 >> mul {x}") + 'refs."é" = "sin 1"\n', ["tracks.lead"]),
    ("unbalanced-brace", mini("sin {x >> mul 1"), ["tracks.lead.chain", "unmatched"]),
    ("hole-without-param", mini("sin {y} >> mul {x}"), ["tracks.lead.params.y"]),
    ("param-without-hole", mini("sin 440"), ["tracks.lead.params.x"]),
    (
        "wrong-type-steps",
        mini("sin 440 >> mul {x}").replace("steps = 2", 'steps = "2"'),
        ["timing.steps"],
    ),
    ("huge-int-seed", "seed = " + "9" * 400 + "\n" + mini("sin 440 >> mul {x}"), ["seed"]),
    (
        "episode-too-long",
        mini("sin 440 >> mul {x}").replace("steps = 2", "steps = 1000000\nstep_beats = 4"),
        ["timing", "at most 600 s"],
    ),
    ("no-tracks", "[timing]\nsteps = 2\n", ["tracks"]),
    ("not-toml", "[[[", ["not valid TOML"]),
    ("empty-file", "", ["tracks"]),
    (
        "rel-cycle",
        mini("sin {x} >> mul {a} >> mul {b}") + 'params.a = { kind = "rel", expr = "b" }\n'
        'params.b = { kind = "rel", expr = "a" }\n',
        ["cycle"],
    ),
]


@pytest.mark.parametrize("text,words", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_named_bad_files_are_refused_clearly(tmp_path, text, words):
    with pytest.raises(ScenarioError) as ei:
        _load_text(tmp_path, text)
    msg = str(ei.value)
    assert "fuzz.toml" in msg
    for w in words:
        assert w in msg, (w, msg)


def test_unicode_names_and_descriptions_that_are_legal_load(tmp_path):
    text = 'name = "bässline ♫"\ndescription = "ünïcödé"\n' + mini("sin 440 >> mul {x} // bäss ♫").replace(
        "params.x", 'params."höhe"'
    ).replace("{x}", "{höhe}").replace("reference.x", 'reference."höhe"')
    sc = _load_or_scenario_error(tmp_path, text)
    assert sc is not None and sc.name == "bässline ♫"


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(ScenarioError, match="not found"):
        load_scenario(tmp_path / "nope.toml")
    d = tmp_path / "dir.toml"
    d.mkdir()
    with pytest.raises(ScenarioError):
        load_scenario(d)


# -- target audio -------------------------------------------------------------------------------------

AUDIO = """
[timing]
steps = 4
step_seconds = 0.05
[tracks.lead]
chain = "sin {f} >> mul 0.5"
params.f = { kind = "exp", low = 100, high = 1000 }
[targets]
mix = "target.wav"
"""
EP = 0.2  # seconds


def _write(path, seconds, sr, channels, subtype, fmt="WAV"):
    t = np.arange(round(seconds * sr)) / sr
    y = 0.5 * np.sin(2 * np.pi * 220 * t)
    data = np.stack([y * (1 - 0.1 * c) for c in range(channels)], axis=1)
    sf.write(str(path), data, sr, subtype=subtype, format=fmt)
    return y


@pytest.mark.parametrize(
    "sr,channels,subtype,seconds",
    [
        (44100, 1, "PCM_U8", EP),
        (44100, 2, "PCM_24", EP),
        (44100, 1, "FLOAT", EP),
        (44100, 1, "DOUBLE", EP),
        (96000, 1, "PCM_16", EP),
        (48000, 6, "PCM_16", EP),
        (8000, 1, "PCM_16", EP),
        (44100, 1, "PCM_16", 0.01),
        (44100, 1, "PCM_16", 2.0),
    ],
    ids=["8bit", "24bit-stereo", "float", "double", "96k", "6ch-48k", "8k", "0.01s", "too-long"],
)
def test_target_audio_formats_load(tmp_path, sr, channels, subtype, seconds):
    _write(tmp_path / "target.wav", seconds, sr, channels, subtype)
    (tmp_path / "s.toml").write_text(AUDIO, encoding="utf-8")
    odd_length = abs(seconds - EP) > 1e-9
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        sc = load_scenario(tmp_path / "s.toml")
    if odd_length:
        assert any("padded" in str(x.message) or "trimmed" in str(x.message) for x in w)
        assert any("target.wav" in str(x.message) for x in w)
    mix = sc.targets.mix
    assert mix.shape == (sc.total_frames,) and mix.dtype == np.float32 and np.isfinite(mix).all()
    # the loaded target is the sine at the right pitch and a sane level (mono = channel mean)
    n = min(sc.total_frames, round(seconds * 44100))
    ref = (
        0.5 * np.sin(2 * np.pi * 220 * np.arange(n) / 44100) * np.mean([1 - 0.1 * c for c in range(channels)])
    )
    tol = 0.02 if subtype == "PCM_U8" else 0.01
    core = slice(200, max(n - 200, 201))  # resampler edges aside
    assert np.max(np.abs(mix[:n][core] - ref[core])) < tol
    if odd_length and seconds < EP:
        assert not mix[n + 64 :].any()  # padded with silence
    env = raveforce_mae.parallel_env(sc)
    env.reset(seed=0)
    _, rew, *_ = env.step({"lead_0": np.zeros(1, np.float32)})
    assert math.isfinite(rew["lead_0"])


@pytest.mark.parametrize(
    "content,words",
    [
        (b"", ["readable"]),
        (b"RIFF\x00\x00\x00\x00WAVEfmt " + bytes(20), ["readable"]),
        (b"RIFF" + bytes(range(256)) * 4, ["readable"]),
        (b"definitely not audio", ["readable"]),
    ],
    ids=["empty", "corrupt-header", "garbage-riff", "text"],
)
def test_broken_audio_files_are_refused(tmp_path, content, words):
    (tmp_path / "target.wav").write_bytes(content)
    (tmp_path / "s.toml").write_text(AUDIO, encoding="utf-8")
    with pytest.raises(ScenarioError) as ei:
        load_scenario(tmp_path / "s.toml")
    msg = str(ei.value)
    assert "targets.mix" in msg and "target.wav" in msg
    for w in words:
        assert w in msg


def test_header_only_wav_and_nan_float_wav_are_refused(tmp_path):
    sf.write(str(tmp_path / "target.wav"), np.zeros((0, 1)), 44100, subtype="PCM_16")
    (tmp_path / "s.toml").write_text(AUDIO, encoding="utf-8")
    with pytest.raises(ScenarioError, match="non-empty"):
        load_scenario(tmp_path / "s.toml")
    y = np.zeros(8820, np.float32)
    y[100] = np.nan
    sf.write(str(tmp_path / "target.wav"), y, 44100, subtype="FLOAT")
    with pytest.raises(ScenarioError, match="NaN"):
        load_scenario(tmp_path / "s.toml")


def test_wrong_extension_and_missing_file(tmp_path):
    (tmp_path / "s.toml").write_text(AUDIO.replace("target.wav", "target.mp3"), encoding="utf-8")
    with pytest.raises(ScenarioError, match="WAV or FLAC"):
        load_scenario(tmp_path / "s.toml")
    (tmp_path / "s.toml").write_text(AUDIO, encoding="utf-8")
    with pytest.raises(ScenarioError, match="missing"):
        load_scenario(tmp_path / "s.toml")


def test_flac_target_loads(tmp_path):
    _write(tmp_path / "target.flac", EP, 22050, 2, "PCM_16", fmt="FLAC")
    (tmp_path / "s.toml").write_text(AUDIO.replace("target.wav", "target.flac"), encoding="utf-8")
    sc = load_scenario(tmp_path / "s.toml")
    assert np.isfinite(sc.targets.mix).all() and np.abs(sc.targets.mix).max() > 0.3
