"""Scenarios: musical tasks, loaded from TOML files and validated.

A scenario says which tracks play (one agent each), each track's Glicol chain with
holes for the numbers its agent chooses, the timing, the targets and the reward and
observation settings. Built-in scenarios ship with the package (``list_scenarios()``);
any TOML file in the same format can be loaded by path. The file format is documented
in ``scenarios/README.md``.

The package: :mod:`.model` (the frozen data), :mod:`.loader` (files, built-ins,
overrides), :mod:`.validation` (checks with precise messages) and :mod:`.targets`
(reading, resampling and rendering targets).

>>> sc = load_scenario("ensemble")
>>> sc.agents
('bass_0', 'kick_0', 'hat_0')
>>> print(sc.patch(sc.reference[0]))       # the merged Glicol patch of step 0
"""

from __future__ import annotations

from .loader import (
    LATENCY,
    MAX_EPISODE_SECONDS,
    OBSERVATION_KINDS,
    OVERRIDE_KEYS,
    list_scenarios,
    load_scenario,
    scenario_from_dict,
    scenario_path,
)
from .model import Scenario, Targets, Track
from .validation import BUILTIN_CONSTANTS

__all__ = [
    "BUILTIN_CONSTANTS",
    "LATENCY",
    "MAX_EPISODE_SECONDS",
    "OBSERVATION_KINDS",
    "OVERRIDE_KEYS",
    "Scenario",
    "Targets",
    "Track",
    "list_scenarios",
    "load_scenario",
    "scenario_from_dict",
    "scenario_path",
]
