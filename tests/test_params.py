"""Parameters: action mapping, number formatting (checked by the engine), rel expressions."""

from __future__ import annotations

import math
import pickle
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import glicol_wasm
from raveforce_mae.errors import ParameterError, ScenarioError
from raveforce_mae.params import (
    Param,
    compile_expr,
    format_number,
    hz_to_midi,
    midi_to_hz,
    note_number,
    resolve,
)

GLICOL_NUMBER = re.compile(r"-?\d+(\.\d+)?")

# -- formatting --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, text",
    [
        (0.0001, "0.0001"),
        (440, "440"),
        (440.0, "440"),
        (55.5, "55.5"),
        (-0.25, "-0.25"),
        (-0.0, "0"),
        (0.0, "0"),
        (1e-9, "0.000000001"),
        (1234567.0, "1234570"),
        (0.5, "0.5"),
        (2.0**-20, "0.000000953674"),
        (1e21, "1000000000000000000000"),
    ],
)
def test_format_number_examples(value, text):
    assert format_number(value) == text


@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12))
@settings(max_examples=400, deadline=None)
def test_format_number_is_glicol_safe_and_accurate(v):
    s = format_number(v)
    assert GLICOL_NUMBER.fullmatch(s), s
    assert s != "-0" and not s.startswith(".")
    if v != 0:
        assert float(s) != 0.0  # a nonzero value never becomes 0
        assert math.isclose(float(s), v, rel_tol=5.1e-6)
    else:
        assert s == "0"


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_format_number_rejects_non_finite(bad):
    with pytest.raises(ParameterError):
        format_number(bad)


def test_formatted_numbers_render_in_glicol():
    values = [0.0001, 1e-9, 440.0, -0.25, 55.5, 123456.789, 1e7, -0.0, 2.0**-20, 0.333333333]
    code = "\n".join(f"o{i}: sig {format_number(v)} >> mul 0" for i, v in enumerate(values))
    glicol_wasm.render(code, 0.01)  # every number parses
    for v in values:
        y = glicol_wasm.render(f"o: sig {format_number(v)}", 0.01)[0]
        assert np.isclose(y[10], np.float32(v), rtol=1e-5, atol=0), (v, y[10])


# -- mapping ------------------------------------------------------------------------------------


def test_lin_and_exp_ends_and_middle():
    lin = Param("a", "lin", 0.0001, 0.4999)
    assert lin.from_unit(-1) == pytest.approx(0.0001)
    assert lin.from_unit(1) == pytest.approx(0.4999)
    assert lin.from_unit(0) == pytest.approx(0.25)
    exp = Param("f", "exp", 10, 10000)
    assert exp.from_unit(-1) == pytest.approx(10)
    assert exp.from_unit(1) == pytest.approx(10000)
    assert exp.from_unit(0) == pytest.approx(316.227766)  # geometric mean


@given(st.floats(-1, 1))
@settings(max_examples=200, deadline=None)
def test_lin_exp_invert_exactly(u):
    for p in (Param("a", "lin", -3, 7), Param("f", "exp", 20, 20000)):
        assert p.to_unit(p.from_unit(u)) == pytest.approx(u, abs=1e-12)


def test_out_of_range_actions_clip_and_nan_raises():
    p = Param("a", "lin", 0, 1)
    assert p.from_unit(5) == 1 and p.from_unit(-math.inf) == 0
    with pytest.raises(ParameterError, match="'a'.*NaN"):
        p.from_unit(math.nan)


def test_note_bins_are_equal_and_in_hz_or_midi():
    p = Param("n", "note", 28, 52)
    assert p.n_values == 25
    assert p.from_unit(-1) == pytest.approx(midi_to_hz(28))
    assert p.from_unit(1) == pytest.approx(midi_to_hz(52))
    us = np.linspace(-1, 1, 100001)
    counts = np.unique([round(hz_to_midi(p.from_unit(u))) for u in us], return_counts=True)[1]
    assert len(counts) == 25 and counts.max() - counts.min() <= 2
    for m in range(28, 53):
        hz = midi_to_hz(m)
        assert p.from_unit(p.to_unit(hz)) == hz  # bin centre maps back exactly
    q = Param("n", "note", 48, 72, unit="midi")
    assert q.from_unit(q.to_unit(60)) == 60.0
    assert midi_to_hz(69) == 440.0 and midi_to_hz(33) == pytest.approx(55.0)


def test_choose_and_int_bins():
    c = Param("c", "choose", choices=(0, 0.5, 1))
    assert [c.from_unit(u) for u in (-1, -0.34, 0, 0.34, 1)] == [0, 0, 0.5, 1, 1]
    assert c.to_unit(0.5) == pytest.approx(0.0)
    assert c.to_unit(1) == pytest.approx(2 / 3)
    i = Param("i", "int", 1, 4)
    assert [i.from_unit(u) for u in (-1, -0.4, 0.1, 1)] == [1, 2, 3, 4]
    for v in (1, 2, 3, 4):
        assert i.from_unit(i.to_unit(v)) == v
        assert i.from_unit(np.float32(i.to_unit(v))) == v  # survives a float32 action


def test_note_names():
    assert note_number("A1") == 33 and note_number("C4") == 60 and note_number("c#3") == 49
    assert note_number("Bb2") == 46 and note_number(40) == 40
    with pytest.raises(ValueError):
        note_number("H2")
    with pytest.raises(ValueError):
        note_number(40.5)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"kind": "lin", "low": 1, "high": 1}, "low < high"),
        ({"kind": "lin", "low": 2, "high": 1}, "low < high"),
        ({"kind": "exp", "low": 0, "high": 1}, "0 < low"),
        ({"kind": "wobble", "low": 0, "high": 1}, "kind must be one of"),
        ({"kind": "choose", "choices": ()}, "non-empty"),
        ({"kind": "int", "low": 0.5, "high": 3}, "whole-number"),
        ({"kind": "note", "low": 40, "high": 50, "unit": "cents"}, "unit"),
        ({"kind": "rel"}, "needs expr"),
        ({"kind": "rel", "expr": "x.__class__"}, "not allowed"),
        ({"kind": "lin", "low": 0, "high": math.inf}, "finite"),
    ],
)
def test_param_validation(kwargs, match):
    with pytest.raises(ScenarioError, match=match):
        Param("p", **kwargs)


def test_param_pickles():
    for p in (Param("a", "lin", 0, 1), Param("d", "rel", expr="1 - a"), Param("n", "note", 30, 40)):
        q = pickle.loads(pickle.dumps(p))
        assert q.name == p.name and q.kind == p.kind
        if p.kind == "rel":
            assert q.compute({"a": 0.25}) == 0.75
        else:
            assert q.from_unit(0.3) == p.from_unit(0.3)


# -- expressions and rel ------------------------------------------------------------------------


def test_compile_expr_arithmetic_and_functions():
    fn, used = compile_expr("dur - 0.0001 - attack")
    assert used == ("dur", "attack")
    assert fn({"dur": 0.5, "attack": 0.002}) == pytest.approx(0.4979)
    fn, _ = compile_expr("clip(2 ** x, 1, 10) + max(a, b, 3) - abs(-c) + min(a, b) * -1")
    assert fn({"x": 5, "a": 1, "b": 2, "c": 4}) == pytest.approx(10 + 3 - 4 - 1)


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os').system('true')",
        "a.real",
        "a[0]",
        "lambda: 1",
        "'text'",
        "a if b else c",
        "[x for x in a]",
        "open('f')",
        "a < b",
        "True",
        "a % 2",
        "min",
        "clip(1, 2)",
        "abs(x=1)",
    ],
)
def test_compile_expr_rejects_everything_else(text):
    with pytest.raises(ValueError):
        compile_expr(text)


def test_compile_expr_unknown_name_and_runtime_errors():
    with pytest.raises(ValueError, match="unknown name 'z'"):
        compile_expr("a + z", ["a"])
    fn, _ = compile_expr("1 / a")
    with pytest.raises(ParameterError, match="1 / a"):
        fn({"a": 0.0})


def test_resolve_order_clamp_and_cycle():
    params = [
        Param("attack", "lin", 0.0001, 0.4999),
        Param("decay", "rel", expr="dur - 0.0001 - attack"),
        Param("tail", "rel", low=0, high=0.1, expr="decay * 2"),  # depends on another rel
    ]
    out = resolve(params, {"attack": 0.002}, {"dur": 0.5})
    assert out["decay"] == pytest.approx(0.4979) and out["tail"] == 0.1  # clamped
    assert list(out) == ["attack", "decay", "tail"]
    cyc = [Param("a", "rel", expr="b + 1"), Param("b", "rel", expr="a + 1")]
    with pytest.raises(ScenarioError, match="cycle"):
        resolve(cyc, {}, {})
    with pytest.raises(ScenarioError, match="'nope'"):
        resolve([Param("a", "rel", expr="nope")], {}, {})
    with pytest.raises(ParameterError, match="attack"):
        resolve(params, {}, {"dur": 0.5})


def test_rel_callable_as_in_raveforce():
    dur = 0.5
    params = [
        Param("attack", "lin", 0.0001, dur - 0.0001),
        Param("decay", "rel", expr=lambda x: dur - 0.0001 - x, depends=("attack",)),
    ]
    assert resolve(params, {"attack": 0.1}, {})["decay"] == pytest.approx(0.3999)
    whole = Param("g", "rel", expr=lambda env: env["attack"] * 2)
    assert whole.compute({"attack": 0.2}) == pytest.approx(0.4)
    bad = Param("g", "rel", expr=lambda x: math.nan, depends=("attack",))
    with pytest.raises(ParameterError, match="'g'"):
        bad.compute({"attack": 0.1})
