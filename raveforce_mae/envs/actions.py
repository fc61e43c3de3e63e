"""Actions of the environments: the discrete (``MultiDiscrete``) form and its masks.

With ``action_type="discrete"`` each agent picks one index per parameter: exact
values for ``note``, ``choose`` and ``int``, ``discrete_bins`` values (both ends
included, linear or geometric) for ``lin`` and ``exp``. An index maps to the
normalised action ``u`` that the continuous form would take for the same value, so the
two forms play bit-identical audio. Spaces are padded to the largest track; the action
mask (one flat ``int8`` vector of length ``sum(nvec)``) marks the valid indices.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
from gymnasium import spaces

from ..errors import ParameterError

__all__ = [
    "ACTION_TYPES",
    "DISCRETE_BINS",
    "DiscreteTables",
    "MaskedMultiDiscrete",
    "discrete_tables",
    "validate_indices",
]

ACTION_TYPES = ("box", "discrete")
"""Valid values of the ``action_type`` keyword."""

DISCRETE_BINS = 11
"""Default number of indices of a ``lin`` or ``exp`` parameter with ``action_type="discrete"``."""


class DiscreteTables(NamedTuple):
    """The spaces and lookup tables of the discrete form, one entry per track."""

    native: list[MaskedMultiDiscrete]
    shared: MaskedMultiDiscrete
    tables: list[np.ndarray]
    counts: list[np.ndarray]
    masks: list[np.ndarray]


def discrete_tables(tracks: Sequence[Any], action_dim: int, bins: int, native_spaces: bool) -> DiscreteTables:
    """Build the discrete spaces, masks and index -> ``u`` tables of ``tracks``."""
    units = [[p.discrete_units(bins) for p in t.free] for t in tracks]
    own = [[len(u) for u in us] for us in units]
    shared = [max((o[j] for o in own if j < len(o)), default=1) for j in range(action_dim)]
    tables: list[np.ndarray] = []
    counts_all: list[np.ndarray] = []
    masks: list[np.ndarray] = []
    for i, us in enumerate(units):
        nvec = own[i] if native_spaces else shared
        # One row per entry, one column per index; a masked index repeats the last
        # valid u (the documented clipping), padding rows are never read.
        table = np.zeros((len(nvec), max(nvec, default=1)), np.float64)
        counts = np.ones(len(nvec), np.int64)
        for j, u in enumerate(us):
            table[j, : len(u)] = u
            table[j, len(u) :] = u[-1]
            counts[j] = len(u)
        mask = np.concatenate([np.arange(n) < c for n, c in zip(nvec, counts, strict=True)]).astype(np.int8)
        tables.append(table)
        counts_all.append(counts)
        masks.append(mask)
    return DiscreteTables(
        [MaskedMultiDiscrete(o) for o in own], MaskedMultiDiscrete(shared), tables, counts_all, masks
    )


def validate_indices(agent: str, track: Any, a: np.ndarray, space: spaces.Space[Any]) -> np.ndarray:
    """Check a ``MultiDiscrete`` action; returns it as int64 indices."""
    assert isinstance(space, spaces.MultiDiscrete)
    if a.dtype.kind not in "iu":
        raise ParameterError(
            f"action for {agent!r} must be an integer array of shape {space.shape} "
            f"(indices below {space.nvec.tolist()}), got dtype {a.dtype}"
        )
    if a.shape != space.shape:
        raise ParameterError(
            f"action for {agent!r} must have shape {space.shape} "
            f"(indices below {space.nvec.tolist()}), got shape {a.shape}"
        )
    a = a.astype(np.int64, copy=False)
    bad = (a < 0) | (a >= space.nvec)
    if bad.any():
        j = int(np.argmax(bad))
        free = track.free
        pname = free[j].name if j < len(free) else f"padding[{j}]"
        raise ParameterError(
            f"action for {agent!r} has index {int(a[j])} at entry {j} (parameter {pname!r} of "
            f"track {track.name!r}); expected an index in [0, {int(space.nvec[j]) - 1}]"
        )
    return a


class MaskedMultiDiscrete(spaces.MultiDiscrete):
    """A ``MultiDiscrete`` whose ``sample(mask)`` also takes the flat, concatenated mask.

    The environments give action masks as one ``int8`` vector of length ``sum(nvec)``
    (the layout learning libraries use); Gymnasium's ``MultiDiscrete.sample`` takes a
    tuple with one mask per entry. This class accepts both, so
    ``space.sample(mask=infos[agent]["action_mask"])`` works, as PettingZoo's
    ``seed_test`` calls it. Everything else is ``MultiDiscrete``'s.
    """

    def sample(self, mask: Any = None, probability: Any = None) -> np.ndarray:
        """A random action; ``mask`` is the flat mask or Gymnasium's tuple of masks."""
        if isinstance(mask, np.ndarray) and self.nvec.ndim == 1:
            if mask.shape != (int(self.nvec.sum()),):
                raise ValueError(
                    f"a flat action mask must have shape ({int(self.nvec.sum())},) = (sum(nvec),), got {mask.shape}"
                )
            mask = tuple(np.split(mask.astype(np.int8, copy=False), np.cumsum(self.nvec)[:-1]))
        return super().sample(mask=mask, probability=probability)
