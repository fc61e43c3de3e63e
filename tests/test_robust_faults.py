"""Robustness: engine faults mid-episode, and a damaged engine binary.

A legal but rare parameter value makes one track's engine trap or output NaN in the
middle of an episode. By default the episode is truncated cleanly with the error in
``infos`` and a ``RuntimeWarning``; with ``on_engine_error="raise"`` an
``EngineError`` naming the track and values is raised. Either way the next ``reset``
works and replays bit for bit.
"""

from __future__ import annotations

import shutil
import warnings

import numpy as np
import pytest

import glicol_wasm
import raveforce_mae
from raveforce_mae import EngineError
from raveforce_mae.scenario import scenario_from_dict

# choose bins: u in [-1/3, 0) picks the 3rd choice, which the load-time probe
# (u = -1, 0, 1) never plays
FAULTS = {
    "trap": (
        "sin 220 >> delayms {d} >> mul 0.3",
        [10, 20, 100000000, 30, 40, 50],
        glicol_wasm.GlicolTrapError,
    ),
    "nan": (
        "saw 110 >> lpf 800 {d} >> mul 0.3",
        [1, 2, 0, 3, 4, 5],
        glicol_wasm.GlicolNonFiniteError,
    ),
}
RARE = -0.2  # the faulty choice
STEPS = 6


def _scenario(kind):
    chain, choices, _ = FAULTS[kind]
    return scenario_from_dict(
        {
            "timing": {"steps": STEPS, "step_beats": 0.25},
            "tracks": {
                "pad": {
                    "chain": "sin {f} >> mul 0.2",
                    "params": {"f": {"kind": "exp", "low": 100, "high": 400}},
                    "reference": {"f": 200},
                },
                "lead": {
                    "chain": chain,
                    "params": {"d": {"kind": "choose", "choices": choices}},
                    "reference": {"d": choices[0]},
                },
            },
        }
    )


def _acts(u_lead):
    return {"pad_0": np.array([0.1], np.float32), "lead_0": np.array([u_lead], np.float32)}


def _clean_episode(env):
    env.reset(seed=1)
    out = []
    while env.agents:
        _, rew, _, _, _ = env.step(_acts(0.5))
        out.append(list(rew.values()))
    return out


@pytest.mark.parametrize("kind", sorted(FAULTS))
def test_fault_truncates_cleanly_and_reset_works(kind):
    env = raveforce_mae.parallel_env(_scenario(kind))
    before = _clean_episode(env)
    env.reset(seed=1)
    env.step(_acts(0.5))
    env.step(_acts(0.5))
    with pytest.warns(RuntimeWarning, match="track 'lead'.*truncated"):
        obs, rew, term, trunc, infos = env.step(_acts(RARE))
    assert env.agents == [] and all(trunc.values()) and not any(term.values())
    assert set(rew.values()) == {0.0} and all(np.isfinite(o).all() for o in obs.values())
    for a in env.possible_agents:
        assert infos[a]["engine_error"] is True  # the infos stay numeric; the error is kept on the env
        assert infos[a]["step"] == 3 and infos[a]["reward_shared"] == infos[a]["reward_track"] == 0.0
    err = env.last_engine_error
    assert isinstance(err, EngineError) and err.track == "lead"
    assert "step 2" in str(err) and "'d': " in str(err)
    assert isinstance(err.__cause__, FAULTS[kind][2])
    with pytest.raises(RuntimeError, match="reset"):
        env.step(_acts(0.5))
    assert _clean_episode(env) == before  # the next episode is bit-identical to one before the fault


@pytest.mark.parametrize("kind", sorted(FAULTS))
def test_fault_raises_when_asked(kind):
    env = raveforce_mae.parallel_env(_scenario(kind), on_engine_error="raise")
    before = _clean_episode(env)
    env.reset(seed=1)
    with pytest.raises(EngineError) as ei:
        env.step(_acts(RARE))
    assert ei.value.track == "lead" and "d" in ei.value.values
    assert isinstance(ei.value.__cause__, FAULTS[kind][2])
    assert env.agents == []
    assert _clean_episode(env) == before


def test_bad_on_engine_error_value():
    with pytest.raises(ValueError, match="on_engine_error"):
        raveforce_mae.parallel_env(_scenario("nan"), on_engine_error="ignore")


def test_aec_fault_truncates_and_reset_works():
    env = raveforce_mae.env(_scenario("trap"))
    for episode in range(2):
        env.reset(seed=0)
        seen = None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            for _agent in env.agent_iter():
                _, r, term, trunc, info = env.last()
                assert np.isfinite(r)
                if info["engine_error"]:
                    seen = info
                act = (
                    None
                    if term or trunc
                    else (np.array([RARE], np.float32) if episode == 0 else np.array([0.5], np.float32))
                )
                env.step(act)
        assert (seen is not None) == (episode == 0)
        if seen:
            assert env.unwrapped.last_engine_error.track == "lead"


def test_gym_fault_truncates_and_reset_works():
    env = raveforce_mae.gym_env(_scenario("nan"))
    env.reset(seed=0)
    with pytest.warns(RuntimeWarning):
        obs, r, term, trunc, info = env.step(np.array([0.1, RARE], np.float32))
    assert trunc and not term and r == 0.0 and np.isfinite(obs).all()
    assert info["engine_error_track"] == "lead"
    env.reset(seed=0)
    obs, r, term, trunc, info = env.step(np.array([0.1, 0.5], np.float32))
    assert np.isfinite(r) and "engine_error" not in info


def test_gym_fault_raise_mode():
    env = raveforce_mae.gym_env(_scenario("trap"), on_engine_error="raise")
    env.reset(seed=0)
    with pytest.raises(EngineError, match="track 'lead'"):
        env.step(np.array([0.1, RARE], np.float32))
    env.reset(seed=0)
    env.step(np.array([0.1, 0.5], np.float32))


# -- a damaged engine binary: refused clearly ---------------------------------------------------------


def test_corrupt_engine_binary_is_refused_with_advice(tmp_path, monkeypatch):
    good = glicol_wasm.locate()
    bad = tmp_path / "glicol_wasm.wasm"
    shutil.copy(good, bad)
    data = bytearray(bad.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad.write_bytes(bytes(data))
    monkeypatch.setenv("GLICOL_WASM", str(bad))
    with pytest.raises(glicol_wasm.EngineIntegrityError, match="sha256"):
        glicol_wasm.Engine()
    bad.write_bytes(b"")  # truncated to nothing
    with pytest.raises(glicol_wasm.EngineIntegrityError):
        glicol_wasm.Engine()
    monkeypatch.setenv("GLICOL_WASM", str(tmp_path / "missing.wasm"))
    with pytest.raises(glicol_wasm.EngineUnavailableError, match="does not name a file"):
        glicol_wasm.Engine()
