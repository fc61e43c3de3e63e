"""Number-only code changes sent as engine messages (``Engine(fast_updates=True)``).

The reference for every test is the same engine with ``fast_updates=False``, which
hands every code to Glicol's own ``update``: the audio must be the same bit for bit.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import glicol_wasm
from glicol_wasm import Engine, GlicolError
from glicol_wasm._retune import Tuning, plan_of, skeleton, split

SR = 44100


def _plan(code: str):
    shape, nums = split(code)
    return nums, plan_of(shape)


def _peak_hz(x: np.ndarray) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spec) * SR / len(x))


# -- the plan: which numbers a message may set ------------------------------------------


def test_split_takes_out_whole_number_tokens_only():
    shape, nums = split("o: sin 440 >> mul -0.5 >> add +1 >> lpf 5. 0.5e-1 // 3 notes\nt2: seq 60_62 _")
    assert nums == ("440", "-0.5", "+1", "5.", "0.5e-1", "3")
    # tokens Glicol does not read as numbers stay in the shape
    assert split("o: sin .5")[1] == ()
    assert split("o: sin 5e-1")[1] == ()
    assert split("o: sin 1,2|3")[1] == ("1", "2", "3")
    assert "60_62" in shape and "t2" in shape


def test_plan_maps_numbers_of_pure_nodes_to_chain_node_and_parameter():
    code = "o: saw 55 >> lpf 300 2.0 >> mul ~amp\n~amp: imp 2 >> envperc 0.01 0.2\n  >> mul 0.5"
    nums, plan = _plan(code)
    assert nums == ("55", "300", "2.0", "2", "0.01", "0.2", "0.5")
    prefixes = [[p for p, _ in node] for node in plan.nodes]
    assert prefixes == [
        ["o,0,0,"],
        ["o,1,0,", "o,1,1,"],
        ["~amp,0,0,"],
        ["~amp,1,0,", "~amp,1,1,"],
        ["~amp,2,0,"],  # a continuation line is the next node of the same chain
    ]
    assert plan.node_of == (0, 1, 1, 2, 3, 3, 4)


@pytest.mark.parametrize(
    ("code", "left_to_update"),
    [
        ("o: noise 42 >> mul 0.5", ["42"]),  # noise re-seeds on a message
        ("o: sin 440 >> delayn 100", ["100"]),  # delayn clears its buffer
        ("o: sin 440 >> delayms 10", ["10"]),
        ("o: sin 440 >> apfmsgain 10 0.5", ["10", "0.5"]),  # its delay clears buffers
        ("o: speed 2 >> seq 60 _ 72 _ >> sawsynth 0.01 0.1", ["60", "72", "0.01", "0.1"]),
        ("o: choose 60 62 >> mul 1", ["60", "62"]),
    ],
)
def test_numbers_of_nodes_with_side_effects_need_an_update(code, left_to_update):
    nums, plan = _plan(code)
    assert [nums[k] for k, node in enumerate(plan.node_of) if node < 0] == left_to_update
    # the other numbers (sin, mul, speed) may still be sent as messages
    assert len(plan.nodes) == len(nums) - len(left_to_update)


@pytest.mark.parametrize(
    "code",
    [
        'o: sig "1@0 2@0.5"(1) >> mul 0.5',  # a pattern
        "o: meta `output.pad(128, 0.0); output` >> mul 0.5",  # a script
        "o: [0=>0, 1/2=>1, 1=>0]*1 >> mul 0.5",  # points
        "o: sin 440 >> mul 0.5\no: sin 220 >> mul 0.5",  # a repeated chain: the last wins
        "o: sin 440; >> mul 0.5",  # a continuation after ';'
        "sin 440 >> mul 0.5",  # no chain name
    ],
)
def test_codes_the_plan_does_not_understand_always_update(code):
    _, plan = _plan(code)
    assert plan.nodes == () and set(plan.node_of) <= {-1}


def test_numbers_in_comments_are_left_to_update():
    nums, plan = _plan("// 120 bpm\no: sin 440 // 3 voices")
    assert nums == ("120", "440", "3")
    assert plan.node_of == (-1, 0, -1)


def test_messages_follow_update_one_per_number_parameter_of_each_changed_node():
    a = "o: saw 55 >> lpf 300 2.0 >> mul 0.5"
    t = Tuning.parsed(a)
    assert t.messages_to(split(a)[1]) == ""
    # the cutoff changed: both of lpf's numbers are sent, as update sends them
    assert t.messages_to(split("o: saw 55 >> lpf 420 2.0 >> mul 0.5")[1]) == "o,1,0,420;o,1,1,2.0"
    assert t.numbers_in("o: saw 55 >> lpf 420 2.0 >> mul 0.5") == ("55", "420", "2.0", "0.5")
    assert t.numbers_in("o: saw 55 >> lpf 300 2.0 >> mul 0.5 >> mul 1") is None  # another shape
    assert t.numbers_in("o: saw 55 >> lpf .3 2.0 >> mul 0.5") is None  # not a Glicol number
    t2 = t.played(split("o: saw 110 >> lpf 300 2.0 >> mul 0.25")[1])
    assert t2.revert() == "o,0,0,55;o,2,0,0.5"
    assert t2.base == t.base


# -- the engine: same audio as update, bit for bit --------------------------------------


def _pair():
    return Engine(SR, fast_updates=True), Engine(SR, fast_updates=False)


def test_fast_path_sends_messages_and_keeps_glicols_base():
    fast, ref = _pair()
    a = "o: sin 440 >> mul 0.5"
    for eng in (fast, ref):
        eng.set_code(a)
        eng.render(1000)
        eng.set_code("o: sin 220 >> mul 0.25")
    assert np.array_equal(fast.render(4096), ref.render(4096))
    # the fast engine did not submit the new code: Glicol still holds the first one
    assert fast._inst.last_code == a.encode()
    assert ref._inst.last_code != a.encode()
    assert fast.code == ref.code == "o: sin 220 >> mul 0.25"


def test_an_update_after_messages_starts_from_what_glicol_parsed():
    """Messages leave Glicol's base stale; the next update must still play its own code.

    The last code keeps ``sin 440`` of the first one: Glicol's diff against its base
    sees no change in that node, so without sending it back to 440 first it would go
    on playing the 220 that a message set.
    """
    fast, ref = _pair()
    codes = ["o: sin 440 >> mul 0.5", "o: sin 220 >> mul 0.5", "o: sin 440 >> mul 0.5 >> lpf 20000 1.0"]
    out = {}
    for name, eng in (("fast", fast), ("ref", ref)):
        parts = []
        for code in codes:
            eng.set_code(code)
            parts.append(eng.render(8192))
        out[name] = parts
    assert all(np.array_equal(x, y) for x, y in zip(out["fast"], out["ref"], strict=True))
    assert _peak_hz(out["fast"][1][0]) == pytest.approx(220, abs=6)
    assert _peak_hz(out["fast"][2][0]) == pytest.approx(440, abs=6)


_VARIANTS = [
    # chains in the same order; the variants differ in structure
    "~env: imp {r} >> envperc {a} {d}\n"
    "~lfo: sin {lf} >> mul {ld} >> add {lc}\n"
    "o: saw {f} >> lpf ~lfo {q} >> mul ~env >> mul {g}\n"
    "n: noise {seed} >> hpf {hc} {hq} >> mul ~env >> mul {ng}\n"
    "e: sin {f2} >> mul ~env >> delayn {dn} >> mul {g2}\n"
    "s: speed {sp} >> seq 60 _ {sn} _ >> sawsynth 0.01 {sd} >> mul {g3}",
    "~env: imp {r} >> envperc {a} {d}\n"
    "~lfo: sin {lf} >> mul {ld} >> add {lc}\n"
    "o: saw {f} >> lpf ~lfo {q} >> mul ~env >> mul {g} >> mul 1\n"
    "n: noise {seed} >> hpf {hc} {hq} >> mul ~env >> mul {ng}\n"
    "e: sin {f2} >> mul ~env >> delayn {dn} >> mul {g2}\n"
    "s: speed {sp} >> seq 60 _ {sn} _ >> sawsynth 0.01 {sd} >> mul {g3}",
    "~env: imp {r} >> envperc {a} {d}\n"
    "~lfo: sin {lf} >> mul {ld} >> add {lc}\n"
    "o: squ {f} >> lpf ~lfo {q} >> mul ~env >> mul {g}\n"
    "e: sin {f2} >> mul ~env >> delayn {dn} >> mul {g2}; p: tri {f2} >> mul {g2}",
]

_PURE = {
    "r": (1, 12),
    "a": (0.001, 0.01),
    "d": (0.02, 0.3),
    "lf": (0.5, 8),
    "ld": (50, 400),
    "lc": (500, 3000),
    "f": (40, 400),
    "q": (0.5, 3),
    "g": (0.05, 0.5),
    "hc": (1000, 9000),
    "hq": (0.5, 2),
    "ng": (0.01, 0.2),
    "f2": (100, 900),
    "g2": (0.05, 0.4),
    "sp": (1, 4),
    "sd": (0.05, 0.3),
    "g3": (0.1, 1),
}
_IMPURE = {"seed": (1, 99), "dn": (1, 3000), "sn": (48, 84)}


def _fmt(rng: np.random.Generator, lo: float, hi: float, integer: bool = False) -> str:
    v = rng.uniform(lo, hi)
    if integer:
        return str(int(v))
    form = rng.integers(4)
    if form == 0:
        return f"{v:.6g}" if "e" not in f"{v:.6g}" else f"{v:.4f}"
    if form == 1:
        return f"{v:.2f}"
    if form == 2:
        return f"+{v:.3f}"
    return f"{v:.1f}0"


def test_random_performances_match_update_bit_for_bit():
    """Number changes, side-effect nodes, structure changes, errors, snapshots and copies."""
    rng = np.random.default_rng(7)
    values = {k: _fmt(rng, *r) for k, r in _PURE.items()}
    values |= {k: _fmt(rng, *r, integer=True) for k, r in _IMPURE.items()}
    variant = 0
    fast, ref = _pair()
    saved: tuple | None = None
    base_values = values.copy()
    kinds: dict[str, int] = {}
    n_messages = 0
    for step in range(220):
        op = rng.choice(
            ["numbers"] * 10 + ["impure", "structure", "back", "error", "snapshot", "restore", "copy"]
        )
        kinds[op] = kinds.get(op, 0) + 1
        if op == "numbers":
            for k in rng.choice(list(_PURE), size=rng.integers(1, 4), replace=False):
                values[k] = _fmt(rng, *_PURE[k])
        elif op == "impure":
            k = str(rng.choice(list(_IMPURE)))
            values[k] = _fmt(rng, *_IMPURE[k], integer=True)
        elif op == "structure":
            variant = int(rng.integers(len(_VARIANTS)))
        elif op == "back":
            # The numbers Glicol last parsed, with a change that needs an update: the
            # update's diff sees no change in nodes that messages changed since.
            values = base_values | {"seed": str(int(values["seed"]) % 98 + 1)}
        elif op == "error":
            bad = str(rng.choice(["o: sin", "o: sin 440 >> mul ~nope", "o: sin 440 >> lpf 300"]))
            errors = []
            for eng in (fast, ref):
                eng.set_code(bad)
                with pytest.raises(GlicolError) as info:
                    eng.render(256)
                errors.append((type(info.value), info.value.recovered))
            assert errors[0] == errors[1] and errors[0][1] is True
            saved = None  # the rebuilt instances refuse older snapshots
        elif op == "snapshot":
            saved = (fast.snapshot(), ref.snapshot(), values.copy(), variant, base_values.copy())
        elif op == "restore" and saved is not None:
            fast.restore(saved[0])
            ref.restore(saved[1])
            values, variant, base_values = saved[2].copy(), saved[3], saved[4].copy()
        elif op == "copy":
            fast, ref = copy.deepcopy(fast), copy.deepcopy(ref)
            saved = None  # snapshots belong to the old instances
        code = _VARIANTS[variant].format(**values)
        before = fast._inst.last_code
        fast.set_code(code)
        ref.set_code(code)
        n = int(rng.integers(1, 900))
        a, b = fast.render(n), ref.render(n)
        assert np.array_equal(a, b), f"step {step} ({op}): max |diff| {np.abs(a - b).max()}"
        if fast._inst.last_code == before:
            n_messages += code.encode() != before
        else:
            base_values = values.copy()
    assert fast.frames_rendered == ref.frames_rendered
    # the sequence did exercise both paths, and every kind of step
    assert n_messages > 80
    assert {"impure", "structure", "back", "error", "snapshot", "restore", "copy"} <= set(kinds)


def test_built_in_scenarios_render_the_same_with_and_without_fast_updates(monkeypatch):
    """Every built-in scenario, two episodes of random actions, audio bit for bit."""
    import raveforce_mae

    out: dict[str, list[np.ndarray]] = {}
    for flag in ("1", "0"):
        monkeypatch.setenv("GLICOL_WASM_FAST_UPDATES", flag)
        audio = []
        for name in raveforce_mae.list_scenarios():
            env = raveforce_mae.parallel_env(name)
            env.reset(seed=0)
            task = env.task
            assert all(e._fast_updates is (flag == "1") for e in task.session._engines)
            rng = np.random.default_rng(3)
            for _ in range(2):
                task.reset()
                for k in range(env.scenario.n_steps):
                    acts = {a: rng.uniform(-1, 1, env.action_space(a).shape) for a in env.possible_agents}
                    audio.append(np.array(task.render(k, env._map_actions(acts)[0])))
        out[flag] = audio
    assert len(out["1"]) > 60
    assert all(np.array_equal(x, y) for x, y in zip(out["1"], out["0"], strict=True))


def test_fast_updates_argument_and_environment_variable(monkeypatch):
    assert Engine(SR)._fast_updates is True
    monkeypatch.setenv("GLICOL_WASM_FAST_UPDATES", "0")
    assert Engine(SR)._fast_updates is False
    assert Engine(SR, fast_updates=True)._fast_updates is True
    with pytest.raises(TypeError, match="fast_updates must be a bool or None, got 'yes'"):
        Engine(SR, fast_updates="yes")  # type: ignore[arg-type]


def test_render_function_is_unchanged():
    # one code, one render: nothing to send as messages
    a = glicol_wasm.render("o: sin 440 >> mul 0.5", 0.1)
    assert _peak_hz(a[0]) == pytest.approx(440, abs=10)


_TOKENS = st.sampled_from(
    [
        "o:",
        "~a:",
        "sin",
        "mul",
        "~a",
        ">>",
        "seq",
        "_",
        "60_62",
        "x1",
        "5x",
        ".5",
        "5e3",
        "5.",
        "-0.5",
        "+1",
        "0.5e-1",
    ]
)
_NUMBERS = st.sampled_from(
    ["1", "-2", "+3.5", "0.25", "7.", "1.5E+2", ".5", "5e3", "5x", "x", "1.2.3", "--1", ""]
)
_DELIMS = st.sampled_from([" ", "  ", "\n", ",", "|", ";", " \t"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_TOKENS, _DELIMS), min_size=1, max_size=14), st.data())
def test_matching_a_shape_finds_the_numbers_split_finds(tokens, data):
    """The fast shape match agrees with the full split on any text, numbers or not."""
    code = "".join(t + d for t, d in tokens)
    shape, nums = split(code)
    t = Tuning.parsed(code)
    assert t.numbers_in(code) == nums
    # the same text with its numbers replaced by anything at all
    pieces = shape.split("\x00")
    new = pieces[0] + "".join(data.draw(_NUMBERS) + p for p in pieces[1:])
    found = t.numbers_in(new)
    if found is not None:
        assert split(new) == (shape, found)
    else:
        assert split(new)[0] != shape


def test_a_code_with_another_skeleton_is_not_matched_against_the_shape():
    """A structural change is caught by the skeleton alone: no pattern is compiled for it."""
    from glicol_wasm._retune import _shape_pattern

    t = Tuning.parsed("q: tri 330 >> mul 0.125 // a shape no other test uses")
    before = _shape_pattern.cache_info().misses
    assert t.numbers_in("q: tri 330 >> mul 0.125 >> lpf 300 1.0 // a shape no other test uses") is None
    assert _shape_pattern.cache_info().misses == before
    # the same skeleton: the pattern decides (and is compiled once)
    assert t.numbers_in("q: tri 220.25 >> mul -1 // a shape no other test uses") == ("220.25", "-1")
    assert t.numbers_in("q: tri 330 >> mul 0.5e // a shape no other test uses") is None
    assert _shape_pattern.cache_info().misses == before + 1


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_TOKENS, _DELIMS), min_size=1, max_size=14), st.data())
def test_codes_of_one_shape_have_one_skeleton(tokens, data):
    code = "".join(t + d for t, d in tokens)
    shape, _ = split(code)
    pieces = shape.split("\x00")
    new = pieces[0] + "".join(data.draw(_NUMBERS) + p for p in pieces[1:])
    if split(new)[0] == shape:
        assert skeleton(new) == skeleton(code)


@pytest.mark.parametrize("number", ["+0.5", "0.25", "7.", "1.5E-1", "0.5e-1", "2", "-0", "+3"])
def test_every_number_form_glicol_reads_reaches_the_node_as_update_would(number):
    """A message carries the number's text: the engine reads it as its parser does."""
    fast, ref = _pair()
    out = []
    for eng in (fast, ref):
        eng.set_code("o: saw 110 >> mul 0.1 >> lpf 800 1.0")
        eng.render(700)
        eng.set_code(f"o: saw 110 >> mul {number} >> lpf 800 1.0")
        out.append(eng.render(3000))
    assert fast._inst.last_code == b"o: saw 110 >> mul 0.1 >> lpf 800 1.0"  # sent as a message
    assert np.array_equal(out[0], out[1])


def test_code_lines_reads_glicol_line_structure_for_engine_and_templates():
    """One line splitter serves the engine's plan and the scenario templates."""
    from glicol_wasm.syntax import code_lines

    lines = code_lines("~a: sin 2 // lfo\n_b: saw 110\n  >> mul ~a; c: tri 1")
    assert [(ln.ref, ln.name, ln.chain) for ln in lines] == [
        (True, "a", "sin 2"),
        (False, "_b", "saw 110 >> mul ~a"),
        (False, "c", "tri 1"),
    ]
    with pytest.raises(ValueError, match="cannot read the Glicol line '>> mul 2'"):
        code_lines("o: sin 1; >> mul 2")
    # `_b` is an audible chain in Glicol: its numbers are settable by message
    _, plan = _plan("_b: saw 110 >> mul 0.5")
    assert [[p for p, _ in node] for node in plan.nodes] == [["_b,0,0,"], ["_b,1,0,"]]
    fast, ref = _pair()
    out = []
    for eng in (fast, ref):
        eng.set_code("_b: saw 110 >> mul 0.5")
        eng.render(500)
        eng.set_code("_b: saw 220 >> mul 0.25")
        out.append(eng.render(3000))
    assert fast._inst.last_code == b"_b: saw 110 >> mul 0.5"  # sent as messages
    assert np.array_equal(out[0], out[1]) and np.abs(out[0]).max() > 0.2
