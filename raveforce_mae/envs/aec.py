"""The AEC form of the ensemble, derived from the parallel env as PettingZoo does."""

from __future__ import annotations

from typing import Any

import numpy as np
from pettingzoo.utils import wrappers
from pettingzoo.utils.conversions import parallel_to_aec_wrapper
from pettingzoo.utils.env import AECEnv

from .parallel import RaveforceParallelEnv

__all__ = ["ValidatingClipWrapper", "ValidatingWrapper", "env", "parallel_env", "raw_env"]


def parallel_env(
    scenario: Any = "ensemble", render_mode: str | None = None, max_cycles: int | None = None, **kwargs: Any
) -> RaveforceParallelEnv:
    """The native parallel form (see :class:`RaveforceParallelEnv`)."""
    return RaveforceParallelEnv(scenario, render_mode=render_mode, max_cycles=max_cycles, **kwargs)


def raw_env(
    scenario: Any = "ensemble", render_mode: str | None = None, max_cycles: int | None = None, **kwargs: Any
) -> AECEnv:
    """The AEC form without wrappers: agents act in turn, the step renders after the last."""
    return parallel_to_aec_wrapper(parallel_env(scenario, render_mode, max_cycles, **kwargs))


class ValidatingClipWrapper(wrappers.ClipOutOfBoundsWrapper):
    """PettingZoo's out-of-bounds clipping (with its warning), after our own validation.

    NaN/inf, wrong shapes and wrong dtypes (``None`` for a live agent included) raise :class:`~raveforce_mae.ParameterError`
    naming the agent and parameter, instead of the bare assertion of the base wrapper.
    """

    def step(self, action: np.ndarray | None) -> None:  # noqa: D102 - see class docs
        agent = self.agent_selection
        if not (self.terminations[agent] or self.truncations[agent]):
            # a live agent must act: None is refused here, at its own turn, rather than
            # when the parallel step runs after the last agent's turn
            action = self.unwrapped.validate_action(agent, action).astype(np.float32)
        super().step(action)


class ValidatingWrapper(wrappers.BaseWrapper):
    """Validation of discrete actions at each agent's turn (``action_type="discrete"``).

    PettingZoo's out-of-bounds wrappers are for ``Box`` and ``Discrete`` spaces; this
    one refuses an index outside the ``MultiDiscrete`` space (or a wrong dtype or shape)
    with :class:`~raveforce_mae.ParameterError`, naming the agent and parameter.
    """

    def step(self, action: np.ndarray | None) -> None:  # noqa: D102 - see class docs
        agent = self.agent_selection
        if not (self.terminations[agent] or self.truncations[agent]):
            action = self.unwrapped.validate_action(agent, action)
        super().step(action)


def env(
    scenario: Any = "ensemble", render_mode: str | None = None, max_cycles: int | None = None, **kwargs: Any
) -> AECEnv:
    """The AEC form, wrapped as PettingZoo wraps its envs: validation (and clipping for
    ``Box`` actions), then order enforcing.
    """
    e = raw_env(scenario, render_mode, max_cycles, **kwargs)
    if kwargs.get("action_type", "box") == "discrete":
        e = ValidatingWrapper(e)
    else:
        e = ValidatingClipWrapper(e)
    return wrappers.OrderEnforcingWrapper(e)
