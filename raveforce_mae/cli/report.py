"""``raveforce-mae report``: write the listening page of a run folder."""

from __future__ import annotations

from pathlib import Path

import click

from .common import bold, say, usage_error

__all__ = ["report_cmd"]


@click.command("report")
@click.argument("run_dir", metavar="RUN_DIR", type=click.Path(path_type=Path))
@click.option(
    "--max-episodes",
    type=click.IntRange(min=1),
    default=24,
    show_default=True,
    help="Episodes shown in full (the best and the first ones); the table lists them all.",
)
@click.option("--all-episodes", is_flag=True, help="Show every episode in full (slow to open for hundreds).")
def report_cmd(run_dir: Path, max_episodes: int, all_episodes: bool) -> None:
    """Write RUN_DIR/report.html: the run's listening page.

    \b
    RUN_DIR is a folder written by `raveforce-mae run` (summary.json, targets/,
    episode_NNN/). The page has players for the mix and every stem beside their
    targets (A/B switch, play one step alone), spectrograms with a playhead, the
    per-step rewards as a chart (click a step to jump there), the performance with
    the step being played highlighted, and the settings and command of the run. It
    opens from disk in a browser, with no server and no network, and keeps working
    when the folder is copied or zipped. `raveforce-mae run` writes it already.
    """  # noqa: D301 - click's \b (no rewrapping) needs a real backspace, not a raw string
    from ..report import RunFolderError, write_report

    try:
        page = write_report(run_dir, max_episodes=None if all_episodes else max_episodes)
    except FileNotFoundError as e:
        usage_error(f"RUN_DIR {str(run_dir)!r}: {e}", hint="pass a folder written by `raveforce-mae run`")
    except RunFolderError as e:
        usage_error(f"RUN_DIR {str(run_dir)!r}: {e}", hint="pass a folder written by `raveforce-mae run`")
    say(f"{bold('report')} {page}")
