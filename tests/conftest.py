"""Shared fixtures: synthetic test signals only, no data files.

The Glicol engine must be installed (``python -m glicol_wasm fetch``); tests that need
it fail rather than skip when it is missing.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest

PATCHES = Path(__file__).resolve().parent.parent / "glicol_wasm" / "patches"


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded random generator (same numbers in every test run)."""
    return np.random.default_rng(20240518)


@functools.lru_cache(maxsize=64)
def _sine(freq: float, sample_rate: int, seconds: float, amp: float, phase: float) -> np.ndarray:
    t = np.arange(round(seconds * sample_rate), dtype=np.float64) / sample_rate
    out = (amp * np.sin(2 * np.pi * freq * t + phase)).astype(np.float32)
    out.flags.writeable = False  # cached: callers must not mutate it
    return out


@pytest.fixture
def sine():
    """``sine(freq, sample_rate, seconds, amp=0.5, phase=0.0)`` -> read-only float32 (n,)."""

    def make(freq: float, sample_rate: int, seconds: float, amp: float = 0.5, phase: float = 0.0):
        return _sine(float(freq), int(sample_rate), float(seconds), float(amp), float(phase))

    return make


@pytest.fixture(scope="session")
def three_tracks() -> str:
    """The 3-track patch shipped with glicol_wasm."""
    return (PATCHES / "three_tracks.glicol").read_text(encoding="utf-8")
