"""Stem packing: two tracks in one engine (left and right channel), bit for bit.

A :class:`RenderSession` plays two consecutive tracks in one engine when
:func:`packing_refusal` allows it. Everything observable must stay the same as with
one engine per track (``pack=False``): the stems, the mix, the errors (which track,
which values, which message), snapshot/restore and the environment's rewards.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import glicol_wasm
import raveforce_mae
from raveforce_mae.core import PACK_CHAIN, RenderSession, packing_refusal, render_values
from raveforce_mae.errors import EngineError
from raveforce_mae.scenario import list_scenarios, load_scenario, scenario_from_dict
from raveforce_mae.scenario.sources import render_target


def _random_values(sc, rng, n):
    return [{t.name: t.values(rng.uniform(-1, 1, len(t.free))) for t in sc.tracks} for _ in range(n)]


def _both_ways(sc, values, tracks=None):
    """Render ``values`` packed and unpacked; assert every step's output is bit-identical."""
    packed = RenderSession(sc, tracks, pack=True)
    alone = RenderSession(sc, tracks, pack=False)
    for i, v in enumerate(values):
        a = packed.step(i % sc.n_steps, v)
        b = alone.step(i % sc.n_steps, v)
        assert np.array_equal(a, b), f"step {i}: max difference {np.abs(a - b).max()}"
    return packed, alone


# -- the engine fact packing relies on -----------------------------------------------------------


def test_balance_copies_the_left_channel_of_each_ref_bit_for_bit():
    """``balance ~l ~r``: L is ~l's first channel, R is ~r's first channel, unchanged.

    ~r ends in a stereo plate whose right channel differs from its left: balance takes
    the left one, which is what a chain's own engine plays on its left channel.
    """
    left, right = "sin 440 >> mul 0.3", "saw 97 >> lpf 800 2.0 >> plate 0.5"
    eng = glicol_wasm.Engine()
    eng.set_code(f"~l: {left}\n~r: {right}\n{PACK_CHAIN}: balance ~l ~r")
    both = eng.render(20000)
    alone = {}
    for name, chain in (("l", left), ("r", right)):
        e = glicol_wasm.Engine()
        e.set_code(f"o: {chain}")
        alone[name] = e.render(20000)
    assert not np.array_equal(alone["r"][0], alone["r"][1])  # the plate is really stereo
    assert np.abs(alone["r"][0]).max() > 0.1 and np.abs(alone["l"][0]).max() > 0.1
    np.testing.assert_array_equal(both[0], alone["l"][0])
    np.testing.assert_array_equal(both[1], alone["r"][0])


# -- every built-in scenario ----------------------------------------------------------------------


@pytest.mark.parametrize("name", list_scenarios())
def test_builtin_scenarios_packed_equal_unpacked(name, rng):
    sc = load_scenario(name)
    values = _random_values(sc, rng, 2 * sc.n_steps)  # two loops of the episode
    if sc.reference is not None:
        values += list(sc.reference)
    packed, alone = _both_ways(sc, values)
    k = len(sc.tracks)
    assert len(packed.packing) == (k + 1) // 2 and len(alone.packing) == k
    a, b = packed.audio(), alone.audio()
    assert all(np.array_equal(a[x], b[x]) for x in b)
    assert packed.code(values[0]) == alone.code(values[0])  # each track's standalone code


def test_ensemble_packs_bass_with_kick_and_keeps_hat_alone(rng):
    sc = load_scenario("ensemble")
    s = RenderSession(sc)
    assert s.packing == (("bass", "kick"), ("hat",))
    assert len(s.engine_memory()) == 2 and s.memory_bytes == sum(s.engine_memory())
    # a subset of tracks (the search baselines) packs its own tracks in its own order
    _both_ways(sc, _random_values(sc, rng, sc.n_steps), tracks=[2, 0])
    assert RenderSession(sc, tracks=[2, 0]).packing == (("hat", "bass"),)
    assert RenderSession(sc, tracks=[1]).packing == (("kick",),)


def test_sampled_targets_render_the_same_packed(rng):
    sc = load_scenario("ensemble")
    for k in (0, 3):
        target = render_target(sc, sc.target_source, "train", k)
        stems, mix = render_values(sc, target.reference, pack=False)
        np.testing.assert_array_equal(mix, target.targets.mix)
        for i, t in enumerate(sc.tracks):
            np.testing.assert_array_equal(stems[i], target.targets.stems[t.name])


# -- fuzzed scenarios ----------------------------------------------------------------------------------

# Sources of sound, including the nodes with their own random state (noise, choose),
# a sample played from the shared clock, stereo effects whose right channel differs
# from the left, and the mix node.
_SOURCES = [
    ("{osc} {{f}}", ("f",)),
    ("noise {seed} >> lpf {{c}} 1.0", ("c",)),
    ("~pick >> mul {{g}}", ("g",)),
    ("~clk >> sp \\hit", ()),
    ("~clk >> mul {{g}} >> sp \\hit", ("g",)),
]
_TAILS = ["", " >> plate 0.3", " >> mul 1 >> delayms {ms}", " >> lpf {c} 2.0", " >> mul ~lfo"]
_P = {
    "f": {"kind": "exp", "low": 50, "high": 2000},
    "g": {"kind": "lin", "low": 0, "high": 1},
    "c": {"kind": "exp", "low": 200, "high": 8000},
    "ms": {"kind": "lin", "low": 1, "high": 30},
}
_REF = {"f": 110, "g": 0.5, "c": 1000, "ms": 10}


@st.composite
def packed_scenarios(draw):
    n = draw(st.integers(2, 4))
    tracks = {}
    for k in range(n):
        name = draw(st.sampled_from(["a", "b", "x", "bass", "env"])) + str(k)
        src, params = draw(st.sampled_from(_SOURCES))
        chain = src.format(
            osc=draw(st.sampled_from(["sin", "saw", "squ", "tri"])), seed=draw(st.integers(0, 99))
        )
        params = list(params)
        tail = draw(st.sampled_from(_TAILS))
        chain += tail
        params += [p for p in ("c", "ms") if "{" + p + "}" in tail and p not in params]
        refs = {}
        if "~pick" in chain:
            refs["pick"] = "choose 1 0 2 >> mul ~clk"
        chain += " >> mul 0.3"
        t = {"chain": chain, "params": {p: _P[p] for p in params}, "reference": {p: _REF[p] for p in params}}
        if refs:
            t["refs"] = refs
        if not params:
            t["chain"] += " >> mul {g}"
            t["params"] = {"g": _P["g"]}
            t["reference"] = {"g": _REF["g"]}
        tracks[name] = t
    hit = np.sin(np.linspace(0, 300, 3000)) * np.exp(-np.linspace(0, 6, 3000))
    stereo = draw(st.booleans())
    audio = np.stack([hit, 0.5 * hit[::-1]]) if stereo else hit
    return {
        "timing": {"steps": 4, "step_seconds": draw(st.sampled_from([0.013, 0.05])), "sample_rate": 44100},
        "seed": draw(st.integers(0, 1000)),
        "shared": {"clk": "imp 9", "lfo": "sin 3 >> mul 0.5 >> add 0.5"},
        "samples": {"hit": (audio.astype(np.float32), 22050)},
        "tracks": tracks,
    }


@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(d=packed_scenarios(), seed=st.integers(0, 2**16))
def test_fuzzed_scenarios_packed_equal_unpacked(d, seed):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # silent reference stems
        sc = scenario_from_dict(d)
    rng = np.random.default_rng(seed)
    packed, _ = _both_ways(sc, _random_values(sc, rng, 3 * sc.n_steps))
    # pairs are packed exactly where the rule allows it (here: the same shared refs)
    pairs = [u for u in packed.packing if len(u) == 2]
    for a, b in pairs:
        assert packing_refusal(sc.track(a), sc.track(b)) is None
        assert sc.track(a).shared == sc.track(b).shared


def test_fuzzed_scenarios_do_pack():
    """The fuzzing above really renders packed engines, with the risky nodes in them."""
    d = {
        "timing": {"steps": 3, "step_seconds": 0.05},
        "seed": 7,
        "shared": {"clk": "imp 9"},
        "samples": {"hit": (np.linspace(1, 0, 2000, dtype=np.float32), 22050)},
        "tracks": {
            "a": {
                "chain": "noise 5 >> plate 0.3 >> mul {g}",
                "params": {"g": _P["g"]},
                "reference": {"g": 0.5},
            },
            "b": {
                "chain": "~pick >> mul {g} >> mul ~clk >> sp \\hit",
                "refs": {"pick": "choose 1 0 2"},
                "params": {"g": _P["g"]},
                "reference": {"g": 0.5},
            },
            "c": {
                "chain": "~clk >> sp \\hit >> mul {g}",
                "params": {"g": _P["g"]},
                "reference": {"g": 0.5},
            },
            "e": {
                "chain": "~pick >> mul ~clk >> mul {g}",
                "refs": {"pick": "choose 1 2 3"},
                "params": {"g": _P["g"]},
                "reference": {"g": 0.5},
            },
            "f": {
                "chain": "~pick >> mul ~clk >> sp \\hit >> mul {g}",
                "refs": {"pick": "choose 3 1 2"},
                "params": {"g": _P["g"]},
                "reference": {"g": 0.5},
            },
        },
    }
    sc = scenario_from_dict(d)
    packed, _ = _both_ways(sc, _random_values(sc, np.random.default_rng(1), 9))
    # a uses no shared ref, b does: not packed; b and c use ~clk: packed; e and f too,
    # each with its own choose node
    assert packed.packing == (("a",), ("b", "c"), ("e", "f"))
    stems, _ = packed.rendered()
    assert all(np.abs(s).max() > 1e-3 for s in stems)


# -- the safety rule -----------------------------------------------------------------------------------


def _two(chain_a, chain_b, shared=None, **refs):
    d = {
        "timing": {"steps": 2, "step_seconds": 0.05},
        "shared": shared or {"clk": "imp 9"},
        "tracks": {
            "lead": {"chain": chain_a, "params": {"g": _P["g"]}, "reference": {"g": 0.5}},
            "pad": {"chain": chain_b, "params": {"g": _P["g"]}, "reference": {"g": 0.5}},
        },
    }
    for name, body in refs.items():
        track, ref = name.split("__")
        d["tracks"][track].setdefault("refs", {})[ref] = body
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return scenario_from_dict(d)


def test_packing_refusal_reasons():
    ok = _two("sin 220 >> mul {g}", "saw 110 >> mul {g}")
    assert packing_refusal(*ok.tracks) is None
    assert RenderSession(ok).packing == (("lead", "pad"),)
    # different shared refs
    sc = _two("sin 220 >> mul ~clk >> mul {g}", "saw 110 >> mul {g}")
    assert "different shared refs" in packing_refusal(*sc.tracks)
    assert RenderSession(sc).packing == (("lead",), ("pad",))
    # the same shared ref, but written differently in each track's needs: still identical text
    sc = _two("sin 220 >> mul ~clk >> mul {g}", "saw 110 >> mul ~clk >> mul {g}")
    assert packing_refusal(*sc.tracks) is None
    # a bare word naming a track: a reference to an audible chain, which packing renames.
    # (The loader refuses a reference to another track; to its own chain it is silence.)
    sc = _two("sin 220 >> mul {g}", "saw 110 >> mul pad >> mul {g}")
    assert "bare word 'pad'" in packing_refusal(*sc.tracks)
    _both_ways(sc, [{"lead": {"g": 0.5}, "pad": {"g": 0.5}}] * 2)
    # mix's prefix form would also match the other track's chains
    sc = _two("sin 220 >> mul {g}", "mix ~p.. >> mul {g}", pad__p="sin 5", pad__p1="sin 3")
    assert "'..'" in packing_refusal(*sc.tracks)
    assert RenderSession(sc).packing == (("lead",), ("pad",))


# -- errors ---------------------------------------------------------------------------------------------

_FAULTY = "saw 110 >> lpf 1000 1.0 >> onepole {r} >> delayms {ms} >> mul {g}"
_FP = {
    "r": {"kind": "lin", "low": 0, "high": 1},
    "ms": {"kind": "lin", "low": 1, "high": 100},
    "g": {"kind": "lin", "low": 0, "high": 1},
}
_GOOD = {"r": 0.1, "ms": 10, "g": 0.1}
_BAD = {
    "trap": {"ms": 1e8},  # a huge delayms panics the engine
    "non-finite": {"r": -1.0},  # onepole with a negative r grows to inf within a block
    "runaway": {"g": 1e8},  # beyond MAX_AMPLITUDE
}


@pytest.fixture(scope="module")
def faulty():
    return scenario_from_dict(
        {
            "timing": {"steps": 5, "step_seconds": 0.05},
            "tracks": {n: {"chain": _FAULTY, "params": _FP, "reference": _GOOD} for n in ("a", "b", "c")},
        }
    )


def _fail(sc, pack, culprits, bad, at=3, threads=1):
    s = RenderSession(sc, pack=pack, threads=threads)
    for i in range(sc.n_steps):
        v = {t.name: dict(_GOOD, r=0.1 + 0.01 * i) for t in sc.tracks}
        if i == at:
            for c in culprits:
                v[c].update(bad)
        try:
            s.step(i, v)
        except EngineError as e:
            return s, i, e
    raise AssertionError("no error")


@pytest.mark.parametrize("kind", list(_BAD))
@pytest.mark.parametrize("culprits", [("a",), ("b",), ("c",), ("b", "a"), ("b", "c")])
def test_errors_name_the_same_track_values_and_message_packed(faulty, kind, culprits):
    p_session, p_step, p_err = _fail(faulty, True, culprits, _BAD[kind], threads=2)
    u_session, u_step, u_err = _fail(faulty, False, culprits, _BAD[kind])
    # three engines on three threads: a fault on a pool thread is reported the same way
    t_session, t_step, t_err = _fail(faulty, False, culprits, _BAD[kind], threads=3)
    assert t_session.threads == 3 and u_session.threads == 1 and p_session.threads == 2
    assert (t_step, t_err.track, t_err.values, str(t_err)) == (u_step, u_err.track, u_err.values, str(u_err))
    assert type(t_err.__cause__) is type(u_err.__cause__)
    assert p_session.packing == (("a", "b"), ("c",))
    first = min(culprits)  # the first failing track in track order
    assert p_step == u_step == 3
    assert p_err.track == u_err.track == first
    assert (
        p_err.values == u_err.values
        and p_err.values[next(iter(_BAD[kind]))] == _BAD[kind][next(iter(_BAD[kind]))]
    )
    assert str(p_err) == str(u_err)
    assert type(p_err.__cause__) is type(u_err.__cause__)
    assert (p_err.__cause__ is None) == (kind == "runaway")
    with pytest.raises(RuntimeError, match="reset"):
        p_session.step(4, {t.name: _GOOD for t in faulty.tracks})
    # a fresh start plays again, bit-identical to a session that never failed
    p_session.reset()
    clean = RenderSession(faulty, pack=False)
    for i in range(2):
        v = {t.name: _GOOD for t in faulty.tracks}
        np.testing.assert_array_equal(p_session.step(i, v), clean.step(i, v))


# -- snapshot / restore ------------------------------------------------------------------------------


def test_snapshot_restore_packed_is_bit_identical(rng):
    sc = load_scenario("ensemble")
    vals = _random_values(sc, rng, 6)
    cands = _random_values(sc, rng, 3)
    out = {}
    for pack in (True, False):
        s = RenderSession(sc, pack=pack)
        for i, v in enumerate(vals[:4]):
            s.step(i, v)
        state = s.snapshot()
        assert s.valid(state)
        got = []
        for c in [*cands, cands[0]]:
            s.restore(state)
            got.append(np.array(s.step(4, c)))
            got.append(np.array(s.step(5, vals[5])))
        assert len(s.history) == 6 and s.history[4]["bass"] == cands[0]["bass"]
        np.testing.assert_array_equal(got[0], got[-2])
        np.testing.assert_array_equal(got[1], got[-1])
        out[pack] = got
        if pack:
            packed_state = state
        else:
            with pytest.raises(ValueError, match="another session"):
                s.restore(packed_state)  # two engines' state into three
    for a, b in zip(out[True], out[False], strict=True):
        np.testing.assert_array_equal(a, b)


def test_error_after_restore_replays_only_the_restored_history(faulty):
    """The error path replays the history since the last reset, as cut back by restore."""
    for pack in (True, False):
        s = RenderSession(faulty, pack=pack)
        first = {t.name: dict(_GOOD, ms=20) for t in faulty.tracks}
        s.step(0, first)
        state = s.snapshot()
        s.step(1, {t.name: _GOOD for t in faulty.tracks})
        s.step(2, {t.name: _GOOD for t in faulty.tracks})
        s.restore(state)
        bad = {t.name: _GOOD for t in faulty.tracks} | {"b": dict(_GOOD, g=1e8)}
        with pytest.raises(EngineError, match="track 'b' produced runaway audio .* at step 1") as info:
            s.step(1, bad)
        assert info.value.track == "b"


# -- the environment -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "targets"), [("ensemble", "reference"), ("ensemble", "sampled"), ("drums_mix", "reference")]
)
def test_env_rewards_and_observations_equal_with_and_without_packing(name, targets):
    runs = []
    for pack in (True, False):
        env = raveforce_mae.parallel_env(name, targets=targets)
        env.task.pack = pack
        rng = np.random.default_rng(5)
        rec = []
        for episode in range(2):
            obs, _ = env.reset(seed=11 + episode)
            rec.append([obs[a].copy() for a in env.possible_agents])
            while env.agents:
                acts = {
                    a: rng.uniform(-1, 1, env.action_space(a).shape).astype(np.float32) for a in env.agents
                }
                obs, rew, *_ = env.step(acts)
                rec.append([rew[a] for a in env.possible_agents])
                rec.append([obs[a].copy() for a in env.possible_agents])
        assert env.task.session is not None
        runs.append((rec, env.task.session.packing))
    (packed, p_units), (alone, a_units) = runs
    assert len(p_units) < len(a_units)
    assert len(packed) == len(alone)
    for x, y in zip(packed, alone, strict=True):
        for u, v in zip(x, y, strict=True):
            assert np.array_equal(u, v)
