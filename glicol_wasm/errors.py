"""Exceptions raised by the Glicol engine binding.

Every error derives from :class:`GlicolError`. Errors that the engine reports while
applying new code (parse errors, missing samples, undefined references) and traps
carry ``recovered``: ``True`` when the :class:`~glicol_wasm.Engine` rebuilt itself in
the exact state it had before the failing code (the bad code is discarded and the
next ``render`` continues the previous performance), ``False`` when the engine is
unusable until :meth:`~glicol_wasm.Engine.reset`.
"""

from __future__ import annotations

import re

__all__ = [
    "GlicolError",
    "GlicolCodeError",
    "GlicolParseError",
    "GlicolSampleError",
    "GlicolReferenceError",
    "GlicolTrapError",
    "GlicolNonFiniteError",
    "EngineUnavailableError",
    "EngineIntegrityError",
    "EngineCacheError",
    "ConcurrentUseError",
]


class GlicolError(Exception):
    """Root of every error raised by :mod:`glicol_wasm`.

    Attributes:
        recovered: ``True`` if the engine rebuilt itself from its last good state and
            can be used on; ``False`` if it must be reset first. ``None`` for errors
            that do not concern a running engine (e.g. a missing binary).
    """

    recovered: bool | None = None

    def _set_recovered(self, recovered: bool) -> None:
        self.recovered = recovered
        note = (
            "the engine was rebuilt from its last good code and state; the failing code was discarded"
            if recovered
            else "the engine is unusable until reset()"
        )
        # BaseException.add_note exists from Python 3.11 on; on 3.10 the note joins the message.
        add_note = getattr(self, "add_note", None)
        if add_note is not None:
            add_note(note)
        else:  # pragma: no cover - Python 3.10
            self.args = (f"{self.args[0]}\n{note}" if self.args else note, *self.args[1:])


class GlicolCodeError(GlicolError):
    """The engine rejected new code while applying it.

    Attributes:
        code: The engine's numeric error code (1 parse, 2 sample, 3 reference).
        message: The engine's own message, decoded from its result buffer.
        source: The Glicol code that was rejected.
    """

    kind = "code error"

    def __init__(self, code: int, message: str, source: str = "") -> None:
        self.code = code
        self.message = message
        self.source = source
        super().__init__(self._describe())

    def _describe(self) -> str:
        return f"Glicol {self.kind} (engine code {self.code}): {self.message}"


_POS = re.compile(r"line\[(\d+)\], col\[(\d+)\]")
_EXPECTED = re.compile(r"positives\[([^\]]*)\]")


class GlicolParseError(GlicolCodeError):
    """The code does not parse (engine code 1).

    Attributes:
        line: 1-based line of the error, or ``None`` if the engine gave none.
        col: 1-based column of the error, or ``None``.
        expected: What the parser expected at that position (e.g. ``["node"]``).
    """

    kind = "parse error"

    def __init__(self, code: int, message: str, source: str = "") -> None:
        m = _POS.search(message)
        self.line = int(m.group(1)) if m else None
        self.col = int(m.group(2)) if m else None
        e = _EXPECTED.search(message)
        self.expected = [s.strip() for s in e.group(1).split(",") if s.strip()] if e else []
        super().__init__(code, message, source)

    def _describe(self) -> str:
        where = f" at line {self.line}, column {self.col}" if self.line else ""
        text = f"Glicol parse error{where}: {self.message}"
        if self.line and self.col and self.source:
            lines = self.source.splitlines() or [""]
            if 1 <= self.line <= len(lines):
                text += f"\n    {lines[self.line - 1]}\n    {' ' * (self.col - 1)}^"
        if self.expected:
            text += f"\n  expected: {', '.join(self.expected)}"
        return text


class GlicolSampleError(GlicolCodeError):
    """The code plays a sample that was never loaded (engine code 2)."""

    kind = "missing sample"


class GlicolReferenceError(GlicolCodeError):
    """The code uses a reference (``~name`` or a bare name) that is not defined (engine code 3)."""

    kind = "undefined reference"


class GlicolTrapError(GlicolError):
    """The engine panicked (a WebAssembly trap). The wasm instance is dead after it.

    Known triggers in this build: the nodes ``pan``, ``reverb``, ``expr``,
    ``sendpass``; ``sig "..."`` without ``(span)``; ``meta``/``eval`` script errors;
    huge ``delayms`` values.
    """


class GlicolNonFiniteError(GlicolError):
    """The engine produced NaN or infinite samples.

    Attributes:
        frame: Index (within the failing render) of the first non-finite frame.
        source: The code that was playing.
    """

    def __init__(self, message: str, frame: int = -1, source: str = "") -> None:
        self.frame = frame
        self.source = source
        super().__init__(message)


class EngineUnavailableError(GlicolError):
    """The Glicol wasm binary is not available (not fetched, file missing, npm failed)."""


class EngineIntegrityError(GlicolError):
    """A Glicol wasm binary or tarball does not match the expected hash."""


class EngineCacheError(GlicolError):
    """The compiled-module cache is not private to the current user, so it is not used.

    A compiled module is native code that wasmtime runs without further checks, so a
    cache folder or file that another user can write (or that another user owns) is
    refused rather than trusted. The message names the path, its owner and mode, and
    the command that fixes it.
    """


class ConcurrentUseError(GlicolError, RuntimeError):
    """An object that is not thread-safe was entered by a second thread.

    Raised by :class:`~glicol_wasm.ConcurrentUseGuard`: an :class:`~glicol_wasm.Engine`
    (and anything built on one) must be used by one thread at a time. Two threads
    inside one wasm instance corrupt its state or abort the process, so the second
    call is refused instead. Use one engine per thread (engines in different threads
    are independent and give bit-identical audio), or processes.
    """


_CODE_CLASSES: dict[int, type[GlicolCodeError]] = {
    1: GlicolParseError,
    2: GlicolSampleError,
    3: GlicolReferenceError,
}


def decode_result(buf: bytes, source: str = "") -> GlicolCodeError | None:
    """Decode the engine's 256-byte result buffer.

    Args:
        buf: The raw result buffer: ``buf[0]`` is the code, ``buf[2:]`` an ASCII
            message padded with zero bytes.
        source: The code that was being applied, for the error message.

    Returns:
        The matching exception (not raised), or ``None`` if ``buf[0]`` is 0.
    """
    code = buf[0]
    if code == 0:
        return None
    message = bytes(buf[2:]).split(b"\x00", 1)[0].decode("ascii", "replace").strip()
    cls = _CODE_CLASSES.get(code, GlicolCodeError)
    return cls(code, message, source)
