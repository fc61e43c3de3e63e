"""Robustness of RaveForce's ``make()``: every argument checked where it is given.

Bad arguments raise a :class:`~raveforce_mae.RaveforceError` subclass
(``ParameterError`` for values, ``PatchError`` for code, ``ScenarioError`` for code
the engine rejects) whose message names the argument, the value and what was
expected; numpy integers and paths work. A property-based test throws generated
arguments at ``make()`` and, when it succeeds, generated actions at ``step()``.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import raveforce_mae
from raveforce_mae import EngineError, ParameterError, PatchError, RaveforceError

SR = 44100
T = np.zeros(4410, np.float32)
T[::100] = 0.5
CODE = "o: sin {} >> mul {}"
SPEC = [["exp", 100, 400], ["lin", 0, 0.5]]


def _make(**kw):
    args = {"code": CODE, "target": T, "total_step": 2, "step_len": 0.05, "action_space": SPEC}
    args.update(kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # target padded / silent
        return raveforce_mae.make(**args)


@pytest.mark.parametrize(
    ("kw", "error", "words"),
    [
        ({"code": "o: sin {} >> mul {0}"}, PatchError, ["code", "{0}", "positional {} holes"]),
        ({"code": "o: sin {} >> mul {amp}"}, PatchError, ["code", "{amp}", "positional {} holes only"]),
        ({"code": "o: sin {} >> mul {"}, PatchError, ["code", "unmatched"]),
        ({"action_space": [["lin", "a", "b"], SPEC[1]]}, ParameterError, ["action_space[0]", "low", "'a'"]),
        ({"action_space": [["lin", None, 1], SPEC[1]]}, ParameterError, ["action_space[0]", "None"]),
        ({"action_space": [["lin", -1e308, 1e308], SPEC[1]]}, ParameterError, ["action_space[0]", "1e+09"]),
        (
            {"action_space": [["choose", "abc"], SPEC[1]]},
            ParameterError,
            ["action_space[0]", "'choose' takes"],
        ),
        ({"action_space": [["choose", 5], SPEC[1]]}, ParameterError, ["action_space[0]", "'choose' takes"]),
        ({"action_space": [SPEC[0], ["rel", True, abs]]}, ParameterError, ["action_space[1]", "'rel' takes"]),
        ({"action_space": [SPEC[0], ["rel", 7, abs]]}, ParameterError, ["action_space[1]", "index 7"]),
        (
            {"action_space": [SPEC[0], ["rel", 0, lambda x: 1 / 0]]},
            ParameterError,
            ["action_space[1]", "ZeroDivisionError", "hole 0 = 100"],
        ),
        (
            {"action_space": [SPEC[0], ["rel", 0, lambda x: "loud"]]},
            ParameterError,
            ["action_space[1]", "returned 'loud'"],
        ),
        (
            {"action_space": [SPEC[0], ["rel", 0, lambda x: math.nan]]},
            ParameterError,
            ["action_space[1]", "finite"],
        ),
        ({"action_space": "lin"}, ParameterError, ["action_space", "list of specs"]),
        ({"action_space": None}, ParameterError, ["action_space", "list of specs"]),
        ({"action_space": [["choose", [10**400]], SPEC[1]]}, ParameterError, ["action_space[0]"]),
        ({"action_space": [["lin", 0, 10**400], SPEC[1]]}, ParameterError, ["action_space[0]", "high"]),
        ({"action_space": [["choose", ["a"]], SPEC[1]]}, ParameterError, ["action_space[0]", "with numbers"]),
        ({"action_space": {"lin": 1}}, ParameterError, ["action_space", "list of specs"]),
        ({"total_step": 2.0}, ParameterError, ["total_step", "2.0"]),
        ({"total_step": True}, ParameterError, ["total_step", "True"]),
        ({"step_len": "0.1"}, ParameterError, ["step_len", "'0.1'"]),
        ({"step_len": 0.001}, ParameterError, ["step_len", "128 frames", "44.1 frames"]),
        ({"sample_rate": 1000}, ParameterError, ["sample_rate", "1000", "8000..192000"]),
        ({"sample_rate": 44100.0}, ParameterError, ["sample_rate", "44100.0"]),
        ({"criteria": 3}, ParameterError, ["criteria", "3"]),
        ({"criteria": "nope"}, ParameterError, ["criteria", "nope"]),
        ({"target": np.full(4410, 1e30, np.float32)}, ParameterError, ["target", "1e+30", "1000"]),
        ({"target": np.array(["a", "b"])}, ParameterError, ["target", "dtype <U1"]),
        ({"target": None}, ParameterError, ["target", "NoneType"]),
        ({"target": [[1, 2], [3]]}, ParameterError, ["target"]),
    ],
)
def test_bad_make_arguments_name_the_argument_and_value(kw, error, words):
    with pytest.raises(error) as ei:
        _make(**kw)
    msg = str(ei.value)
    for w in words:
        assert w in msg, (w, msg)


def test_numpy_integers_paths_and_numpy_rel_indices_work(tmp_path):
    sf.write(tmp_path / "t.wav", T, SR)
    env = _make(
        total_step=np.int64(2),
        step_len=np.float32(0.05),
        sample_rate=np.int32(SR),
        target=tmp_path / "t.wav",
        action_space=[SPEC[0], ["rel", np.int64(0), lambda x: 0.1]],
    )
    env.reset(seed=0)
    obs, r, term, trunc, info = env.step([200.0])
    assert math.isfinite(r) and info["values"][1] == pytest.approx(0.1)


@pytest.mark.parametrize(
    "action", ["abc", {"a": 1}, None, [1, "x"], [[1, 2], [3]], [1 + 2j, 0.1], object(), [math.nan, 0.1]]
)
def test_actions_that_are_not_numbers_give_a_parameter_error(action):
    env = _make()
    env.reset(seed=0)
    with pytest.raises(ParameterError, match="action"):
        env.step(action)
    env.step([200.0, 0.2])  # the env is unchanged


# -- property-based -------------------------------------------------------------------------------

_junk = st.one_of(
    st.none(),
    st.booleans(),
    st.text(max_size=5),
    st.integers(-(10**30), 10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
)
_num = st.one_of(st.integers(-5, 20_000), st.floats(-1e12, 1e12), st.sampled_from([0, 1e-12, 1e308, -1e308]))


def _rel_fn(kind):
    return {
        "ok": lambda x: x * 0.5,
        "raise": lambda x: 1 / 0,
        "nan": lambda x: math.nan,
        "str": lambda x: "x",
        "none": lambda x: None,
        "huge": lambda x: 10**400,
        "key": lambda x: {}["k"],
    }[kind]


_spec = st.one_of(
    st.tuples(st.sampled_from(["lin", "exp"]), st.one_of(_num, _junk), st.one_of(_num, _junk)).map(list),
    st.tuples(st.just("choose"), st.one_of(st.lists(_num, max_size=4), _junk)).map(list),
    st.tuples(
        st.just("rel"),
        st.one_of(st.integers(-1, 3), _junk),
        st.sampled_from(["ok", "raise", "nan", "str", "none", "huge", "key"]).map(_rel_fn),
    ).map(list),
    st.lists(_junk, max_size=3),
    _junk,
)
_codes = st.sampled_from(
    [
        "o: sin {0}",
        "o: sin {x}",
        "o: sin {",
        "o: sinx {}",
        "",
        "a: sin {}\nb: saw {}",
        "o: sin {} ; zz: saw 100",
        "o: sin {} >> mul {} >> mul {} >> mul {}",
    ]
)
_targets = st.one_of(
    st.builds(lambda v, n: np.full(n, v, np.float32), st.floats(width=32), st.integers(0, 3000)),
    st.builds(lambda n: np.zeros((2, n), np.float64), st.integers(1, 3000)),
    _junk,
)
_bounds = st.tuples(st.floats(-1000, 1000), st.floats(0.001, 1000)).map(lambda t: (t[0], t[0] + t[1]))


@st.composite
def _valid_specs(draw):
    """1 to 3 specs that make() accepts (the rel ones refer to an earlier free hole)."""
    specs = []
    for i in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["lin", "exp", "choose", "rel"] if i else ["lin", "exp", "choose"]))
        if kind == "lin":
            specs.append(["lin", *draw(_bounds)])
        elif kind == "exp":
            lo = draw(st.floats(0.01, 100))
            specs.append(["exp", lo, lo * draw(st.floats(1.01, 100))])
        elif kind == "choose":
            specs.append(["choose", draw(st.lists(st.floats(-1000, 1000), min_size=1, max_size=4))])
        else:
            j = draw(st.sampled_from([k for k, sp in enumerate(specs) if sp[0] != "rel"]))
            specs.append(["rel", j, _rel_fn(draw(st.sampled_from(["ok", "ok", "raise", "nan", "str"])))])
    return specs


@st.composite
def make_arguments(draw):
    """Valid arguments with none, one or two of them replaced by something odd."""
    specs = draw(_valid_specs())
    args = {
        "code": "o: sin {} >> mul 0.001" + "".join(" >> mul {}" for _ in specs[1:]),
        "target": np.zeros(draw(st.integers(1, 3000)), np.float32),
        "total_step": draw(st.integers(1, 3)),
        "step_len": draw(st.sampled_from([0.003, 0.01, 0.05])),
        "criteria": draw(st.sampled_from(["raw", "mrstft", "mel", "mse"])),
        "action_space": specs,
        "sample_rate": draw(st.sampled_from([None, 8000, 22050, 44100])),
    }
    odd = {
        "code": _codes,
        "target": _targets,
        "total_step": st.one_of(st.integers(-1, 0), st.just(np.int64(2)), _junk),
        "step_len": st.one_of(st.sampled_from([0.0, 1e-6, 1e9]), st.floats(), _junk),
        "criteria": st.one_of(st.sampled_from(["nope", "", "mrstft+"]), _junk),
        "action_space": st.one_of(st.lists(_spec, max_size=3), _junk),
        "sample_rate": st.one_of(st.sampled_from([1000, 0, 192001, 44100.0]), _junk),
    }
    for key in draw(st.lists(st.sampled_from(sorted(odd)), max_size=2, unique=True)):
        args[key] = draw(odd[key])
    return args


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(
    args=make_arguments(), actions=st.lists(st.one_of(st.lists(st.floats(), max_size=4), _junk), max_size=3)
)
def test_make_never_fails_with_an_internal_error(args, actions):
    """Any arguments: a working env or a RaveforceError with a message; any action: a step or a ParameterError."""
    try:
        env = _make(**args)
    except RaveforceError as e:
        assert str(e).strip()
        event(f"refused: {type(e).__name__}")
        return
    event("made")
    env.reset(seed=0)
    for a in actions + [env.action_space.sample()]:
        if env._t >= env.total_step:
            break
        try:
            obs, r, *_ = env.step(a)
        except ParameterError as e:
            assert "action" in str(e) or "rel parameter" in str(e)
            event("action refused")
            continue
        except EngineError as e:  # make() raises engine faults (on_engine_error="raise")
            assert "Glicol engine" in str(e)
            event("engine fault")
            break
        event("stepped")
        assert math.isfinite(r) and np.isfinite(obs).all()
