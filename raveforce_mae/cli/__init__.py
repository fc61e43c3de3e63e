"""The ``raveforce-mae`` command line (also ``python -m raveforce_mae``).

Commands, one module each:

- ``scenarios``: list the built-in scenarios (:mod:`.scenarios`).
- ``describe NAME``: one scenario in full (:mod:`.describe`).
- ``run NAME --agent random|search|reference|PATH``: play episodes and write what to
  listen to and look at to a folder (:mod:`.run`; the files come from
  :mod:`raveforce_mae.export`).
- ``render PATCH.glicol``: render any Glicol patch or performance to WAV (:mod:`.render`).
- ``check``: check the installation and say what to do about anything missing (:mod:`.check`).
- ``bench``: run the benchmark scripts of a source checkout (:mod:`.bench`); a
  developer command, listed only where a checkout's ``benchmarks/`` folder is found.

Human output (progress, tables, messages) goes to stderr, coloured only on a terminal;
what programs read goes to files (and to stdout with ``--json``). Exit codes: 0 success,
1 failure, 2 bad usage (unknown scenario, bad path, bad option), 130 interrupted.

Only public APIs of :mod:`raveforce_mae` and :mod:`glicol_wasm` are used, imported
lazily so that ``--help`` answers at once. See ``docs/cli.md``.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import click

from .bench import bench_cmd, benchmarks_dir
from .check import check_cmd
from .common import EXIT_INTERRUPTED, say, showwarning, translate, version
from .describe import describe_cmd
from .render import render_cmd
from .report import report_cmd
from .run import run_cmd
from .scenarios import scenarios_cmd

__all__ = ["main"]


# ---------------------------------------------------------------------------------------
# The command group
# ---------------------------------------------------------------------------------------


class _Group(click.Group):
    """Turns library errors and Ctrl-C into messages and exit codes, without tracebacks."""

    def invoke(self, ctx: click.Context) -> Any:
        old = warnings.showwarning
        warnings.showwarning = showwarning
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            say()
            say(click.style("interrupted", fg="yellow"))
            raise click.exceptions.Exit(EXIT_INTERRUPTED) from None
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as e:  # noqa: BLE001 - translated below; --debug shows tracebacks
            if ctx.obj and ctx.obj.get("debug"):
                raise
            raise translate(e) from e
        finally:
            warnings.showwarning = old


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    click.echo(f"raveforce-mae {version()}")
    ctx.exit()


@click.group(
    cls=_Group,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Show the version and exit.",
)
@click.option(
    "--color/--no-color",
    default=None,
    help="Colour the output (default: only on a terminal, and not if NO_COLOR is set).",
)
@click.option("--debug", is_flag=True, hidden=True, help="Show tracebacks of errors.")
@click.pass_context
def main(ctx: click.Context, color: bool | None, debug: bool) -> None:
    """Make music with agents that live-code the Glicol engine.

    \b
    Start here:
      raveforce-mae check                      is everything installed?
      raveforce-mae scenarios                  what can be played
      raveforce-mae run ensemble --agent search
                                               play, then listen and look in runs/ensemble-search/
    """  # noqa: D301 - click's \b (no rewrapping) needs a real backspace, not a raw string
    if color is None and os.environ.get("NO_COLOR"):
        color = False
    ctx.color = color
    ctx.obj = {"debug": debug}


main.add_command(scenarios_cmd)
main.add_command(describe_cmd)
main.add_command(run_cmd)
main.add_command(render_cmd)
main.add_command(report_cmd)
main.add_command(check_cmd)
main.add_command(bench_cmd)
# The benchmarks ship with the source checkout, not with the installed package: an
# installed wheel does not list `bench` (running it then says where the scripts are).
bench_cmd.hidden = benchmarks_dir() is None
