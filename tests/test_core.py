"""RenderSession: shapes, exact sums, reproducibility, looping, errors, overhead."""

from __future__ import annotations

import numpy as np
import pytest

import glicol_wasm
from raveforce_mae.core import RenderSession, render_values
from raveforce_mae.errors import EngineError
from raveforce_mae.scenario import load_scenario, scenario_from_dict


@pytest.fixture(scope="module")
def ensemble():
    return load_scenario("ensemble")


def _random_values(sc, rng, n):
    return [{t.name: t.values(rng.uniform(-1, 1, len(t.free))) for t in sc.tracks} for _ in range(n)]


def test_step_shape_dtype_and_exact_mix(ensemble, rng):
    sc = ensemble
    s = RenderSession(sc)
    vals = _random_values(sc, rng, sc.n_steps)
    for i, v in enumerate(vals):
        out = s.step(i, v)
        a, b = sc.bounds[i]
        assert out.shape == (len(sc.tracks) + 1, b - a) and out.dtype == np.float32
        assert not out.flags.writeable
        np.testing.assert_array_equal(out[-1], (out[0] + out[1]) + out[2])
    audio = s.audio()
    assert set(audio) == {"bass", "kick", "hat", "mix"}
    assert all(len(x) == sc.total_frames for x in audio.values())
    assert len(s.history) == sc.n_steps and s.history[5]["bass"] == vals[5]["bass"]
    assert np.isfinite(audio["mix"]).all() and np.abs(audio["mix"]).mean() > 1e-3


def test_reset_is_bit_identical(ensemble, rng):
    sc = ensemble
    s = RenderSession(sc)
    vals = _random_values(sc, rng, sc.n_steps)
    first = [s.step(i, v).copy() for i, v in enumerate(vals)]
    s.reset()
    assert s.frames_rendered == 0 and s.history == []
    second = [s.step(i, v).copy() for i, v in enumerate(vals)]
    for x, y in zip(first, second, strict=False):
        np.testing.assert_array_equal(x, y)


def test_reference_values_reproduce_targets_exactly(ensemble):
    sc = ensemble
    stems, mix = render_values(sc, sc.reference)
    np.testing.assert_array_equal(mix, sc.targets.mix)
    for i, t in enumerate(sc.tracks):
        np.testing.assert_array_equal(stems[i], sc.targets.stems[t.name])
    # and through actions, as an environment plays them
    s = RenderSession(sc)
    for i in range(sc.n_steps):
        acts = sc.reference_actions(i)
        s.step(i, {t.name: t.values(acts[t.agent].astype(np.float64)) for t in sc.tracks})
    np.testing.assert_array_equal(s.audio()["mix"], sc.targets.mix)


def test_episode_longer_than_scenario_loops_and_grows(ensemble):
    sc = ensemble
    s = RenderSession(sc)
    for k in range(2 * sc.n_steps + 3):
        s.step(k % sc.n_steps, sc.reference[k % sc.n_steps])
    audio = s.audio()
    n = sc.total_frames
    assert len(audio["mix"]) == 2 * n + sum(b - a for a, b in sc.bounds[:3])
    # the second bar continues the engines' state, it is not a restart
    np.testing.assert_array_equal(audio["mix"][:n], sc.targets.mix)


def test_missing_rel_values_are_computed():
    sc = load_scenario("kick")
    s = RenderSession(sc)
    ref = dict(sc.reference[0]["kick"])
    del ref["decay"]
    out = s.step(0, {"kick": ref})
    np.testing.assert_array_equal(out[-1], sc.targets.mix)


def test_engine_error_names_track_and_values():
    sc = scenario_from_dict(
        {
            "timing": {"steps": 2, "step_seconds": 0.05},
            "tracks": {
                "echo": {
                    "chain": "sin 440 >> mul 0.1 >> delayms {ms}",
                    "params": {"ms": {"kind": "lin", "low": 1, "high": 100}},
                    "reference": {"ms": 10},
                }
            },
        }
    )
    s = RenderSession(sc)
    s.step(0, sc.reference[0])
    with pytest.raises(EngineError, match="'echo'.*100000000") as info:
        s.step(1, {"echo": {"ms": 1e8}})  # out of range on purpose: delayms traps
    assert info.value.track == "echo" and info.value.values == {"ms": 1e8}
    assert isinstance(info.value.__cause__, glicol_wasm.GlicolError)
    with pytest.raises(RuntimeError, match="reset"):
        s.step(1, sc.reference[1])
    s.reset()
    s.step(0, sc.reference[0])


def test_step_index_out_of_range(ensemble):
    s = RenderSession(ensemble)
    with pytest.raises(IndexError):
        s.step(ensemble.n_steps, ensemble.reference[0])
