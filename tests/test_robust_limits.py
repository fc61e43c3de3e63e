"""Robustness: what a scenario may ask for, and audio it may bring.

Target audio must be finite and within ``MAX_TARGET_AMPLITUDE``; steps must be at
least one engine block long (or actions would be dropped); discrete ranges are never
materialised and bounded; seeds outside the engine's exact range are refused. Each
refusal is a ``ScenarioError`` naming the key, the value and what was expected.
"""

from __future__ import annotations

import copy
import tracemalloc
import warnings

import numpy as np
import pytest
import soundfile as sf

import glicol_wasm
import raveforce_mae
from raveforce_mae import ParameterError, ScenarioError
from raveforce_mae.params import MAX_INT, Param
from raveforce_mae.scenario import scenario_from_dict
from raveforce_mae.scenario.loader import MAX_TRACKS
from raveforce_mae.scenario.targets import MAX_TARGET_AMPLITUDE
from raveforce_mae.scenario.validation import MAX_PARAMS, MAX_TEXT

SR = 44100
F = {"kind": "lin", "low": 100, "high": 200}
BASE = {
    "timing": {"steps": 2, "step_seconds": 0.05},
    "tracks": {"a": {"chain": "sin {f} >> mul 0.3", "params": {"f": F}, "reference": {"f": 150}}},
}


def _with(**changes):
    d = copy.deepcopy(BASE)
    for path, v in changes.items():
        *keys, last = path.split("__")
        node = d
        for k in keys:
            node = node.setdefault(k, {})
        node[last] = v
    return d


def _load(d, path=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return scenario_from_dict(d, path=path)


# -- target audio ----------------------------------------------------------------------------------


def _audio_target(y, tmp_path, name="target.wav"):
    sf.write(tmp_path / name, y, SR, subtype="FLOAT")
    d = _with()
    del d["tracks"]["a"]["reference"]
    d["targets"] = {"mix": name}
    return d


def test_target_file_peaking_at_1e30_is_refused_naming_file_and_peak(tmp_path):
    y = (np.sin(np.arange(4410) / 10) * 1e30).astype(np.float32)
    with pytest.raises(ScenarioError) as ei:
        _load(_audio_target(y, tmp_path), tmp_path)
    msg = str(ei.value)
    assert "targets.mix" in msg and "target.wav" in msg and "1e+30" in msg and "1000" in msg


def test_target_at_the_amplitude_limit_gives_finite_observations_in_their_space(tmp_path):
    """The limit is safe: a target peaking at exactly MAX_TARGET_AMPLITUDE plays cleanly."""
    y = np.sin(np.arange(4410) / 10).astype(np.float32)
    y *= np.float32(MAX_TARGET_AMPLITUDE) / np.abs(y).max()
    assert np.abs(y).max() == MAX_TARGET_AMPLITUDE
    env = raveforce_mae.parallel_env(_load(_audio_target(y, tmp_path), tmp_path))
    obs, _ = env.reset(seed=0)
    space = env.observation_space("a_0")
    assert space.contains(obs["a_0"])
    for u in (-1.0, 1.0):
        obs, rew, *_ = env.step({"a_0": np.array([u], np.float32)})
        assert space.contains(obs["a_0"]) and np.isfinite(rew["a_0"])


def test_target_array_and_sample_beyond_the_limit_are_refused():
    big = np.full(4410, 5e3, np.float32)
    d = _with()
    del d["tracks"]["a"]["reference"]
    d["targets"] = {"mix": big}
    with pytest.raises(ScenarioError, match=r"targets\.mix.*peaking at 5e\+03"):
        _load(d)
    d = _with(samples={"s": (big, SR)})
    with pytest.raises(ScenarioError, match=r"samples\.s.*peaking at 5e\+03"):
        _load(d)


@pytest.mark.parametrize("rate", [500, 0, -1, 10**6, 44100.0, True])
def test_array_targets_and_samples_need_an_integer_rate_the_engine_plays(rate):
    d = _with()
    del d["tracks"]["a"]["reference"]
    d["targets"] = {"mix": (np.zeros(4410, np.float32), rate)}
    with pytest.raises(ScenarioError, match=r"targets\.mix.*1000\.\.384000"):
        _load(d)
    with pytest.raises(ScenarioError, match=r"samples\.s.*1000\.\.384000"):
        _load(_with(samples={"s": (np.zeros(100, np.float32), rate)}))


def test_sample_file_at_500_hz_is_refused_naming_file_and_rate(tmp_path):
    sf.write(tmp_path / "low.wav", np.zeros(100, np.float32), 500)
    with pytest.raises(ScenarioError) as ei:
        _load(_with(samples={"low": "low.wav"}), tmp_path)
    assert "samples.low" in str(ei.value) and "low.wav at 500 Hz" in str(ei.value)


# -- step length: actions must reach the engine ------------------------------------------------------


def test_steps_shorter_than_one_block_are_refused():
    """44-frame steps used to be accepted: the numbers of most steps never reached the engine."""
    with pytest.raises(ScenarioError) as ei:
        _load(_with(timing__step_seconds=44 / SR, timing__steps=8))
    msg = str(ei.value)
    assert "'timing'" in msg and "at least 128 frames" in msg and "44 frames" in msg


@pytest.mark.parametrize("frames", [128, 200, 300])
def test_every_step_of_at_least_one_block_is_heard(frames):
    """Each step's value reaches the engine, for steps of any length from one block on.

    ``sig {v}`` outputs its number, so every step's value must appear in the audio:
    updates land at the next block boundary, never later than the step after.
    """
    values = [0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0]
    d = {
        "timing": {"steps": len(values), "step_seconds": frames / SR},
        "tracks": {
            "a": {
                "chain": "sig {v}",
                "params": {"v": {"kind": "choose", "choices": values}},
                "reference": {"v": values},
            }
        },
    }
    sc = _load(d)
    assert {b - a for a, b in sc.bounds} <= {frames, frames + 1, frames - 1}
    heard = set(np.unique(sc.targets.mix).tolist())
    assert set(values) <= heard, sorted(set(values) - heard)
    # and the env plays the same: every action is heard
    env = raveforce_mae.parallel_env(sc)
    env.reset(seed=0)
    for i in range(len(values)):
        env.step(sc.reference_actions(i))
    assert set(values) <= set(np.unique(env.audio()["mix"]).tolist())


# -- discrete ranges and other sizes ------------------------------------------------------------------


def test_int_parameter_with_high_1e9_fails_fast_with_a_clear_error():
    d = _with(tracks__a__params={"f": {"kind": "int", "low": 0, "high": 1e9}})
    with pytest.raises(ScenarioError) as ei:
        _load(d)
    msg = str(ei.value)
    assert "tracks.a.params.f" in msg and f"{MAX_INT}" in msg and "1e+09" in msg


def test_widest_int_range_works_in_constant_memory():
    """Nearly two million values, none materialised: building the parameter allocates < 64 KiB."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        p = Param("n", "int", low=-MAX_INT, high=MAX_INT)
        used = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert used < 64 * 1024, used
    assert p.n_values == 2 * MAX_INT + 1
    assert p.from_unit(-1.0) == -MAX_INT and p.from_unit(1.0) == MAX_INT
    for v in (-MAX_INT, -1, 0, 7, MAX_INT - 1, MAX_INT):
        assert p.from_unit(p.to_unit(v)) == v
    # every value is reachable by a float32 action: bins are wider than float32 steps near 1
    u = np.float32(p.to_unit(MAX_INT - 1))
    assert p.from_unit(float(u)) == MAX_INT - 1


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ({"kind": "lin", "low": -1e308, "high": 1e308}, ["low", "1e+09", "-1e+308"]),
        ({"kind": "exp", "low": 1, "high": 1e300}, ["high", "1e+09"]),
        ({"kind": "note", "low": 20, "high": 20000}, ["MIDI range", "0..127", "20000"]),
        ({"kind": "note", "low": -5, "high": 60}, ["MIDI range", "-5"]),
        ({"kind": "int", "low": -1e7, "high": 0}, [f"{MAX_INT}"]),
        ({"kind": "choose", "choices": [1, 1e300]}, ["choices", "1e+09"]),
        ({"kind": "rel", "expr": "f * 2", "low": 0, "high": 1e100}, ["high", "1e+09"]),
    ],
)
def test_huge_parameter_ranges_are_refused_naming_the_key(spec, words):
    d = _with(tracks__a__params={"f": F, "g": spec})
    d["tracks"]["a"]["chain"] = "sin {f} >> mul 0.3 >> mul {g}"
    with pytest.raises(ScenarioError) as ei:
        _load(d)
    msg = str(ei.value)
    assert "tracks.a.params.g" in msg
    for w in words:
        assert w in msg, (w, msg)


def test_too_many_tracks_params_or_characters_are_refused():
    tracks = {f"t{i}": {"chain": "sin 100 >> mul 0"} for i in range(MAX_TRACKS + 1)}
    with pytest.raises(ScenarioError, match=rf"key 'tracks'.*at most {MAX_TRACKS} tracks"):
        _load({"tracks": tracks})
    params = {f"p{i}": {"kind": "lin", "low": 0, "high": 1} for i in range(MAX_PARAMS + 1)}
    chain = "sin 100 >> " + " >> ".join(f"mul {{p{i}}}" for i in range(MAX_PARAMS + 1))
    with pytest.raises(ScenarioError, match=rf"tracks\.a\.params.*at most {MAX_PARAMS}"):
        _load({"tracks": {"a": {"chain": chain, "params": params}}})
    long = "sin 100" + " >> mul 1" * (MAX_TEXT // 8)
    with pytest.raises(ScenarioError, match=r"tracks\.a\.chain.*at most 10,000 characters"):
        _load({"tracks": {"a": {"chain": long}}})


# -- seeds ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [-1, 2**24 + 1, 2**30, 10**400, 1.5, "7", True])
def test_scenario_seeds_the_engine_cannot_honour_are_refused(seed):
    with pytest.raises(ScenarioError) as ei:
        _load(_with(seed=seed))
    msg = str(ei.value)
    assert "key 'seed'" in msg and "scenario seed" in msg and "16777216" in msg


@pytest.mark.parametrize("seed", [0, 2**24, np.int64(5), 7.0])
def test_scenario_seeds_in_range_load(seed):
    assert _load(_with(seed=seed)).seed == int(seed)
    assert glicol_wasm.check_seed(int(seed)) == int(seed)


def test_rel_function_returning_junk_is_a_parameter_error():
    for out in ("x", None, [1.0]):
        p = Param("r", "rel", expr=lambda x, out=out: out, depends=("a",))
        with pytest.raises(ParameterError, match=r"'r'.*returned.*expected a number"):
            p.compute({"a": 1.0})
    p = Param("r", "rel", expr=lambda x: 10**400, depends=("a",))
    with pytest.raises(ParameterError, match="finite"):
        p.compute({"a": 1.0})
