"""The Glicol engine: one wasm instance per object, rendering offline."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import wasmtime

from ._fastcall import i32_caller
from ._module import compiled
from .errors import (
    GlicolCodeError,
    GlicolError,
    GlicolNonFiniteError,
    GlicolTrapError,
    decode_result,
)

__all__ = ["BLOCK", "Engine", "EngineState", "render"]

BLOCK = 128
"""Frames per engine block. Every render is made of whole blocks inside the engine."""

_CODE_CAPACITY = 1 << 16  # bytes of code the reused buffer holds; grown if needed
_DST_BLOCKS = 256  # blocks one call of the wasm loop may write (256 KiB)
_REPLAY_LIMIT_BLOCKS = 1 << 17  # ~6 minutes at 44.1 kHz; longer histories are not replayed


@dataclass(frozen=True, eq=False)
class EngineState:
    """A snapshot of an :class:`Engine` between two calls (see :meth:`Engine.snapshot`).

    Opaque: the engine's whole linear memory plus the binding's own state. It can be
    restored only into the wasm instance it was taken from.
    """

    _instance: object
    _memory: np.ndarray
    _python: tuple

    @property
    def nbytes(self) -> int:
        """Size of the snapshot in bytes."""
        return int(self._memory.nbytes)

    def valid_for(self, engine: Engine) -> bool:
        """Whether :meth:`Engine.restore` accepts this snapshot (same wasm instance)."""
        return engine._inst is self._instance and engine._dead is None


@dataclass
class _Sample:
    data: np.ndarray  # planar float32: all L then all R
    channels: int
    sample_rate: int


class _Instance:
    """One wasm instance of the engine with its reused buffers."""

    __slots__ = (
        "store",
        "memory",
        "run",
        "setup",
        "_mem",
        "_size",
        "_linker",
        "in_ptr",
        "out_ptr",
        "res_ptr",
        "dst_ptr",
        "code_ptr",
        "code_cap",
        "last_code",
    )

    def __init__(self, sample_rate: int, bpm: float, seed: float) -> None:
        c = compiled()
        s = self.store = wasmtime.Store(c.engine)
        linker = self._linker = wasmtime.Linker(c.engine)
        # `now` is only read by rhai's timestamp(); a constant keeps renders reproducible.
        linker.define_func("env", "now", wasmtime.FuncType([], [wasmtime.ValType.f64()]), lambda: 0.0)
        inst = linker.instantiate(s, c.glicol)
        linker.define_instance(s, "g", inst)
        lx = linker.instantiate(s, c.loop).exports(s)
        self.run = i32_caller(s, lx["run"], 2)
        self.setup = lx["setup"]
        self.memory = linker.get(s, "g", "memory")
        # Buffers are allocated once and reused: the engine has no free export, and a
        # fresh allocation per update leaks (GLICOL.md section 7). `init` allocates them
        # in one block and sets live-coding mode off, sample rate, bpm and seed, in one
        # call (each call from Python costs tens of microseconds).
        self.code_cap = _CODE_CAPACITY
        base = lx["init"](s, float(sample_rate), float(bpm), float(seed), _DST_BLOCKS * 1024, self.code_cap)
        self.in_ptr = base
        self.out_ptr = base + 1024
        self.res_ptr = base + 2048
        self.dst_ptr = base + 2304
        self.code_ptr = self.dst_ptr + _DST_BLOCKS * 1024
        self.last_code: bytes | None = None
        self._size = -1
        self._mem = np.zeros(0, np.uint8)

    def export(self, name: str) -> wasmtime.Func:
        """An export of the engine instance, looked up on demand (rarely used ones)."""
        return self._linker.get(self.store, "g", name)

    def load_sample(self, name: str, sample: _Sample) -> None:
        s = self.store
        raw_name = name.encode()
        data = sample.data.tobytes()
        alloc_u8 = self.export("alloc_uint8array")
        name_ptr = alloc_u8(s, len(raw_name))
        data_ptr = alloc_u8(s, len(data))
        self.memory.write(s, raw_name, name_ptr)
        self.memory.write(s, data, data_ptr)
        self.export("add_sample")(
            s, name_ptr, len(raw_name), data_ptr, sample.data.size, sample.channels, sample.sample_rate
        )

    def view(self) -> np.ndarray:
        """A uint8 numpy view of the whole linear memory, rebuilt when the memory grows.

        Reading and writing through a view avoids wasmtime-py's per-call checks; the view
        stays valid until the memory grows, which only changes its size.
        """
        size = self.memory.data_len(self.store)
        if size != self._size:
            ptr = self.memory.data_ptr(self.store)
            self._mem = np.ctypeslib.as_array(ptr, shape=(size,))
            self._size = size
        return self._mem

    def render_blocks(self, nblocks: int, code: bytes | None) -> tuple[np.ndarray, bytes | None, int]:
        """Render ``nblocks`` blocks, submitting ``code`` first if it is new.

        Returns (blocks as (n, 2, 128) float32, raw result buffer or None, failing block).
        """
        s = self.store
        code_len = 0
        if code is not None and code != self.last_code:
            if len(code) > self.code_cap:
                self.code_cap = 1 << (len(code) - 1).bit_length()
                self.code_ptr = self.export("alloc_uint8array")(s, self.code_cap)
                self.setup(s, self.in_ptr, self.out_ptr, self.res_ptr, self.dst_ptr, self.code_ptr)
            if code:
                self.view()[self.code_ptr : self.code_ptr + len(code)] = np.frombuffer(code, np.uint8)
            code_len = len(code)
            self.last_code = code
            if not code_len:
                # The loop reads code_len 0 as "no update", but empty code must still be
                # submitted: the engine then clears the graph (silence).
                self.export("update")(s, self.code_ptr, 0)
        out = np.empty((nblocks, 2, BLOCK), dtype=np.float32)
        done = 0
        while done < nblocks or code_len:
            n = min(nblocks - done, _DST_BLOCKS)
            failed = self.run(n, code_len)
            code_len = 0
            mem = self.view()  # the memory may have grown during the call
            if failed >= 0:
                res = mem[self.res_ptr : self.res_ptr + 256].tobytes()
                return out[:0], res, done + failed
            out[done : done + n] = (
                mem[self.dst_ptr : self.dst_ptr + n * 1024].view(np.float32).reshape(n, 2, BLOCK)
            )
            done += n
        return out, None, -1


class Engine:
    """An offline Glicol engine: one WebAssembly instance of Glicol 0.13 (npm glicol@0.4.0).

    The engine renders stereo float32 audio. Code set with :meth:`set_code` takes effect
    at the next engine block (128 frames); nodes that stay the same between two codes
    keep their state (oscillator phase, envelopes, sequencer position), so a
    performance can be stepped by alternating ``set_code`` and ``render``.

    Renders are reproducible: two engines created with the same arguments and given the
    same calls produce bit-identical audio. Live-coding mode (which delays updates to
    the next bar) is off.

    Args:
        sample_rate: Sample rate in Hz (8000 to 192000). Note that this Glicol build's
            ``hpf`` always assumes 44100 Hz.
        bpm: Tempo in beats per minute, used by ``seq``, ``imp``-free patterns, etc.
        seed: Seed of the ``choose`` node (truncated to an integer by the engine).
            ``noise`` takes its seed from its own argument.

    Example:
        >>> eng = Engine(44100)
        >>> eng.set_code("o: sin 440 >> mul 0.5")
        >>> audio = eng.render(44100)   # (2, 44100) float32
    """

    def __init__(self, sample_rate: int = 44100, bpm: float = 120.0, seed: int = 42) -> None:
        if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)):
            raise TypeError(f"sample_rate must be an int in Hz, got {sample_rate!r}")
        if not 8000 <= sample_rate <= 192000:
            raise ValueError(f"sample_rate must be within 8000..192000 Hz, got {sample_rate}")
        if not (isinstance(bpm, (int, float)) and math.isfinite(bpm) and 1.0 <= bpm <= 999.0):
            raise ValueError(f"bpm must be a finite number within 1..999, got {bpm!r}")
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
            raise TypeError(f"seed must be an int, got {seed!r}")
        self._sr = int(sample_rate)
        self._bpm = float(bpm)
        self._seed = int(seed)
        self._samples: dict[str, _Sample] = {}
        self._inst: _Instance | None = None
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
        inst = self._live()
        return inst.memory.data_len(inst.store)

    # -- life cycle -------------------------------------------------------------------

    def reset(self, *, bpm: float | None = None, seed: int | None = None) -> None:
        """Start again from silence with a fresh wasm instance (cheap: ~0.4 ms).

        Loaded samples are kept. Optionally change the tempo or the seed.
        """
        if bpm is not None:
            if not (math.isfinite(bpm) and 1.0 <= bpm <= 999.0):
                raise ValueError(f"bpm must be a finite number within 1..999, got {bpm!r}")
            self._bpm = float(bpm)
        if seed is not None:
            self._seed = int(seed)
        self._pending: str | None = None
        self._good_code: str | None = None
        self._carry = np.zeros((2, 0), dtype=np.float32)
        self._frames = 0
        # (code bytes or None, blocks rendered) for every render since the reset: replayed
        # on a fresh instance to rebuild the exact state after an error.
        self._history: list[tuple[bytes | None, int]] = []
        self._history_blocks = 0
        self._dead = None
        self._inst = self._new_instance()

    def _new_instance(self) -> _Instance:
        inst = _Instance(self._sr, self._bpm, self._seed)
        for name, sample in self._samples.items():
            inst.load_sample(name, sample)
        return inst

    def snapshot(self) -> EngineState:
        """Capture the engine's complete state, to :meth:`restore` it later.

        Between two calls a wasm instance's state is its linear memory (its stack
        pointer is back at its base), so a snapshot is a copy of that memory plus the
        binding's bookkeeping (pending code, carried frames). Restoring costs a memory
        copy (about 1.5 MB for a small patch), far less than re-rendering a long
        performance: black-box search uses it to try many candidates for one step
        after a fixed prefix.

        Returns:
            An opaque :class:`EngineState`, valid for this engine until it is reset or
            rebuilt after an error.
        """
        inst = self._live()
        mem = inst.view().copy()
        py = (
            self._pending,
            self._good_code,
            self._carry.copy(),
            self._frames,
            list(self._history),
            self._history_blocks,
            inst.last_code,
            inst.code_ptr,
            inst.code_cap,
        )
        return EngineState(inst, mem, py)

    def restore(self, state: EngineState) -> None:
        """Return to a state captured by :meth:`snapshot` on this same wasm instance.

        Memory that the engine grew after the snapshot stays allocated but unused.

        Raises:
            GlicolError: if the snapshot was taken from another instance (another
                engine, or this one before a reset or a rebuild).
        """
        if not isinstance(state, EngineState) or not state.valid_for(self):
            raise GlicolError(
                "this snapshot belongs to another wasm instance (another engine, or this one "
                "before reset() or a rebuild after an error); take a new snapshot"
            )
        inst = self._inst
        assert inst is not None
        inst.view()[: state._memory.size] = state._memory
        (
            self._pending,
            self._good_code,
            carry,
            self._frames,
            history,
            self._history_blocks,
            inst.last_code,
            code_ptr,
            code_cap,
        ) = state._python
        self._carry = carry.copy()
        self._history = list(history)
        if code_ptr != inst.code_ptr:
            inst.code_ptr, inst.code_cap = code_ptr, code_cap
            inst.setup(inst.store, inst.in_ptr, inst.out_ptr, inst.res_ptr, inst.dst_ptr, code_ptr)

    def close(self) -> None:
        """Release the wasm instance. The engine can be used again after :meth:`reset`."""
        self._inst = None
        self._dead = "the engine was closed"

    def _live(self) -> _Instance:
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
        self._live()
        self._pending = code

    def load_sample(self, name: str, audio: np.ndarray, sample_rate: int) -> None:
        r"""Make ``audio`` playable as ``sp \name`` (triggered by e.g. ``seq 60 >> sp \name``).

        Args:
            name: Sample name: lowercase letters, digits and ``_``, starting with a
                letter; a leading backslash is optional.
            audio: float audio, shape (n,) mono, or (channels, n) with 1 or 2
                channels (librosa's layout); values should lie within [-1, 1].
            sample_rate: The audio's own sample rate in Hz; the engine resamples on
                playback.

        Raises:
            ValueError: on a bad name, shape, empty or non-finite audio.
        """
        if not isinstance(name, str):
            raise TypeError(f"sample name must be a str, got {type(name).__name__}")
        key = name if name.startswith("\\") else "\\" + name
        if not re.fullmatch(r"\\[a-z][a-z0-9_]*", key):
            raise ValueError(
                f"sample name must be lowercase letters, digits or '_' starting with a letter, got {name!r}"
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
        if not 1000 <= int(sample_rate) <= 384000:
            raise ValueError(
                f"sample {name!r}: sample_rate must be within 1000..384000 Hz, got {sample_rate}"
            )
        sample = _Sample(np.ascontiguousarray(a).reshape(-1), a.shape[0], int(sample_rate))
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
        """
        if isinstance(frames, bool) or not isinstance(frames, (int, np.integer)) or frames < 0:
            raise ValueError(f"frames must be a non-negative int, got {frames!r}")
        inst = self._live()
        frames = int(frames)
        have = self._carry.shape[1]
        need = frames - have
        nblocks = -(-need // BLOCK) if need > 0 else 0
        pending = self._pending
        code = pending.encode() if (pending is not None and nblocks) else None
        try:
            blocks, res, _ = inst.render_blocks(nblocks, code)
        except wasmtime.Trap as e:
            self._recover(GlicolTrapError(_trap_message(e, pending)))
        except wasmtime.WasmtimeError as e:  # pragma: no cover - defensive
            self._recover(GlicolTrapError(f"wasmtime error: {_first_line(e)}"))
        if res is not None:
            err = decode_result(res, pending or "")
            assert err is not None
            self._recover(err)
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
        if code is not None:
            self._good_code = pending
            self._pending = None
        if nblocks:
            self._history_blocks += nblocks
            if self._history_blocks <= _REPLAY_LIMIT_BLOCKS:
                self._history.append((code, nblocks))
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

    def _recover(self, err: GlicolError) -> None:
        """Rebuild a fresh instance in the state before the failing call, then raise."""
        self._pending = None
        self._inst = None
        if self._history_blocks > _REPLAY_LIMIT_BLOCKS:
            self._dead = f"{type(err).__name__} after a long performance (not replayed)"
            err._set_recovered(False)
            raise err
        try:
            inst = self._new_instance()
            for code, nblocks in self._history:
                _, res, _ = inst.render_blocks(nblocks, code)
                if res is not None:  # pragma: no cover - history holds only good code
                    raise GlicolError("replay failed")
        except (wasmtime.Trap, GlicolError) as e:  # pragma: no cover - defensive
            self._dead = f"rebuild after {type(err).__name__} failed: {e}"
            err._set_recovered(False)
            raise err from None
        self._inst = inst
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


# Re-exported for type checkers; GlicolCodeError is part of the public error tree.
_ = GlicolCodeError
