"""Robustness: the saved performance is what was played.

A track's text cannot add lines of its own (``;`` and line breaks are refused in
chains and refs), private refs get names that cannot collide (``__`` joins track and
ref, and no user name may contain it), and the exported timeline
(``env.patch()``), rendered with :func:`~raveforce_mae.timeline.render_timeline` in
one engine, reproduces the played mix:

bit for bit. With one or two tracks the engine's sum of the output chains equals the
session's (float addition is commutative); with three or more, Glicol would sum its
output chains in hash-map order, so the merged patch turns each audible chain into a
ref and adds them in track order in one output chain (``mix_``), as the session does.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import raveforce_mae
from raveforce_mae import ScenarioError
from raveforce_mae.scenario import list_scenarios, scenario_from_dict
from raveforce_mae.timeline import render_timeline

P = {
    "f": {"kind": "exp", "low": 50, "high": 2000},
    "g": {"kind": "lin", "low": 0, "high": 0.5},
    "c": {"kind": "exp", "low": 200, "high": 8000},
    "r": {"kind": "lin", "low": 0.5, "high": 8},
}
REF = {"f": 110, "g": 0.2, "c": 1000, "r": 2}


def _track(chain, params=("f",), refs=None, **extra):
    t = {"chain": chain, "params": {p: P[p] for p in params}, "reference": {p: REF[p] for p in params}}
    if refs:
        t["refs"] = refs
    t.update(extra)
    return t


def _load(d):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # silent reference stems
        return scenario_from_dict(d)


def _play(sc, seed=0, low=-1.2, high=1.2):
    env = raveforce_mae.parallel_env(sc)
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    while env.agents:
        env.step(
            {a: rng.uniform(low, high, env.action_space(a).shape).astype(np.float32) for a in env.agents}
        )
    return env


def replay_error(env) -> float:
    """Render the exported timeline; assert it equals the played mix bit for bit."""
    mix = env.audio()["mix"]
    again = render_timeline(env.patch())[0]
    assert again.shape == mix.shape
    np.testing.assert_array_equal(again, mix)
    return float(np.abs(again.astype(np.float64) - mix).max(initial=0.0))


# -- injection and names ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "text"),
    [
        ("chain", "sin {f} >> mul 0.3 ; zz: saw 100"),
        ("chain", "sin {f} >> mul 0.3\nzz: saw 100"),
        ("chain", "sin {f} >> mul 0.3\rzz: saw 100"),
        ("chain", "sin {f} >> mul 0.3\u2028zz: saw 100"),
        ("chain", "sin {f} >> mul 0.3\x85zz: saw 100"),
        ("refs", "sin 2 ; zz: saw 100"),
        ("refs", "sin 2\nzz: saw 100"),
    ],
)
def test_text_that_would_add_a_line_is_refused_naming_track_and_key(where, text):
    if where == "chain":
        d = {"tracks": {"a": _track(text)}}
        key = "tracks.a.chain"
    else:
        d = {"tracks": {"a": _track("sin {f} >> mul ~e", refs={"e": text})}}
        key = "tracks.a.refs.e"
    with pytest.raises(ScenarioError) as ei:
        _load(d)
    msg = str(ei.value)
    assert "track 'a'" in msg and f"key '{key}'" in msg and "without ';' or line breaks" in msg


def test_shared_refs_and_code_cannot_add_lines_either():
    d = {"shared": {"clk": "imp 4 ; zz: saw 100"}, "tracks": {"a": _track("sin {f} >> mul ~clk")}}
    with pytest.raises(ScenarioError, match=r"key 'shared\.clk'.*without ';'"):
        _load(d)
    code = "~e: imp 4 >> envperc 0.001 0.1\u2028zz: saw 100\na: sin {} >> mul ~e"
    d = {"tracks": {"a": {"code": code, "params": [P["f"]], "reference": {"p0": 110}}}}
    with pytest.raises(ScenarioError, match=r"track 'a', key 'tracks\.a\.code'.*newlines"):
        _load(d)
    # a second audible line in code is still refused by the one-audible-line rule
    d = {"tracks": {"a": {"code": "a: sin {} >> mul 0.1; zz: saw 100", "params": [P["f"]]}}}
    with pytest.raises(ScenarioError, match="exactly one audible line"):
        _load(d)


@pytest.mark.parametrize("name", ["a__b", "a_", "env__", "x___y"])
def test_names_that_could_collide_are_refused(name):
    role = {"role": "r"}
    cases = [
        ({"tracks": {name: _track("sin {f} >> mul 0.1", **role)}}, f"tracks.{name}"),
        ({"tracks": {"a": _track("sin {f} >> mul ~" + name, refs={name: "sin 2"})}}, f"tracks.a.refs.{name}"),
        ({"shared": {name: "sin 2"}, "tracks": {"a": _track(f"sin {{f}} >> mul ~{name}")}}, f"shared.{name}"),
    ]
    for d, key in cases:
        with pytest.raises(ScenarioError) as ei:
            _load(d)
        assert f"key '{key}'" in str(ei.value) and "no '__'" in str(ei.value)


def test_refs_that_used_to_collide_get_distinct_names_and_replay_exactly():
    """Track a's ref b_x and track a_b's ref x both used to become ~a_b_x."""
    d = {
        "timing": {"steps": 4, "step_seconds": 0.05},
        "tracks": {
            "a": _track("sin {f} >> mul ~b_x", refs={"b_x": "sin 3 >> mul 0.2"}),
            "a_b": _track("saw {f} >> mul ~x", refs={"x": "sin 5 >> mul 0.1"}, role="ab"),
        },
    }
    sc = _load(d)
    patch = sc.patch(sc.reference[0])
    assert "~a__b_x: sin 3" in patch and "~a_b__x: sin 5" in patch
    env = _play(sc)
    replay_error(env)


# -- exported performance == played mix -----------------------------------------------------------


@pytest.mark.parametrize("name", list_scenarios())
def test_builtin_performance_exports_replay_the_played_mix(name):
    env = _play(raveforce_mae.parallel_env(name).scenario, seed=3)
    assert replay_error(env) == 0.0


# Fuzzed scenarios: one to three tracks whose names and private refs are drawn from
# a pool made to collide ("a", "b_x", "a_b", "x"), chains from the oscillators and
# filters, refs with parameters, a shared ref, choose nodes, two sample rates.
_NAMES = ["a", "b", "x", "a_b", "b_x", "env", "bass", "bass_env"]
_OSC = ["sin", "saw", "squ", "tri"]
_REF_BODIES = [
    ("imp {r} >> envperc 0.001 0.05", ("r",)),
    ("sin {r} >> mul 0.5 >> add 0.5", ("r",)),
    ("choose 1 2 3 4 >> mul 0.2", ()),
    ("~clk >> envperc 0.002 0.1", ()),
]


@st.composite
def scenarios(draw):
    n = draw(st.integers(1, 3))
    names = draw(st.lists(st.sampled_from(_NAMES), min_size=n, max_size=n, unique=True))
    tracks = {}
    for name in names:
        params = ["f"]
        chain = f"{draw(st.sampled_from(_OSC))} {{f}}"
        if draw(st.booleans()):
            chain += " >> lpf {c} 1.0"
            params.append("c")
        refs = {}
        if draw(st.booleans()):
            ref = draw(st.sampled_from(_NAMES))
            body, ps = draw(st.sampled_from(_REF_BODIES))
            refs[ref] = body
            params += [p for p in ps if p not in params]
            chain += f" >> mul ~{ref}"
        chain += " >> mul {g}"
        params.append("g")
        tracks[name] = _track(chain, params, refs or None, role=name.replace("_", ""))
    return {
        "timing": {
            "steps": 3,
            "step_seconds": draw(st.sampled_from([128 / 22050, 0.013, 0.05])),
            "sample_rate": draw(st.sampled_from([22050, 44100])),
        },
        "shared": {"clk": "imp 6"},
        "tracks": tracks,
    }


@settings(max_examples=30, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(d=scenarios(), seed=st.integers(0, 2**16))
def test_fuzzed_performance_exports_replay_the_played_mix(d, seed):
    sc = _load(d)
    names = [ln.lhs for t in sc.tracks for ln in t.own_lines]
    assert len(names) == len(set(names))  # no two lines share a name
    replay_error(_play(sc, seed=seed))
