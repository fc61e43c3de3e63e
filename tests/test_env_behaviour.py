"""Behaviour of the environments: rewards, bad input, episode ends, audio and patch."""

from __future__ import annotations

import re

import numpy as np
import pytest

import glicol_wasm
import raveforce_mae
from raveforce_mae import ParameterError, ScenarioError

SCENARIOS = raveforce_mae.list_scenarios()


def _play_reference(env):
    sc = env.scenario
    obs, _ = env.reset(seed=0)
    total = {a: 0.0 for a in env.possible_agents}
    shared = []
    step = 0
    while env.agents:
        ref = sc.reference_actions(step % sc.n_steps)
        acts = {}
        for a in env.agents:
            dim = env.action_space(a).shape[0]
            v = np.zeros(dim, np.float32)
            v[: len(ref[a])] = ref[a]
            acts[a] = v
        _, rew, _, _, info = env.step(acts)
        for a in rew:
            total[a] += rew[a]
        shared.append(info[env.possible_agents[0]]["reward_shared"])
        step += 1
    return total, shared


def _play_random(env, seed):
    rng = np.random.default_rng(seed)
    env.reset(seed=seed)
    total = {a: 0.0 for a in env.possible_agents}
    while env.agents:
        acts = {a: rng.uniform(-1, 1, env.action_space(a).shape).astype(np.float32) for a in env.agents}
        _, rew, _, _, _ = env.step(acts)
        for a in rew:
            total[a] += rew[a]
    return total


@pytest.mark.parametrize("name", SCENARIOS)
def test_reference_is_optimal_and_reproduces_target(name):
    env = raveforce_mae.parallel_env(name)
    if env.scenario.reference is None:
        pytest.skip("scenario has no reference performance")
    ref_total, shared = _play_reference(env)
    # the reference reproduces the target exactly, so every step scores the best reward
    audio = env.audio()
    np.testing.assert_array_equal(audio["mix"], env.scenario.targets.mix)
    # every criterion scores identical audio with its best value: 1 (mse: 0)
    best = 0.0 if env.scenario.criteria["mix"] == "mse" else 1.0
    np.testing.assert_allclose(shared, best, atol=1e-9)
    np.testing.assert_allclose(list(ref_total.values()), best * len(shared), atol=1e-6)
    for seed in range(3):
        rnd = _play_random(env, seed)
        for a in env.possible_agents:
            assert rnd[a] < ref_total[a] - 1e-6, (a, rnd[a], ref_total[a])


def test_nan_action_names_agent_and_parameter():
    env = raveforce_mae.parallel_env("ensemble")
    env.reset(seed=0)
    acts = {a: np.zeros(env.action_space(a).shape, np.float32) for a in env.agents}
    acts["kick_0"][0] = np.nan
    track = env.scenario.tracks[1]
    with pytest.raises(ValueError, match=rf"kick_0.*{track.free[0].name}"):
        env.step(acts)
    acts["kick_0"][0] = np.inf
    with pytest.raises(ParameterError):
        env.step(acts)


def test_aec_nan_and_out_of_range(caplog):
    env = raveforce_mae.env("ensemble")
    env.reset(seed=0)
    agent = env.agent_selection
    shape = env.action_space(agent).shape
    with pytest.raises(ValueError, match=agent):
        env.step(np.full(shape, np.nan, np.float32))
    # PettingZoo's clipping wrapper warns through its EnvLogger (the logging module)
    with caplog.at_level("WARNING"):
        env.step(np.full(shape, 5.0, np.float32))
    assert "outside action space" in caplog.text and "clipping" in caplog.text


def test_wrong_shape_and_dtype_say_expected_shape():
    env = raveforce_mae.parallel_env("ensemble")
    env.reset(seed=0)
    shape = env.action_space("bass_0").shape
    acts = {a: np.zeros(shape, np.float32) for a in env.agents}
    acts["bass_0"] = np.zeros(shape[0] + 1, np.float32)
    with pytest.raises(ParameterError, match=re.escape(str(shape))):
        env.step(acts)
    acts["bass_0"] = np.array(["a"] * shape[0])
    with pytest.raises(ParameterError, match="dtype"):
        env.step(acts)


def test_out_of_range_is_clipped_and_reported():
    env = raveforce_mae.parallel_env("ensemble")
    env.reset(seed=0)
    shape = env.action_space("bass_0").shape
    acts = {a: np.full(shape, 3.0, np.float32) for a in env.agents}
    _, _, _, _, info = env.step(acts)
    assert info["bass_0"]["clipped"]
    env2 = raveforce_mae.parallel_env("ensemble")
    env2.reset(seed=0)
    _, _, _, _, info2 = env2.step({a: np.ones(shape, np.float32) for a in env2.agents})
    assert info["bass_0"]["values"] == info2["bass_0"]["values"]
    assert np.array_equal(env.audio()["mix"], env2.audio()["mix"])


def test_step_before_reset_and_after_end():
    env = raveforce_mae.parallel_env("kick")
    with pytest.raises(RuntimeError, match="reset"):
        env.step({})
    env.reset(seed=0)
    while env.agents:
        env.step({a: env.action_space(a).sample() for a in env.agents})
    with pytest.raises(RuntimeError, match="reset"):
        env.step({a: env.action_space(a).sample() for a in env.possible_agents})


def test_bad_override_key():
    with pytest.raises(ScenarioError, match="no_such_key"):
        raveforce_mae.parallel_env("ensemble", no_such_key=1)


def test_infos_carry_parts_and_values():
    env = raveforce_mae.parallel_env("ensemble", shared_weight=0.25)
    env.reset(seed=0)
    acts = {a: env.action_space(a).sample() for a in env.agents}
    _, rew, _, _, info = env.step(acts)
    for t in env.scenario.tracks:
        i = info[t.agent]
        assert set(i["values"]) == {p.name for p in t.params}
        assert i["per_track_available"]
        assert rew[t.agent] == pytest.approx(0.25 * i["reward_shared"] + 0.75 * i["reward_track"])


def test_truncation_at_end_no_early_termination():
    env = raveforce_mae.parallel_env("ensemble")
    env.reset(seed=0)
    n = 0
    while env.agents:
        _, _, term, trunc, _ = env.step({a: env.action_space(a).sample() for a in env.agents})
        n += 1
        assert not any(term.values())
    assert n == env.scenario.n_steps
    assert all(trunc.values())
    assert len(env.audio()["mix"]) == env.scenario.total_frames


def test_merged_patch_renders_the_mix():
    env = raveforce_mae.parallel_env("ensemble")
    env.reset(seed=1)
    rng = np.random.default_rng(1)
    while env.agents:
        env.step({a: rng.uniform(-1, 1, env.action_space(a).shape).astype(np.float32) for a in env.agents})
    text = env.patch()
    from raveforce_mae.timeline import render_timeline

    stereo = render_timeline(text)
    np.testing.assert_allclose(stereo[0], env.audio()["mix"], atol=2e-6)


def test_gym_single_and_fallback():
    kick = raveforce_mae.gym_env("kick")
    assert kick.action_space.shape == (len(kick.scenario.tracks[0].free),)
    ens = raveforce_mae.gym_env("ensemble")
    assert ens.action_space.shape == (sum(len(t.free) for t in ens.scenario.tracks),)
    ens.reset(seed=0)
    _, r, term, trunc, info = ens.step(ens.action_space.sample())
    assert r == info["reward_shared"]
    assert set(info["values"]) == {"bass", "kick", "hat"}


def test_seed_kick_example_runs_unchanged():
    """The 2022 README example, with only the import and the 5-tuple step changed."""
    sr = 44100
    t = np.arange(int(0.5 * sr)) / sr
    target = (np.sin(2 * np.pi * 60 * t) * np.maximum(0, 1 - t / 0.5)).astype(np.float32)
    dur = len(target) / sr

    env = raveforce_mae.make(
        """
     ~env: imp 0.1 >> envperc {} {}
    kick_drum: sin {} >> mul ~env
    """,
        total_step=1,
        step_len=dur,
        target=target,
        action_space=[
            ["lin", 0.0001, dur - 0.0001],
            ["rel", 0, lambda x: dur - 0.0001 - x],  # related to para 0
            ["exp", 10, 10000],
        ],
    )
    observation = env.reset()
    action = env.action_space.sample()
    observation, reward, terminated, truncated, info = env.step(action)
    assert terminated and not truncated
    assert observation.shape == target.shape
    assert reward == pytest.approx(-np.mean((observation - target) ** 2))
    assert np.abs(observation).max() > 0.01
    with pytest.raises(RuntimeError):
        env.step(action)


def test_make_matches_direct_engine_render():
    code = "o: sin {} >> mul {}"
    target = np.zeros(4410, np.float32)
    env = raveforce_mae.make(
        code, target, total_step=2, step_len=0.05, action_space=[["exp", 20, 2000], ["lin", 0, 1]]
    )
    env.reset()
    env.step([440, 0.5])
    obs, *_ = env.step([440, 0.5])
    direct = glicol_wasm.render("o: sin 440 >> mul 0.5", 0.1)[0]
    np.testing.assert_array_equal(obs, direct)


def _uneven_scenario():
    """Two tracks with 1 and 3 parameters, so the shared action space pads one of them."""
    from raveforce_mae.scenario import scenario_from_dict

    return scenario_from_dict(
        {
            "name": "uneven",
            "timing": {"steps": 4, "step_beats": 0.25},
            "tracks": {
                "lead": {
                    "chain": "saw {freq} >> lpf {cutoff} 1.0 >> mul {amp}",
                    "params": {
                        "freq": {"kind": "exp", "low": 100, "high": 800},
                        "cutoff": {"kind": "exp", "low": 200, "high": 5000},
                        "amp": {"kind": "lin", "low": 0.05, "high": 0.5},
                    },
                    "reference": {"freq": 220, "cutoff": 1000, "amp": 0.2},
                },
                "drone": {
                    "chain": "sin {freq} >> mul 0.2",
                    "params": {"freq": {"kind": "exp", "low": 40, "high": 200}},
                    "reference": {"freq": 55},
                },
            },
        }
    )


def test_padding_is_ignored_and_native_spaces_are_exact():
    sc = _uneven_scenario()
    env = raveforce_mae.parallel_env(sc)
    assert env.action_space("drone_0").shape == (3,) == env.action_space("lead_0").shape
    audios = []
    for pad in (-1.0, 0.3, 1.0):
        env.reset(seed=0)
        acts = {"lead_0": np.zeros(3, np.float32), "drone_0": np.array([0.1, pad, pad], np.float32)}
        env.step(acts)
        audios.append(env.audio()["mix"].copy())
    assert np.array_equal(audios[0], audios[1]) and np.array_equal(audios[0], audios[2])
    nat = raveforce_mae.parallel_env(sc, native_spaces=True)
    assert nat.action_space("drone_0").shape == (1,)
    assert nat.action_space("lead_0").shape == (3,)
    nat.reset(seed=0)
    nat.step({"lead_0": np.zeros(3, np.float32), "drone_0": np.array([0.1], np.float32)})
    np.testing.assert_array_equal(nat.audio()["mix"], audios[0])


def test_episode_end_terminate_or_truncate():
    kick = raveforce_mae.parallel_env("kick")  # end = "terminate": a one-shot sound match
    kick.reset(seed=0)
    _, _, term, trunc, _ = kick.step({"kick_0": np.zeros(kick.action_space("kick_0").shape, np.float32)})
    assert term == {"kick_0": True} and trunc == {"kick_0": False}
    looped = raveforce_mae.parallel_env("kick", max_cycles=3)  # past the scenario's end: truncation
    looped.reset(seed=0)
    for _ in range(3):
        _, _, term, trunc, _ = looped.step({"kick_0": np.zeros(2, np.float32)})
    assert term == {"kick_0": False} and trunc == {"kick_0": True}
    with pytest.raises(ScenarioError, match=r"timing\.end"):
        raveforce_mae.parallel_env("kick", end="stop")


def test_mix_only_target_gives_shared_reward_and_says_per_track_is_unavailable():
    env = raveforce_mae.parallel_env("drums_mix", shared_weight=0.25)  # the weight cannot apply
    assert not env.scenario.targets.per_track_available
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    _, rew, _, _, info = env.step(
        {a: rng.uniform(-1, 1, env.action_space(a).shape).astype(np.float32) for a in env.agents}
    )
    for a in env.possible_agents:
        assert info[a]["per_track_available"] is False
        assert info[a]["reward_track"] is None
        assert rew[a] == info[a]["reward_shared"]  # w = 1


def test_aec_renders_once_the_last_agent_has_acted():
    env = raveforce_mae.env("ensemble")
    env.reset(seed=0)
    frames = []
    for agent in env.agent_iter(len(env.possible_agents) * 2):
        env.step(np.zeros(env.action_space(agent).shape, np.float32))
        frames.append(len(env.unwrapped.audio()["mix"]))
    step = env.unwrapped.scenario.bounds[0][1]
    # nothing renders until the third (last) agent of each step has acted
    assert frames[:3] == [0, 0, step]
    assert frames[3:5] == [step, step] and frames[5] > step


def test_step_before_reset_and_after_end_in_aec_and_gym():
    aec = raveforce_mae.env("kick")
    with pytest.raises(Exception, match="reset"):  # PettingZoo's OrderEnforcingWrapper
        aec.step(np.zeros(2, np.float32))
    gym_kick = raveforce_mae.gym_env("kick")
    with pytest.raises(RuntimeError, match="reset"):
        gym_kick.step(np.zeros(2, np.float32))
    gym_kick.reset(seed=0)
    _, _, term, _, _ = gym_kick.step(np.zeros(2, np.float32))
    assert term
    with pytest.raises(RuntimeError, match="reset"):
        gym_kick.step(np.zeros(2, np.float32))


def test_rgb_array_shows_mix_and_each_stem_beside_its_target():
    env = raveforce_mae.parallel_env("ensemble", render_mode="rgb_array")
    _play_reference(env)  # the reference performance reproduces the targets exactly
    img = env.render()
    n = 1 + len(env.scenario.tracks)  # rows: mix, then each track
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
    assert img.shape[0] == n * 64 + (n - 1) * 4
    half = (img.shape[1] - 4) // 2
    rendered, target = img[:, :half], img[:, half + 4 :]
    np.testing.assert_array_equal(rendered, target)  # rendered audio == target: same pictures
    assert rendered.std() > 10  # and they are not blank
    env.reset(seed=0)
    img0 = env.render()
    assert not np.array_equal(img0[:, :half], img0[:, half + 4 :])  # nothing played yet


def test_errors_are_importable_from_the_package():
    import glicol_wasm

    assert raveforce_mae.GlicolError is glicol_wasm.GlicolError
    assert issubclass(raveforce_mae.ScenarioError, raveforce_mae.RaveforceError)


def test_make_refuses_what_the_envs_refuse():
    """make() builds a scenario, so bad code, sub-block steps and a zero sample rate fail at once."""
    from raveforce_mae import ParameterError, ScenarioError

    t = np.zeros(4410, np.float32)
    spec = [["exp", 20, 2000]]
    with pytest.raises(ParameterError, match="sample_rate"):
        raveforce_mae.make(
            "o: sin {} >> mul 0.5", t, total_step=2, step_len=0.05, action_space=spec, sample_rate=0
        )
    with pytest.raises(ParameterError, match="step_len must be at least one engine block, 128 frames"):
        raveforce_mae.make("o: sin {} >> mul 0.5", t, total_step=2, step_len=1e-6, action_space=spec)
    with pytest.raises(ScenarioError, match="engine accepts"):
        raveforce_mae.make("o: sinx {} >> mul 0.5", t, total_step=2, step_len=1e-6 + 0.05, action_space=spec)


def test_make_observations_stay_in_their_space_on_legal_actions():
    t = np.zeros(4410, np.float32)
    env = raveforce_mae.make(
        "o: sin {} >> mul {}",
        t,
        total_step=2,
        step_len=0.05,
        action_space=[["exp", 20, 2000], ["lin", 0, 10]],
    )
    obs, _ = env.reset()
    assert env.observation_space.contains(obs)
    obs, r, *_ = env.step([440, 10])  # ten times full scale: legal, and still inside the space
    assert env.observation_space.contains(obs) and np.abs(obs).max() > 9
    assert r == pytest.approx(-np.mean(obs.astype(np.float64) ** 2), rel=1e-5)
