"""Does a trained agent copy a line it has never heard? PPO on sampled targets vs one fixed target.

Trains parameter-sharing PPO (Stable-Baselines3 via SuperSuit, as
``examples/train_sb3_ppo.py``) on a scenario (``bassline`` or ``drums``) either with
``targets="sampled"`` (a new target from the train split every episode) or with the
scenario's one fixed reference performance (``--targets reference``), then evaluates
the policy on the held-out test split (targets the train split never produces),
target by target (``reset(options={"target": k})``), against a random policy and the
reference policy (which replays each test target's own performance):

- **notes correct per step** (tracks with a ``note`` parameter): the share of steps
  whose played note is the target's;
- **hits correct per step** (tracks with a ``level`` parameter and no note): the share
  of steps where the agent hits (level at least ``HIT_LEVEL``) exactly when the
  target hits (level above 0), and the mean absolute level error;
- **gap closed**: ``(ppo - random) / (reference - random)`` of the mean episode return
  (per agent: the sum of its step rewards).

The random and reference baselines are played with continuous (``Box``) actions: the
random policy draws uniform actions, the reference replays each target exactly. The
policy is trained and evaluated with ``--action-type`` (default ``discrete``: one
categorical choice per parameter, see ``docs/discrete.md``).

    nice python examples/train_generalisation.py --targets sampled --json runs/gen_sampled.json
    nice python examples/train_generalisation.py --targets reference --json runs/gen_fixed.json
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
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

HIT_LEVEL = 0.05
"""A played ``level`` at or above this counts as a hit (the targets' hits are 0.2 or louder)."""

Act = Callable[[Any, int, dict], dict]


def evaluate(env: Any, act: Act, targets: Iterable[int], seed: int = 0) -> dict[str, float]:
    """Play one episode per test target with ``act(env, step, obs) -> actions``.

    Args:
        env: A parallel env with ``split="test"`` and ``targets="sampled"``.
        act: The policy.
        targets: Indices of the test targets to play.
        seed: Episode ``k`` is reset with ``seed + k``.

    Returns:
        ``return``: the mean episode return per agent; ``notes_correct`` (tracks with a
        ``note`` parameter), ``hits_correct`` and ``level_error`` (tracks with a
        ``level`` parameter and no note): shares of steps, as in the module docstring;
        ``correct``: the notes' share if the scenario has notes, else the hits'.
    """
    returns: list[float] = []
    notes = [0, 0]  # correct, total
    hits = [0, 0]
    level_err: list[float] = []
    for k in targets:
        obs, _ = env.reset(seed=seed + k, options={"target": k})
        blocks = env.task.target.blocks
        ret = 0.0
        step = 0
        while env.agents:
            obs, rew, _, _, _ = env.step(act(env, step, obs))
            ret += float(np.mean(list(rew.values())))
            step += 1
        for s, played in enumerate(env.history):
            for t in env.scenario.tracks:
                want = blocks[t.name]
                if "note" in want:
                    # the note parameter is played in Hz
                    midi = int(round(69 + 12 * np.log2(played[t.name]["note"] / 440.0)))
                    notes[0] += midi == int(want["note"][s])
                    notes[1] += 1
                elif "level" in want:
                    lv, target_lv = float(played[t.name]["level"]), float(want["level"][s])
                    hits[0] += (lv >= HIT_LEVEL) == (target_lv > 0)
                    hits[1] += 1
                    level_err.append(abs(lv - target_lv))
        returns.append(ret)
    out = {"return": float(np.mean(returns))}
    if notes[1]:
        out["notes_correct"] = notes[0] / notes[1]
    if hits[1]:
        out["hits_correct"] = hits[0] / hits[1]
        out["level_error"] = float(np.mean(level_err))
    out["correct"] = out.get("notes_correct", out.get("hits_correct", float("nan")))
    return out


def random_act(seed: int) -> Act:
    """Uniform random actions (from a generator seeded with ``seed``)."""
    rng = np.random.default_rng(seed)

    def act(env: Any, step: int, obs: dict) -> dict:
        if env.action_type == "discrete":
            return {a: env.action_space(a).sample(mask=env.action_mask(a)) for a in env.agents}
        return {a: rng.uniform(-1, 1, env.action_space(a).shape).astype(np.float32) for a in env.agents}

    return act


def reference_act(env: Any, step: int, obs: dict) -> dict:
    """Replay the selected target (``Box`` actions only)."""
    acts = env.reference_actions(step)
    out = {}
    for a in env.agents:
        u = np.zeros(env.action_space(a).shape, np.float32)
        u[: acts[a].size] = acts[a]
        out[a] = u
    return out


def nearest_act(bins: int, only: str | None = None) -> Act:
    """A discrete policy that reads the target: each parameter's index nearest the target value.

    It measures the ceiling of discrete actions with ``bins`` indices per ``lin``/``exp``
    parameter. With ``only``, just that parameter follows the target; the others play
    their middle index.
    """

    def act(env: Any, step: int, obs: dict) -> dict:
        want = env.reference_actions(step)
        out = {}
        for t in env.scenario.tracks:
            if t.agent not in env.agents:
                continue
            idx = np.zeros(env.action_space(t.agent).shape, np.int64)
            for j, p in enumerate(t.free):
                units = np.asarray(p.discrete_units(bins))
                if only is None or p.name == only:
                    idx[j] = int(np.argmin(np.abs(units - want[t.agent][j])))
                else:
                    idx[j] = (len(units) - 1) // 2
            out[t.agent] = idx
        return out

    return act


def ceilings(scenario: str, bins: int, targets: Iterable[int]) -> dict[str, dict[str, float]]:
    """Random, reference and :func:`nearest_act` policies (all parameters, then each alone)."""
    import raveforce_mae

    targets = list(targets)
    base = baselines(scenario, targets)
    env = raveforce_mae.parallel_env(
        scenario, targets="sampled", split="test", action_type="discrete", discrete_bins=bins
    )
    rows = dict(base)
    names = list(dict.fromkeys(p.name for t in env.scenario.tracks for p in t.free))
    for only in [None, *names]:
        res = evaluate(env, nearest_act(bins, only), targets)
        res["gap_closed"] = gap(res, base)
        rows["nearest index" + (f", {only} only" if only else "")] = res
    return rows


def model_act(model: Any, normalize: Any = None) -> Act:
    """The SB3 model's deterministic actions, one batch for all agents.

    ``normalize``: the training ``VecNormalize`` (its observation statistics), if any.
    """

    def act(env: Any, step: int, obs: dict) -> dict:
        agents = list(env.agents)
        batch = np.stack([obs[a] for a in agents])
        if normalize is not None:
            batch = normalize.normalize_obs(batch)
        a, _ = model.predict(batch, deterministic=True)
        return {ag: np.asarray(a[i]) for i, ag in enumerate(agents)}

    return act


def gap(row: dict, base: dict) -> float:
    """Share of the random-to-reference gap of the mean return that ``row`` closes."""
    return (row["return"] - base["random"]["return"]) / (
        base["reference"]["return"] - base["random"]["return"]
    )


def baselines(scenario: str, targets: Iterable[int]) -> dict[str, dict[str, float]]:
    """Random and reference policies (``Box`` actions) on the given test targets."""
    import raveforce_mae

    env = raveforce_mae.parallel_env(scenario, targets="sampled", split="test")
    targets = list(targets)
    return {
        "random": evaluate(env, random_act(1), targets),
        "reference": evaluate(env, reference_act, targets),
    }


def train(args: argparse.Namespace) -> None:
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback

    import raveforce_mae
    from raveforce_mae.vector import limit_blas_threads, make_sb3_vec_env

    torch.set_num_threads(1)
    limit_blas_threads(1)
    env_kw: dict[str, Any] = {"action_type": args.action_type}
    if args.action_type == "discrete":
        env_kw["discrete_bins"] = args.discrete_bins
    eval_env = raveforce_mae.parallel_env(args.scenario, targets="sampled", split="test", **env_kw)
    curve_targets = range(args.curve_targets)
    base = baselines(args.scenario, range(args.eval_targets))
    base_curve = baselines(args.scenario, curve_targets)
    print("test-split baselines:", json.dumps(base), flush=True)
    venv = make_sb3_vec_env(
        args.scenario, args.n_envs, num_cpus=args.num_cpus, seed=args.seed, targets=args.targets, **env_kw
    )
    norm = None
    if args.norm_obs:
        from stable_baselines3.common.vec_env import VecNormalize

        # the spectra sit in [-1, 1] with a spread of about 0.15 per band: scaling them to
        # unit variance speeds up the first layer's learning
        venv = norm = VecNormalize(venv, norm_obs=True, norm_reward=False, gamma=max(args.gamma, 0.0))
    arch = [int(x) for x in args.net_arch.split(",")]
    model = PPO(
        "MlpPolicy",
        venv,
        n_steps=args.n_steps,
        batch_size=args.batch_size,
        n_epochs=args.n_epochs,
        learning_rate=args.lr,
        gamma=args.gamma,
        gae_lambda=args.gae_lambda,
        ent_coef=args.ent_coef,
        policy_kwargs={"net_arch": {"pi": arch, "vf": arch}},
        seed=args.seed,
        device="cpu",
        verbose=0,
    )
    curve: list[dict] = []
    t0 = time.perf_counter()
    cpu0 = time.process_time()  # the CPU this process got: the machine is shared
    eval_seconds = [0.0]  # time spent on the curve points (not training)

    def point() -> None:
        te = time.perf_counter()
        res = evaluate(eval_env, model_act(model, norm), curve_targets)
        train_r = [ep["r"] for ep in model.ep_info_buffer]
        eval_seconds[0] += time.perf_counter() - te
        row = {
            "timesteps": int(model.num_timesteps),
            "seconds": time.perf_counter() - t0,
            "cpu_seconds": time.process_time() - cpu0,
            "test_return": res["return"],
            "test_correct": res["correct"],
            "test_gap_closed": gap(res, base_curve),
            "train_return": float(np.mean(train_r)) if train_r else None,
            **{f"test_{k}": v for k, v in res.items() if k not in ("return", "correct")},
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
    train_cpu_seconds = time.process_time() - cpu0
    point()
    venv.close()
    if args.model:
        os.makedirs(os.path.dirname(os.path.abspath(args.model)), exist_ok=True)
        model.save(args.model)
    final = evaluate(eval_env, model_act(model, norm), range(args.eval_targets))
    summary = {
        "scenario": args.scenario,
        "trained_on": args.targets,
        "train_seconds": train_seconds,
        "train_cpu_seconds": train_cpu_seconds,
        "curve_eval_seconds": eval_seconds[0],
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
    """Learning curves (test-split share correct and gap closed) of the given result files."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), dpi=110)
    colors = {"sampled": "tab:blue", "reference": "tab:orange"}
    base = None
    scenario = "bassline"
    for p in paths:
        data = json.loads(Path(p).read_text(encoding="utf-8"))
        summary = data.get("summary", {})
        trained = summary.get("trained_on", Path(p).stem)
        scenario = summary.get("scenario", scenario)
        unit = "patterns" if scenario == "drums" else "lines"
        labels = {"sampled": f"trained on sampled {unit}", "reference": "trained on the one reference"}
        curve = data["curve"]
        base = data["base"]
        x = [r["seconds"] / 60 for r in curve]
        c = colors.get(trained)
        label = labels.get(trained, trained)
        axes[0].plot(
            x, [r.get("test_correct", r.get("test_notes_correct")) for r in curve], color=c, label=label
        )
        axes[1].plot(x, [r["test_gap_closed"] for r in curve], color=c, label=label)
    what = "hits" if scenario == "drums" else "notes"
    if base is not None:
        chance = base["random"].get("correct", base["random"].get("notes_correct"))
        axes[0].axhline(chance, color="tab:red", ls=":", label="random")
        axes[0].axhline(1.0, color="black", lw=0.8, label="reference")
    axes[1].axhline(0.0, color="tab:red", ls=":", label="random")
    axes[1].axhline(1.0, color="black", lw=0.8, label="reference")
    axes[1].axhline(0.5, color="gray", ls="--", lw=0.8, label="goal: half the gap")
    axes[0].set_ylabel(f"{what} correct per step (test targets)")
    axes[1].set_ylabel("gap closed (test targets)")
    for ax in axes:
        ax.set_xlabel("training minutes (2 shared CPU cores)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"{scenario}: PPO evaluated on held-out test targets")
    fig.tight_layout()
    Path(png).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png)
    print("saved", png)


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument(
        "--scenario", default="bassline", help="bassline or drums (any scenario with a distribution)"
    )
    p.add_argument("--targets", default="sampled", choices=["sampled", "reference"], help="what to train on")
    p.add_argument("--time-budget", type=float, default=1800.0, help="training seconds")
    p.add_argument(
        "--action-type",
        default="discrete",
        choices=["discrete", "box"],
        help="the policy's actions (docs/discrete.md)",
    )
    p.add_argument("--discrete-bins", type=int, default=11, help="indices of lin/exp parameters (discrete)")
    p.add_argument("--n-envs", type=int, default=8, help="env copies (each gives one slot per agent)")
    p.add_argument("--num-cpus", type=int, default=0, help="SuperSuit worker processes (0: in-process)")
    p.add_argument("--n-steps", type=int, default=64, help="PPO rollout steps per slot")
    p.add_argument("--batch-size", type=int, default=128, help="PPO minibatch")
    p.add_argument("--n-epochs", type=int, default=10, help="PPO epochs per rollout")
    p.add_argument("--lr", type=float, default=3e-4, help="learning rate")
    p.add_argument(
        "--gamma", type=float, default=0.0, help="discount (a step's reward depends on its own action)"
    )
    p.add_argument("--gae-lambda", type=float, default=0.9, help="GAE lambda")
    p.add_argument("--ent-coef", type=float, default=0.01, help="entropy bonus")
    p.add_argument("--norm-obs", action="store_true", help="normalise observations (VecNormalize)")
    p.add_argument("--net-arch", default="256,256", help="hidden layers of the policy and value MLPs")
    p.add_argument("--seed", type=int, default=0, help="seed of PPO and of the envs' first resets")
    p.add_argument("--eval-every", type=float, default=120.0, help="seconds between curve points")
    p.add_argument("--curve-targets", type=int, default=16, help="test targets per curve point")
    p.add_argument("--eval-targets", type=int, default=64, help="test targets of the final evaluation")
    p.add_argument("--model", default=None, help="save the trained model here (.zip)")
    p.add_argument("--json", default=None, help="write the curve and the summary here")
    p.add_argument("--plot", nargs="+", default=None, help="plot these JSON results instead of training")
    p.add_argument(
        "--ceilings",
        action="store_true",
        help="instead of training, print what discrete actions can reach: the index nearest the target",
    )
    p.add_argument("--png", default=str(ROOT / "docs" / "generalisation.png"), help="where to save the plot")
    p.add_argument(
        "--no-progress",
        action="store_true",
        help="accepted for uniformity with the other examples (this script prints one line per curve point)",
    )
    args = p.parse_args()
    if args.plot:
        plot(args.plot, args.png)
    elif args.ceilings:
        for name, row in ceilings(args.scenario, args.discrete_bins, range(args.eval_targets)).items():
            print(f"{name:30s}", json.dumps({k: round(v, 4) for k, v in row.items()}))
    else:
        train(args)


if __name__ == "__main__":
    main()
