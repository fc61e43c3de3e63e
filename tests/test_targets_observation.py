"""The default observation lets an agent hear what was played: linear probes on it.

A policy cannot copy a line it cannot hear. These tests fit a linear model on the
observation returned after step t and ask it, on held-out steps, what was played at
step t: the note of ``bassline`` (25 notes), the hit (or not) and its level on
``drums``.
"""

from __future__ import annotations

import numpy as np
import pytest

import raveforce_mae as rm

pytest.importorskip("sklearn")


def _hz_to_midi(hz: float) -> int:
    return int(round(69 + 12 * np.log2(hz / 440.0)))


@pytest.mark.slow
def test_a_linear_probe_names_the_played_note_of_bassline() -> None:
    from sklearn.linear_model import LogisticRegression

    env = rm.parallel_env("bassline")
    rng = np.random.default_rng(0)
    x, y = [], []
    for ep in range(48):
        env.reset(seed=ep)
        while env.agents:
            obs, _, _, _, infos = env.step({"bass_0": rng.uniform(-1, 1, 2).astype(np.float32)})
            x.append(obs["bass_0"])
            y.append(_hz_to_midi(env.last_values["bass"]["note"]))
    x_arr, y_arr = np.array(x), np.array(y)
    n = len(x_arr) * 3 // 4
    assert len(set(y_arr[n:])) >= 20  # the held-out steps cover the range (25 notes)
    probe = LogisticRegression(max_iter=3000).fit(x_arr[:n], y_arr[:n])
    accuracy = float((probe.predict(x_arr[n:]) == y_arr[n:]).mean())
    assert accuracy >= 0.9, accuracy
    # the semitone blocks carry it: the mel blocks alone do not
    lay = env.task._observer.layout
    mel = np.r_[lay["own"][0], lay["mix"][0]]
    probe_mel = LogisticRegression(max_iter=3000).fit(x_arr[:n, mel], y_arr[:n])
    assert float((probe_mel.predict(x_arr[n:, mel]) == y_arr[n:]).mean()) < accuracy - 0.3


@pytest.mark.slow
def test_a_linear_probe_hears_drum_hits_and_their_level() -> None:
    """Performances drawn from the drums distribution (hit patterns, levels, decays),
    played by replaying each sampled target."""
    from sklearn.linear_model import LogisticRegression, Ridge

    env = rm.parallel_env("drums", targets="sampled")
    x: dict[str, list] = {a: [] for a in env.possible_agents}
    level: dict[str, list] = {a: [] for a in env.possible_agents}
    for ep in range(60):
        env.reset(seed=ep)
        while env.agents:
            obs, _, _, _, infos = env.step(env.reference_actions(env.step_count))
            for a in env.possible_agents:
                x[a].append(obs[a])
                level[a].append(env.last_values[a.rsplit("_", 1)[0]]["level"])
    for a in env.possible_agents:
        xa, la = np.array(x[a]), np.array(level[a])
        n = len(xa) * 3 // 4
        hit = (la > 0).astype(int)
        assert 0.1 < hit[n:].mean() < 0.9  # both classes are held out
        clf = LogisticRegression(max_iter=3000).fit(xa[:n], hit[:n])
        accuracy = float((clf.predict(xa[n:]) == hit[n:]).mean())
        assert accuracy >= 0.95, (a, accuracy)
        reg = Ridge(alpha=1e-2).fit(xa[:n], la[:n])
        r2 = float(reg.score(xa[n:], la[n:]))
        assert r2 >= 0.8, (a, r2)


@pytest.mark.slow
def test_a_linear_probe_names_the_coming_target_note_of_unseen_lines() -> None:
    """What a copying policy needs: the note to play next, read from the observation,
    on test lines after fitting on train lines."""
    from sklearn.linear_model import LogisticRegression

    def collect(split: str, episodes: int) -> tuple[np.ndarray, np.ndarray]:
        env = rm.parallel_env("bassline", targets="sampled", split=split)
        x, y = [], []
        for ep in range(episodes):
            obs, _ = env.reset(seed=ep) if split == "train" else env.reset(options={"target": ep})
            notes = env.task.target.blocks["bass"]["note"]
            for step in range(16):
                x.append(obs["bass_0"])
                y.append(int(notes[step]))
                obs, _, _, _, _ = env.step({"bass_0": np.zeros(2, np.float32)})
        return np.array(x), np.array(y)

    x_train, y_train = collect("train", 48)
    x_test, y_test = collect("test", 16)
    probe = LogisticRegression(max_iter=3000).fit(x_train, y_train)
    accuracy = float((probe.predict(x_test) == y_test).mean())
    assert accuracy >= 0.9, accuracy
