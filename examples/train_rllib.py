"""Multi-agent PPO on Ray RLlib: one policy per track (bass, kick, hat).

The environment is wrapped with RLlib's ``ParallelPettingZooEnv``; each agent is
mapped to its own policy (``policy_mapping_fn = agent id``), so the bass, the kick and
the hat learn separately (independent learners). By default the envs use the native
per-agent action spaces (no padding, no agent one-hot), which per-agent policies
allow; ``--shared-spaces`` gives the padded spaces of the parameter-sharing route.

Local run (a Ray cluster of this machine, two env runners that sample in parallel):

    pip install torch==2.13.0            # first, so pip keeps the local CPU build
    pip install 'raveforce-mae[ray]'
    python examples/train_rllib.py --scenario ensemble --iterations 20

The same script against an existing Ray cluster (started with ``ray start --head`` on
the head node and ``ray start --address=HEAD:6379`` on the workers, each with
raveforce-mae and its engine installed, ``python -m glicol_wasm fetch``):

    python examples/train_rllib.py --address HEAD:6379 --num-env-runners 16

or submit it as a job (``ray job submit --address http://HEAD:8265 --working-dir . --
python examples/train_rllib.py --address auto --num-env-runners 16``). Only the scenario
name travels to the env runners; each builds its own env and wasm engines.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from typing import Any

ENV_NAME = "raveforce_mae_parallel"


def policy_ids(scenario: str = "ensemble") -> list[str]:
    """The policies: one per agent of the scenario (``bass_0``, ``kick_0``, ``hat_0``)."""
    import raveforce_mae

    return list(raveforce_mae.parallel_env(scenario).possible_agents)


def build(
    scenario: str = "ensemble",
    *,
    num_env_runners: int = 2,
    train_batch_size: int = 1920,
    minibatch_size: int = 240,
    num_epochs: int = 8,
    lr: float = 3e-4,
    native_spaces: bool = True,
    seed: int = 0,
) -> Any:
    """Build the RLlib PPO algorithm with one policy per agent.

    Args:
        scenario: Built-in scenario name or TOML path (sent to the env runners).
        num_env_runners: Remote sampling workers (0: sample in the driver).
        train_batch_size: Env steps per training iteration (per learner).
        minibatch_size: SGD minibatch size.
        num_epochs: SGD passes over each batch.
        lr: Learning rate.
        native_spaces: Per-agent exact action spaces (True) or the shared padded ones.
        seed: Seed of RLlib and of the envs.

    Returns:
        ray.rllib.algorithms.ppo.PPO
    """
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig
    from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec
    from ray.tune.registry import register_env

    from raveforce_mae.vector import rllib_env_creator

    # the creator is imported from the package: env runners on other processes or
    # machines must be able to import it (a function defined in this script would not be)
    register_env(ENV_NAME, rllib_env_creator)
    env_config: dict[str, Any] = {"scenario": scenario}
    if native_spaces:
        env_config["native_spaces"] = True
    agents = policy_ids(scenario)
    config = (
        PPOConfig()
        .environment(ENV_NAME, env_config=env_config)
        .framework("torch")
        .env_runners(
            num_env_runners=num_env_runners,
            num_envs_per_env_runner=1,
            num_cpus_per_env_runner=1,
            rollout_fragment_length="auto",
        )
        .multi_agent(
            policies=set(agents),
            # one policy per track: the agent id is the module id
            policy_mapping_fn=lambda agent_id, *args, **kwargs: agent_id,
        )
        .rl_module(
            rl_module_spec=MultiRLModuleSpec(rl_module_specs={a: RLModuleSpec() for a in agents}),
            model_config=DefaultModelConfig(fcnet_hiddens=[64, 64], vf_share_layers=False),
        )
        .training(
            train_batch_size_per_learner=train_batch_size,
            minibatch_size=minibatch_size,
            num_epochs=num_epochs,
            lr=lr,
            gamma=0.9,
        )
        .learners(num_learners=0)
        .debugging(seed=seed)
    )
    return config.build_algo()


def episode_return(result: dict[str, Any]) -> float | None:
    """Mean episode return over agents (RLlib reports the sum over agents)."""
    runners = result.get("env_runners", {})
    per_agent = runners.get("agent_episode_returns_mean")
    if per_agent:
        vals = [float(v) for v in per_agent.values()]
        return sum(vals) / len(vals)
    total = runners.get("episode_return_mean")
    if total is None or (isinstance(total, float) and math.isnan(total)):
        return None
    return float(total)


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument("--scenario", default="ensemble", help="built-in scenario name or TOML path")
    p.add_argument("--iterations", type=int, default=20, help="PPO training iterations")
    p.add_argument("--time-budget", type=float, default=None, help="stop after this many seconds")
    p.add_argument("--num-env-runners", type=int, default=2, help="RLlib env runner processes")
    p.add_argument("--train-batch-size", type=int, default=1920, help="env steps per iteration")
    p.add_argument("--address", default=None, help="Ray cluster address (default: a local cluster)")
    p.add_argument("--num-cpus", type=int, default=None, help="CPUs of the local cluster")
    p.add_argument("--shared-spaces", action="store_true", help="padded shared spaces instead of native ones")
    p.add_argument("--checkpoint", default=None, help="directory to save the final checkpoint to")
    p.add_argument("--seed", type=int, default=0, help="seed of the algorithm")
    p.add_argument("--json", default=None, help="write the learning curve to this JSON file")
    p.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bars (off anyway when stderr is not a terminal)",
    )
    args = p.parse_args()

    import ray

    if args.address:
        ray.init(address=args.address)
    else:
        ray.init(num_cpus=args.num_cpus, include_dashboard=False)
    algo = build(
        args.scenario,
        num_env_runners=args.num_env_runners,
        train_batch_size=args.train_batch_size,
        native_spaces=not args.shared_spaces,
        seed=args.seed,
    )
    from tqdm.auto import tqdm

    curve = []
    t0 = time.perf_counter()
    try:
        for it in tqdm(
            range(args.iterations), desc="RLlib PPO", unit="iter", disable=True if args.no_progress else None
        ):
            result = algo.train()
            ret = episode_return(result)
            steps = result.get("num_env_steps_sampled_lifetime") or result.get("env_runners", {}).get(
                "num_env_steps_sampled_lifetime"
            )
            per_agent = result.get("env_runners", {}).get("agent_episode_returns_mean", {})
            elapsed = time.perf_counter() - t0
            curve.append(
                {
                    "iteration": it + 1,
                    "env_steps": steps,
                    "seconds": elapsed,
                    "mean_return": ret,
                    "per_agent": {k: float(v) for k, v in per_agent.items()},
                }
            )
            agents = " ".join(f"{k}={float(v):.3f}" for k, v in sorted(per_agent.items()))
            print(
                f"iter {it + 1:3d}  env steps {steps}  {elapsed:7.1f}s  mean return {ret}  {agents}",
                flush=True,
            )
            if args.time_budget is not None and elapsed > args.time_budget:
                break
        if args.checkpoint:
            print("checkpoint:", algo.save(args.checkpoint))
    finally:
        algo.stop()
        ray.shutdown()
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(curve, f, indent=1)


if __name__ == "__main__":
    main()
