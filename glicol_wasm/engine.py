"""The Glicol engine: one wasm instance per object, rendering offline."""

from __future__ import annotations

import copy
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

import numpy as np

from ._abi import BLOCK, DST_BLOCKS, Instance, SampleData, Trap, WasmtimeError
from ._layout import dead_stack_end
from ._module import compiled
from ._retune import Tuning, retune
from .errors import (
    GlicolError,
    GlicolNonFiniteError,
    GlicolTrapError,
    decode_result,
)
from .guard import ConcurrentUseGuard

__all__ = [
    "BLOCK",
    "MAX_SEED",
    "MIN_SEED",
    "RESTORE_SLACK",
    "SAMPLE_RATES",
    "SAMPLE_FILE_RATES",
    "Engine",
    "EngineState",
    "render",
]

MIN_SEED = 0
MAX_SEED = 2**24
"""Seeds the engine honours: 0 to 2**24 inclusive.

The engine takes its seed as a 32-bit float and truncates it to an unsigned integer,
so a negative seed would play like 0, and above 2**24 neighbouring integers share one
float (2**24 + 1 would play like 2**24). Every seed in this range reaches the engine
exactly; others are refused.
"""

SAMPLE_RATES = (8000, 192000)
"""The engine's sample rates in Hz (inclusive bounds)."""

SAMPLE_FILE_RATES = (1000, 384000)
"""Sample rates in Hz (inclusive) that :meth:`Engine.load_sample` accepts for a sample's
own audio; the engine resamples it on playback (checked from 1000 to 384000 Hz)."""

RESTORE_SLACK = 16 << 20
"""Bytes a wasm memory may grow beyond a snapshot's before :meth:`Engine.restore` starts a
new instance of the snapshot's size (the growth is otherwise repeated after every restore)."""

_REPLAY_LIMIT_BLOCKS = 1 << 17  # ~6 minutes at 44.1 kHz; longer histories are not replayed


@dataclass(frozen=True)
class _PyState:
    """The binding's own part of an engine's state (beside the wasm memory)."""

    pending: str | None
    good_code: str | None
    carry: np.ndarray
    frames: int
    history: list[tuple[bytes | None, bytes, int]]
    history_blocks: int
    tuning: Tuning | None
    last_code: bytes | None
    code_ptr: int
    code_cap: int


@dataclass(frozen=True, eq=False)
class EngineState:
    """A snapshot of an :class:`Engine` between two calls (see :meth:`Engine.snapshot`).

    Opaque: the engine's whole linear memory plus the binding's own state. It can be
    restored only into the wasm instance it was taken from.
    """

    _lineage: object
    _memory: np.ndarray
    _python: _PyState

    @property
    def nbytes(self) -> int:
        """Size of the snapshot in bytes."""
        return int(self._memory.nbytes)

    def valid_for(self, engine: Engine) -> bool:
        """Whether :meth:`Engine.restore` accepts this snapshot (taken since the engine's last reset or rebuild)."""
        return engine._lineage is self._lineage and engine._inst is not None and engine._dead is None


def _copy_live(inst: Instance, saved: np.ndarray) -> None:
    """Copy a snapshot's memory into ``inst``, except the bytes no call reads before writing.

    Those are the shadow stack below its base (empty between calls; see
    :mod:`glicol_wasm._layout`) and the block loop's output buffer (written block by
    block before it is read). Skipping them leaves about a quarter of a small patch's
    memory to copy; the audio after a restore is the same bit for bit (the tests fill both
    regions with noise first).
    """
    mem = inst.view()
    size = saved.size
    lo = dead_stack_end(compiled().wasm_path)
    if lo > size:
        lo = 0
    d0, d1 = inst.dst_ptr, inst.dst_ptr + DST_BLOCKS * 1024
    if lo <= d0 and d1 <= size:
        mem[lo:d0] = saved[lo:d0]
        mem[d1:size] = saved[d1:size]
    else:  # pragma: no cover - the buffer lies elsewhere in another build
        mem[lo:size] = saved[lo:size]


def check_seed(seed: object, what: str = "seed") -> int:
    """Return ``seed`` as an int if the engine honours it exactly.

    Args:
        seed: A Python or numpy integer within ``MIN_SEED..MAX_SEED`` (0..2**24).
        what: The argument's name, for the message.

    Raises:
        TypeError: if it is not an integer.
        ValueError: if it is outside 0..2**24, naming the value and the range.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"{what} must be an int within {MIN_SEED}..{MAX_SEED}, got {seed!r}")
    if not MIN_SEED <= seed <= MAX_SEED:
        raise ValueError(
            f"{what} must be within {MIN_SEED}..{MAX_SEED} (2**24), got {int(seed)}: the engine "
            "takes its seed as a 32-bit float, so seeds outside this range would collide "
            "(a negative seed plays like 0, 2**24 + 1 like 2**24)"
        )
    return int(seed)


def _check_bpm(bpm: object) -> float:
    if isinstance(bpm, bool) or not (
        isinstance(bpm, (int, float, np.integer, np.floating)) and math.isfinite(bpm) and 1.0 <= bpm <= 999.0
    ):
        raise ValueError(f"bpm must be a finite number within 1..999, got {bpm!r}")
    return float(bpm)


class Engine:
    """An offline Glicol engine: one WebAssembly instance of Glicol 0.13 (npm glicol@0.4.0).

    The engine renders stereo float32 audio. Code set with :meth:`set_code` takes effect
    at the next engine block (128 frames); nodes that stay the same between two codes
    keep their state (oscillator phase, envelopes, sequencer position), so a
    performance can be stepped by alternating ``set_code`` and ``render``.

    Renders are reproducible: two engines created with the same arguments and given the
    same calls produce bit-identical audio. Live-coding mode (which delays updates to
    the next bar) is off.

    An engine is not thread-safe: a call made while another thread is inside the same
    engine raises :class:`~glicol_wasm.ConcurrentUseError` (instead of corrupting the
    instance). Create one engine per thread. ``copy.deepcopy`` gives an independent
    engine in the same state; engines cannot be pickled.

    Args:
        sample_rate: Sample rate in Hz (8000 to 192000). Note that this Glicol build's
            ``hpf`` always assumes 44100 Hz.
        bpm: Tempo in beats per minute (1 to 999), used by ``seq``, ``sig`` patterns,
            ``points`` and the synths.
        seed: Seed of the ``choose`` node, an integer within 0..2**24 (see
            :data:`MAX_SEED`). ``noise`` takes its seed from its own argument.
        fast_updates: When a new code differs from the playing one only in numbers
            of nodes that merely store them (oscillator frequencies, ``mul``,
            ``add``, filters, envelopes...), send the engine those numbers as
            messages instead of having it parse the whole code again. The audio is
            the same bit for bit; a 0.125 s step of a three-track patch with new
            numbers takes 0.69 ms instead of 1.03 ms. ``False`` always re-parses. ``None`` (the default) means
            ``True`` unless the environment variable ``GLICOL_WASM_FAST_UPDATES`` is
            ``0``.

    Raises:
        TypeError: if ``sample_rate`` or ``seed`` is not an integer, or
            ``fast_updates`` not a bool or None.
        ValueError: if an argument is outside its range (the message names it).

    Example:
        >>> eng = Engine(44100)
        >>> eng.set_code("o: sin 440 >> mul 0.5")
        >>> audio = eng.render(44100)   # (2, 44100) float32
    """

    def __init__(
        self,
        sample_rate: int = 44100,
        bpm: float = 120.0,
        seed: int = 42,
        *,
        fast_updates: bool | None = None,
    ) -> None:
        if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)):
            raise TypeError(f"sample_rate must be an int in Hz, got {sample_rate!r}")
        lo, hi = SAMPLE_RATES
        if not lo <= sample_rate <= hi:
            raise ValueError(f"sample_rate must be within {lo}..{hi} Hz, got {sample_rate}")
        self._sr = int(sample_rate)
        self._bpm = _check_bpm(bpm)
        self._seed = check_seed(seed)
        if fast_updates is None:
            fast_updates = os.environ.get("GLICOL_WASM_FAST_UPDATES", "1") != "0"
        if not isinstance(fast_updates, bool):
            raise TypeError(f"fast_updates must be a bool or None, got {fast_updates!r}")
        self._fast_updates = fast_updates
        self._guard = ConcurrentUseGuard(
            "this glicol_wasm.Engine",
            "create one Engine per thread (engines are independent and render the same audio "
            "in any thread), or use processes",
        )
        self._samples: dict[str, SampleData] = {}
        self._inst: Instance | None = None
        self._dead: str | None = None
        self.reset()

    # -- properties -----------------------------------------------------------------

    @property
    def sample_rate(self) -> int:
        """Sample rate in Hz."""
        return self._sr

    @property
    def bpm(self) -> float:
        """Tempo in beats per minute."""
        return self._bpm

    @property
    def seed(self) -> int:
        """Seed of the ``choose`` node."""
        return self._seed

    @property
    def code(self) -> str | None:
        """The last code given to :meth:`set_code` (pending or applied), or ``None``."""
        return self._pending if self._pending is not None else self._good_code

    @property
    def frames_rendered(self) -> int:
        """Frames returned by :meth:`render` since the last reset."""
        return self._frames

    @property
    def samples(self) -> Mapping[str, tuple[np.ndarray, int]]:
        """Loaded samples: name -> (audio of shape (channels, n), sample rate)."""
        return {k: (v.data.reshape(v.channels, -1), v.sample_rate) for k, v in self._samples.items()}

    @property
    def memory_bytes(self) -> int:
        """Current size of the wasm instance's linear memory in bytes."""
        with self._guard:
            return self._live().memory_size()

    # -- life cycle -------------------------------------------------------------------

    def reset(self, *, bpm: float | None = None, seed: int | None = None) -> None:
        """Start again from silence with a fresh wasm instance (cheap: ~0.4 ms).

        Loaded samples are kept. Optionally change the tempo or the seed.

        Raises:
            TypeError, ValueError: on a bad ``bpm`` or ``seed`` (as in the constructor).
        """
        new_bpm = self._bpm if bpm is None else _check_bpm(bpm)
        new_seed = self._seed if seed is None else check_seed(seed)
        with self._guard:
            self._bpm, self._seed = new_bpm, new_seed
            self._pending: str | None = None
            self._good_code: str | None = None
            self._carry = np.zeros((2, 0), dtype=np.float32)
            self._frames = 0
            # (code bytes or None, messages, blocks rendered) for every render since
            # the reset: replayed on a fresh instance to rebuild the exact state after an error.
            self._history: list[tuple[bytes | None, bytes, int]] = []
            self._history_blocks = 0
            # What the graph plays against the code Glicol last parsed (see _retune).
            self._tuning: Tuning | None = None
            self._dead = None
            self._inst = self._new_instance()
            self._lineage = object()  # snapshots taken before this reset are refused

    def _new_instance(self) -> Instance:
        inst = Instance(compiled(), self._sr, self._bpm, float(self._seed))
        for name, sample in self._samples.items():
            inst.load_sample(name, sample)
        return inst

    def _py_state(self, inst: Instance) -> _PyState:
        return _PyState(
            self._pending,
            self._good_code,
            self._carry.copy(),
            self._frames,
            list(self._history),
            self._history_blocks,
            self._tuning,
            inst.last_code,
            inst.code_ptr,
            inst.code_cap,
        )

    def _set_py_state(self, inst: Instance, st: _PyState) -> None:
        self._pending = st.pending
        self._good_code = st.good_code
        self._carry = st.carry.copy()
        self._frames = st.frames
        self._history = list(st.history)
        self._history_blocks = st.history_blocks
        self._tuning = st.tuning
        inst.last_code = st.last_code
        if st.code_ptr != inst.code_ptr:
            inst.code_ptr, inst.code_cap = st.code_ptr, st.code_cap
            inst.setup()

    def snapshot(self) -> EngineState:
        """Capture the engine's complete state, to :meth:`restore` it later.

        Between two calls a wasm instance's state is its linear memory (its stack
        pointer is back at its base), so a snapshot is a copy of that memory plus the
        binding's bookkeeping (pending code, carried frames). Restoring costs a memory
        copy (about 0.4 MB for a small patch: the empty stack and the output buffer are
        not copied back), far less than re-rendering a long
        performance: black-box search uses it to try many candidates for one step
        after a fixed prefix.

        Returns:
            An opaque :class:`EngineState`, valid for this engine until it is reset or
            rebuilt after an error.
        """
        with self._guard:
            inst = self._live()
            return EngineState(self._lineage, inst.view().copy(), self._py_state(inst))

    def restore(self, state: EngineState) -> None:
        """Return to a state captured by :meth:`snapshot` of this engine (since its last reset).

        A wasm memory cannot shrink, and the restored allocator does not know about
        memory grown after the snapshot, so rendering after a restore grows it again.
        When the memory has grown more than :data:`RESTORE_SLACK` bytes beyond the
        snapshot's, the state is copied into a new instance of the snapshot's size
        instead (as :func:`copy.deepcopy` does): memory stays bounded over any number
        of restores, and the audio is the same bit for bit.

        Raises:
            GlicolError: if the snapshot was taken from another instance (another
                engine, or this one before a reset or a rebuild).
        """
        with self._guard:
            if not isinstance(state, EngineState) or not state.valid_for(self):
                raise GlicolError(
                    "this snapshot belongs to another wasm instance (another engine, or this one "
                    "before reset() or a rebuild after an error); take a new snapshot"
                )
            inst = self._live()
            size = state._memory.size
            if inst.memory_size() > size + RESTORE_SLACK:
                inst = self._inst = self._instance_like(inst, size)
            _copy_live(inst, state._memory)
            self._set_py_state(inst, state._python)

    def _instance_like(self, src: Instance, size: int) -> Instance:
        """A fresh instance with ``src``'s buffer addresses and ``size`` bytes of memory, to be overwritten."""
        # No samples: the memory copied over it holds them.
        inst = Instance(compiled(), self._sr, self._bpm, float(self._seed))
        inst.grow_to(size)
        inst.in_ptr, inst.out_ptr, inst.res_ptr, inst.dst_ptr = (
            src.in_ptr,
            src.out_ptr,
            src.res_ptr,
            src.dst_ptr,
        )
        inst.code_ptr = -1  # makes _set_py_state pass the buffer addresses to the loop
        return inst

    def __deepcopy__(self, memo: dict[int, Any]) -> Engine:
        """An independent engine in the same state: the same audio follows from the same calls.

        The copy gets a fresh wasm instance of the same size whose linear memory is a
        copy of this one's (a wasm instance's whole state between two calls), so it
        costs about the same as :meth:`snapshot`.
        """
        with self._guard:
            new = Engine.__new__(Engine)
            memo[id(self)] = new
            new._lineage = object()
            new._sr, new._bpm, new._seed = self._sr, self._bpm, self._seed
            new._fast_updates = self._fast_updates
            new._guard = copy.deepcopy(self._guard, memo)
            new._samples = dict(self._samples)  # SampleData is never mutated
            new._dead = self._dead
            if self._inst is None or self._dead:
                new._pending, new._good_code = self._pending, self._good_code
                new._carry, new._frames = self._carry.copy(), self._frames
                new._history, new._history_blocks = list(self._history), self._history_blocks
                new._tuning = self._tuning
                new._inst = None
                return new
            src = self._inst
            # A fresh instance of the same size, overwritten with this one's memory.
            inst = self._instance_like(src, src.memory_size())
            mem = src.view()
            inst.view()[: mem.size] = mem
            new._inst = inst
            new._set_py_state(inst, self._py_state(src))
            return new

    def __copy__(self) -> Engine:
        """Same as :func:`copy.deepcopy`: two engines must never share one wasm instance."""
        return self.__deepcopy__({})

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        """Engines cannot be pickled: they own a native wasm instance."""
        raise TypeError(
            "a glicol_wasm.Engine cannot be pickled: it owns a native wasm instance. Use "
            "copy.deepcopy(engine) within a process; to continue a performance in another "
            "process, create an Engine there with the same sample_rate, bpm and seed and send "
            "it the same set_code/render calls (renders are bit-identical)"
        )

    def close(self) -> None:
        """Release the wasm instance. The engine can be used again after :meth:`reset`."""
        with self._guard:
            self._inst = None
            self._dead = "the engine was closed"

    def _live(self) -> Instance:
        if self._inst is None or self._dead:
            raise GlicolError(f"engine unusable: {self._dead}; call reset() first")
        return self._inst

    # -- code and samples ------------------------------------------------------------------

    def set_code(self, code: str) -> None:
        """Set the Glicol code to play from the next engine block on.

        The code is applied (and checked) by the next :meth:`render` that renders a
        block. Nodes unchanged between the old and new code keep their state.

        Raises:
            TypeError: if ``code`` is not a string.
            ValueError: if it contains a NUL character.
        """
        if not isinstance(code, str):
            raise TypeError(f"code must be a str, got {type(code).__name__}")
        if "\x00" in code:
            raise ValueError("code must not contain NUL characters")
        with self._guard:
            self._live()
            self._pending = code

    def load_sample(self, name: str, audio: np.ndarray, sample_rate: int) -> None:
        r"""Make ``audio`` playable as ``sp \name`` (triggered by e.g. ``seq 60 >> sp \name``).

        Args:
            name: Sample name: lowercase letters, digits and ``_``, starting with a
                letter; a leading backslash is optional.
            audio: float audio, shape (n,) mono, or (channels, n) with 1 or 2
                channels (librosa's layout); values should lie within [-1, 1].
            sample_rate: The audio's own sample rate in Hz, an integer within
                1000..384000 (:data:`SAMPLE_FILE_RATES`); the engine resamples on
                playback.

        Raises:
            TypeError: if ``name`` is not a string or ``sample_rate`` not an integer.
            ValueError: on a bad name, shape, empty or non-finite audio, or a sample
                rate outside 1000..384000 Hz (the message names the sample, its rate
                and the range).
        """
        if not isinstance(name, str):
            raise TypeError(f"sample name must be a str, got {type(name).__name__}")
        key = name if name.startswith("\\") else "\\" + name
        if not re.fullmatch(r"\\[a-z][a-z0-9_]*", key):
            raise ValueError(
                f"sample name must be lowercase letters, digits or '_' starting with a letter, got {name!r}"
            )
        if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)):
            raise TypeError(f"sample {name!r}: sample_rate must be an int in Hz, got {sample_rate!r}")
        lo, hi = SAMPLE_FILE_RATES
        if not lo <= sample_rate <= hi:
            raise ValueError(
                f"sample {name!r}: its sample rate {sample_rate} Hz is outside the range the engine "
                f"plays correctly, {lo}..{hi} Hz; resample it first"
            )
        a = np.asarray(audio, dtype=np.float32)
        if a.ndim == 1:
            a = a[None, :]
        if a.ndim != 2 or a.shape[0] not in (1, 2):
            raise ValueError(
                f"sample {name!r}: audio must have shape (n,) or (channels, n) with 1 or 2 "
                f"channels, got shape {np.shape(audio)}"
            )
        if a.shape[1] == 0:
            raise ValueError(f"sample {name!r}: audio is empty")
        if not np.isfinite(a).all():
            raise ValueError(f"sample {name!r}: audio contains NaN or inf")
        sample = SampleData(np.ascontiguousarray(a).reshape(-1), a.shape[0], int(sample_rate))
        with self._guard:
            self._live().load_sample(key, sample)
            self._samples[key] = sample

    # -- rendering -------------------------------------------------------------------------

    def render(self, frames: int) -> np.ndarray:
        """Render the next ``frames`` frames, continuing the performance.

        Frame counts need not be multiples of 128: the engine renders whole blocks and
        the remainder is kept for the next call, so consecutive renders of any sizes
        equal one long render.

        Args:
            frames: Number of frames (>= 0).

        Returns:
            float32 array of shape (2, frames): left and right channels.

        Raises:
            GlicolParseError, GlicolSampleError, GlicolReferenceError: if the pending
                code was rejected. The engine is rebuilt in the state it had before, the
                bad code is dropped, and no frames are consumed (``exc.recovered``).
            GlicolTrapError: if the engine panicked; rebuilt the same way if possible.
            GlicolNonFiniteError: if the output contains NaN or inf. The engine must be
                reset (filters hold the NaN).
            ConcurrentUseError: if another thread is using this engine.
        """
        if isinstance(frames, bool) or not isinstance(frames, (int, np.integer)) or frames < 0:
            raise ValueError(f"frames must be a non-negative int, got {frames!r}")
        # `with self._guard:` inlined: this is the hot path of every step.
        lock = self._guard.lock
        if not lock.acquire(False):
            self._guard.refuse()
        try:
            return self._render(int(frames))
        finally:
            lock.release()

    def _render(self, frames: int) -> np.ndarray:
        inst = self._live()
        have = self._carry.shape[1]
        need = frames - have
        nblocks = -(-need // BLOCK) if need > 0 else 0
        pending = self._pending
        code: bytes | None = None
        messages = ""
        tuning = self._tuning
        if pending is not None and nblocks:
            # Numbers of pure-setter nodes go as messages, the rest through update.
            update = True
            if self._fast_updates:
                messages, update, tuning = retune(tuning, pending)
            if update:
                code = pending.encode()
        msg = messages.encode()
        try:
            blocks, res, _ = inst.render_blocks(nblocks, code, msg)
        except Trap as e:
            self._recover(GlicolTrapError(_trap_message(e, pending)))
        except WasmtimeError as e:  # pragma: no cover - defensive
            self._recover(GlicolTrapError(f"wasmtime error: {_first_line(e)}"))
        if res is not None:
            code_err = decode_result(res, pending or "")
            assert code_err is not None  # the loop stops only on a non-zero result code
            self._recover(code_err)
        new = blocks.transpose(1, 0, 2).reshape(2, -1) if nblocks else blocks.reshape(2, 0)
        if not np.isfinite(new).all():
            bad = int(np.argmax(~np.isfinite(new).all(axis=0)))
            self._dead = "the output contained NaN or inf"
            err = GlicolNonFiniteError(
                f"the Glicol engine produced NaN or inf at frame {have + bad} of this render "
                f"(code: {(pending or self._good_code or '')[:200]!r}). Nodes known to do this in "
                "this build: points ([..]) without *k or /k, onepole with a ~ref. Reset the engine.",
                have + bad,
                pending or self._good_code or "",
            )
            err._set_recovered(False)
            raise err
        if pending is not None and nblocks:
            self._good_code = pending
            self._pending = None
            self._tuning = tuning
        if nblocks:
            self._history_blocks += nblocks
            if self._history_blocks <= _REPLAY_LIMIT_BLOCKS:
                self._history.append((code, msg, nblocks))
            else:
                self._history.clear()  # never replayed past the limit: don't grow forever
            if have:
                buf = np.concatenate([self._carry, new], axis=1)
            else:
                buf = new
        else:
            buf = self._carry
        out = buf[:, :frames]
        self._carry = buf[:, frames:]
        self._frames += frames
        return out if out.flags.c_contiguous else np.ascontiguousarray(out)

    def _recover(self, err: GlicolError) -> NoReturn:
        """Rebuild a fresh instance in the state before the failing call, then raise."""
        self._pending = None
        self._inst = None
        if self._history_blocks > _REPLAY_LIMIT_BLOCKS:
            self._dead = f"{type(err).__name__} after a long performance (not replayed)"
            err._set_recovered(False)
            raise err
        try:
            inst = self._new_instance()
            for code, msg, nblocks in self._history:
                _, res, _ = inst.render_blocks(nblocks, code, msg)
                if res is not None:  # pragma: no cover - history holds only good code
                    raise GlicolError("replay failed")
        except (Trap, GlicolError) as e:  # pragma: no cover - defensive
            self._dead = f"rebuild after {type(err).__name__} failed: {e}"
            err._set_recovered(False)
            raise err from None
        self._inst = inst
        self._lineage = object()
        err._set_recovered(True)
        raise err


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


def _trap_message(e: BaseException, code: str | None) -> str:
    text = str(e)
    cause = text.rsplit("Caused by:", 1)[-1].strip().splitlines()
    frames = [m for m in re.findall(r"!([A-Za-z_:]+)::h[0-9a-f]+", text) if "glicol" in m]
    where = f" in {frames[0]}" if frames else ""
    msg = f"the Glicol engine panicked{where} ({cause[0] if cause else 'trap'})"
    if code is not None:
        msg += f" while applying the code {code[:200]!r}"
    return msg + (
        ". Nodes that panic in this build include pan, reverb, expr, sendpass, "
        'sig "..." without (span), and meta/eval scripts with errors'
    )


def render(
    code: str,
    seconds: float,
    sample_rate: int = 44100,
    *,
    bpm: float = 120.0,
    seed: int = 42,
    samples: Mapping[str, tuple[np.ndarray, int]] | None = None,
) -> np.ndarray:
    """Render a Glicol patch offline in a fresh engine.

    Args:
        code: Glicol code.
        seconds: Duration in seconds (> 0).
        sample_rate: Sample rate in Hz.
        bpm: Tempo.
        seed: Seed of ``choose``.
        samples: Optional samples to load first: name -> (audio, sample rate).

    Returns:
        float32 array of shape (2, round(seconds * sample_rate)).
    """
    if not (isinstance(seconds, (int, float)) and math.isfinite(seconds) and seconds >= 0):
        raise ValueError(f"seconds must be a finite non-negative number, got {seconds!r}")
    eng = Engine(sample_rate, bpm=bpm, seed=seed)
    for name, (audio, sr) in (samples or {}).items():
        eng.load_sample(name, audio, sr)
    eng.set_code(code)
    frames = round(seconds * sample_rate)
    if frames == 0:
        # still apply the code so that errors are reported
        eng.render(1)
        return np.zeros((2, 0), dtype=np.float32)
    return eng.render(frames)
