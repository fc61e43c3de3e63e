"""Where an episode's target comes from: distributions, MIDI folders, audio folders.

A scenario with a :class:`TargetSource` can give a different target every episode
(``targets="sampled"`` on the environments). The source is plain data (it pickles):

- ``splits``: the ``[tracks.<name>.distribution]`` tables as a
  :class:`~raveforce_mae.distributions.TargetSplits` (train/test by tune hash);
- ``midi``: tracks whose ``[targets]`` entry is a folder of ``.mid`` files
  (:class:`~raveforce_mae.midi.MidiFolder`, train/test by file name);
- ``folder``: ``[targets] folder = "loops/"``, a folder of audio loops
  (:class:`~raveforce_mae.folder_targets.FolderTargets`, train/test by subfolder name);
- ``blocks``: each track's reference block (MIDI files merged in), which the drawn
  values are merged over: a parameter without a distribution keeps its reference.

:func:`render_target` turns target ``k`` of a split into :class:`Targets` through the
same rendering path (and the same checks) as the scenario's fixed reference.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..distributions import TargetSplits
from ..errors import ScenarioError
from ..folder_targets import FolderTargets
from ..midi import MidiFolder
from .model import FrozenDict, Scenario, Targets
from .targets import Stage, audio_targets, reference_performance, render_targets
from .validation import Ctx

__all__ = ["SPLITS", "EpisodeTarget", "TargetSource", "render_target", "stage_of"]

SPLITS = ("train", "test")
"""The two splits of every target source."""


@dataclass(frozen=True)
class EpisodeTarget:
    """One rendered episode target.

    Attributes:
        targets: The target audio.
        reference: Per step, track -> parameter values (``None`` for audio targets).
        blocks: The reference blocks it was rendered from (``None`` for audio targets):
            track -> parameter -> one value per step.
        files: For an audio folder target, key -> file.
        actions: Per step, agent -> the normalised action that replays the target
            (``None`` for audio targets).
    """

    targets: Targets
    reference: tuple[Mapping[str, Mapping[str, float]], ...] | None
    blocks: Mapping[str, Mapping[str, list[Any]]] | None = None
    files: Mapping[str, str] = field(default_factory=lambda: FrozenDict())
    actions: tuple[Mapping[str, np.ndarray], ...] | None = None


@dataclass(frozen=True, eq=False)
class TargetSource:
    """The targets a scenario can draw from (see the module docs).

    Attributes:
        splits: Parameter distributions, or ``None``.
        midi: Track name -> folder of MIDI lines.
        folder: A folder of audio loops, or ``None``.
        blocks: Track name -> reference block (values or one list per step).
        per_track: Whether target stems are kept (``[targets] per_track``).
    """

    splits: TargetSplits | None
    midi: Mapping[str, MidiFolder]
    folder: FolderTargets | None
    blocks: Mapping[str, Mapping[str, Any]]
    per_track: bool = True

    def size(self, split: str) -> int | None:
        """How many targets ``split`` holds (``None``: any index in ``[0, 2**64)``)."""
        check_split(split)
        if self.folder is not None:
            return len(self.folder.split(split))
        if self.splits is not None:
            return None if split == "train" else self.splits.n_test
        return max(len(m.split(split)) for m in self.midi.values())

    def index(self, split: str, draw: int) -> int:
        """The target index for a random 63-bit ``draw`` (``draw % size``, or ``draw``)."""
        n = self.size(split)
        return int(draw) if n is None else int(draw) % n

    def check_index(self, split: str, k: Any) -> int:
        """``k`` as a valid index of ``split``, or a ``ValueError`` naming the valid range."""
        n = self.size(split)
        hi = (1 << 64) if n is None else n
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 <= int(k) < hi:
            rng = "[0, 2**64)" if n is None else f"0..{n - 1}"
            raise ValueError(f"options['target'] of the {split} split must be an integer in {rng}, got {k!r}")
        return int(k)

    def blocks_for(self, split: str, k: int) -> dict[str, dict[str, Any]]:
        """The reference blocks of target ``k`` of ``split`` (not for audio folders)."""
        out = {t: dict(b) for t, b in self.blocks.items()}
        if self.splits is not None:
            drawn = self.splits.get(split, k)
            for t, b in drawn.items():
                out[t] = {**out.get(t, {}), **b}
        for t, folder in self.midi.items():
            files = folder.split(split)
            if not files:
                raise ScenarioError(f"{folder.path}: the {split} split holds no .mid file")
            out[t] = {**out.get(t, {}), **folder.reference(split, k % len(files))}
        return out


def check_split(split: Any) -> str:
    """``split`` if it is ``"train"`` or ``"test"``, else a ``ValueError``."""
    if split not in SPLITS:
        raise ValueError(f'split must be "train" or "test", got {split!r}')
    return str(split)


def stage_of(sc: Scenario) -> Stage:
    """What rendering needs of a scenario."""
    return Stage(sc.sample_rate, sc.bpm, sc.seed, sc.samples, sc.tracks, sc.bounds)


def render_target(sc: Scenario, source: TargetSource, split: str, k: int) -> EpisodeTarget:
    """Render target ``k`` of ``split`` of a scenario's source.

    Raises:
        ScenarioError: if the drawn values or files cannot make a target (the message
            names the split and the index).
    """
    stage = stage_of(sc)
    ctx = Ctx(sc.path)
    ctx.where = f"{ctx.where} ({split} target {k})"
    if source.folder is not None:
        item = source.folder.split(split)[k]
        raw = {key: str(p) for key, p in item.items() if p is not None}
        base = source.folder.path
        targets = audio_targets(ctx, stage, raw, Path(base), source.per_track)
        return EpisodeTarget(targets, None, None, FrozenDict(raw))
    blocks = source.blocks_for(split, k)
    reference, actions = reference_performance(ctx, stage, blocks, True)
    with warnings.catch_warnings():
        # a drawn pattern may leave a track silent (no hit in a bar): a valid target
        warnings.filterwarnings("ignore", message=".*reference performance of track .* is silent")
        targets = render_targets(ctx, stage, reference, source.per_track)
    frozen = FrozenDict({t: FrozenDict(b) for t, b in blocks.items()})
    return EpisodeTarget(targets, reference, frozen, actions=actions)
