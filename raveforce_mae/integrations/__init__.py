"""Adapters for multi-agent RL libraries that need more than the PettingZoo API.

Each submodule imports its library lazily and says which extra installs it:

- :mod:`raveforce_mae.integrations.torchrl`: ``torchrl_env()`` and ``group_map()``
  (``pip install raveforce-mae[torchrl]``).
- :mod:`raveforce_mae.integrations.benchmarl`: a BenchMARL task class
  (``pip install raveforce-mae[benchmarl]``).

Libraries that take a PettingZoo or Gymnasium env directly (SuperSuit, Stable-Baselines3,
RLlib, AgileRL) need nothing from here; docs/integrations.md has a recipe for each.
"""

from __future__ import annotations

__all__: list[str] = []
