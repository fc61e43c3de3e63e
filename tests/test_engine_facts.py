"""Facts about this Glicol build that the project relies on, measured from audio.

Each test here backs one statement of docs/engine.md. Several talk to a raw wasm
instance (:class:`glicol_wasm._abi.Instance`), below the :class:`~glicol_wasm.Engine`
that hides these behaviours, to show that the behaviour is the engine's own.
"""

from __future__ import annotations

import numpy as np
import pytest

import glicol_wasm as gw
from glicol_wasm._abi import BLOCK, Instance
from glicol_wasm._module import compiled


def _render(code: str, frames: int = 44100, sr: int = 44100, **kw: float) -> np.ndarray:
    eng = gw.Engine(sr, **kw)
    eng.set_code(code)
    return eng.render(frames)


def _amplitude(x: np.ndarray, freq: float, sr: int) -> float:
    """Amplitude of the sinusoid at ``freq`` (a whole number of cycles is not needed)."""
    n = x.size
    w = np.hanning(n)
    spec = np.fft.rfft(x * w)
    k = int(round(freq * n / sr))
    return float(2 * np.abs(spec[k - 2 : k + 3]).max() / w.sum())


def _raw(code: str | None = None, sr: int = 44100) -> Instance:
    inst = Instance(compiled(), sr, 120.0, 42.0)
    if code is not None:
        inst.render_blocks(1, code.encode())
    return inst


# -- build and ABI ----------------------------------------------------------------------------


def test_exports_are_the_raw_c_abi_of_npm_glicol_0_4_0():
    exports = {e.name: e.type for e in compiled().glicol.exports}
    funcs = {
        name: ([str(p) for p in t.params], [str(r) for r in t.results])
        for name, t in exports.items()
        if hasattr(t, "params")
    }
    assert funcs == {
        "alloc": (["i32"], ["i32"]),
        "alloc_uint8array": (["i32"], ["i32"]),
        "process": (["i32"] * 4, []),
        "add_sample": (["i32"] * 6, []),
        "update": (["i32"] * 2, []),
        "send_msg": (["i32"] * 2, []),
        "live_coding_mode": (["i32"], []),
        "set_bpm": (["f32"], []),
        "set_track_amp": (["f32"], []),
        "set_sr": (["f32"], []),
        "set_seed": (["f32"], []),
        "reset": ([], []),
    }
    assert [(i.module, i.name) for i in compiled().glicol.imports] == [("env", "now")]


def test_result_buffer_layout_and_only_in_the_applying_block():
    inst = _raw("o: sin 440")
    _, res, failed = inst.render_blocks(3, b"o: sin")
    assert failed == 0 and res is not None
    assert res[0] == 1 and res[1] == 0  # code 1 (parse), then a zero byte, then ASCII
    assert res[2:].rstrip(b"\x00") == b"pos[3], line[1], col[4], positives[node], negatives[]"
    assert len(res) == 256
    # the next block reports nothing, and the old graph keeps playing silently
    blocks, res2, _ = inst.render_blocks(2, None)
    assert res2 is None and np.abs(blocks).max() > 0.5


@pytest.mark.parametrize(
    "code, expected",
    [
        ("o: seq 60 >> sp \\nosuch", (2, "cannot use this non-exist samples \\nosuch")),
        ("o: sin 440 >> mul ~nope", (3, "cannot use this non-exist reference ~nope")),
    ],
)
def test_error_codes_2_and_3(code, expected):
    _, res, _ = _raw("o: sin 440").render_blocks(1, code.encode())
    assert res is not None
    assert (res[0], res[2:].rstrip(b"\x00").decode()) == expected


def test_after_a_trap_every_call_traps():
    inst = _raw("o: sin 440")
    with pytest.raises(gw._abi.Trap):
        inst.render_blocks(1, b"o: sin 440 >> pan 0.5")
    with pytest.raises(gw._abi.Trap):
        inst.render_blocks(1, b"o: sin 440")


# -- determinism ----------------------------------------------------------------------------

FOUR = "a: sin 220 >> mul 0.3\nb: saw 110 >> mul 0.2\nc: squ 330 >> mul 0.1\nd: tri 55 >> mul 0.4"


def test_engine_reset_export_changes_the_summation_order_of_three_or_more_chains():
    """Why Engine.reset() builds a fresh instance instead of calling the engine's reset."""
    for code, identical in ((FOUR, False), ("o: sin 220 >> mul 0.3", True)):
        fresh = _raw()
        a, _, _ = fresh.render_blocks(300, code.encode())
        inst = _raw("o: saw 99")
        inst.call("reset")
        inst.call("live_coding_mode", 0)  # reset turns live-coding mode back on
        inst.last_code = None
        b, _, _ = inst.render_blocks(300, code.encode())
        assert np.array_equal(a, b) is identical
        assert np.abs(a - b).max() < 1e-6  # only the rounding of the sum differs


# -- sample rate, bpm ---------------------------------------------------------------------------


def test_sample_rate_must_be_set_before_the_graph_is_built():
    inst = _raw("o: sin 440", sr=44100)
    inst.call("set_sr", 48000.0)
    blocks, _, _ = inst.render_blocks(400, None)
    x = blocks.transpose(1, 0, 2).reshape(2, -1)[0]
    spec = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    peak = np.argmax(spec) * 48000 / x.size
    assert abs(peak - 440 * 48000 / 44100) < 2.0  # 478.9 Hz: the node kept its old rate


def test_hpf_assumes_44100_while_lpf_follows_the_sample_rate():
    """The same normalised frequency gives the same hpf gain at 22050 and 44100 Hz."""

    def gain(node: str, freq: float, sr: int) -> float:
        x = _render(f"o: sin {freq} >> {node}", 2 * sr, sr)[0, sr:]  # steady state
        return _amplitude(x, freq, sr)

    hpf_44, hpf_22 = gain("hpf 8000 1.0", 4000, 44100), gain("hpf 8000 1.0", 2000, 22050)
    assert abs(hpf_44 / hpf_22 - 1) < 0.01
    lpf_44, lpf_22 = gain("lpf 2000 1.0", 4000, 44100), gain("lpf 2000 1.0", 2000, 22050)
    assert lpf_22 / lpf_44 > 3  # at 22050 Hz, 2000 Hz is the cutoff, not an octave above


def test_bpm_sets_seq_timing():
    x = _render("o: seq 60 60", 130000, bpm=90.0)[0]
    assert np.flatnonzero(x).tolist() == [0, 58800, 117600]  # half a bar = 2 beats at 90 bpm


# -- output conventions and nodes that misbehave -------------------------------------------------


def test_lpf_passband_gain_is_0_75():
    x = _render("o: sin 100 >> lpf 8000 1.0", 2 * 44100)[0, 44100:]
    assert _amplitude(x, 100, 44100) == pytest.approx(0.75, abs=0.01)


def test_mono_nodes_write_only_the_left_channel():
    env = _render("o: imp 2 >> envperc 0.001 0.2")
    assert np.abs(env[0]).max() == pytest.approx(1.0, abs=0.01) and not env[1].any()
    sine = _render("o: sin 440")  # a mono chain at the output is copied to both channels
    np.testing.assert_array_equal(sine[0], sine[1])


def test_no_clipping_on_the_output_bus():
    x = _render("a: sin 441\nb: sin 441", 4410)
    assert np.abs(x).max() == pytest.approx(2.0, abs=1e-3)
    assert _render("o: sig 100", 128)[0, -1] == 100.0


def test_envperc_fires_once_when_created():
    eng = gw.Engine()
    eng.set_code("o: sin 440 >> mul 0.5")
    eng.render(BLOCK * 10)
    eng.set_code("o: sin 440 >> mul ~e\n~e: sig 0 >> envperc 0.001 0.05")  # never triggered
    x = eng.render(44100)[0]
    assert np.abs(x[:2000]).max() > 0.5 and np.abs(x[10000:]).max() == 0.0
