"""Seeds reach the engine exactly (0..2**24) or are refused; only ``choose`` uses them."""

from __future__ import annotations

import numpy as np
import pytest

import glicol_wasm as gw
from glicol_wasm import MAX_SEED, Engine

# `choose` picks one of its values per 128-frame block from the engine's seeded RNG
CHOOSE = "o: saw 100 >> mul ~a\n~a: choose 1 2 3 4 5 6 7 8 9"


def _choose(seed: int) -> np.ndarray:
    eng = Engine(seed=seed)
    eng.set_code(CHOOSE)
    return eng.render(128 * 64)


@pytest.mark.parametrize(
    "a, b",
    [(0, 1), (0, MAX_SEED), (MAX_SEED - 1, MAX_SEED), (1, MAX_SEED - 1), (0, 256), (0, 65536), (42, 43)],
)
def test_distinct_seeds_in_range_give_distinct_choose_renders(a, b):
    ra, rb = _choose(a), _choose(b)
    assert np.abs(ra).mean() > 0.1  # not silent
    assert not np.array_equal(ra, rb)


def test_same_seed_same_render_and_reset_seed_applies():
    np.testing.assert_array_equal(_choose(MAX_SEED), _choose(MAX_SEED))
    eng = Engine(seed=7)
    eng.reset(seed=MAX_SEED)
    eng.set_code(CHOOSE)
    np.testing.assert_array_equal(eng.render(128 * 64), _choose(MAX_SEED))
    assert eng.seed == MAX_SEED


@pytest.mark.parametrize("seed", [-1, -(2**31), MAX_SEED + 1, 2**32, 2**63, np.int64(-5)])
def test_seeds_that_would_collide_are_refused(seed):
    """Before: a negative seed played like 0, and 2**24 + 1 like 2**24."""
    with pytest.raises(ValueError) as ei:
        Engine(seed=seed)
    msg = str(ei.value)
    assert msg.startswith(f"seed must be within 0..16777216 (2**24), got {int(seed)}")
    with pytest.raises(ValueError, match=f"got {int(seed)}"):
        Engine().reset(seed=seed)
    with pytest.raises(ValueError, match="seed must be within"):
        gw.render("o: sin 440", 0.01, seed=seed)


def test_seed_does_not_change_noise_or_oscillators():
    """Only `choose` reads the engine seed: `noise` takes its seed from its argument."""
    code = "o: noise 7 >> mul 0.3\nb: saw 110 >> lpf 900 1.0 >> mul 0.2"
    outs = []
    for seed in (0, 1, MAX_SEED):
        eng = Engine(seed=seed)
        eng.set_code(code)
        outs.append(eng.render(8192))
    np.testing.assert_array_equal(outs[0], outs[1])
    np.testing.assert_array_equal(outs[0], outs[2])


def test_check_seed_accepts_numpy_integers():
    assert gw.check_seed(np.int64(MAX_SEED)) == MAX_SEED
    assert type(gw.check_seed(np.uint32(3))) is int
    with pytest.raises(TypeError, match="scenario seed must be an int"):
        gw.check_seed(1.0, "scenario seed")
