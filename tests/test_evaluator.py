"""The batch evaluator pays exactly what the environment pays, one-shot and within a sequence."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import sonic_pi_sample

import raveforce_mae
from raveforce_mae import Evaluator


def _env_rewards(name: str, prefix: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    env = raveforce_mae.parallel_env(name)
    agents = env.possible_agents
    out = []
    for cand in candidates:
        env.reset()
        for step in prefix:
            env.step({a: step[i] for i, a in enumerate(agents)})
        _, rewards, *_ = env.step({a: cand[i] for i, a in enumerate(agents)})
        out.append([rewards[a] for a in agents])
    return np.array(out)


def test_kick_rewards_bit_identical_to_the_env():
    ev = Evaluator("kick")
    rng = np.random.default_rng(0)
    x = rng.uniform(-1.2, 1.2, (24, ev.action_dim)).astype(np.float32)  # some clipped
    got = ev.evaluate(x)
    ref = _env_rewards("kick", np.zeros((0, 1, ev.action_dim)), x[:, None, :])
    assert got.agents.shape == (24, 1) and got.rewards.shape == (24,)
    np.testing.assert_array_equal(got.rewards, ref[:, 0])
    assert np.ptp(got.rewards) > 0.05  # the candidates really differ
    # and again, from the engines' saved state: still the same numbers
    np.testing.assert_array_equal(ev.evaluate(x).rewards, got.rewards)


def test_ensemble_step_after_a_prefix_bit_identical_to_the_env():
    ev = Evaluator("ensemble")
    rng = np.random.default_rng(1)
    prefix = rng.uniform(-1, 1, (3, 3, ev.action_dim)).astype(np.float32)
    cands = rng.uniform(-1, 1, (10, 3, ev.action_dim)).astype(np.float32)
    got = ev.evaluate(cands, step=3, prefix=prefix)
    ref = _env_rewards("ensemble", prefix, cands)
    np.testing.assert_array_equal(got.agents, ref)
    assert np.isfinite(got.tracks).all() and got.mix.shape == (10,)
    # a prefix given as {agent: action} dicts, as a search result holds it
    as_dicts = [{a: p[i] for i, a in enumerate(ev.agents)} for p in prefix]
    np.testing.assert_array_equal(ev.evaluate(cands, prefix=as_dicts).agents, ref)


@pytest.mark.parametrize("name", ["drums_mix", "bassline"])
def test_batched_features_match_the_env(name):
    ev = Evaluator(name)
    rng = np.random.default_rng(2)
    n = len(ev.agents)
    prefix = rng.uniform(-1, 1, (1, n, ev.action_dim))
    cands = rng.uniform(-1, 1, (9, n, ev.action_dim))
    np.testing.assert_array_equal(ev.evaluate(cands, prefix=prefix).agents, _env_rewards(name, prefix, cands))


def test_worker_processes_give_the_same_rewards():
    rng = np.random.default_rng(3)
    x = rng.uniform(-1, 1, (16, 2))
    with Evaluator("kick", workers=2) as ev:
        pooled = ev.evaluate(x).rewards
    np.testing.assert_array_equal(pooled, Evaluator("kick").evaluate(x).rewards)


def test_bad_input_is_named():
    ev = Evaluator("kick")
    with pytest.raises(raveforce_mae.ParameterError, match=r"shape \(N, 2\)"):
        ev.evaluate(np.zeros((3, 5)))
    with pytest.raises(raveforce_mae.ParameterError, match="non-finite"):
        ev.evaluate(np.array([[0.0, np.nan]]))
    with pytest.raises(ValueError, match="earlier steps"):
        ev.evaluate(np.zeros((2, 2)), step=1)
    with pytest.raises(ValueError, match="workers"):
        Evaluator("kick", workers=-1)


def test_sequences_bit_identical_to_the_env():
    ev = Evaluator("drums_mix")
    rng = np.random.default_rng(4)
    prefix = rng.uniform(-1, 1, (2, 2, ev.action_dim))
    seqs = rng.uniform(-1, 1, (4, 3, 2, ev.action_dim))  # 4 candidates of 3 steps
    got = ev.evaluate_sequence(seqs, prefix=prefix)
    assert got.agents.shape == (4, 3, 2) and got.rewards.shape == (4, 3)
    env = raveforce_mae.parallel_env("drums_mix")
    for j, seq in enumerate(seqs):
        env.reset()
        for step in prefix:
            env.step({a: step[i] for i, a in enumerate(env.possible_agents)})
        for i, step in enumerate(seq):
            _, rewards, *_ = env.step({a: step[q] for q, a in enumerate(env.possible_agents)})
            assert [rewards[a] for a in env.possible_agents] == got.agents[j, i].tolist()


def test_joint_search_scores_are_what_the_env_pays():
    """The mix-only search goes through the evaluator: its step scores are the env's rewards."""
    from raveforce_mae.baselines.search import search

    env = raveforce_mae.parallel_env("drums_mix", max_cycles=3)
    sc = env.scenario
    result = search(sc, budget=6, seed=0, optimiser="random")
    env.reset()
    for k in range(3):
        step = {
            a: np.pad(v, (0, env.action_space(a).shape[0] - len(v))).astype(np.float64)
            for a, v in result.actions[k].items()
        }
        _, rewards, *_ = env.step(step)
        assert rewards["kick_0"] == pytest.approx(result.scores[0][k], rel=1e-5)


# -- the mix-only search, looking ahead: beats silence and finds the hits --------------------------


def _play(env, actions) -> float:
    """Mean reward per step and agent of replaying ``actions`` in the env."""
    env.reset()
    total = []
    for step in actions:
        _, rewards, *_ = env.step(step)
        total.append(np.mean(list(rewards.values())))
    return float(np.mean(total))


def _silence(env):
    return [{a: -np.ones(env.action_space(a).shape, np.float32) for a in env.possible_agents}] * (
        env.scenario.n_steps
    )


def _padded(env, result):
    return [
        {a: np.pad(v, (0, env.action_space(a).shape[0] - len(v))).astype(np.float32) for a, v in step.items()}
        for step in result.actions
    ]


def _hits(result, agent: str) -> np.ndarray:
    """Whether each step's hit level (the first parameter, 0..1) is at least 0.25."""
    return np.array([(float(step[agent][0]) + 1) / 2 >= 0.25 for step in result.actions])


def _search_mix_only(sc, budget: int = 20):
    from raveforce_mae.baselines.search import search

    env = raveforce_mae.parallel_env(sc)
    greedy = search(sc, budget=budget, seed=0)
    ahead = search(sc, budget=budget, seed=0, lookahead=1)
    return env, greedy, ahead


@pytest.mark.slow
def test_lookahead_search_on_drums_mix():
    sc = raveforce_mae.load_scenario("drums_mix")
    env, greedy, ahead = _search_mix_only(sc)
    silence = _play(env, _silence(env))
    r_greedy, r_ahead = _play(env, _padded(env, greedy)), _play(env, _padded(env, ahead))
    assert r_ahead > silence + 0.1 and r_ahead >= r_greedy - 1e-6
    truth = np.array([sc.reference[k]["kick"]["level"] >= 0.25 for k in range(sc.n_steps)])
    assert np.mean(_hits(ahead, "kick_0") == truth) >= 0.8


@pytest.mark.slow
def test_lookahead_search_on_a_real_drum_beat(tmp_path):
    """Real recordings (bd_haus, a closed hat) on the grid, mix only: greedy loses to silence, lookahead not."""
    kick_steps, hat_steps = (0, 6, 8, 14), (2, 6, 10, 14)
    sc = _real_beat(tmp_path, kick_steps, hat_steps)
    env, greedy, ahead = _search_mix_only(sc)
    silence = _play(env, _silence(env))
    r_greedy, r_ahead = _play(env, _padded(env, greedy)), _play(env, _padded(env, ahead))
    assert r_ahead > silence > r_greedy  # measured: 0.49 > 0.47 > 0.30
    kick = np.isin(np.arange(16), kick_steps)
    hat = np.isin(np.arange(16), hat_steps)
    assert np.mean(_hits(ahead, "kick_0") == kick) >= 0.9  # measured 16/16
    assert np.mean(_hits(ahead, "hat_0") == hat) >= 0.75  # measured 14/16


def _real_beat(tmp_path, kick_steps, hat_steps):
    """drums_mix with its target replaced by real drum recordings placed on the step grid."""
    import re

    import librosa
    import soundfile as sf

    from raveforce_mae.scenario import load_scenario, scenario_path

    sc = load_scenario("drums_mix")
    kick, _ = librosa.load(sonic_pi_sample("bd_haus.flac"), sr=sc.sample_rate, mono=True)
    hat, _ = librosa.load(sonic_pi_sample("drum_cymbal_closed.flac"), sr=sc.sample_rate, mono=True)
    mix = np.zeros(sc.total_frames + 2 * sc.sample_rate, np.float32)
    for steps, sample, gain in ((kick_steps, kick, 0.8), (hat_steps, hat, 0.5)):
        for k in steps:
            a = sc.bounds[k][0]
            mix[a : a + len(sample)] += gain * sample
    wav = tmp_path / "beat.wav"
    sf.write(wav, mix[: sc.total_frames], sc.sample_rate, subtype="FLOAT")
    text = scenario_path("drums_mix").read_text()
    # the target is the recording alone: no reference performance, no distribution
    text = re.sub(r"\[tracks\.(kick|hat)\.(reference|distribution)\]\n(.*\n)*?(?=\n\[|\Z)", "", text)
    text = text.replace("[targets]\nper_track = false", f'[targets]\nper_track = false\nmix = "{wav}"')
    p = tmp_path / "real_beat.toml"
    p.write_text(text)
    return load_scenario(p)


@pytest.mark.parametrize(
    ("chain", "choices"),
    [
        ("sin 220 >> delayms {d} >> mul 0.3", [10, 20, 100000000, 30, 40, 50]),  # a trap
        ("saw 110 >> lpf 800 {d} >> mul 0.3", [1, 2, 0, 3, 4, 5]),  # NaN
    ],
)
def test_two_candidates_per_engine_pay_and_fail_as_one_per_engine(chain, choices):
    # A one-track scenario renders candidates in pairs (left and right channel of
    # one engine). Rewards are those of one engine per candidate, and a candidate
    # that breaks the engine is reported alone, its partner scored.
    from raveforce_mae.scenario import scenario_from_dict

    sc = scenario_from_dict(
        {
            "timing": {"steps": 2, "step_beats": 0.25},
            "tracks": {
                "lead": {
                    "chain": chain,
                    "params": {"d": {"kind": "choose", "choices": choices}},
                    "reference": {"d": choices[0]},
                }
            },
        }
    )
    u = np.array([[-0.9], [0.9], [-0.2], [0.5], [0.1], [-0.6], [-0.2]])  # -0.2: the faulty choice
    paired, alone = Evaluator(sc), Evaluator(sc)
    alone.pack_candidates = False
    for prefix in (None, np.array([[[0.5]]])):
        a = paired.evaluate(u, prefix=prefix)
        b = alone.evaluate(u, prefix=prefix)
        assert sorted(a.errors) == sorted(b.errors) == [2, 6]
        assert a.errors == b.errors
        np.testing.assert_array_equal(a.agents, b.agents)
        assert (a.rewards[[0, 1, 3, 4, 5]] > 0).all()
    # sequences: a broken candidate does not stop the ones after it
    seq = paired.evaluate_sequence(np.repeat(u[:, None, :], 2, axis=1))
    assert sorted(seq.errors) == [2, 6]
    assert (seq.rewards[[0, 1, 3, 4, 5]] > 0).all() and (seq.rewards[[2, 6]] == 0).all()


def test_candidates_of_a_one_track_scenario_share_engines_bit_identically():
    ev, alone = Evaluator("kick"), Evaluator("kick")
    alone.pack_candidates = False
    x = np.random.default_rng(7).uniform(-1, 1, (15, 2))
    got = ev.evaluate(x)
    assert ev._twin is not None and ev._twin[0].packing == (("kick", "kick2"),)
    np.testing.assert_array_equal(got.agents, alone.evaluate(x).agents)
