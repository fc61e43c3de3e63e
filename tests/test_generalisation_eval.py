"""The evaluation of examples/train_generalisation.py: notes and hits correct, gap closed."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import raveforce_mae

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
try:
    import train_generalisation as gen
finally:
    sys.path.pop(0)

TARGETS = range(3)


def test_reference_closes_the_whole_gap_and_random_plays_notes_at_chance() -> None:
    base = gen.baselines("bassline", TARGETS)
    ref, rnd = base["reference"], base["random"]
    assert ref["notes_correct"] == 1.0
    assert ref["return"] == pytest.approx(16.0)  # reward 1 at each of the 16 steps
    assert gen.gap(ref, base) == pytest.approx(1.0)
    assert gen.gap(rnd, base) == pytest.approx(0.0)
    # 25 notes: chance is 4%; 48 steps allow a few lucky ones, not a fifth
    assert rnd["notes_correct"] < 0.2
    assert 0.0 < rnd["return"] < 12.0


def _note_policy(offset: int) -> Any:
    """Discrete bassline policy that reads the target's note (+offset semitones)."""

    def act(env: Any, step: int, obs: dict) -> dict:
        note = int(env.task.target.blocks["bass"]["note"][step])
        # index i of the note parameter plays E1 + i (MIDI 28 + i)
        idx = min(max(note - 28 + offset, 0), 24)
        return {a: np.array([idx, 5]) for a in env.agents}

    return act


def test_notes_are_counted_from_what_the_discrete_policy_played() -> None:
    env = raveforce_mae.parallel_env("bassline", targets="sampled", split="test", action_type="discrete")
    exact = gen.evaluate(env, _note_policy(0), TARGETS)
    assert exact["notes_correct"] == 1.0
    assert exact["correct"] == 1.0
    # a semitone off is a wrong note, whatever the cutoff
    off = gen.evaluate(env, _note_policy(1), TARGETS)
    assert off["notes_correct"] <= 3 / 48  # only where the line sits at E3 and the index is clipped
    assert off["return"] < exact["return"] < 16.0  # the fixed cutoff costs some reward


def test_drum_hits_and_levels_are_scored_against_the_target_pattern() -> None:
    base = gen.baselines("drums", TARGETS)
    ref = base["reference"]
    assert ref["hits_correct"] == 1.0
    assert ref["level_error"] < 1e-6
    assert ref["return"] == pytest.approx(16.0)
    assert "notes_correct" not in ref
    # a silent policy (u = -1 plays level 0) is right exactly on the target's rests
    env = raveforce_mae.parallel_env("drums", targets="sampled", split="test")
    silent = gen.evaluate(env, lambda e, s, o: {a: np.full(2, -1.0, np.float32) for a in e.agents}, TARGETS)
    rests, levels = [], []
    for k in TARGETS:
        env.reset(options={"target": k})
        for t in ("kick", "hat"):
            lv = np.asarray(env.task.target.blocks[t]["level"], float)
            rests.extend(lv == 0)
            levels.extend(lv)
    assert silent["hits_correct"] == pytest.approx(np.mean(rests))
    assert silent["level_error"] == pytest.approx(np.mean(levels), abs=1e-6)
    assert 0.0 < np.mean(rests) < 1.0  # the patterns have both hits and rests
    # random levels are almost all hits: right on the target's hits only, about half
    assert abs(base["random"]["hits_correct"] - (1 - np.mean(rests))) < 0.1


def test_the_nearest_index_ceiling_plays_every_note_and_leaves_the_cutoff_grid_gap() -> None:
    base = gen.baselines("bassline", TARGETS)
    env = raveforce_mae.parallel_env("bassline", targets="sampled", split="test", action_type="discrete")
    every = gen.evaluate(env, gen.nearest_act(11), TARGETS)
    notes = gen.evaluate(env, gen.nearest_act(11, only="note"), TARGETS)
    assert every["notes_correct"] == notes["notes_correct"] == 1.0  # notes have one index each
    # 11 cutoffs from 100 to 4000 Hz miss the target's cutoff by up to 20%: not the whole gap
    assert 0.6 < gen.gap(every, base) < 0.95
    assert gen.gap(notes, base) < gen.gap(every, base) - 0.2  # the middle cutoff costs more
