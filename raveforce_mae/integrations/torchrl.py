"""TorchRL: the ensemble as a TorchRL ``EnvBase``, with agents grouped for parameter sharing.

TorchRL's ``PettingZooWrapper`` groups agents by the part of their name before the last
``_``, so ``bass_0``, ``kick_0`` and ``hat_0`` become three groups of one and nothing
is shared between them. Here the default is one group holding every agent (all agents
of an env have the same spaces unless ``native_spaces=True``), which is what
parameter-sharing algorithms (MAPPO, IPPO, QMIX, ... with shared parameters) want:

>>> from raveforce_mae.integrations.torchrl import torchrl_env
>>> env = torchrl_env("ensemble")                  # group "agents": bass_0, kick_0, hat_0
>>> td = env.rollout(16)
>>> td["agents", "observation"].shape              # (steps, agents, features)

Install with ``pip install 'raveforce-mae[torchrl]'``.
"""

from __future__ import annotations

from typing import Any

from pettingzoo.utils.env import AECEnv, ParallelEnv

from ._require import require

__all__ = ["GROUPINGS", "group_map", "torchrl_env"]

GROUPINGS = ("shared", "per_role", "per_agent")
"""The agent groupings :func:`group_map` builds."""

SHARED_GROUP = "agents"
"""Name of the single group of the ``"shared"`` grouping."""


def _parallel(env: Any) -> Any:
    """The raveforce parallel env under ``env`` (parallel, AEC, wrapped or not)."""
    e = getattr(env, "unwrapped", env)
    # parallel_to_aec_wrapper keeps the parallel env in .env
    while not hasattr(e, "scenario") and hasattr(e, "env"):
        e = getattr(e.env, "unwrapped", e.env)
    if not hasattr(e, "scenario"):
        raise TypeError(f"expected a raveforce_mae environment, got {type(env).__name__}")
    return e


def group_map(env: Any, grouping: str = "shared") -> dict[str, list[str]]:
    """A TorchRL ``group_map`` for a raveforce env.

    Args:
        env: A raveforce parallel or AEC env (wrapped or not).
        grouping: ``"shared"``: one group ``"agents"`` with every agent, for parameter
            sharing (needs identical spaces, the default unless ``native_spaces=True``);
            ``"per_role"``: one group per role (``bass``, ``kick``, ...; TorchRL's own
            default); ``"per_agent"``: one group per agent, nothing shared.

    Returns:
        Group name -> agent names, in the env's agent order.

    Raises:
        ValueError: on an unknown grouping, or ``"shared"`` with agents whose spaces
            differ.
    """
    par = _parallel(env)
    agents = list(par.possible_agents)
    if grouping == "shared":
        first = agents[0]
        for a in agents[1:]:
            if par.action_space(a) != par.action_space(first) or par.observation_space(
                a
            ) != par.observation_space(first):
                raise ValueError(
                    f'grouping "shared" needs identical spaces for all agents, but {a!r} and {first!r} '
                    f"differ (action {par.action_space(a)} vs {par.action_space(first)}); use "
                    f'grouping="per_agent" or "per_role", or create the env without native_spaces=True'
                )
        return {SHARED_GROUP: agents}
    if grouping == "per_role":
        out: dict[str, list[str]] = {}
        for t in par.scenario.tracks:
            out.setdefault(t.role, []).append(t.agent)
        return out
    if grouping == "per_agent":
        return {a: [a] for a in agents}
    raise ValueError(f"grouping must be one of {list(GROUPINGS)}, got {grouping!r}")


def torchrl_env(
    scenario: Any = "ensemble",
    *,
    parallel: bool = True,
    grouping: str = "shared",
    return_state: bool = True,
    categorical_actions: bool = True,
    seed: int | None = None,
    device: Any = "cpu",
    **env_kwargs: Any,
) -> Any:
    """A raveforce env wrapped in TorchRL's ``PettingZooWrapper``.

    Args:
        scenario: A scenario name, path or ``Scenario`` (a new env is created with
            ``env_kwargs``), or an existing raveforce PettingZoo env (parallel or AEC).
        parallel: Wrap the parallel form (all agents act each step); False wraps the
            AEC form (agents act in turn; TorchRL then outputs a ``mask`` per group).
        grouping: See :func:`group_map`; default one shared group ``"agents"``.
        return_state: Add the env's global ``state()`` as ``"state"`` (for
            centralised critics such as MAPPO's).
        categorical_actions: Passed to TorchRL (matters for discrete action spaces).
        seed: Seed for the first reset.
        device: TorchRL device of the output tensors.
        **env_kwargs: Passed to ``raveforce_mae.parallel_env`` / ``env`` when
            ``scenario`` is not an env.

    Returns:
        A ``torchrl.envs.PettingZooWrapper``.
    """
    pz = require("torchrl.envs.libs.pettingzoo", "torchrl")
    import raveforce_mae

    if isinstance(scenario, (ParallelEnv, AECEnv)):
        if env_kwargs:
            raise TypeError(
                f"env_kwargs {sorted(env_kwargs)} given with an existing env; pass a scenario instead"
            )
        base = scenario
        parallel = isinstance(base, ParallelEnv)
    else:
        base = (raveforce_mae.parallel_env if parallel else raveforce_mae.env)(scenario, **env_kwargs)
    return pz.PettingZooWrapper(
        base,
        return_state=return_state,
        group_map=group_map(base, grouping),
        use_mask=not parallel,  # AEC: one agent acts per step, TorchRL requires the mask
        categorical_actions=categorical_actions,
        seed=seed,
        device=device,
    )
