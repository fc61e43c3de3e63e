"""Robustness: any action, for every scenario, in the parallel, AEC and Gym forms.

Invalid input (NaN/inf, wrong shape, wrong dtype, unknown or missing agents) raises
``ParameterError`` and leaves the env usable; out-of-range input is clipped and
reported; a valid step never returns a NaN reward or observation. Extreme but legal
parameters keep the audio finite, or end the episode with a report that names the
track and the values (see docs/robustness.md).
"""

from __future__ import annotations

import functools
import itertools
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import raveforce_mae
from raveforce_mae import ParameterError
from raveforce_mae.scenario import load_scenario, scenario_from_dict

SCENARIOS = raveforce_mae.list_scenarios()
FUZZ = settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@functools.cache
def _scenario(name):
    return load_scenario(name)


@functools.cache
def _par(name):
    return raveforce_mae.parallel_env(_scenario(name))


# -- action strategies -----------------------------------------------------------------------

_NUM_DTYPES = [np.float16, np.float32, np.float64, np.int8, np.int32, np.int64, np.uint8, np.uint64]


def _numeric(shape):
    """Numeric arrays of any dtype, with NaN, inf, huge and tiny values, of ``shape``."""
    return st.sampled_from(_NUM_DTYPES).flatmap(lambda dt: hnp.arrays(dt, shape))


def _bad_shape(shape):
    n = shape[0]
    return (
        st.sampled_from([(), (n + 1,), (max(n - 1, 0),), (1, n), (n, 1), (n, n)])
        .filter(lambda s: s != shape)
        .flatmap(lambda s: hnp.arrays(np.float32, s, elements=st.floats(-1, 1, width=32)))
    )


def _junk(shape):
    n = shape[0]
    return st.one_of(
        st.none(),
        st.just("0.5"),
        st.just({"x": 1}),
        st.just(np.zeros(shape, dtype=bool)),
        st.just(np.zeros(shape, dtype=np.complex64)),
        st.just(np.array(["a"] * n)),
        st.just(np.array([None] * n, dtype=object)),
        st.just([[0.0], [0.0, 1.0]] + [0.0] * max(n - 2, 0)),  # ragged
    )


def action_for(shape):
    """Anything a caller might pass as one agent's action (mostly valid shapes)."""
    return st.one_of(
        hnp.arrays(np.float32, shape, elements=st.floats(-1, 1, width=32)),
        hnp.arrays(np.float64, shape, elements=st.floats(-1e300, 1e300)),
        _numeric(shape),
        _numeric(shape),
        _bad_shape(shape),
        _junk(shape),
    )


def expected(action, shape):
    """``(ok, clipped_entries)``: whether the env must accept the action."""
    try:
        a = np.asarray(action)
    except Exception:  # noqa: BLE001
        return False, None
    if a.dtype.kind not in "fiu" or a.dtype == np.bool_ or a.shape != shape:
        return False, None
    a = a.astype(np.float64)
    if not np.isfinite(a).all():
        return False, None
    return True, np.abs(a) > 1.0


def _check_valid_step(env, obs, rewards, infos):
    for a in env.possible_agents:
        assert isinstance(rewards[a], float) and np.isfinite(rewards[a]), (a, rewards[a])
        assert obs[a].dtype == np.float32 and np.isfinite(obs[a]).all()
        assert env.observation_space(a).contains(obs[a]), (a, obs[a].min(), obs[a].max())
        assert infos[a]["engine_error"] is False, env.last_engine_error
        assert np.isfinite(infos[a]["values"]).all()
    for values in env.last_values.values():
        assert all(np.isfinite(v) for v in values.values())


# -- parallel ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SCENARIOS)
@FUZZ
@given(data=st.data())
def test_parallel_any_action(name, data):
    env = _par(name)
    env.reset(seed=0)
    shape = env.action_space(env.possible_agents[0]).shape
    for _ in range(data.draw(st.integers(1, 3), label="steps")):
        if not env.agents:
            break
        acts = {a: data.draw(action_for(shape), label=a) for a in env.agents}
        verdicts = {a: expected(x, shape) for a, x in acts.items()}
        if all(ok for ok, _ in verdicts.values()):
            obs, rew, term, trunc, infos = env.step(acts)
            _check_valid_step(env, obs, rew, infos)
            for i, a in enumerate(env.possible_agents):
                nf = len(env.scenario.tracks[i].free)
                assert infos[a]["clipped"] == bool(verdicts[a][1][:nf].any())
        else:
            before = (list(env.agents), env.step_count)
            with pytest.raises(ParameterError) as ei:
                env.step(acts)
            bad = next(a for a, (ok, _) in verdicts.items() if not ok)
            assert repr(bad) in str(ei.value) or bad in str(ei.value)
            # invalid input changes nothing: the env is usable and the step can be retried
            assert (list(env.agents), env.step_count) == before


@pytest.mark.parametrize("name", ["ensemble", "kick"])
@pytest.mark.parametrize(
    "actions",
    [
        [],
        (0.0,),
        "all",
        {"nobody_0": np.zeros(2, np.float32)},
    ],
    ids=["list", "tuple", "str", "unknown-agent"],
)
def test_parallel_actions_not_a_dict_or_wrong_agents(name, actions):
    env = _par(name)
    env.reset(seed=0)
    with pytest.raises(ParameterError):
        env.step(actions)
    shape = env.action_space(env.possible_agents[0]).shape
    good = {a: np.zeros(shape, np.float32) for a in env.agents}
    with pytest.raises(ParameterError, match="unknown agents"):
        env.step({**good, "nobody_0": np.zeros(shape, np.float32)})
    env.step(good)  # still usable


# -- AEC ----------------------------------------------------------------------------------------


@functools.cache
def _aec(name):
    return raveforce_mae.env(_scenario(name))


@pytest.mark.parametrize("name", ["ensemble", "drum_loop", "kick"])
@FUZZ
@given(data=st.data())
def test_aec_any_action(name, data):
    env = _aec(name)
    env.reset(seed=0)
    shape = env.action_space(env.possible_agents[0]).shape
    for _ in range(data.draw(st.integers(1, 6), label="turns")):
        agent = env.agent_selection
        if env.terminations[agent] or env.truncations[agent]:
            break
        x = data.draw(action_for(shape), label="action")
        ok, _ = expected(x, shape)
        if ok:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the clip wrapper warns on out-of-range input
                env.step(x)
            for a in env.agents:
                assert np.isfinite(env.rewards[a])
                assert np.isfinite(env.observe(a)).all()
                assert env.infos[a]["engine_error"] is False
        else:
            with pytest.raises(ParameterError):
                env.step(x)
            assert env.agent_selection == agent  # nothing consumed: the turn can be retried


def test_raw_aec_nan_raises_then_reset_works():
    env = raveforce_mae.raw_env(_scenario("drums"))
    env.reset(seed=0)
    shape = env.action_space(env.possible_agents[0]).shape
    with pytest.raises(ParameterError):
        for _ in env.possible_agents:
            env.step(np.full(shape, np.nan, np.float32))
    env.reset(seed=0)
    for _agent in env.agent_iter():
        _, r, term, trunc, _ = env.last()
        assert np.isfinite(r)
        env.step(None if term or trunc else np.zeros(shape, np.float32))


# -- Gym ----------------------------------------------------------------------------------------


@functools.cache
def _gym(name):
    return raveforce_mae.gym_env(_scenario(name))


@pytest.mark.parametrize("name", ["kick", "ensemble"])
@FUZZ
@given(data=st.data())
def test_gym_any_action(name, data):
    env = _gym(name)
    obs, _ = env.reset(seed=0)
    shape = env.action_space.shape
    x = data.draw(action_for(shape), label="action")
    ok, clip = expected(x, shape)
    if ok:
        obs, r, term, trunc, info = env.step(x)
        assert np.isfinite(r) and np.isfinite(obs).all() and env.observation_space.contains(obs)
        assert info["clipped"] == bool(clip.any())
    else:
        with pytest.raises(ParameterError):
            env.step(x)


# -- extreme but legal parameters ------------------------------------------------------------------

_EDGES = np.array(
    [
        -1.0,
        np.nextafter(np.float32(-1), np.float32(0)),
        0.0,
        np.nextafter(np.float32(1), np.float32(0)),
        1.0,
    ],
    np.float32,
)


def _corner_episodes(env, n_episodes, rng):
    """Episodes whose every action entry is a range end (or next to one)."""
    dims = {a: env.action_space(a).shape for a in env.possible_agents}
    for ep in range(n_episodes):
        env.reset(seed=ep)
        while env.agents:
            if ep == 0:
                acts = {a: np.full(dims[a], -1.0, np.float32) for a in env.agents}
            elif ep == 1:
                acts = {a: np.full(dims[a], 1.0, np.float32) for a in env.agents}
            else:
                acts = {a: rng.choice(_EDGES, dims[a]) for a in env.agents}
            yield env.step(acts)


@pytest.mark.parametrize("name", SCENARIOS)
def test_builtin_scenarios_at_range_ends_stay_finite(name, rng):
    env = _par(name)
    peak = 0.0
    for obs, rew, _, _, infos in _corner_episodes(env, 4, rng):
        _check_valid_step(env, obs, rew, infos)
        peak = max(peak, float(np.abs(env.audio()["mix"]).max()))
    assert peak < 10.0  # the built-in chains stay at sane levels at every range end


# A chain that is legal but pushes Glicol's filters to their limits: cutoffs and
# frequencies up to Nyquist, resonance from near 0 to high, decays near zero.
EXTREME = {
    "timing": {"steps": 24, "step_beats": 0.5},
    "tracks": {
        "lead": {
            "chain": "saw {f} >> lpf {c} {q} >> mul ~env",
            "refs": {"env": "imp 8 >> envperc {att} {dec}"},
            "params": {
                "f": {"kind": "exp", "low": 20, "high": 22050},
                "c": {"kind": "exp", "low": 20, "high": 22050},
                "q": {"kind": "exp", "low": 0.0001, "high": 20},
                "att": {"kind": "exp", "low": 0.000001, "high": 0.1},
                "dec": {"kind": "exp", "low": 0.000001, "high": 1},
            },
            "reference": {"f": 110, "c": 1000, "q": 1, "att": 0.001, "dec": 0.1},
        },
        "noise": {
            "chain": "noise 3 >> onepole {r} >> mul {g}",
            "params": {
                "r": {"kind": "lin", "low": 0, "high": 1},
                "g": {"kind": "lin", "low": 0, "high": 1},
            },
            "reference": {"r": 0.5, "g": 0.5},
        },
    },
}


@pytest.fixture(scope="module")
def extreme_env():
    return raveforce_mae.parallel_env(scenario_from_dict(EXTREME))


@settings(max_examples=10, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    corners=st.lists(
        st.tuples(
            st.lists(st.sampled_from([-1.0, -0.999, 0.0, 0.999, 1.0]), min_size=5, max_size=5),
            st.lists(st.sampled_from([-1.0, 1.0]), min_size=2, max_size=2),
        ),
        min_size=24,
        max_size=24,
    )
)
def test_extreme_legal_parameters_finite_or_reported(extreme_env, corners):
    env = extreme_env
    env.reset(seed=0)
    for lead, noise in corners:
        acts = {
            "lead_0": np.array(lead, np.float32),
            "noise_0": np.array(noise + [0, 0, 0], np.float32),
        }
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            obs, rew, term, trunc, infos = env.step(acts)
        for a in env.possible_agents:
            assert np.isfinite(rew[a]) and np.isfinite(obs[a]).all()
        if infos["lead_0"]["engine_error"]:
            # a filter blew up (lpf near Nyquist): reported with the track and its values
            msg = str(env.last_engine_error)
            assert env.last_engine_error.track in ("lead", "noise")
            assert "values {" in msg and all(trunc.values()) and not env.agents
            assert any("engine" in str(x.message) for x in w)
            return
        assert not w, [str(x.message) for x in w]
        assert not any(trunc.values()) or env.step_count == 24
        if not env.agents:
            return


def test_runaway_filter_is_reported_with_track_and_values(extreme_env):
    """saw and lpf at Nyquist: the output grows without bound; the env says who and why."""
    env = extreme_env
    env.reset(seed=0)
    acts = {"lead_0": np.array([1, 1, 0.5, -1, 1], np.float32), "noise_0": np.zeros(5, np.float32)}
    with pytest.warns(RuntimeWarning, match="runaway audio"):
        while env.agents:
            obs, rew, term, trunc, infos = env.step(acts)
    assert infos["lead_0"]["engine_error"] is True
    err = env.last_engine_error
    assert err.track == "lead"
    assert "'f': 22050.0" in str(err) and "'c': 22050.0" in str(err)
    assert env.step_count < 24 and all(trunc.values()) and not any(term.values())
    assert all(np.isfinite(o).all() for o in obs.values()) and set(rew.values()) == {0.0}
    env.reset(seed=0)  # a fresh start works
    _, rew, *_ = env.step({a: np.zeros(5, np.float32) for a in env.agents})
    assert all(np.isfinite(r) for r in rew.values())


def test_every_corner_of_the_ensemble_cube(rng):
    """All 2^6 corners of the ensemble's 6 action dimensions, one step each."""
    env = _par("ensemble")
    for bits in itertools.islice(itertools.product([-1.0, 1.0], repeat=6), 0, None, 3):
        env.reset(seed=0)
        u = np.array(bits, np.float32).reshape(3, 2)
        obs, rew, _, _, infos = env.step({a: u[i] for i, a in enumerate(env.possible_agents)})
        _check_valid_step(env, obs, rew, infos)
