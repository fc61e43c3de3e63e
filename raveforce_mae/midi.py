"""MIDI files as target performances: read a note line onto a step grid, and write one.

:func:`midi_reference` reads one track/channel of a Standard MIDI File, quantises each
note's onset to the nearest step and returns the track's reference block,
``{"note": [MIDI numbers], "level": [...]}``, the form of a
``[tracks.<name>.reference]`` table. :func:`write_midi` writes a step line as a MIDI
file. :class:`MidiFolder` makes a folder of ``.mid`` files into an indexed, split
distribution of note lines.

Quantisation rules (also in ``docs/targets.md``):

- **Time.** With ``clock="beats"`` (the default when the grid is in beats) note
  positions are read in beats from the file's ticks, so a riff keeps its rhythm at the
  scenario's tempo whatever tempo the file was saved at. With ``clock="seconds"``
  positions are the file's absolute times (its tempo map) and the grid is in seconds.
- **Onsets.** A note belongs to the step whose start is nearest its onset, after
  subtracting ``offset`` (half-way rounds to the later step). Notes that fall before
  step 0 or after the last step are left out, with a warning.
- **Sustain.** With ``sustain=True`` (default) a note also fills the following steps
  up to the step nearest its end (the synth retriggers at every step: a held note is
  played again). With ``sustain=False`` only its onset step has it.
- **Collisions.** Several notes on one step (a chord, an overlap): ``overlap="lowest"``
  (default, right for a bass), ``"highest"``, ``"first"`` (earliest onset), or
  ``"error"``; a warning names what was dropped.
- **Rests.** A step with no note is a rest. ``rest="level"``: the level parameter is
  0 and the note holds the previous note (before the first note: the first note).
  ``rest="hold"``: for tracks without a level: the previous note is held (and, as the
  synth retriggers, played again).
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from .distributions import hash_partition
from .errors import ScenarioError
from .params import note_number

__all__ = ["MidiNote", "read_notes", "quantise", "midi_reference", "write_midi", "MidiFolder", "note_name"]

_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def note_name(midi: int) -> str:
    """The name of a MIDI note number (60 -> ``"C4"``, 33 -> ``"A1"``)."""
    return f"{_NAMES[midi % 12]}{midi // 12 - 1}"


def _mido() -> Any:
    try:
        import mido
    except ImportError:  # pragma: no cover - depends on the install
        raise ImportError("MIDI targets need the 'mido' package: pip install 'raveforce-mae[midi]'") from None
    return mido


@dataclass(frozen=True)
class MidiNote:
    """One note of a MIDI file.

    Attributes:
        note: MIDI note number (0..127).
        velocity: Note-on velocity (1..127).
        start: Onset, in beats (quarter notes) from the start of the file.
        end: Release, in beats.
        start_s: Onset in seconds (the file's tempo map).
        end_s: Release in seconds.
        channel: MIDI channel (0..15).
        track: Index of the file's track.
    """

    note: int
    velocity: int
    start: Fraction
    end: Fraction
    start_s: float
    end_s: float
    channel: int
    track: int


def read_notes(
    path: str | os.PathLike[str], *, track: int | str | None = None, channel: int | None = None
) -> list[MidiNote]:
    """The notes of one track and channel of a MIDI file, sorted by onset then pitch.

    Args:
        path: A Standard MIDI File (type 0 or 1).
        track: Index or name of the track; ``None``: the only track with notes.
        channel: MIDI channel 0..15; ``None``: the only channel with notes in the track.

    Returns:
        The notes (a note-on with velocity 0 counts as a note-off; a note never
        released ends at the end of the file).

    Raises:
        ScenarioError: if the file cannot be read, has no notes, or the track or
            channel is ambiguous or unknown (the message lists what the file has).
    """
    mido = _mido()
    p = Path(path)
    try:
        mf = mido.MidiFile(p)
    except (OSError, ValueError, EOFError, KeyError, IndexError) as e:
        raise ScenarioError(f"{p}: cannot read as a MIDI file ({e})") from None
    if mf.type == 2:
        raise ScenarioError(
            f"{p}: MIDI type 2 (independent sequences) is not supported; expected type 0 or 1"
        )
    tpb = mf.ticks_per_beat
    # the tempo map is in track 0 for type 1 files (and in the only track for type 0)
    tempos: list[tuple[int, int]] = [(0, 500000)]
    for tr in mf.tracks[:1] if mf.type == 1 else mf.tracks:
        t = 0
        for msg in tr:
            t += msg.time
            if msg.type == "set_tempo":
                tempos.append((t, msg.tempo))
    tempos.sort(key=lambda x: x[0])

    def seconds(tick: int) -> float:
        s, last_t, tempo = 0.0, 0, 500000
        for t, tp in tempos:
            if t >= tick:
                break
            s += (t - last_t) * tempo / (1e6 * tpb)
            last_t, tempo = t, tp
        return s + (tick - last_t) * tempo / (1e6 * tpb)

    per_track: list[list[MidiNote]] = []
    for ti, tr in enumerate(mf.tracks):
        t = 0
        on: dict[tuple[int, int], list[tuple[int, int]]] = {}
        notes: list[MidiNote] = []
        for msg in tr:
            t += msg.time
            if msg.type == "note_on" and msg.velocity > 0:
                on.setdefault((msg.channel, msg.note), []).append((t, msg.velocity))
            elif msg.type in ("note_off", "note_on"):
                stack = on.get((msg.channel, msg.note))
                if stack:
                    t0, vel = stack.pop(0)
                    notes.append(_note(msg.note, vel, t0, t, tpb, seconds, msg.channel, ti))
        for (ch, n), stack in on.items():
            for t0, vel in stack:
                notes.append(_note(n, vel, t0, t, tpb, seconds, ch, ti))
        per_track.append(notes)
    with_notes = [i for i, ns in enumerate(per_track) if ns]
    names = [tr.name for tr in mf.tracks]
    listing = ", ".join(f"{i} {names[i]!r} ({len(per_track[i])} notes)" for i in with_notes)
    if not with_notes:
        raise ScenarioError(f"{p}: the file has no notes")
    if track is None:
        if len(with_notes) > 1:
            raise ScenarioError(f"{p}: several tracks have notes ({listing}); choose one with track=")
        ti = with_notes[0]
    elif isinstance(track, str):
        if track not in names:
            raise ScenarioError(f"{p}: no track named {track!r}; tracks with notes: {listing}")
        ti = names.index(track)
    else:
        if not 0 <= track < len(per_track):
            raise ScenarioError(f"{p}: track {track} does not exist (the file has {len(per_track)} tracks)")
        ti = track
    notes = per_track[ti]
    chans = sorted({n.channel for n in notes})
    if channel is None:
        if len(chans) > 1:
            raise ScenarioError(f"{p}: track {ti} has notes on channels {chans}; choose one with channel=")
    else:
        if channel not in chans:
            raise ScenarioError(f"{p}: track {ti} has no notes on channel {channel} (it has {chans})")
        notes = [n for n in notes if n.channel == channel]
    if not notes:
        raise ScenarioError(f"{p}: track {ti} has no notes")
    return sorted(notes, key=lambda n: (n.start, n.note))


def _note(note: int, vel: int, t0: int, t1: int, tpb: int, seconds: Any, ch: int, ti: int) -> MidiNote:
    return MidiNote(note, vel, Fraction(t0, tpb), Fraction(t1, tpb), seconds(t0), seconds(t1), ch, ti)


def _nearest(x: Fraction | float) -> int:
    # half-way rounds up (to the later step), the same for Fractions and floats
    return math.floor(x + Fraction(1, 2)) if isinstance(x, Fraction) else math.floor(x + 0.5)


def quantise(
    notes: Sequence[MidiNote],
    *,
    steps: int,
    step_beats: float | None = None,
    step_seconds: float | None = None,
    bpm: float | None = None,
    offset: float = 0.0,
    clock: str | None = None,
    sustain: bool = True,
    overlap: str = "lowest",
    where: str = "",
) -> list[MidiNote | None]:
    """Place notes on a step grid: one note (or ``None``, a rest) per step.

    Args:
        notes: Notes from :func:`read_notes`.
        steps: Number of steps.
        step_beats: Step length in beats (the scenario's ``timing.step_beats``).
        step_seconds: Step length in seconds (instead of ``step_beats``).
        bpm: Tempo; needed to convert between beats and seconds when the grid and the
            clock differ (``clock="seconds"`` with ``step_beats``).
        offset: Where step 0 starts, in the clock's unit (beats or seconds).
        clock: ``"beats"`` (file positions in beats; default with ``step_beats``) or
            ``"seconds"`` (the file's absolute times; default with ``step_seconds``).
        sustain: A note also fills the steps up to the one nearest its end.
        overlap: Which note a step keeps when several start on it: ``"lowest"``,
            ``"highest"``, ``"first"`` or ``"error"``.
        where: Prefix of messages (e.g. the file name).

    Returns:
        ``steps`` entries, each a :class:`MidiNote` or ``None``.

    Raises:
        ScenarioError: on a bad grid, or a collision with ``overlap="error"``.
    """
    loc = f"{where}: " if where else ""
    if (step_beats is None) == (step_seconds is None):
        raise ScenarioError(f"{loc}give exactly one of step_beats and step_seconds")
    if clock is None:
        clock = "beats" if step_beats is not None else "seconds"
    if clock not in ("beats", "seconds"):
        raise ScenarioError(f"{loc}clock: expected 'beats' or 'seconds', got {clock!r}")
    if overlap not in ("lowest", "highest", "first", "error"):
        raise ScenarioError(
            f"{loc}overlap: expected 'lowest', 'highest', 'first' or 'error', got {overlap!r}"
        )
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ScenarioError(f"{loc}steps: expected a whole number >= 1, got {steps!r}")
    step: Fraction | float
    if clock == "beats":
        if step_beats is not None:
            step = Fraction(step_beats)
        else:
            if bpm is None:
                raise ScenarioError(f"{loc}bpm: needed to read a file in beats on a grid in seconds")
            step = Fraction(step_seconds) * Fraction(bpm) / 60  # type: ignore[arg-type]
        off: Fraction | float = Fraction(offset)
    else:
        if step_seconds is not None:
            step = float(step_seconds)
        else:
            if bpm is None:
                raise ScenarioError(f"{loc}bpm: needed to read a file in seconds on a grid in beats")
            step = float(step_beats) * 60.0 / float(bpm)  # type: ignore[arg-type]
        off = float(offset)
    if not step > 0:
        raise ScenarioError(f"{loc}step length must be > 0, got {step}")

    def pos(n: MidiNote, end: bool = False) -> Fraction | float:
        if clock == "beats":
            return ((n.end if end else n.start) - off) / step
        return ((n.end_s if end else n.start_s) - off) / step

    onsets: list[list[MidiNote]] = [[] for _ in range(steps)]
    outside = []
    for n in notes:
        i = _nearest(pos(n))
        if 0 <= i < steps:
            onsets[i].append(n)
        else:
            outside.append((n, i))
    if outside:
        warnings.warn(
            f"{loc}{len(outside)} note(s) outside the {steps}-step grid left out (first: "
            f"{note_name(outside[0][0].note)} at step {outside[0][1]})",
            stacklevel=2,
        )
    out: list[MidiNote | None] = [None] * steps
    dropped: list[tuple[int, MidiNote]] = []
    for i, ns in enumerate(onsets):
        if not ns:
            continue
        if len(ns) > 1:
            if overlap == "error":
                raise ScenarioError(
                    f"{loc}step {i} has {len(ns)} notes ({', '.join(note_name(n.note) for n in ns)}); "
                    "expected one note per step (or choose overlap='lowest', 'highest' or 'first')"
                )
            key = {
                "lowest": lambda n: (n.note, n.start_s),
                "highest": lambda n: (-n.note, n.start_s),
                "first": lambda n: (n.start_s, n.note),
            }[overlap]
            ns = sorted(ns, key=key)
            dropped.extend((i, n) for n in ns[1:])
        out[i] = ns[0]
    if dropped:
        warnings.warn(
            f"{loc}{len(dropped)} note(s) dropped where several start on one step (kept the {overlap}; "
            f"first dropped: {note_name(dropped[0][1].note)} at step {dropped[0][0]})",
            stacklevel=2,
        )
    if sustain:
        held: MidiNote | None = None
        held_to = -1
        for i in range(steps):
            if out[i] is not None:
                held = out[i]
                held_to = _nearest(pos(held, end=True))  # type: ignore[arg-type]
            elif held is not None and i < held_to:
                out[i] = held
    return out


def midi_reference(
    path: str | os.PathLike[str],
    *,
    steps: int,
    step_beats: float | None = None,
    step_seconds: float | None = None,
    bpm: float | None = None,
    offset: float = 0.0,
    clock: str | None = None,
    track: int | str | None = None,
    channel: int | None = None,
    low: int | str | None = None,
    high: int | str | None = None,
    transpose: int = 0,
    sustain: bool = True,
    overlap: str = "lowest",
    rest: str = "level",
    note_param: str = "note",
    level_param: str = "level",
    level: float | str = 1.0,
) -> dict[str, list[Any]]:
    """A track's reference block from a MIDI file.

    Args:
        path: The ``.mid`` file.
        steps: Number of steps (see :func:`quantise`).
        step_beats: Step length in beats (see :func:`quantise`).
        step_seconds: Step length in seconds (see :func:`quantise`).
        bpm: Tempo (see :func:`quantise`).
        offset: Start of step 0 in the clock's unit (see :func:`quantise`).
        clock: ``"beats"`` or ``"seconds"`` (see :func:`quantise`).
        sustain: Held notes fill the following steps (see :func:`quantise`).
        overlap: Which of several notes on one step is kept (see :func:`quantise`).
        track: Track index or name (see :func:`read_notes`).
        channel: MIDI channel 0..15 (see :func:`read_notes`).
        low: Lowest note the parameter takes (MIDI number or name), checked.
        high: Highest note, checked.
        transpose: Semitones added to every note before the check.
        rest: ``"level"``: a rest sets ``level_param`` to 0 (the note holds);
            ``"hold"``: the previous note is held and no level is written.
        note_param: Name of the note parameter in the block.
        level_param: Name of the level parameter (``rest="level"``).
        level: The level of a sounding step: a number, or ``"velocity"`` for
            ``velocity / 127``.

    Returns:
        ``{note_param: [MIDI numbers]}`` and, with ``rest="level"``,
        ``{level_param: [levels]}``, ``steps`` values each.

    Raises:
        ScenarioError: on an unreadable file, no notes, no note on the grid, a note
            outside ``low..high`` (naming the note, its step and the range), or bad
            arguments.
    """
    where = str(path)
    if rest not in ("level", "hold"):
        raise ScenarioError(
            f"{where}: rest: expected 'level' (level 0) or 'hold' (previous note), got {rest!r}"
        )
    if not (
        level == "velocity" or (isinstance(level, (int, float)) and not isinstance(level, bool) and level > 0)
    ):
        raise ScenarioError(f"{where}: level: expected a number > 0 or 'velocity', got {level!r}")
    try:
        lo = None if low is None else note_number(low)
        hi = None if high is None else note_number(high)
    except ValueError as e:
        raise ScenarioError(f"{where}: low/high: {e}") from None
    notes = read_notes(path, track=track, channel=channel)
    grid = quantise(
        notes,
        steps=steps,
        step_beats=step_beats,
        step_seconds=step_seconds,
        bpm=bpm,
        offset=offset,
        clock=clock,
        sustain=sustain,
        overlap=overlap,
        where=where,
    )
    first = next((n for n in grid if n is not None), None)
    if first is None:
        raise ScenarioError(f"{where}: no note starts within the {steps}-step grid (offset {offset})")
    out_notes: list[int] = []
    levels: list[float] = []
    prev = first
    for i, n in enumerate(grid):
        cur = n if n is not None else prev
        m = cur.note + transpose
        if (lo is not None and m < lo) or (hi is not None and m > hi):
            rng = f"{note_name(lo) if lo is not None else '-'}..{note_name(hi) if hi is not None else '-'}"
            raise ScenarioError(
                f"{where}: note {note_name(m)} (MIDI {m}) at step {i} is outside the parameter's range "
                f"{rng} (MIDI {lo}..{hi}); transpose the file or widen the range"
            )
        out_notes.append(m)
        if n is None:
            levels.append(0.0)
        else:
            levels.append(round(n.velocity / 127, 6) if level == "velocity" else float(level))
        prev = cur
    block: dict[str, list[Any]] = {note_param: out_notes}
    if rest == "level":
        block[level_param] = levels
    return block


def write_midi(
    notes: Sequence[int | str | None],
    path: str | os.PathLike[str],
    bpm: float,
    step_beats: float,
    *,
    levels: Sequence[float] | None = None,
    velocity: int = 100,
    gate: float = 1.0,
    channel: int = 0,
    ticks_per_beat: int = 480,
    track_name: str = "line",
) -> Path:
    """Write a step line as a type-1 MIDI file: one note per step.

    Args:
        notes: One entry per step: a MIDI number, a note name, or ``None`` (a rest).
        path: Where to write.
        bpm: Tempo written into the file.
        step_beats: Step length in beats.
        levels: Optional per-step levels; a step with level 0 is a rest; others set
            the velocity to ``round(level * 127)`` (at least 1).
        velocity: Velocity of notes when ``levels`` is not given (1..127).
        gate: Note length as a fraction of a step, in (0, 1].
        channel: MIDI channel (0..15).
        ticks_per_beat: File resolution; a step must be a whole number of ticks.
        track_name: Name of the note track.

    Returns:
        The path written.

    Raises:
        ValueError: on a note outside 0..127, a step that is not a whole number of
            ticks, or bad arguments.
    """
    mido = _mido()
    if levels is not None and len(levels) != len(notes):
        raise ValueError(f"levels: expected {len(notes)} values (one per step), got {len(levels)}")
    if not 0 < gate <= 1:
        raise ValueError(f"gate: expected a fraction of a step in (0, 1], got {gate!r}")
    if not 1 <= velocity <= 127:
        raise ValueError(f"velocity: expected 1..127, got {velocity!r}")
    step_t = Fraction(step_beats) * ticks_per_beat
    if step_t.denominator != 1 or step_t <= 0:
        raise ValueError(
            f"step_beats={step_beats} is not a whole number of ticks at {ticks_per_beat} per beat"
        )
    st = int(step_t)
    length = max(1, round(st * gate))
    events: list[tuple[int, int, Any]] = []  # (tick, order, message); offs before ons at a tick
    for i, n in enumerate(notes):
        if n is None or (levels is not None and levels[i] == 0):
            continue
        m = note_number(n)
        if not 0 <= m <= 127:
            raise ValueError(f"note at step {i}: {n!r} is outside MIDI 0..127")
        vel = velocity if levels is None else max(1, min(127, round(float(levels[i]) * 127)))
        t0 = i * st
        events.append((t0, 1, mido.Message("note_on", note=m, velocity=vel, channel=channel)))
        events.append((t0 + length, 0, mido.Message("note_off", note=m, velocity=0, channel=channel)))
    events.sort(key=lambda e: (e[0], e[1]))
    mf = mido.MidiFile(type=1, ticks_per_beat=ticks_per_beat)
    meta = mido.MidiTrack()
    meta.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm), time=0))
    meta.append(mido.MetaMessage("end_of_track", time=0))
    tr = mido.MidiTrack()
    tr.append(mido.MetaMessage("track_name", name=track_name, time=0))
    last = 0
    for t, _, msg in events:
        tr.append(msg.copy(time=t - last))
        last = t
    end = len(notes) * st
    tr.append(mido.MetaMessage("end_of_track", time=max(0, end - last)))
    mf.tracks.extend([meta, tr])
    out = Path(path)
    mf.save(out)
    return out


class MidiFolder:
    """A folder of ``.mid`` files as a distribution of note lines, split into train and test.

    Files (``*.mid``, ``*.midi``, not in subfolders) are sorted by name. A file is a
    *test* file when ``hash_partition(name.encode("utf-8"), modulus) == 0`` (its name,
    not its content or position, so adding files never moves others between splits).

    Args:
        path: The folder.
        modulus: One file in ``modulus`` (by hash of its name) is held out for test.
        **grid: Keyword arguments of :func:`midi_reference` (``steps``, ``step_beats``,
            ``low``, ``high``, ...) used by :meth:`reference`.

    Raises:
        ScenarioError: if the folder does not exist or holds no MIDI file.
    """

    def __init__(self, path: str | os.PathLike[str], *, modulus: int = 5, **grid: Any) -> None:
        self.path = Path(path)
        if not self.path.is_dir():
            raise ScenarioError(f"{self.path}: expected a folder of .mid files")
        self.files = sorted(
            (f for f in self.path.iterdir() if f.is_file() and f.suffix.lower() in (".mid", ".midi")),
            key=lambda f: f.name,
        )
        if not self.files:
            raise ScenarioError(f"{self.path}: the folder holds no .mid file")
        self.modulus = modulus
        self.grid = grid
        self._splits = {
            "test": [f for f in self.files if hash_partition(f.name.encode(), modulus) == 0],
            "train": [f for f in self.files if hash_partition(f.name.encode(), modulus) != 0],
        }

    def split(self, name: str) -> list[Path]:
        """The files of split ``name`` (``"train"`` or ``"test"``), sorted by name."""
        if name not in self._splits:
            raise ValueError(f"split must be 'train' or 'test', got {name!r}")
        return list(self._splits[name])

    def reference(self, split: str, index: int) -> dict[str, list[Any]]:
        """The reference block of file ``index`` of ``split`` (see :func:`midi_reference`).

        Raises:
            ScenarioError: if the split is empty or ``index`` is out of range, or the
                file fails :func:`midi_reference`.
        """
        files = self.split(split)
        if not files:
            raise ScenarioError(
                f"{self.path}: the {split} split is empty ({len(self.files)} files, 1 in {self.modulus} is test)"
            )
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(files):
            raise ScenarioError(f"{self.path}: {split} index expected 0..{len(files) - 1}, got {index!r}")
        return midi_reference(files[index], **self.grid)
