"""Registration with Gymnasium's and PettingZoo's registries (done at import)."""

from __future__ import annotations

__all__ = ["env_id", "register_envs"]

NAMESPACE = "raveforce_mae"


def env_id(scenario: str, version: int | None = None) -> str:
    """The registry id of a built-in scenario, e.g. ``raveforce_mae/DrumLoop-v0``."""
    from .envs.parallel import ENV_VERSION

    v = ENV_VERSION if version is None else version
    camel = "".join(p.capitalize() for p in scenario.split("_"))
    return f"{NAMESPACE}/{camel}-v{v}"


def register_envs() -> None:
    """Register every built-in scenario, once.

    Gymnasium: ``gymnasium.make("raveforce_mae/Kick-v0")`` (single-agent env). No
    ``max_episode_steps`` is registered: the env ends its episodes itself after
    ``max_cycles`` steps (default: the scenario's), so ``make(id, max_cycles=32)`` plays
    32 steps; an explicit ``make(id, max_episode_steps=n)`` still adds Gymnasium's
    ``TimeLimit``. PettingZoo (>= 1.27):
    ``pettingzoo.make("parallel", "raveforce_mae/Ensemble-v0")`` and ``"aec"``.
    """
    import gymnasium

    from .scenario import list_scenarios

    try:
        from pettingzoo.env_registry import registration as pz
    except ImportError:  # pragma: no cover - pettingzoo < 1.27
        pz = None
    for name in list_scenarios():
        eid = env_id(name)
        if eid not in gymnasium.registry:
            gymnasium.register(
                id=eid,
                entry_point="raveforce_mae.envs.gym_env:RaveforceGymEnv",
                kwargs={"scenario": name},
                # None: a registered TimeLimit would cut max_cycles=N short (the env ends itself)
                max_episode_steps=None,
            )
        if pz is not None:
            if eid not in pz.parallel_registry:
                pz.register("parallel", eid, "raveforce_mae.envs.aec:parallel_env", kwargs={"scenario": name})
            if eid not in pz.aec_registry:
                pz.register("aec", eid, "raveforce_mae.envs.aec:env", kwargs={"scenario": name})
