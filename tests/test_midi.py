from __future__ import annotations

import hashlib
import warnings

import pytest

mido = pytest.importorskip("mido")

from raveforce_mae.errors import ScenarioError  # noqa: E402
from raveforce_mae.midi import MidiFolder, midi_reference, note_name, read_notes, write_midi  # noqa: E402
from raveforce_mae.params import note_number  # noqa: E402

LINE = ["A1", "A1", "A2", "A1", "C2", "A1", "G2", "A1", "F1", "F1", "F2", "F1", "G1", "G1", "G2", "E2"]
GRID = {"steps": 16, "step_beats": 0.25}


def _file(path, notes, *, tpb=480, bpm=120, extra_tracks=()):
    """A type-1 file from (onset_tick, length_tick, note[, velocity[, channel]]) tuples."""
    mf = mido.MidiFile(type=1, ticks_per_beat=tpb)
    meta = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm), time=0)])
    mf.tracks.append(meta)
    for tr_notes in (notes, *extra_tracks):
        ev = []
        for n in tr_notes:
            t0, ln, note = n[:3]
            vel = n[3] if len(n) > 3 else 100
            ch = n[4] if len(n) > 4 else 0
            ev.append((t0, 1, mido.Message("note_on", note=note, velocity=vel, channel=ch)))
            ev.append((t0 + ln, 0, mido.Message("note_off", note=note, velocity=0, channel=ch)))
        ev.sort(key=lambda e: (e[0], e[1]))
        tr, last = mido.MidiTrack(), 0
        for t, _, m in ev:
            tr.append(m.copy(time=t - last))
            last = t
        mf.tracks.append(tr)
    mf.save(path)
    return path


def test_note_name():
    assert [note_name(n) for n in (33, 60, 40, 61)] == ["A1", "C4", "E2", "C#4"]
    assert all(note_number(note_name(n)) == n for n in range(0, 128))


def test_round_trip_16_step_line(tmp_path):
    p = write_midi(LINE, tmp_path / "riff.mid", bpm=120, step_beats=0.25)
    ref = midi_reference(p, **GRID, low="E1", high="E3")
    assert ref == {"note": [note_number(n) for n in LINE], "level": [1.0] * 16}
    # the file holds exactly 16 notes of one step (120 ticks) each
    notes = read_notes(p)
    assert [n.note for n in notes] == [note_number(n) for n in LINE]
    assert all(n.end - n.start == 0.25 for n in notes)


def test_round_trip_with_rests_and_levels(tmp_path):
    notes = ["E1", None, "G1", "G1", None, None, "B1", "D2"] * 2
    levels = [1.0 if n else 0.0 for n in notes]
    levels[2] = 0.5
    p = write_midi(notes, tmp_path / "r.mid", 120, 0.25, levels=levels, gate=0.5)
    ref = midi_reference(p, **GRID, level="velocity")
    want_notes = [28, 28, 31, 31, 31, 31, 35, 38] * 2
    assert ref["note"] == want_notes  # a rest holds the previous note
    assert ref["level"][:8] == [1.0, 0.0, round(64 / 127, 6), 1.0, 0.0, 0.0, 1.0, 1.0]
    hold = midi_reference(p, **GRID, rest="hold")
    assert hold == {"note": want_notes}


def test_leading_rest_takes_the_first_note(tmp_path):
    p = write_midi([None, None, "C2", "D2"], tmp_path / "l.mid", 120, 0.25)
    ref = midi_reference(p, steps=4, step_beats=0.25)
    assert ref == {"note": [36, 36, 36, 38], "level": [0.0, 0.0, 1.0, 1.0]}


def test_quantises_off_grid_onsets(tmp_path):
    # a step is 120 ticks; humanised onsets up to 59 ticks (< half a step) early or late
    jitter = [0, 17, -23, 41, -59, 59, 5, -1, 30, -30, 12, -12, 50, -50, 0, 8]
    events = [
        (max(0, i * 120 + j), 100, note_number(n)) for i, (n, j) in enumerate(zip(LINE, jitter, strict=True))
    ]
    p = _file(tmp_path / "h.mid", events)
    ref = midi_reference(p, **GRID, sustain=False)
    assert ref["note"] == [note_number(n) for n in LINE]
    assert ref["level"] == [1.0] * 16


def test_nearest_step_and_half_way(tmp_path):
    # onset 61 ticks past step 2 -> step 3; exactly half-way (60) -> the later step
    p = _file(tmp_path / "n.mid", [(0, 60, 40), (2 * 120 + 61, 30, 43), (5 * 120 + 60, 30, 45)])
    ref = midi_reference(p, steps=8, step_beats=0.25, sustain=False)
    assert ref["level"] == [1, 0, 0, 1, 0, 0, 1, 0]
    assert ref["note"] == [40, 40, 40, 43, 43, 43, 45, 45]


def test_sustain_fills_held_steps(tmp_path):
    # a dotted-eighth (3 steps) then a quarter (4 steps)
    p = _file(tmp_path / "s.mid", [(0, 360, 33), (480, 480, 36)])
    on = midi_reference(p, steps=8, step_beats=0.25)
    assert on == {"note": [33, 33, 33, 33, 36, 36, 36, 36], "level": [1, 1, 1, 0, 1, 1, 1, 1]}
    off = midi_reference(p, steps=8, step_beats=0.25, sustain=False)
    assert off["level"] == [1, 0, 0, 0, 1, 0, 0, 0]


def test_offset_shifts_the_grid(tmp_path):
    p = write_midi(["A1", "C2", "D2", "E2"] * 2, tmp_path / "o.mid", 120, 0.25)
    with pytest.warns(
        UserWarning, match="4 note\\(s\\) outside the 4-step grid left out \\(first: A1 at step -4\\)"
    ):
        ref = midi_reference(p, steps=4, step_beats=0.25, offset=1.0)  # start at beat 1 = step 4
    assert ref["note"] == [33, 36, 38, 40]
    with pytest.warns(UserWarning, match="4 note\\(s\\) outside the 4-step grid"):
        midi_reference(p, steps=4, step_beats=0.25)


def test_clock_beats_ignores_the_file_tempo_seconds_uses_it(tmp_path):
    # saved at 60 bpm: a step of 0.25 beats is 0.25 s in the file, 0.125 s at 120 bpm
    p = write_midi(["A1", "C2", "D2", "E2"], tmp_path / "t.mid", bpm=60, step_beats=0.25)
    beats = midi_reference(p, steps=4, step_beats=0.25)
    assert beats["level"] == [1, 1, 1, 1]
    secs = midi_reference(p, steps=8, step_beats=0.25, bpm=120, clock="seconds", sustain=False)
    assert secs["level"] == [1, 0, 1, 0, 1, 0, 1, 0]
    assert secs["note"] == [33, 33, 36, 36, 38, 38, 40, 40]
    # the same with step_seconds (kick.toml-style grids)
    assert midi_reference(p, steps=8, step_seconds=0.125, sustain=False) == secs


def test_overlap_rules(tmp_path):
    # a chord at step 0 (A1 + E2 + A2), single notes after
    p = _file(tmp_path / "c.mid", [(0, 120, 45), (0, 120, 33), (0, 120, 40), (120, 120, 36)])
    with pytest.warns(
        UserWarning, match="2 note\\(s\\) dropped .*kept the lowest; first dropped: E2 at step 0"
    ):
        assert midi_reference(p, steps=2, step_beats=0.25)["note"] == [33, 36]
    with pytest.warns(UserWarning, match="kept the highest"):
        assert midi_reference(p, steps=2, step_beats=0.25, overlap="highest")["note"] == [45, 36]
    with pytest.raises(ScenarioError, match="step 0 has 3 notes \\(A1, E2, A2\\)"):
        midi_reference(p, steps=2, step_beats=0.25, overlap="error")


def test_out_of_range_note_is_named(tmp_path):
    p = write_midi(["A1", "C2", "A4", "E2"], tmp_path / "x.mid", 120, 0.25)
    with pytest.raises(
        ScenarioError,
        match=r"x\.mid: note A4 \(MIDI 69\) at step 2 is outside the parameter's range E1\.\.E3 \(MIDI 28\.\.52\)",
    ):
        midi_reference(p, steps=4, step_beats=0.25, low="E1", high="E3")
    # transposed down two octaves it fits
    ref = midi_reference(p, steps=4, step_beats=0.25, low=4, high="E3", transpose=-24)
    assert ref["note"] == [9, 12, 45, 16]


def test_no_notes_and_unreadable(tmp_path):
    empty = _file(tmp_path / "e.mid", [])
    with pytest.raises(ScenarioError, match="e.mid: the file has no notes"):
        midi_reference(empty, **GRID)
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"not a midi file at all")
    with pytest.raises(ScenarioError, match="bad.mid: cannot read as a MIDI file"):
        midi_reference(bad, **GRID)
    late = write_midi([None] * 20 + ["A1"], tmp_path / "late.mid", 120, 0.25)
    with (
        pytest.warns(UserWarning),
        pytest.raises(ScenarioError, match="no note starts within the 16-step grid"),
    ):
        midi_reference(late, **GRID)


def test_track_and_channel_selection(tmp_path):
    bass = [(i * 120, 120, 33 + i) for i in range(4)]
    drums = [(i * 240, 60, 36, 100, 9) for i in range(2)] + [(0, 60, 42, 100, 8)]
    p = _file(tmp_path / "multi.mid", bass, extra_tracks=[drums])
    with pytest.raises(
        ScenarioError, match=r"several tracks have notes \(1 '' \(4 notes\), 2 '' \(3 notes\)\)"
    ):
        read_notes(p)
    assert [n.note for n in read_notes(p, track=1)] == [33, 34, 35, 36]
    with pytest.raises(ScenarioError, match=r"track 2 has notes on channels \[8, 9\]"):
        read_notes(p, track=2)
    assert [n.note for n in read_notes(p, track=2, channel=9)] == [36, 36]
    with pytest.raises(ScenarioError, match="no notes on channel 3"):
        read_notes(p, track=2, channel=3)
    with pytest.raises(ScenarioError, match="track 7 does not exist"):
        read_notes(p, track=7)
    named = write_midi(["A1"], tmp_path / "named.mid", 120, 0.25, track_name="bass")
    assert [n.note for n in read_notes(named, track="bass")] == [33]


def test_bad_arguments(tmp_path):
    p = write_midi(LINE, tmp_path / "riff.mid", 120, 0.25)
    with pytest.raises(ScenarioError, match="rest: expected 'level'"):
        midi_reference(p, **GRID, rest="silence")
    with pytest.raises(ScenarioError, match="exactly one of step_beats and step_seconds"):
        midi_reference(p, steps=16)
    with pytest.raises(ScenarioError, match="overlap: expected"):
        midi_reference(p, **GRID, overlap="middle")
    with pytest.raises(ValueError, match="not a whole number of ticks"):
        write_midi(LINE, tmp_path / "y.mid", 120, 0.001, ticks_per_beat=96)
    with pytest.raises(ValueError, match="levels: expected 16"):
        write_midi(LINE, tmp_path / "y.mid", 120, 0.25, levels=[1.0])


def _bucket(name: str, k: int) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big") % k


def test_midi_folder_split(tmp_path):
    names = [f"riff_{i:02d}.mid" for i in range(20)]
    for i, name in enumerate(names):
        write_midi([33 + (i % 12), 36, 38, 40], tmp_path / name, 120, 0.25)
    (tmp_path / "notes.txt").write_text("not a midi file")
    mf = MidiFolder(tmp_path, steps=4, step_beats=0.25)
    test = [f.name for f in mf.split("test")]
    train = [f.name for f in mf.split("train")]
    assert test == sorted(n for n in names if _bucket(n, 5) == 0)
    assert train == sorted(n for n in names if _bucket(n, 5) != 0)
    assert test and train and not set(test) & set(train) and len(test) + len(train) == 20
    k = names.index(train[3])
    assert mf.reference("train", 3) == {"note": [33 + (k % 12), 36, 38, 40], "level": [1.0] * 4}
    with pytest.raises(ScenarioError, match="train index expected 0"):
        mf.reference("train", len(train))
    # adding a file moves no other file between splits
    write_midi(["A1"], tmp_path / "zz_new.mid", 120, 0.25)
    mf2 = MidiFolder(tmp_path, steps=4, step_beats=0.25)
    assert set(test) <= {f.name for f in mf2.split("test")}
    with pytest.raises(ScenarioError, match="holds no .mid file"):
        MidiFolder(_emptydir(tmp_path))


def _emptydir(tmp_path):
    d = tmp_path / "empty"
    d.mkdir()
    return d


def test_write_rejects_nothing_silently(tmp_path):
    with pytest.raises(ValueError, match="outside MIDI 0..127"):
        write_midi([200], tmp_path / "z.mid", 120, 0.25)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        write_midi(LINE, tmp_path / "ok.mid", 120, 0.25)


def test_midi_line_renders_bit_identical_to_the_reference(tmp_path):
    # bassline's own line written as MIDI, read back and combined with the reference
    # cutoffs, gives the scenario's target audio bit for bit
    import numpy as np

    from raveforce_mae.scenario import load_scenario, scenario_from_dict, scenario_path

    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib

    with open(scenario_path("bassline"), "rb") as f:
        data = tomllib.load(f)
    line = data["tracks"]["bass"]["reference"]["note"]
    p = write_midi(line, tmp_path / "bassline.mid", bpm=120, step_beats=0.25)
    block = midi_reference(p, steps=16, step_beats=0.25, low="E1", high="E3", rest="hold")
    data["tracks"]["bass"]["reference"] = {**data["tracks"]["bass"]["reference"], **block}
    from_midi = scenario_from_dict(data, path=scenario_path("bassline"))
    ref = load_scenario("bassline")
    assert np.array_equal(from_midi.targets.mix, ref.targets.mix)
    assert np.abs(ref.targets.mix).mean() > 1e-3
    # and a different line is not
    block["note"] = block["note"][1:] + block["note"][:1]
    data["tracks"]["bass"]["reference"].update(block)
    assert not np.array_equal(
        scenario_from_dict(data, path=scenario_path("bassline")).targets.mix, ref.targets.mix
    )
