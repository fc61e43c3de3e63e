"""Default settings shared by every layer: one place for the numbers a scenario omits."""

from __future__ import annotations

__all__ = ["DEFAULT_BPM", "DEFAULT_SAMPLE_RATE", "DEFAULT_SEED"]

DEFAULT_SAMPLE_RATE = 44100
"""Sample rate in Hz when a scenario or a rendered file does not give one."""
DEFAULT_BPM = 120.0
"""Tempo in beats per minute when a scenario or a rendered file does not give one."""
DEFAULT_SEED = 42
"""Seed of the engines (Glicol's ``choose`` node) when none is given."""
