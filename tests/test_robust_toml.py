"""Robustness: generated scenario tables, valid and damaged.

A generator builds valid scenario dicts (shaped like the TOML files: timing,
constants, shared refs, tracks with every parameter kind, references, reward and
observation settings); a mutator then replaces, deletes or adds one or two entries
anywhere in the table with odd values. ``scenario_from_dict`` must either build a
scenario that plays (finite rewards and observations inside their space) or raise
``ScenarioError`` with a message naming the key -- never another exception.
"""

from __future__ import annotations

import copy
import math
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import raveforce_mae
from raveforce_mae import ScenarioError
from raveforce_mae.scenario import scenario_from_dict

_junk = st.one_of(
    st.none(),
    st.booleans(),
    st.text(max_size=6),
    st.sampled_from(["", "E1", "{x}", "~nope", "sin 440 ; zz: saw 1", "a__b", "1e400", "nan", "x" * 300]),
    st.integers(-(10**20), 10**20),
    st.sampled_from([10**400, -(2**63), 2**24 + 1, 0, -1]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.lists(st.integers(-3, 3), max_size=3),
    st.dictionaries(st.sampled_from(["kind", "low", "x", "chain"]), st.integers(-2, 2), max_size=2),
)

_PARAMS = {
    "lin": {"kind": "lin", "low": 0, "high": 0.5},
    "exp": {"kind": "exp", "low": 100, "high": 2000},
    "note": {"kind": "note", "low": "A1", "high": "A3"},
    "int": {"kind": "int", "low": 1, "high": 8},
    "choose": {"kind": "choose", "choices": [0.1, 0.2, 0.4]},
}
_REFVAL = {"lin": 0.25, "exp": 400, "note": "A2", "int": 3, "choose": 0.2}
_HOLE_USE = {  # how a hole of each kind is used in a chain
    "lin": "mul {%s}",
    "exp": "lpf {%s} 1.0",
    "note": "add {%s} >> mul 0.001",
    "int": "mul {%s} >> mul 0.1",
    "choose": "mul {%s}",
}


@st.composite
def scenario_dicts(draw):
    n_tracks = draw(st.integers(1, 2))
    steps = draw(st.integers(1, 3))
    d = {
        "name": "gen",
        "seed": draw(st.integers(0, 2**24)),
        "timing": {
            "sample_rate": draw(st.sampled_from([22050, 44100, 48000])),
            "bpm": draw(st.sampled_from([60, 120, 180])),
            "steps": steps,
            "step_beats": draw(st.sampled_from([0.125, 0.25])),
        },
        "constants": {"lvl": 0.3, "half": "lvl / 2"},
        "shared": {"clk": "imp {bpm} >> mul 0.01"} if draw(st.booleans()) else {},
        "reward": {
            "criterion": draw(st.sampled_from(["mrstft", "mse", "mel", "mrstft+pitch"])),
            "shared_weight": draw(st.floats(0, 1)),
        },
        "observation": {"kind": draw(st.sampled_from(["default", "mel", "waveform"]))},
        "tracks": {},
    }
    for t in range(n_tracks):
        kinds = draw(st.lists(st.sampled_from(sorted(_PARAMS)), min_size=1, max_size=3, unique=True))
        chain = "saw 110 >> " + " >> ".join(_HOLE_USE[k] % f"p_{k}" for k in kinds) + " >> mul {lvl}"
        params = {f"p_{k}": copy.deepcopy(_PARAMS[k]) for k in kinds}
        if draw(st.booleans()):
            params["r"] = {"kind": "rel", "expr": f"p_{kinds[0]} * 0 + half", "low": 0, "high": 1}
            chain += " >> mul {r}"
        track = {"chain": chain, "params": params, "reference": {f"p_{k}": _REFVAL[k] for k in kinds}}
        if d["shared"] and draw(st.booleans()):
            track["chain"] += " >> add ~clk"
        if draw(st.booleans()):
            track["refs"] = {"env": "imp 4 >> envperc 0.001 0.1"}
            track["chain"] += " >> mul ~env"
        d["tracks"][f"t{t}"] = track
    return d


def _paths(node, prefix=()):
    """Every (path to a container, key) in a nested dict/list table."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield prefix, k
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield prefix, i
            yield from _paths(v, prefix + (i,))


@st.composite
def damaged(draw):
    d = copy.deepcopy(draw(scenario_dicts()))  # mutated below: never share lists between examples
    for _ in range(draw(st.integers(0, 2))):
        places = list(_paths(d))
        path, key = draw(st.sampled_from(places))
        parent = d
        for p in path:
            parent = parent[p]
        action = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
        if action == "replace":
            parent[key] = draw(_junk)
        elif action == "delete":
            del parent[key]
        elif isinstance(parent, dict):
            parent[draw(st.sampled_from(["zz", "kind", "chain", "low", "steps", 3]))] = draw(_junk)
        else:
            parent.append(draw(_junk))
    return d


def _check(d):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # silent references
            sc = scenario_from_dict(copy.deepcopy(d))
    except ScenarioError as e:
        assert str(e).startswith("<scenario dict>: "), str(e)
        assert "key '" in str(e) or "a scenario must be" in str(e), str(e)
        event("refused")
        return
    event("loaded")
    env = raveforce_mae.parallel_env(sc)
    obs, _ = env.reset(seed=0)
    rng = np.random.default_rng(0)
    while env.agents:
        acts = {a: rng.uniform(-1.5, 1.5, env.action_space(a).shape).astype(np.float32) for a in env.agents}
        obs, rew, *_, infos = env.step(acts)
        for a in obs:
            if "engine_error" in infos[a]:
                event("engine fault (truncated)")
                return
            assert math.isfinite(rew[a])
            assert env.observation_space(a).contains(obs[a])


FUZZ = settings(
    max_examples=50,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@FUZZ
@given(d=scenario_dicts())
def test_generated_scenarios_load_and_play(d):
    _check(d)


@FUZZ
@given(d=damaged())
def test_damaged_scenarios_play_or_raise_a_scenario_error(d):
    _check(d)


# Found while writing the generators above: each used to escape as a TypeError,
# ValueError, KeyError or ZeroDivisionError instead of a ScenarioError.
_P = {"f": {"kind": "lin", "low": 100, "high": 200}}


def _base(**kw):
    d = {
        "timing": {"steps": 2, "step_seconds": 0.05},
        "tracks": {"a": {"chain": "sin {f} >> mul 0.3", "params": dict(_P), "reference": {"f": 150}}},
    }
    t = d["tracks"]["a"]
    if "refs" in kw:
        t["refs"] = kw["refs"]
    if "mix" in kw:
        del t["reference"]
        d["targets"] = {"mix": kw["mix"]}
    if "samples" in kw:
        d["samples"] = kw["samples"]
    if "rel" in kw:
        t["params"]["g"] = {"kind": "rel", "expr": kw["rel"], "depends": ["f"]}
        t["chain"] = "sin {f} >> mul {g}"
    return d


@pytest.mark.parametrize(
    ("kw", "key"),
    [
        ({"refs": True}, "tracks.a.refs"),
        ({"mix": (np.zeros(4410, np.float32), 0)}, "targets.mix"),
        ({"mix": (np.zeros(4410, np.float32), "x")}, "targets.mix"),
        ({"samples": {"s": (np.zeros(10, np.float32), 500)}}, "samples.s"),
        ({"samples": {"s": (np.zeros((2, 2, 10), np.float32), 44100)}}, "samples.s"),
        ({"rel": lambda x: "x"}, "tracks.a.params"),
        ({"rel": lambda x: {}["k"]}, "tracks.a.params"),
    ],
)
def test_odd_tables_found_while_fuzzing_give_a_scenario_error(kw, key):
    with pytest.raises(ScenarioError) as ei:
        scenario_from_dict(_base(**kw))
    assert f"key '{key}" in str(ei.value)


@pytest.mark.parametrize("where", ["choices", "reference", "low", "note"])
def test_integers_beyond_the_float_range_give_a_scenario_error(where):
    """TOML integers are unbounded: 10**400 as a choice or reference used to raise OverflowError."""
    d = _base()
    t = d["tracks"]["a"]
    huge = 10**400
    if where == "choices":
        t["params"]["f"] = {"kind": "choose", "choices": [huge]}
    elif where == "reference":
        t["reference"]["f"] = huge
    elif where == "low":
        t["params"]["f"] = {"kind": "lin", "low": huge, "high": 2 * huge}
    else:
        t["params"]["f"] = {"kind": "note", "low": 40, "high": 60}
        t["reference"]["f"] = huge
    with pytest.raises(ScenarioError) as ei:
        scenario_from_dict(d)
    assert "key 'tracks.a." in str(ei.value)
