"""``raveforce-mae run NAME``: play episodes and write what to listen to and look at.

The files are written by :class:`raveforce_mae.export.RunWriter`; this module checks
the command, builds the env and the policy, plays, and shows progress and results.
"""

from __future__ import annotations

import difflib
import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click
import numpy as np

from .. import export
from ..export import RunWriter, safe_name
from .common import (
    AGENT_KINDS,
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    CliError,
    Progress,
    bold,
    check_scenario_arg,
    check_writable_dir,
    dim,
    fmt,
    looks_like_path,
    note,
    parse_overrides,
    say,
    symbols,
    table,
    translate,
    usage_error,
)

__all__ = ["run_cmd"]


def _agent_label(agent: str) -> str:
    return agent if agent in AGENT_KINDS else safe_name(Path(agent).stem)


def _check_agent_arg(agent: str) -> str:
    if agent in AGENT_KINDS:
        return agent
    p = Path(agent)
    if p.is_file() or Path(agent + ".zip").is_file():
        return agent
    if p.is_dir():
        usage_error(f"--agent {agent!r} is a folder; expected a saved policy file (.zip)")
    close = difflib.get_close_matches(agent, AGENT_KINDS, n=1, cutoff=0.6)
    hint = (
        f"did you mean {close[0]!r}?"
        if close
        else (f"--agent takes one of {', '.join(AGENT_KINDS)} or the path of a saved policy (.zip)")
    )
    if looks_like_path(agent) or agent.endswith(".zip"):
        usage_error(
            f"--agent {agent!r}: no such policy file ({str(p.absolute())!r} does not exist)",
            hint=hint,
        )
    usage_error(
        f"unknown agent {agent!r}: expected {', '.join(AGENT_KINDS)} or the path of a saved policy (.zip)",
        hint=hint if close else None,
    )


def _results_table(writer: RunWriter) -> list[str]:
    eps = writer.finished
    if not eps:
        return []
    agents = list(eps[0]["agents"])
    track_of = {t.agent: t.name for t in writer.sc.tracks}

    def stat(values: list[float | None]) -> str:
        v = [x for x in values if x is not None and np.isfinite(x)]
        if not v:
            return "-"
        if len(v) == 1:
            return fmt(v[0])
        return f"{fmt(float(np.mean(v)))} ± {fmt(float(np.std(v)))}"

    rows = []
    for a in agents:
        rows.append(
            [
                a,
                track_of.get(a, ""),
                stat([e["agents"][a]["mean_reward"] for e in eps]),
                stat([e["agents"][a]["mean_track"] for e in eps]),
            ]
        )
    rows.append([dim("mix"), dim("(shared)"), stat([e["mean_shared"] for e in eps]), ""])
    rows.append([bold("all"), "", bold(stat([e["mean_reward"] for e in eps])), ""])
    return table(["agent", "track", "reward", "per-track part"], rows, "llrr")


MAX_SEED = 2**32 - 1
"""Seeds of episodes (the search's random generator takes at most 32 bits)."""


class _CountingEnv:
    """The env with its steps counted for the progress bar; everything else is the env's own."""

    def __init__(self, env: Any, on_step: Callable[[], None]) -> None:
        self._env = env
        self._on_step = on_step

    def step(self, actions: Any) -> Any:
        result = self._env.step(actions)
        self._on_step()
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._env, name)


def _command(
    name: str,
    agent: str,
    episodes: int,
    seed: int,
    out: Path,
    budget: int | None,
    overrides: Sequence[str],
    no_plots: bool,
) -> str:
    """The command line that plays the same run again (every setting explicit)."""
    args = ["raveforce-mae", "run", name, "--agent", agent, "--episodes", str(episodes), "--seed", str(seed)]
    if budget is not None:
        args += ["--budget", str(budget)]
    for item in overrides:
        args += ["--set", item]
    if no_plots:
        args.append("--no-plots")
    args += ["--out", str(out)]
    return shlex.join(args)


@click.command("run")
@click.argument("scenario", metavar="NAME")
@click.option(
    "--agent",
    "-a",
    default="random",
    show_default=True,
    metavar="random|search|reference|PATH",
    help="Who plays: uniform random numbers, a black-box search against the targets, "
    "the scenario's own reference performance, or a saved Stable-Baselines3 policy (.zip). "
    "Loading a .zip unpickles it, which can run any code: only load files you trust.",
)
@click.option(
    "--episodes",
    "-n",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Episodes to play.",
)
@click.option(
    "--seed",
    "-s",
    type=click.IntRange(0, MAX_SEED),
    default=0,
    show_default=True,
    help="Seed of episode 0 (episode i uses seed + i).",
)
@click.option(
    "--out",
    "-o",
    type=click.Path(path_type=Path),
    default=None,
    help="Output folder.  [default: runs/NAME-AGENT]",
)
@click.option(
    "--budget",
    type=click.IntRange(min=1),
    default=None,
    help="Search agent: evaluations per step and track.  [default: round(3000 / (tracks x steps)) "
    "clamped to 40..300: kick 300, bassline 188, ensemble 62]",
)
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a scenario setting, e.g. --set shared_weight=0.5 (repeatable).",
)
@click.option(
    "--overwrite",
    is_flag=True,
    help="Replace a previous run in the output folder (only the files it wrote).",
)
@click.option("--no-plots", is_flag=True, help="Skip the PNG pictures (faster).")
@click.option("--no-report", is_flag=True, help="Skip the listening page report.html.")
def run_cmd(
    scenario: str,
    agent: str,
    episodes: int,
    seed: int,
    out: Path | None,
    budget: int | None,
    overrides: tuple[str, ...],
    overwrite: bool,
    no_plots: bool,
    no_report: bool,
) -> None:
    """Play episodes of scenario NAME and write what to listen to and look at.

    \b
    Writes to the output folder:
      targets/                  the target mix and stems (WAV)
      episode_000/              one folder per finished episode:
        mix.wav, <track>.wav      what was played, mix and stems (32-bit float WAV)
        performance.glicol        the merged Glicol patch of every step
        rewards.csv               reward per step and agent, shared and per-track parts
        spectrogram.png           mix and tracks beside their targets
        rewards.png               reward per step per agent
      summary.json              settings, versions, timing, results, the command
      report.html, report_files/  the listening page: open it in a browser
      .raveforce-run.json       the files written (--overwrite removes only these)

    Ctrl-C keeps the episodes that finished; no half-written file is left behind.
    """  # noqa: D301 - click's \b (no rewrapping) needs a real backspace, not a raw string
    from .. import baselines

    # 1. Everything that can be wrong with the command is reported before any work.
    name = check_scenario_arg(scenario)
    agent = _check_agent_arg(agent)
    kw = parse_overrides(overrides)
    if budget is not None and agent != "search":
        usage_error("--budget applies to --agent search only")
    if seed + episodes - 1 > MAX_SEED:
        usage_error(
            f"--seed {seed} with --episodes {episodes}: the last episode's seed would be "
            f"{seed + episodes - 1}, above the largest seed {MAX_SEED}"
        )
    if out is None:
        out = Path("runs") / f"{safe_name(Path(name).stem)}-{_agent_label(agent)}"
    check_writable_dir(out)
    try:
        export.check_output_folder(out, overwrite=True)
    except export.OutputFolderError as e:
        raise CliError(str(e), hint="raveforce-mae removes only files that it wrote") from None
    previous = export.previous_run(out)
    if previous and not overwrite:
        shown = ", ".join(p.name for p in previous[:4]) + (", ..." if len(previous) > 4 else "")
        if sys.stdin.isatty() and sys.stderr.isatty():
            if not click.confirm(f"{out} holds a previous run ({shown}). Replace it?", err=True):
                raise CliError("nothing done; choose another folder with --out", exit_code=EXIT_FAILURE)
        else:
            raise CliError(
                f"the output folder {str(out)!r} holds a previous run ({shown})",
                hint="pass --overwrite to replace it, or choose another folder with --out",
            )

    # 2. The scenario and the policy.
    import raveforce_mae

    say(f"{dim('loading')} {name} ...")
    try:
        env = raveforce_mae.parallel_env(name, **kw)
    except raveforce_mae.ScenarioError as e:
        usage_error(f"scenario {name!r}: {e}")
    except (TypeError, ValueError) as e:  # an override the env's own arguments refuse
        usage_error(f"--set {' '.join(overrides)}: {e}")
    sc = env.scenario
    label = f"{sc.name} {dim('·')} {_agent_label(agent)}"
    progress = Progress(episodes, label)
    state = {"episode": 0, "steps": 0}

    def on_search(done: int, total: int) -> None:
        progress.set(state["episode"], 0.95 * done / max(total, 1), note=f"search {done}/{total}")

    def on_step() -> None:
        state["steps"] += 1
        base = 0.95 if agent == "search" else 0.0
        progress.set(
            state["episode"],
            base + (1 - base) * state["steps"] / env.max_cycles,
            note=f"step {state['steps']}/{env.max_cycles}",
        )

    def make(ep_seed: int) -> Any:
        try:
            return baselines.make_policy(agent, env, seed=ep_seed, budget=budget, progress=on_search)
        except FileNotFoundError as e:
            usage_error(f"--agent: {e}")
        except ValueError as e:
            usage_error(f"--agent {agent}: {e}")

    # A policy that is built once (not the search, which is the work itself) is built
    # now, so that e.g. a scenario without a reference is reported before any file.
    policy = None if agent == "search" else make(seed)

    # 3. Play. The search runs once per episode (seed + i), so episodes are independent
    # samples of the baseline; the other agents are built once.
    command = _command(name, agent, episodes, seed, out, budget, overrides, no_plots)
    writer = RunWriter(
        out,
        env,
        agent=_agent_label(agent),
        seed=seed,
        episodes=episodes,
        plots=not no_plots,
        overrides=kw,
        command=command,
    )
    if writer.open(overwrite=True):
        note(f"replaced the previous run in {out}")
    desc = f"{episodes} episode{'s' if episodes > 1 else ''} of {sc.n_steps} steps"
    say(
        f"{bold('playing')} {sc.name} with {_agent_label(agent)}: {desc}, "
        f"{len(env.possible_agents)} agents ({', '.join(env.possible_agents)}), seed {seed}"
    )
    if agent == "reference" and episodes > 1:
        note("the reference plays the same numbers every episode; the episodes will be identical")
    counted = _CountingEnv(env, on_step)
    exit_code = 0
    try:
        writer.write_targets()
        for i in range(episodes):
            state["episode"], state["steps"] = i, 0
            progress.set(i, 0.0, note="", force=True)
            ep_seed = seed + i
            if policy is None or agent == "search":
                policy = make(ep_seed)
            result = baselines.play_episode(counted, policy, seed=ep_seed)
            progress.set(i, 1.0, note="writing", force=True)
            folder = writer.write_episode(i, ep_seed, result)
            progress.line(
                f"{click.style(symbols()['ok'], fg='green')} episode {i}: mean reward "
                f"{fmt(result.mean_reward)}  {dim(str(folder))}"
            )
    except KeyboardInterrupt:
        progress.clear()
        writer.interrupted = True
        exit_code = EXIT_INTERRUPTED
        say(
            click.style("interrupted", fg="yellow", bold=True)
            + f": kept {len(writer.finished)} finished "
            + f"episode{'s' if len(writer.finished) != 1 else ''}, "
            "discarded the one in progress"
        )
    except click.ClickException:
        progress.clear()
        writer.discard()
        raise
    except Exception as e:
        progress.clear()
        writer.error = f"{type(e).__name__}: {e}"
        if not writer.finished:
            writer.discard()
            raise
        translate(e).show()
        note(f"kept the {len(writer.finished)} episodes that finished")
        exit_code = EXIT_FAILURE
    finally:
        progress.clear()

    if not writer.finished:
        writer.discard()
        raise click.exceptions.Exit(exit_code or EXIT_FAILURE)
    writer.write_summary()
    if not no_report:
        writer.write_report()
    _show_results(writer, out, no_plots, no_report)
    if exit_code:
        raise click.exceptions.Exit(exit_code)


def _show_results(writer: RunWriter, out: Path, no_plots: bool, no_report: bool = False) -> None:
    """The results table and where to listen and look."""
    say()
    for line in _results_table(writer):
        say("  " + line)
    best = writer.summary()["best_episode"]
    say()
    if len(writer.finished) > 1:
        best_mean = max(e["mean_reward"] for e in writer.finished)
        say(f"best episode: {best} (mean reward {fmt(best_mean)})")
    say(f"wrote {bold(str(out))}")
    if not no_report:
        say(f"  open:   {out / 'report.html'}  (players, spectrograms and rewards, in a browser)")
    say(f"  listen: {out / best / 'mix.wav'}  (target: {out / 'targets' / 'mix.wav'})")
    if not no_plots:
        say(f"  look:   {out / best / 'spectrogram.png'}, {out / best / 'rewards.png'}")
    say(
        f"  patch:  {out / best / 'performance.glicol'}  (paste into a Glicol editor, "
        f"or `raveforce-mae render`)"
    )
