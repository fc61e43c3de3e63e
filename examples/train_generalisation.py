"""Does a trained agent copy a bass line it has never heard? PPO on sampled targets vs one fixed target.

Trains parameter-sharing PPO (Stable-Baselines3 via SuperSuit, as
``examples/train_sb3_ppo.py``) on ``bassline`` either with ``targets="sampled"`` (a new
line from the train split every episode) or with the scenario's one fixed reference
line (``--targets reference``), then evaluates the policy on the held-out test split
(lines the train split never produces), target by target
(``reset(options={"target": k})``), against a random policy and the reference policy
(which replays each test target's own performance):

- **notes correct per step**: the share of steps whose played note is the target's;
- **gap closed**: ``(ppo - random) / (reference - random)`` of the mean episode return.

    nice python examples/train_generalisation.py --targets sampled --time-budget 1800 --json runs/gen_sampled.json
    nice python examples/train_generalisation.py --targets reference --time-budget 1800 --json runs/gen_fixed.json
    python examples/train_generalisation.py --plot runs/gen_sampled.json runs/gen_fixed.json --png docs/generalisation.png

During training the policy is evaluated every ``--eval-every`` seconds on the first
``--curve-targets`` test targets (the learning curve); at the end on ``--eval-targets``
of them.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def evaluate(env: Any, act: Any, targets: range, seed: int = 0) -> dict[str, float]:
    """Play one episode per test target with ``act(env, step, obs) -> actions``.

    Returns the mean episode return (per agent) and the share of steps whose note is
    the target's (for tracks with a ``note`` parameter).
    """
    returns, correct, total = [], 0, 0
    for k in targets:
        obs, _ = env.reset(seed=seed + k, options={"target": k})
        target = env.task.target
        ret = 0.0
        step = 0
        while env.agents:
            obs, rew, _, _, infos = env.step(act(env, step, obs))
            ret += float(np.mean(list(rew.values())))
            for t in env.scenario.tracks:
                if "note" in target.blocks[t.name]:
                    total += 1
                    # the note parameter is played in Hz
                    hz = infos[t.agent]["values"]["note"]
                    played = int(round(69 + 12 * np.log2(hz / 440.0)))
                    correct += played == int(target.blocks[t.name]["note"][step])
            step += 1
        returns.append(ret)
    return {"return": float(np.mean(returns)), "notes_correct": correct / max(total, 1)}


def random_act(seed: int) -> Any:
    rng = np.random.default_rng(seed)

    def act(env: Any, step: int, obs: dict) -> dict:
        return {a: rng.uniform(-1, 1, env.action_space(a).shape).astype(np.float32) for a in env.agents}

    return act


def reference_act(env: Any, step: int, obs: dict) -> dict:
    acts = env.reference_actions(step)
    out = {}
    for a in env.agents:
        u = np.zeros(env.action_space(a).shape, np.float32)
        u[: acts[a].size] = acts[a]
        out[a] = u
    return out


def model_act(model: Any) -> Any:
    def act(env: Any, step: int, obs: dict) -> dict:
        agents = list(env.agents)
        batch = np.stack([obs[a] for a in agents])
        a, _ = model.predict(batch, deterministic=True)
        return {ag: np.asarray(a[i], np.float32) for i, ag in enumerate(agents)}

    return act


def gap(row: dict, base: dict) -> float:
    return (row["return"] - base["random"]["return"]) / (
        base["reference"]["return"] - base["random"]["return"]
    )


def train(args: argparse.Namespace) -> None:
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback

    import raveforce_mae
    from raveforce_mae.vector import limit_blas_threads, make_sb3_vec_env

    torch.set_num_threads(1)
    limit_blas_threads(1)
    eval_env = raveforce_mae.parallel_env(args.scenario, targets="sampled", split="test")
    curve_targets = range(args.curve_targets)
    base = {
        "random": evaluate(eval_env, random_act(1), range(args.eval_targets)),
        "reference": evaluate(eval_env, reference_act, range(args.eval_targets)),
    }
    base_curve = {
        "random": evaluate(eval_env, random_act(1), curve_targets),
        "reference": evaluate(eval_env, reference_act, curve_targets),
    }
    print("test-split baselines:", json.dumps(base), flush=True)
    venv = make_sb3_vec_env(
        args.scenario, args.n_envs, num_cpus=args.num_cpus, seed=args.seed, targets=args.targets
    )
    model = PPO(
        "MlpPolicy",
        venv,
        n_steps=args.n_steps,
        batch_size=args.batch_size,
        n_epochs=args.n_epochs,
        learning_rate=args.lr,
        gamma=args.gamma,
        gae_lambda=0.9,
        ent_coef=0.0,
        policy_kwargs={"net_arch": {"pi": [256, 256], "vf": [256, 256]}},
        seed=args.seed,
        device="cpu",
        verbose=0,
    )
    curve: list[dict] = []
    t0 = time.perf_counter()

    def point() -> None:
        res = evaluate(eval_env, model_act(model), curve_targets)
        train_r = [ep["r"] for ep in model.ep_info_buffer]
        row = {
            "timesteps": int(model.num_timesteps),
            "seconds": time.perf_counter() - t0,
            "test_return": res["return"],
            "test_notes_correct": res["notes_correct"],
            "test_gap_closed": gap(res, base_curve),
            "train_return": float(np.mean(train_r)) if train_r else None,
        }
        curve.append(row)
        print(json.dumps(row), flush=True)
        if args.json:  # keep the partial curve on disk
            Path(args.json).write_text(json.dumps({"curve": curve, "base": base}, indent=1), encoding="utf-8")

    class Eval(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.next = 0.0

        def _on_step(self) -> bool:
            now = time.perf_counter() - t0
            if now >= self.next:
                point()
                self.next = now + args.eval_every
            return time.perf_counter() - t0 < args.time_budget

    model.learn(total_timesteps=10**9, callback=Eval())
    train_seconds = time.perf_counter() - t0
    point()
    venv.close()
    if args.model:
        os.makedirs(os.path.dirname(os.path.abspath(args.model)), exist_ok=True)
        model.save(args.model)
    final = evaluate(eval_env, model_act(model), range(args.eval_targets))
    summary = {
        "scenario": args.scenario,
        "trained_on": args.targets,
        "train_seconds": train_seconds,
        "timesteps": int(model.num_timesteps),
        "test_targets": args.eval_targets,
        "baselines": base,
        "ppo": final,
        "gap_closed": gap(final, base),
        "args": vars(args),
    }
    print("summary:", json.dumps(summary), flush=True)
    if args.json:
        Path(args.json).write_text(
            json.dumps({"summary": summary, "curve": curve, "base": base}, indent=1), encoding="utf-8"
        )


def plot(paths: list[str], png: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), dpi=110)
    colors = {"sampled": "tab:blue", "reference": "tab:orange"}
    labels = {"sampled": "trained on sampled lines", "reference": "trained on the one reference line"}
    base = None
    for p in paths:
        data = json.loads(Path(p).read_text(encoding="utf-8"))
        trained = data["summary"]["trained_on"] if "summary" in data else Path(p).stem
        curve = data["curve"]
        base = data["base"]
        x = [r["seconds"] / 60 for r in curve]
        c = colors.get(trained, None)
        axes[0].plot(x, [r["test_notes_correct"] for r in curve], color=c, label=labels.get(trained, trained))
        axes[1].plot(x, [r["test_gap_closed"] for r in curve], color=c, label=labels.get(trained, trained))
    if base is not None:
        axes[0].axhline(base["random"]["notes_correct"], color="tab:red", ls=":", label="random")
        axes[0].axhline(1.0, color="black", lw=0.8, label="reference")
    axes[1].axhline(0.0, color="tab:red", ls=":", label="random")
    axes[1].axhline(1.0, color="black", lw=0.8, label="reference")
    axes[1].axhline(0.5, color="gray", ls="--", lw=0.8, label="goal: half the gap")
    axes[0].set_ylabel("notes correct per step (test lines)")
    axes[1].set_ylabel("share of random-to-reference gap closed (test lines)")
    for ax in axes:
        ax.set_xlabel("training minutes (2 shared CPU cores)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("bassline: PPO evaluated on held-out test lines")
    fig.tight_layout()
    Path(png).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png)
    print("saved", png)


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument("--scenario", default="bassline")
    p.add_argument("--targets", default="sampled", choices=["sampled", "reference"], help="what to train on")
    p.add_argument("--time-budget", type=float, default=1800.0, help="training seconds")
    p.add_argument("--n-envs", type=int, default=8)
    p.add_argument("--num-cpus", type=int, default=0, help="SuperSuit worker processes (0: in-process)")
    p.add_argument("--n-steps", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--n-epochs", type=int, default=10)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--gamma", type=float, default=0.3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--eval-every", type=float, default=120.0, help="seconds between curve points")
    p.add_argument("--curve-targets", type=int, default=16, help="test targets per curve point")
    p.add_argument("--eval-targets", type=int, default=64, help="test targets of the final evaluation")
    p.add_argument("--model", default=None)
    p.add_argument("--json", default=None)
    p.add_argument("--plot", nargs="+", default=None, help="plot these JSON results instead of training")
    p.add_argument("--png", default=str(ROOT / "docs" / "generalisation.png"), help="where to save the plot")
    p.add_argument(
        "--no-progress",
        action="store_true",
        help="accepted for uniformity with the other examples (this script prints one line per curve point)",
    )
    args = p.parse_args()
    if args.plot:
        plot(args.plot, args.png)
    else:
        train(args)


if __name__ == "__main__":
    main()
