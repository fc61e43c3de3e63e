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


SONIC_PI_DIRS = (Path("/usr/share/sonic-pi/samples"), Path("/tmp/sonic-pi-samples"))
"""Where Debian's sonic-pi-samples puts its recordings (``apt-get install sonic-pi-samples``,
as ``.ci/install-samples`` does), or where ``dpkg -x`` of the package was unpacked."""


def sonic_pi_sample(*names: str) -> Path:
    """The first of ``names`` (e.g. ``"bd_haus.flac"``) found in Debian's sonic-pi-samples.

    Real recordings that nobody here made. Outside CI a missing package skips the test
    (with the command that installs it); under CI (``CI`` set) it fails, so that the tests
    that play real audio always run there.
    """
    import os

    for base in SONIC_PI_DIRS:
        if base.exists():
            for name in names:
                hits = sorted(base.rglob(name))
                if hits:
                    return hits[0]
    message = f"sonic-pi-samples not installed (none of {names}); run: bash .ci/install-samples"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)
