"""Offline rendering with the Glicol live-coding engine (WebAssembly, via wasmtime).

``glicol_wasm`` drives the Glicol 0.13 engine shipped in the npm package
``glicol@0.4.0``. It knows nothing of reinforcement learning.

Quick start::

    $ python -m glicol_wasm fetch          # once: obtain and verify the engine
    >>> import glicol_wasm
    >>> audio = glicol_wasm.render("o: sin 440 >> mul 0.5", seconds=1.0)
    >>> audio.shape, audio.dtype
    ((2, 44100), dtype('float32'))
"""

from __future__ import annotations

from .binary import cache_dir, fetch, locate
from .engine import (
    BLOCK,
    MAX_SEED,
    MIN_SEED,
    RESTORE_SLACK,
    SAMPLE_FILE_RATES,
    SAMPLE_RATES,
    Engine,
    EngineState,
    check_seed,
    render,
)
from .errors import (
    ConcurrentUseError,
    EngineCacheError,
    EngineIntegrityError,
    EngineUnavailableError,
    GlicolCodeError,
    GlicolError,
    GlicolNonFiniteError,
    GlicolParseError,
    GlicolReferenceError,
    GlicolSampleError,
    GlicolTrapError,
)
from .guard import ConcurrentUseGuard

__version__ = "0.1.0"

__all__ = [
    "BLOCK",
    "MAX_SEED",
    "MIN_SEED",
    "RESTORE_SLACK",
    "SAMPLE_FILE_RATES",
    "SAMPLE_RATES",
    "ConcurrentUseError",
    "ConcurrentUseGuard",
    "Engine",
    "EngineCacheError",
    "EngineState",
    "EngineIntegrityError",
    "EngineUnavailableError",
    "GlicolCodeError",
    "GlicolError",
    "GlicolNonFiniteError",
    "GlicolParseError",
    "GlicolReferenceError",
    "GlicolSampleError",
    "GlicolTrapError",
    "cache_dir",
    "check_seed",
    "fetch",
    "locate",
    "render",
    "__version__",
]
