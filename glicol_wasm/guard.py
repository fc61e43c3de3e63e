"""Refuse concurrent use of an object that is not thread-safe.

A wasm instance must not be entered by two threads at once: wasmtime's stores are
single-threaded, and two threads rendering one :class:`~glicol_wasm.Engine` were
seen to abort the whole process (a panic in wasmtime's unwinder) or to return
corrupted audio. A :class:`ConcurrentUseGuard` turns that into a clear
:class:`~glicol_wasm.ConcurrentUseError` in the second thread, and costs one
uncontended lock acquisition per call (well under a microsecond).
"""

from __future__ import annotations

import threading
from types import TracebackType
from typing import NoReturn

from .errors import ConcurrentUseError

__all__ = ["ConcurrentUseGuard"]


class ConcurrentUseGuard:
    """A non-blocking, re-entrant guard: one thread at a time, others are refused.

    Use it as a context manager around every call into the guarded object. The
    thread that holds it may enter it again (a method calling another guarded
    method); any other thread gets :class:`~glicol_wasm.ConcurrentUseError`
    immediately instead of waiting, because concurrent use is a bug in the caller,
    not contention to be resolved.

    Args:
        what: How the guarded object is named in the error, e.g. ``"this Engine"``.
        instead: What to use instead, appended to the error message.

    Example:
        >>> guard = ConcurrentUseGuard("this environment", "create one environment per thread")
        >>> with guard:
        ...     pass  # step the environment
    """

    __slots__ = ("_lock", "what", "instead")

    def __init__(
        self,
        what: str = "this object",
        instead: str = "create one per thread (or use processes)",
    ) -> None:
        self._lock = threading.RLock()
        self.what = what
        self.instead = instead

    @property
    def lock(self) -> threading.RLock:
        """The underlying lock, for hot paths that inline the guard.

        ``if not guard.lock.acquire(False): guard.refuse()`` then ``try: ... finally:
        guard.lock.release()`` does what ``with guard:`` does without two Python calls.
        """
        return self._lock

    def refuse(self) -> NoReturn:
        """Raise the :class:`~glicol_wasm.ConcurrentUseError` of this guard."""
        raise ConcurrentUseError(
            f"{self.what} is already in use by another thread; it is not thread-safe "
            f"and concurrent calls would corrupt it or abort the process. Instead, {self.instead}."
        )

    def __enter__(self) -> None:
        if not self._lock.acquire(blocking=False):
            self.refuse()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._lock.release()

    def __deepcopy__(self, memo: dict[int, object]) -> ConcurrentUseGuard:
        # A copy guards a new object: it gets its own, free lock.
        return ConcurrentUseGuard(self.what, self.instead)

    def __getstate__(self) -> tuple[str, str]:
        return (self.what, self.instead)

    def __setstate__(self, state: tuple[str, str]) -> None:
        self._lock = threading.RLock()
        self.what, self.instead = state
