"""Parameter-sharing PPO (Stable-Baselines3 via SuperSuit) on the ensemble, with a learning curve.

One PPO policy acts for every track: SuperSuit turns the PettingZoo parallel env into
a vector env with one slot per agent (identical spaces; the agent one-hot at the end
of the observation tells the tracks apart), as in PettingZoo's SB3 tutorials.

    pip install torch==2.13.0            # first, so pip keeps the local CPU build
    pip install 'raveforce-mae[rl]'
    nice python examples/train_sb3_ppo.py --time-budget 1140      # <= 20 min on 2 CPU cores

Every ``--eval-every`` steps the current policy plays one deterministic episode in a
separate env. At the end the script prints the random, search and reference
baselines and the fraction of the random-to-reference gap that PPO closed, saves the
model (``--model``), the curve (``--json``) and the plot (``--png``, default
``runs/learning_curve.png``; the docs' figure is ``--png docs/learning_curve.png``): learning curves
with the baselines as horizontal lines. Returns are per agent and episode (sum of the
16 step rewards, averaged over agents), the unit of SB3's ``ep_rew_mean``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np


def baselines_table(
    scenario: str, n_random: int, search_budget: int, env_kwargs: dict, progress: bool | None = None
) -> dict[str, float]:
    import raveforce_mae
    from raveforce_mae import baselines

    env = raveforce_mae.parallel_env(scenario, **env_kwargs)
    out = {
        "random": float(
            np.mean(
                [
                    baselines.play_episode(env, baselines.random_policy(env, seed=s), seed=s).mean_return
                    for s in range(n_random)
                ]
            )
        )
    }
    if search_budget > 0:
        t0 = time.perf_counter()
        pol = baselines.search_policy(env, budget=search_budget, seed=0, progress=progress)
        out["search"] = baselines.play_episode(env, pol, seed=0).mean_return
        out["search_seconds"] = time.perf_counter() - t0
    if env.scenario.reference is not None:
        out["reference"] = baselines.play_episode(env, baselines.reference_policy(env), seed=0).mean_return
    return out


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument("--scenario", default="ensemble", help="built-in scenario name or TOML path")
    p.add_argument("--timesteps", type=int, default=2_000_000, help="agent steps (each env step = n_agents)")
    p.add_argument("--time-budget", type=float, default=1140.0, help="stop training after this many seconds")
    p.add_argument("--n-envs", type=int, default=4, help="env copies (each gives n_agents slots)")
    p.add_argument("--num-cpus", type=int, default=2, help="SuperSuit worker processes (0: in-process)")
    p.add_argument("--n-steps", type=int, default=128, help="PPO rollout length per slot")
    p.add_argument("--batch-size", type=int, default=256, help="PPO minibatch size")
    p.add_argument("--n-epochs", type=int, default=10, help="PPO epochs per rollout")
    p.add_argument("--lr", type=float, default=3e-4, help="learning rate")
    p.add_argument("--gamma", type=float, default=0.9, help="discount")
    p.add_argument("--ent-coef", type=float, default=0.0, help="entropy bonus")
    p.add_argument("--eval-every", type=int, default=20_000, help="agent steps between evaluations")
    p.add_argument("--search-budget", type=int, default=200, help="search baseline budget (0: skip)")
    p.add_argument("--seed", type=int, default=0, help="seed of PPO and the env copies")
    p.add_argument("--model", default="runs/ppo_ensemble.zip", help="where to save the trained model")
    p.add_argument("--json", default=None, help="write the curve and the summary to this JSON file")
    p.add_argument(
        "--png",
        default="runs/learning_curve.png",
        help="where to save the learning-curve plot (the README's figure is docs/learning_curve.png)",
    )
    p.add_argument("--env-kwargs", default="{}", help="JSON dict of parallel_env keyword arguments")
    p.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bars (off anyway when stderr is not a terminal)",
    )
    args = p.parse_args()
    env_kwargs = json.loads(args.env_kwargs)

    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback

    import raveforce_mae
    from raveforce_mae import baselines
    from raveforce_mae.vector import limit_blas_threads, make_sb3_vec_env

    torch.set_num_threads(1)  # the env workers use the other core(s)
    limit_blas_threads(1)  # small matrices: a BLAS pool per process only adds contention
    t_start = time.perf_counter()
    show = False if args.no_progress else None  # None: bars only on a terminal
    base = baselines_table(args.scenario, 10, args.search_budget, env_kwargs, progress=show)
    print("baselines:", json.dumps(base), flush=True)

    eval_env = raveforce_mae.parallel_env(args.scenario, **env_kwargs)
    venv = make_sb3_vec_env(args.scenario, args.n_envs, num_cpus=args.num_cpus, seed=args.seed, **env_kwargs)
    model = PPO(
        "MlpPolicy",
        venv,
        n_steps=args.n_steps,
        batch_size=args.batch_size,
        n_epochs=args.n_epochs,
        learning_rate=args.lr,
        gamma=args.gamma,
        gae_lambda=0.9,
        ent_coef=args.ent_coef,
        policy_kwargs={"net_arch": {"pi": [128, 128], "vf": [128, 128]}},
        seed=args.seed,
        device="cpu",
        verbose=0,
    )
    policy = baselines.SB3Policy(eval_env, model, "training")
    curve: list[dict] = []
    t_train = time.perf_counter()

    def evaluate() -> None:
        res = baselines.play_episode(eval_env, policy, seed=0)
        train = [ep["r"] for ep in model.ep_info_buffer]
        row = {
            "timesteps": int(model.num_timesteps),
            "seconds": time.perf_counter() - t_train,
            "eval_return": res.mean_return,
            "eval_per_agent": res.returns.tolist(),
            "train_return": float(np.mean(train)) if train else None,
        }
        curve.append(row)
        print(
            f"{row['timesteps']:>9d} steps {row['seconds']:7.1f}s  eval {row['eval_return']:.3f}  "
            f"train {row['train_return']}",
            flush=True,
        )

    from tqdm.auto import tqdm

    bar = tqdm(total=args.timesteps, desc="PPO", unit="step", disable=show)

    class Eval(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.next_eval = 0

        def _on_step(self) -> bool:
            bar.update(self.num_timesteps - bar.n)
            if self.num_timesteps >= self.next_eval:
                evaluate()
                self.next_eval += args.eval_every
            return time.perf_counter() - t_train < args.time_budget

    model.learn(total_timesteps=args.timesteps, callback=Eval())
    bar.close()
    evaluate()
    train_seconds = time.perf_counter() - t_train
    venv.close()
    os.makedirs(os.path.dirname(os.path.abspath(args.model)), exist_ok=True)
    model.save(args.model)

    final = float(np.mean([r["eval_return"] for r in curve[-3:]]))
    summary = {
        "scenario": args.scenario,
        "baselines": base,
        "final_eval_return": curve[-1]["eval_return"],
        "final_eval_return_last3": final,
        "timesteps": int(model.num_timesteps),
        "train_seconds": train_seconds,
        "total_seconds": time.perf_counter() - t_start,
        "args": vars(args),
    }
    if "reference" in base:
        gap = base["reference"] - base["random"]
        summary["gap_closed"] = (curve[-1]["eval_return"] - base["random"]) / gap
        summary["gap_closed_last3"] = (final - base["random"]) / gap
    print("summary:", json.dumps({k: v for k, v in summary.items() if k != "args"}), flush=True)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(
            json.dumps({"summary": summary, "curve": curve}, indent=1), encoding="utf-8"
        )
    Path(args.png).parent.mkdir(parents=True, exist_ok=True)
    plot(curve, base, args.png, args.scenario, train_seconds)
    print("plot:", args.png)


def plot(curve: list[dict], base: dict[str, float], path: str, scenario: str, seconds: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.2), dpi=110)
    x = [r["timesteps"] for r in curve]
    tr = [(r["timesteps"], r["train_return"]) for r in curve if r["train_return"] is not None]
    if tr:
        ax.plot(
            *zip(*tr, strict=False), color="tab:blue", alpha=0.5, label="PPO, training episodes (stochastic)"
        )
    ax.plot(
        x, [r["eval_return"] for r in curve], color="tab:blue", lw=2, label="PPO, deterministic evaluation"
    )
    styles = {"reference": ("black", "-"), "search": ("tab:green", "--"), "random": ("tab:red", ":")}
    for k, (c, ls) in styles.items():
        if k in base:
            ax.axhline(base[k], color=c, ls=ls, label=f"{k} ({base[k]:.2f})")
    ax.set_xlabel("agent steps (3 agents per env step)")
    ax.set_ylabel("episode return per agent")
    ax.set_title(
        f"{scenario}: parameter-sharing PPO (SB3 + SuperSuit), {seconds / 60:.0f} min on 2 CPU cores"
    )
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    print("saved", path)


if __name__ == "__main__":
    main()
