from __future__ import annotations

import math
import statistics

import pytest

from raveforce_mae.distributions import (
    SCALES,
    Stream,
    TargetSampler,
    TargetSplits,
    hash_partition,
    scale_notes,
    stream_for,
)
from raveforce_mae.errors import ScenarioError
from raveforce_mae.params import Param

BASS = {"note": Param("note", "note", 28, 52), "cutoff": Param("cutoff", "exp", 100, 4000)}
DRUM = {"level": Param("level", "lin", 0, 1), "tune": Param("tune", "exp", 35, 110)}
PARAMS = {"bass": BASS, "kick": DRUM, "hat": {"level": Param("level", "lin", 0, 1)}}

BASS_SPEC = {
    "note": {"kind": "notes", "key": "A", "scale": "minor", "max_leap": 7, "repeat": 0.25},
    "cutoff": {"kind": "range", "low": 200, "high": 2400, "max_step": 0.3},
}
KICK_SPEC = {
    "level": {"kind": "hits", "p": [0.9, 0.05, 0.1, 0.05], "level": [0.7, 1.0]},
    "tune": {"kind": "range", "hold": True},
}


# -- the generator ---------------------------------------------------------------------------


def _splitmix64_reference(state: int, n: int) -> list[int]:
    # written out independently of the module, from the published algorithm
    out = []
    m = (1 << 64) - 1
    for _ in range(n):
        state = (state + 0x9E3779B97F4A7C15) & m
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & m
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & m
        out.append(z ^ (z >> 31))
    return out


def test_splitmix64_matches_the_published_vector():
    # SplitMix64 from seed 1234567 (the test vector of Vigna's splitmix64.c / xoshiro seeding)
    s = Stream()
    s.state = 1234567
    got = [s.next_u64() for _ in range(5)]
    assert got == [
        6457827717110365317,
        3203168211198807973,
        9817491932198370423,
        4593380528125082431,
        16408922859458223821,
    ]
    assert got == _splitmix64_reference(1234567, 5)


def test_stream_key_is_sha256_of_the_documented_bytes():
    import hashlib

    key = b"raveforce-mae/targets/v1\x00s:bassline\x00s:train\x00i:7"
    s = stream_for("bassline", "train", 7)
    assert s.state == int.from_bytes(hashlib.sha256(key).digest()[:8], "big")
    first = [s.next_u64() for _ in range(3)]
    assert first == _splitmix64_reference(int.from_bytes(hashlib.sha256(key).digest()[:8], "big"), 3)


def test_stream_pinned_values():
    s = Stream("bassline", "train", 0)
    assert [s.next_u64() for _ in range(3)] == PINNED_U64
    s = Stream("bassline", "train", 0)
    assert [s.random() for _ in range(3)] == [(v >> 11) / 2**53 for v in PINNED_U64]


def test_stream_type_matters_and_keys_differ():
    assert Stream("a", 1).state != Stream("a", "1").state
    assert Stream("a", 1).state != Stream("a", 2).state
    with pytest.raises(TypeError):
        Stream(1.5)  # type: ignore[arg-type]


def test_below_is_uniform_and_bounded():
    s = Stream("below")
    n = 7
    counts = [0] * n
    for _ in range(70_000):
        v = s.below(n)
        counts[v] += 1
    # each count ~ Binomial(70000, 1/7): sd ~ 92, allow 5 sd
    assert all(abs(c - 10_000) < 460 for c in counts), counts
    with pytest.raises(ValueError):
        s.below(0)


def test_hash_partition_is_sha256_mod():
    import hashlib

    for name in ("001_acid", "riff.mid", ""):
        h = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big")
        assert hash_partition(name.encode(), 5) == h % 5


# -- scales ----------------------------------------------------------------------------------


def test_scale_notes():
    assert scale_notes("A", "minor", 45, 57) == [45, 47, 48, 50, 52, 53, 55, 57]
    assert scale_notes("C", "major", 60, 72) == [60, 62, 64, 65, 67, 69, 71, 72]
    assert scale_notes("E", "minor pentatonic", 40, 52) == [40, 43, 45, 47, 50, 52]
    assert scale_notes("Bb", "mixolydian", 58, 70) == [58, 60, 62, 63, 65, 67, 68, 70]
    assert len(scale_notes("F#", "chromatic", 0, 11)) == 12
    assert {
        "major",
        "minor",
        "dorian",
        "mixolydian",
        "pentatonic_major",
        "pentatonic_minor",
        "chromatic",
    } <= set(SCALES)
    with pytest.raises(ValueError, match="unknown scale"):
        scale_notes("A", "lydian dominant", 0, 12)
    with pytest.raises(ValueError, match="unknown key"):
        scale_notes("H", "minor", 0, 12)


# -- sampling: statistics ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def bass_samples():
    sp = TargetSampler({"bass": BASS_SPEC}, PARAMS, 16)
    return [sp.sample(Stream("stats", i))["bass"] for i in range(2000)]


def test_notes_in_scale_range_and_leap(bass_samples):
    pool = set(scale_notes("A", "minor", 28, 52))
    for t in bass_samples:
        notes = t["note"]
        assert len(notes) == 16 and all(isinstance(n, int) for n in notes)
        assert set(notes) <= pool
        assert max(abs(a - b) for a, b in zip(notes, notes[1:], strict=False)) <= 7


def test_repeat_probability(bass_samples):
    pairs = [(a, b) for t in bass_samples for a, b in zip(t["note"], t["note"][1:], strict=False)]
    rate = sum(a == b for a, b in pairs) / len(pairs)
    # 30000 transitions; sd of the rate ~0.0025
    assert abs(rate - 0.25) < 0.015, rate


def test_every_scale_note_is_reached(bass_samples):
    seen = {n for t in bass_samples for n in t["note"]}
    assert seen == set(scale_notes("A", "minor", 28, 52))


def test_exp_range_is_log_uniform_and_walk_bounded(bass_samples):
    firsts = [t["cutoff"][0] for t in bass_samples]
    assert all(200 <= v <= 2400 for t in bass_samples for v in t["cutoff"])
    # log-uniform: the median is the geometric mean of the bounds (693), not the midpoint (1300)
    med = statistics.median(firsts)
    assert abs(math.log(med / math.sqrt(200 * 2400))) < 0.08, med
    # a quarter of the draws below the log-quarter point
    q = 200 * (2400 / 200) ** 0.25
    assert abs(sum(v < q for v in firsts) / len(firsts) - 0.25) < 0.03
    # the walk: one step moves at most 0.3 of the log-range
    span = math.log(2400 / 200)
    steps = [
        abs(math.log(b / a)) / span
        for t in bass_samples
        for a, b in zip(t["cutoff"], t["cutoff"][1:], strict=False)
    ]
    assert max(steps) <= 0.3 + 1e-5
    assert max(steps) > 0.25  # and it does move


def test_lin_range_is_uniform():
    sp = TargetSampler({"kick": {"level": {"kind": "range", "low": 0.2, "high": 0.6}}}, PARAMS, 4)
    vals = [v for i in range(3000) for v in sp.sample(Stream("lin", i))["kick"]["level"]]
    assert min(vals) >= 0.2 and max(vals) <= 0.6
    assert abs(statistics.median(vals) - 0.4) < 0.01
    assert abs(statistics.mean(vals) - 0.4) < 0.005


def test_hit_probabilities_and_levels():
    sp = TargetSampler({"kick": KICK_SPEC}, PARAMS, 16)
    runs = [sp.sample(Stream("hits", i))["kick"] for i in range(3000)]
    for step, p in enumerate([0.9, 0.05, 0.1, 0.05] * 4):
        rate = sum(r["level"][step] > 0 for r in runs) / len(runs)
        sd = math.sqrt(p * (1 - p) / len(runs))
        assert abs(rate - p) < 5 * sd + 1e-9, (step, rate, p)
    hits = [v for r in runs for v in r["level"] if v > 0]
    assert min(hits) >= 0.7 and max(hits) <= 1.0
    assert all(v == 0.0 for r in runs for v in r["level"] if v <= 0)
    # hold: one tune per episode, log-uniform over the whole 35..110
    tunes = [r["tune"] for r in runs]
    assert all(len(set(t)) == 1 for t in tunes)
    assert abs(math.log(statistics.median(t[0] for t in tunes) / math.sqrt(35 * 110))) < 0.05


def test_choose_hits_and_fixed():
    params = {"kick": {"hit": Param("hit", "choose", choices=(0, 1))}, "bass": BASS}
    sp = TargetSampler(
        {
            "kick": {"hit": {"kind": "hits", "p": [1, 0]}},
            "bass": {"note": {"kind": "fixed", "value": "A1"}, "cutoff": {"kind": "fixed", "value": 800}},
        },
        params,
        8,
    )
    t = sp.sample(Stream("x"))
    assert t["kick"]["hit"] == [1.0, 0.0] * 4
    assert t["bass"] == {"note": [33] * 8, "cutoff": [800.0] * 8}


def test_rests_set_level_zero_and_hold_the_note():
    params = {"bass": {**BASS, "level": Param("level", "lin", 0, 1)}}
    spec = {"bass": {"note": {"kind": "notes", "key": "E", "scale": "dorian", "repeat": 0.0, "rest": 0.3}}}
    sp = TargetSampler(spec, params, 16)
    rests = total = 0
    for i in range(1000):
        t = sp.sample(Stream("rest", i))["bass"]
        assert set(t) == {"note", "level"}
        for j, lv in enumerate(t["level"]):
            assert lv in (0.0, 1.0)
            if lv == 0.0 and j > 0:
                assert t["note"][j] == t["note"][j - 1]  # a rest holds the note
        # repeat = 0: consecutive sounding notes always move
        sounding = [n for n, lv in zip(t["note"], t["level"], strict=True) if lv > 0]
        assert all(a != b for a, b in zip(sounding, sounding[1:], strict=False))
        rests += t["level"].count(0.0)
        total += 16
    assert abs(rests / total - 0.3) < 0.02


def test_sample_is_deterministic_and_seed_dependent():
    sp = TargetSampler({"bass": BASS_SPEC, "kick": KICK_SPEC}, PARAMS, 16)
    a = sp.sample(Stream("d", 1))
    assert a == sp.sample(Stream("d", 1))
    assert a != sp.sample(Stream("d", 2))


def test_pinned_sample():
    # exact values: these only change if the documented algorithm changes
    sp = TargetSampler({"bass": BASS_SPEC, "kick": KICK_SPEC}, PARAMS, 16)
    t = sp.sample(stream_for("ensemble", "train", 0))
    assert t == PINNED_SAMPLE


# -- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ({"bass": {"note": {"kind": "melody"}}}, r"tracks\.bass\.distribution\.note\.kind: expected one of"),
        ({"bass": {"note": {"kind": "notes", "scale": "minor"}}}, r"note\.key: expected a key"),
        (
            {"bass": {"note": {"kind": "notes", "key": "A", "scale": "klingon"}}},
            r"note\.scale: expected one of .*'klingon'",
        ),
        (
            {"bass": {"note": {"kind": "notes", "key": "X", "scale": "minor"}}},
            r"note\.key: expected a note letter.*'X'",
        ),
        (
            {"bass": {"note": {"kind": "notes", "key": "A", "scale": "minor", "low": "A0"}}},
            r"note\.low: expected a value within the parameter's range 28\.\.52, got 21",
        ),
        (
            {"bass": {"note": {"kind": "notes", "key": "A", "scale": "minor", "repeat": 1.5}}},
            r"note\.repeat: expected a probability in \[0, 1\], got 1\.5",
        ),
        (
            {"bass": {"note": {"kind": "notes", "key": "C", "scale": "pentatonic_major", "max_leap": 1}}},
            r"note\.max_leap: expected a leap that reaches",
        ),
        (
            {"bass": {"note": {"kind": "notes", "key": "A", "scale": "minor", "rest": 0.2}}},
            r"note\.rest_param: expected a level parameter",
        ),
        (
            {"bass": {"note": {"kind": "notes", "key": "A", "scale": "minor", "tempo": 3}}},
            r"note\.tempo: expected one of the keys",
        ),
        (
            {"bass": {"cutoff": {"kind": "range", "low": 50}}},
            r"cutoff\.low: expected a value within the parameter's range 100\.\.4000, got 50",
        ),
        ({"bass": {"cutoff": {"kind": "range", "scale": "log"}}}, r"cutoff\.scale: expected 'lin'"),
        ({"bass": {"cutoff": {"kind": "range", "max_step": 0}}}, r"cutoff\.max_step: expected a fraction"),
        (
            {"bass": {"cutoff": {"kind": "notes", "key": "A", "scale": "minor"}}},
            r"cutoff: expected a 'note' .* 'exp'",
        ),
        ({"bass": {"cutoff": {"kind": "hits", "p": 0.5}}}, r"cutoff: expected a parameter that can be 0"),
        (
            {"kick": {"level": {"kind": "hits", "p": [0.5, 0.5, 0.5]}}},
            r"level\.p: expected a list of 16 .*got 'a list of 3'",
        ),
        ({"kick": {"level": {"kind": "hits", "p": [0.5, -0.1]}}}, r"level\.p\[1\]: expected a probability"),
        (
            {"kick": {"level": {"kind": "hits", "p": 0.5, "level": [0, 1]}}},
            r"level\.level: expected levels > 0",
        ),
        (
            {"kick": {"tune": {"kind": "fixed", "value": 200}}},
            r"tune\.value: expected a value of parameter 'tune'",
        ),
        (
            {"drums": {"level": {"kind": "fixed", "value": 1}}},
            r"tracks\.drums\.distribution: expected a track of the scenario",
        ),
        (
            {"kick": {"decay": {"kind": "fixed", "value": 1}}},
            r"kick\.distribution\.decay: expected a parameter of track 'kick'",
        ),
        ({"kick": {"level": "hits"}}, r"level: expected a table"),
    ],
)
def test_bad_specs_name_key_value_and_expectation(spec, match):
    with pytest.raises(ScenarioError, match=match):
        TargetSampler(spec, PARAMS, 16, where="x.toml")


def test_error_carries_the_file():
    with pytest.raises(ScenarioError, match=r"^x\.toml: tracks\.bass"):
        TargetSampler({"bass": {"note": {"kind": "?"}}}, PARAMS, 16, where="x.toml")


def test_rel_parameters_cannot_be_drawn():
    params = {"k": {"a": Param("a", "lin", 0, 1), "d": Param("d", "rel", expr="1 - a")}}
    with pytest.raises(ScenarioError, match="'rel' and is computed"):
        TargetSampler({"k": {"d": {"kind": "range"}}}, params, 1)


# -- splits ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ensemble_splits():
    sp = TargetSampler({"bass": BASS_SPEC, "kick": KICK_SPEC}, PARAMS, 16)
    return TargetSplits(sp, "ensemble")


def test_test_split_is_fixed_distinct_and_test(ensemble_splits):
    ts = ensemble_splits.test_set()
    assert len(ts) == 64
    idents = {ensemble_splits.sampler.identity(t) for t in ts}
    assert len(idents) == 64
    assert all(ensemble_splits.is_test(t) for t in ts)
    again = TargetSplits(ensemble_splits.sampler, "ensemble")
    assert again.test(5) == ensemble_splits.test(5) and again.test(63) == ts[63]
    # another scenario name: another test set
    other = TargetSplits(ensemble_splits.sampler, "ensemble2")
    assert other.test(0) != ts[0]


def test_train_never_produces_a_test_tune(ensemble_splits):
    test_ids = {ensemble_splits.sampler.identity(t) for t in ensemble_splits.test_set()}
    train = [ensemble_splits.train(i) for i in range(5000)]
    ids = [ensemble_splits.sampler.identity(t) for t in train]
    assert not test_ids & set(ids)
    assert not any(ensemble_splits.is_test(t) for t in train)
    # and the train targets are varied: (nearly) all distinct tunes
    assert len(set(ids)) == 5000


def test_train_determinism(ensemble_splits):
    assert ensemble_splits.train(123) == ensemble_splits.train(123)
    assert ensemble_splits.train(123) != ensemble_splits.train(124)
    assert ensemble_splits.get("train", 2**64 - 1) == ensemble_splits.train(2**64 - 1)
    with pytest.raises(ValueError):
        ensemble_splits.train(-1)
    with pytest.raises(ValueError):
        ensemble_splits.test(64)
    with pytest.raises(ValueError):
        ensemble_splits.get("valid", 0)


def test_identity_ignores_levels_and_cutoffs_of_a_tune():
    sp = TargetSampler({"bass": BASS_SPEC, "kick": KICK_SPEC}, PARAMS, 16)
    t = sp.sample(Stream("i"))
    u = {
        "bass": {**t["bass"], "cutoff": [1000.0] * 16},
        "kick": {**t["kick"], "level": [v and 0.5 for v in t["kick"]["level"]]},
    }
    assert sp.identity(t) == sp.identity(u)
    u["bass"]["note"] = [t["bass"]["note"][0] + 1] + t["bass"]["note"][1:]
    assert sp.identity(t) != sp.identity(u)


def test_continuous_only_identity_uses_values():
    params = {
        "kick": {"attack": Param("attack", "lin", 0.0001, 0.4999), "freq": Param("freq", "exp", 10, 10000)}
    }
    sp = TargetSampler({"kick": {"attack": {"kind": "range"}, "freq": {"kind": "range"}}}, params, 1)
    splits = TargetSplits(sp, "kick")
    assert len(splits.test_set()) == 64
    assert not any(splits.is_test(splits.train(i)) for i in range(500))


def test_too_few_tunes_for_a_test_split():
    params = {"kick": {"hit": Param("hit", "choose", choices=(0, 1))}}
    sp = TargetSampler({"kick": {"hit": {"kind": "hits", "p": 0.5}}}, params, 2)  # 4 tunes
    with pytest.raises(ScenarioError, match="distinct test tunes"):
        TargetSplits(sp, "tiny", n_test=64).test_set()


PINNED_U64 = [11752489530525143136, 17583794729189028349, 2597496812933873824]
PINNED_SAMPLE = {
    "bass": {
        "note": [45, 38, 36, 38, 38, 31, 36, 43, 38, 40, 43, 38, 33, 33, 31, 31],
        "cutoff": [
            870.052,
            1823.64,
            2242.74,
            1947.37,
            1255.15,
            1734.53,
            2222.38,
            1247.57,
            1297.24,
            851.052,
            1246.35,
            1474.57,
            1558.01,
            1410.04,
            1482.65,
            803.53,
        ],
    },
    "kick": {
        "level": [
            0.8134,
            0.0,
            0.0,
            0.0,
            0.801599,
            0.0,
            0.0,
            0.0,
            0.824362,
            0.0,
            0.0,
            0.0,
            0.729161,
            0.0,
            0.0,
            0.0,
        ],
        "tune": [109.061] * 16,
    },
}


# -- the proposed distributions of the built-in scenarios (docs/targets.md) ----------------------


def _doc_proposals() -> dict[str, dict]:
    import re
    from pathlib import Path

    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib

    text = (Path(__file__).parent.parent / "docs" / "targets.md").read_text()
    section = text.split("### Proposed distributions of the built-in scenarios", 1)[1].split("\n## ", 1)[0]
    out = {}
    for m in re.finditer(r"#### (.+?)\n\n```toml\n(.*?)```", section, re.S):
        spec = {t: v["distribution"] for t, v in tomllib.loads(m.group(2))["tracks"].items()}
        for name in m.group(1).split(" and "):
            out[name.strip()] = spec
    return out


def test_builtin_proposals_cover_every_scenario():
    from raveforce_mae.scenario import list_scenarios

    assert set(_doc_proposals()) == set(list_scenarios())


@pytest.mark.parametrize("name", ["bassline", "drums", "drums_mix", "ensemble", "kick", "drum_loop"])
def test_builtin_proposals(name):
    from raveforce_mae.scenario import load_scenario

    sc = load_scenario(name)
    params = {t.name: {p.name: p for p in t.params} for t in sc.tracks}
    specs = _doc_proposals()[name]
    # every free parameter of every track has a spec: the whole performance is drawn
    assert {t: set(s) for t, s in specs.items()} == {t.name: {p.name for p in t.free} for t in sc.tracks}
    splits = TargetSplits(TargetSampler(specs, params, sc.n_steps, where=name), name)
    assert len(splits.test_set()) == 64
    assert not any(splits.is_test(splits.train(i)) for i in range(200))


def _toml(name: str) -> dict:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    from raveforce_mae.scenario import scenario_path

    with open(scenario_path(name), "rb") as f:
        return tomllib.load(f)


@pytest.mark.parametrize("name", ["bassline", "drum_loop"])
def test_a_drawn_target_is_a_reference_block_the_loader_renders(name):
    # the sampler's output, given as [tracks.X.reference], loads and renders: the same form
    import numpy as np

    from raveforce_mae.scenario import load_scenario, scenario_from_dict, scenario_path

    sc = load_scenario(name)
    params = {t.name: {p.name: p for p in t.params} for t in sc.tracks}
    target = TargetSplits(TargetSampler(_doc_proposals()[name], params, sc.n_steps), name).test(0)
    data = _toml(name)
    for t, block in target.items():
        data["tracks"][t]["reference"] = block
    drawn = scenario_from_dict(data, path=scenario_path(name))
    assert drawn.targets.kind == "reference"
    assert np.abs(drawn.targets.mix).mean() > 1e-3
    assert not np.array_equal(drawn.targets.mix, sc.targets.mix)
    for i in range(sc.n_steps):
        for t, block in target.items():
            for pname, vals in block.items():
                got = drawn.reference[i][t][pname]
                want = vals[i]
                if params[t][pname].kind == "note":  # played in Hz
                    want = 440.0 * 2 ** ((want - 69) / 12)
                assert abs(got - want) <= 1e-6 * max(1.0, abs(want)), (t, pname, i, got, want)


def test_a_key_list_draws_one_key_per_episode():
    spec = {"bass": {"note": {"kind": "notes", "key": ["A", "E"], "scale": "minor", "repeat": 0.1}}}
    sp = TargetSampler(spec, PARAMS, 16)
    a_minor, e_minor = set(scale_notes("A", "minor", 28, 52)), set(scale_notes("E", "minor", 28, 52))
    in_a = in_e = 0
    for i in range(2000):
        notes = set(sp.sample(Stream("keys", i))["bass"]["note"])
        assert notes <= a_minor or notes <= e_minor
        # A minor has F (29, 41), E minor F# (30, 42): never both in one line
        has_f, has_fs = bool(notes & {29, 41}), bool(notes & {30, 42})
        assert not (has_f and has_fs)
        in_a += has_f
        in_e += has_fs
    assert in_a > 500 and in_e > 500 and abs(in_a - in_e) / (in_a + in_e) < 0.1


def test_sampler_and_splits_pickle():
    import pickle

    sp = TargetSampler({"bass": BASS_SPEC, "kick": KICK_SPEC}, PARAMS, 16, where="x")
    splits = TargetSplits(sp, "ensemble")
    again = pickle.loads(pickle.dumps(splits))
    assert again.train(3) == splits.train(3) and again.test(1) == splits.test(1)
