"""BenchMARL: raveforce scenarios as BenchMARL tasks.

>>> from benchmarl.algorithms import MappoConfig
>>> from benchmarl.experiment import Experiment, ExperimentConfig
>>> from benchmarl.models.mlp import MlpConfig
>>> from raveforce_mae.integrations.benchmarl import task
>>> experiment = Experiment(
...     task=task("ensemble"),
...     algorithm_config=MappoConfig.get_from_yaml(),
...     model_config=MlpConfig.get_from_yaml(),
...     critic_model_config=MlpConfig.get_from_yaml(),
...     seed=0,
...     config=ExperimentConfig.get_from_yaml(),
... )
>>> experiment.run()

The task builds the env through :func:`raveforce_mae.integrations.torchrl.torchrl_env`:
the parallel form, all agents in one group ``"agents"`` (so BenchMARL's
``share_policy_params`` shares one policy between them) and the env's ``state()`` as the
global state (MAPPO's centralised critic reads it; IPPO ignores it).

Install with ``pip install 'raveforce-mae[benchmarl]'``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from ._require import require

_common = require("benchmarl.environments.pettingzoo.common", "benchmarl")
_PettingZooClass: Any = _common.PettingZooClass  # untyped library class

__all__ = ["RaveforceTaskClass", "task"]


class RaveforceTaskClass(_PettingZooClass):
    """A BenchMARL ``TaskClass`` for one raveforce scenario.

    Create it with :func:`task`. ``name`` is the scenario (a built-in name, in any case);
    ``config`` holds keyword arguments of ``raveforce_mae.parallel_env`` (``max_cycles``,
    ``shared_weight``, ...) plus optionally ``scenario`` (a path, overriding ``name``) and
    ``grouping`` (see :func:`raveforce_mae.integrations.torchrl.group_map`; default
    ``"shared"``).

    The spec methods (observation, info, state, action mask) are BenchMARL's PettingZoo
    ones, which read the TorchRL env's specs.
    """

    def _env_kwargs(self) -> tuple[Any, str, dict[str, Any]]:
        config = copy.deepcopy(dict(self.config))
        scenario = config.pop("scenario", None) or self.name.lower()
        grouping = config.pop("grouping", "shared")
        return scenario, grouping, config

    def get_env_fun(
        self, num_envs: int, continuous_actions: bool, seed: int | None, device: Any
    ) -> Callable[[], Any]:
        """A function that creates the TorchRL env (BenchMARL batches it itself)."""
        from .torchrl import torchrl_env

        if not continuous_actions:
            raise ValueError(
                "raveforce tasks have continuous actions only; choose a continuous-action "
                "algorithm (MAPPO, IPPO, MADDPG, ISAC, ...)"
            )
        scenario, grouping, config = self._env_kwargs()

        def make() -> Any:
            return torchrl_env(
                scenario,
                parallel=True,
                grouping=grouping,
                return_state=True,
                seed=seed,
                device=device,
                **config,
            )

        return make

    def supports_continuous_actions(self) -> bool:
        """Actions are ``Box`` vectors."""
        return True

    def supports_discrete_actions(self) -> bool:
        """No discrete form yet."""
        return False

    def has_state(self) -> bool:
        """The env has ``state()``: all agents' features concatenated."""
        return True

    def has_render(self, env: Any) -> bool:
        """Renders (spectrograms) only when created with ``render_mode="rgb_array"``."""
        return self.config.get("render_mode") == "rgb_array"

    def max_steps(self, env: Any) -> int:
        """The episode length of the wrapped env (``max_cycles``)."""
        base = env
        while hasattr(base, "base_env"):  # TransformedEnv
            base = base.base_env
        pz = getattr(base, "_env", None)
        if pz is not None:
            return int(pz.unwrapped.max_cycles)
        import raveforce_mae

        scenario, _, config = self._env_kwargs()
        return int(raveforce_mae.parallel_env(scenario, **config).max_cycles)

    @staticmethod
    def env_name() -> str:
        """The environment name BenchMARL uses for folders and logs."""
        return "raveforce_mae"


def task(scenario: str = "ensemble", **config: Any) -> RaveforceTaskClass:
    """The BenchMARL task of a scenario.

    Args:
        scenario: A built-in scenario name or a path to a scenario file.
        **config: Keyword arguments of ``raveforce_mae.parallel_env`` (``max_cycles``,
            ``shared_weight``, ...) and ``grouping`` (``"shared"``, ``"per_role"``,
            ``"per_agent"``).

    Returns:
        A ``TaskClass`` to pass as ``Experiment(task=...)``.
    """
    import os

    name = os.path.splitext(os.path.basename(str(scenario)))[0]
    if name != str(scenario):
        config["scenario"] = str(scenario)
    return RaveforceTaskClass(name=name.upper(), config=config)
