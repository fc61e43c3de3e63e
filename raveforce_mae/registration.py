"""Registration with Gymnasium's and PettingZoo's registries (done at import)."""

from __future__ import annotations

import sys

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser, as a package
    import tomli as tomllib

__all__ = ["env_id", "register_envs"]

NAMESPACE = "raveforce_mae"


def env_id(scenario: str, version: int | None = None, *, sampled: bool = False) -> str:
    """The registry id of a built-in scenario, e.g. ``raveforce_mae/DrumLoop-v1``.

    With ``sampled=True``, the id of its sampled-targets variant
    (``raveforce_mae/BasslineSampled-v1``: ``targets="sampled"``).
    """
    from .envs.parallel import ENV_VERSION

    v = ENV_VERSION if version is None else version
    camel = "".join(p.capitalize() for p in scenario.split("_"))
    return f"{NAMESPACE}/{camel}{'Sampled' if sampled else ''}-v{v}"


def _has_distribution(name: str) -> bool:
    from .scenario import scenario_path

    try:
        data = tomllib.loads(scenario_path(name).read_text(encoding="utf-8"))
        return any(isinstance(t, dict) and "distribution" in t for t in data.get("tracks", {}).values())
    except Exception:  # noqa: BLE001 - registration must never break the import
        return False


def register_envs() -> None:
    """Register every built-in scenario, once.

    Gymnasium: ``gymnasium.make("raveforce_mae/Kick-v1")`` (single-agent env). No
    ``max_episode_steps`` is registered: the env ends its episodes itself after
    ``max_cycles`` steps (default: the scenario's), so ``make(id, max_cycles=32)`` plays
    32 steps; an explicit ``make(id, max_episode_steps=n)`` still adds Gymnasium's
    ``TimeLimit``. PettingZoo (>= 1.27):
    ``pettingzoo.make("parallel", "raveforce_mae/Ensemble-v1")`` and ``"aec"``.
    Each scenario with a target distribution also has a ``<Name>Sampled-v1`` id
    (``targets="sampled"``, a new target every reset; pass ``split="test"`` to
    ``make`` for the held-out targets), as Gymnasium names variants of one task
    (``LunarLanderContinuous``): the plain ids keep the fixed reference.
    """
    import gymnasium

    from .scenario import list_scenarios

    try:
        from pettingzoo.env_registry import registration as pz
    except ImportError:  # pragma: no cover - pettingzoo < 1.27
        pz = None
    for name in list_scenarios():
        variants: list[tuple[str, dict[str, str]]] = [(env_id(name), {"scenario": name})]
        if _has_distribution(name):
            variants.append((env_id(name, sampled=True), {"scenario": name, "targets": "sampled"}))
        for eid, kwargs in variants:
            if eid not in gymnasium.registry:
                gymnasium.register(
                    id=eid,
                    entry_point="raveforce_mae.envs.gym_env:RaveforceGymEnv",
                    kwargs=kwargs,
                    # None: a registered TimeLimit would cut max_cycles=N short (the env ends itself)
                    max_episode_steps=None,
                )
            if pz is not None:
                if eid not in pz.parallel_registry:
                    pz.register("parallel", eid, "raveforce_mae.envs.aec:parallel_env", kwargs=kwargs)
                if eid not in pz.aec_registry:
                    pz.register("aec", eid, "raveforce_mae.envs.aec:env", kwargs=kwargs)
