"""Copying an engine gives an independent one in the same state; pickling is refused clearly."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

import glicol_wasm as gw
from glicol_wasm import Engine


@pytest.mark.parametrize("copier", [copy.deepcopy, copy.copy])
def test_copy_continues_bit_identically_and_independently(three_tracks, sine, copier):
    eng = Engine(48000, bpm=97, seed=5)
    eng.load_sample("tone", sine(330, 22050, 0.2), 22050)
    code = three_tracks + "\ns: seq 60 _ 72 _ >> sp \\tone >> mul 0.5"
    eng.set_code(code)
    eng.render(5000)  # leaves frames carried over inside the last block
    twin = copier(eng)
    assert twin is not eng and twin._inst is not eng._inst
    assert (twin.sample_rate, twin.bpm, twin.seed, twin.frames_rendered) == (48000, 97.0, 5, 5000)
    a = [eng.render(20000)]
    b = [twin.render(20000)]
    np.testing.assert_array_equal(a[0], b[0])
    assert np.abs(a[0]).mean() > 1e-3
    # independent: changing one does not change the other
    twin.set_code(code.replace("saw 55", "saw 61"))
    eng.set_code(code.replace("saw 55", "saw 61"))
    a.append(eng.render(7000))
    b.append(twin.render(7000))
    np.testing.assert_array_equal(a[1], b[1])
    twin.set_code("o: sin 440")
    assert not np.array_equal(twin.render(1000), eng.render(1000))


def test_copy_after_code_buffer_growth_and_error_recovery():
    eng = Engine()
    long = "o: sin 440 >> mul 0.5\n" + "// padding\n" * 8000  # over the 64 KiB code buffer
    eng.set_code(long)
    eng.render(300)
    eng.set_code("o: sin 440 >> pan 0.5")  # a trap: rebuilt from history
    with pytest.raises(gw.GlicolTrapError):
        eng.render(300)
    twin = copy.deepcopy(eng)
    np.testing.assert_array_equal(twin.render(5000), eng.render(5000))


def test_copy_of_a_closed_or_dead_engine_stays_unusable_until_reset():
    eng = Engine()
    eng.close()
    twin = copy.deepcopy(eng)
    with pytest.raises(gw.GlicolError, match="closed"):
        twin.render(10)
    twin.reset()
    twin.set_code("o: sin 440")
    assert np.abs(twin.render(4410)).max() > 0.9


def test_copy_is_a_fresh_engine_as_far_as_threads_go():
    eng = Engine()
    with eng._guard:  # held by this thread while copying (as inside a call)
        twin = copy.deepcopy(eng)
    assert twin._guard is not eng._guard


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_pickling_an_engine_raises_a_clear_type_error(protocol):
    with pytest.raises(TypeError) as ei:
        pickle.dumps(Engine(), protocol=protocol)
    msg = str(ei.value)
    assert msg.startswith("a glicol_wasm.Engine cannot be pickled: it owns a native wasm instance")
    assert "copy.deepcopy(engine)" in msg
