"""Baseline policies: random, black-box search and the scenario's reference.

Modules: :mod:`.policies` (the interface, random, reference), :mod:`.search` (the
black-box search), :mod:`.sb3` (trained models, choosing a policy by kind) and
:mod:`.episodes` (playing an episode).

Three reference points bracket what a learner can reach on a scenario:

* :func:`random_policy`: uniform actions, the floor.
* :func:`search_policy`: a black-box optimiser (CMA-ES from the ``cma`` library) that
  tunes each track's numbers against that track's stem reward, step by step. It
  uses no gradients and no learning, only renders and rewards, so it is the non-RL
  reference that a learner must approach.
* :func:`reference_policy`: the scenario's own performance (the numbers that
  rendered the target), the ceiling.

Every policy has the same small interface (:class:`Policy`) and is played with
:func:`play_episode`::

    >>> import raveforce_mae
    >>> from raveforce_mae import baselines
    >>> env = raveforce_mae.parallel_env("kick")
    >>> result = baselines.play_episode(env, baselines.search_policy(env, budget=100))
    >>> result.mean_reward   # doctest: +SKIP

A trained Stable-Baselines3 model (a ``.zip`` saved by ``examples/train_sb3_ppo.py``)
plays through the same interface with :func:`load_policy`.

How the search works
--------------------
The audio of step ``i`` depends only on the numbers of steps ``0..i`` (the engine
carries oscillator phase, envelopes and sequencer position from one step into the
next, but never looks ahead), and rewards are per step. The search is therefore
greedy over steps: with the best numbers of steps ``0..i-1`` fixed, each candidate
for step ``i`` is rendered from the engine state after that prefix (kept as a
snapshot of the track's wasm instance, so a candidate costs one step's render) and
scored exactly as the environment scores it. Greedy is exact for each step's reward
but myopic: a choice that would only pay off in later steps (a long tail) is not
seen.

Per step and track, ``budget`` candidates are evaluated: the previous step's best
(music repeats), a coarse grid that includes the bounds, a few random points, then
coordinate cycles: every level of the discrete parameters (``note``, ``choose``,
``int``) with the others fixed, then CMA-ES (a line search in one dimension) on the
continuous ones. When the scenario has no target stems, all tracks are searched
together against the mix. ``budget=None`` spends about 3,000 evaluations in all
(:func:`auto_budget`): seconds to tens of seconds on one core.
"""

from __future__ import annotations

from .episodes import EpisodeResult, play_episode
from .policies import ActionSequencePolicy, Policy, RandomPolicy, random_policy, reference_policy
from .sb3 import POLICY_KINDS, SB3Policy, load_policy, make_policy
from .search import (
    AUTO_EVALUATIONS,
    SearchPolicy,
    SearchResult,
    StepRenderer,
    auto_budget,
    search,
    search_policy,
)

__all__ = [
    "AUTO_EVALUATIONS",
    "POLICY_KINDS",
    "ActionSequencePolicy",
    "EpisodeResult",
    "Policy",
    "RandomPolicy",
    "SB3Policy",
    "SearchPolicy",
    "SearchResult",
    "StepRenderer",
    "auto_budget",
    "load_policy",
    "make_policy",
    "play_episode",
    "random_policy",
    "reference_policy",
    "search",
    "search_policy",
]
