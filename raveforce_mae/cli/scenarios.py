"""``raveforce-mae scenarios``: the built-in scenarios, one line each."""

from __future__ import annotations

import json
import re
import shutil
import sys

import click

from ..export import scenario_summary
from .common import CliError, criteria_text, dim, say, scenario_names, symbols, table

__all__ = ["scenarios_cmd"]


@click.command("scenarios")
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON on stdout instead.")
def scenarios_cmd(as_json: bool) -> None:
    """List the built-in scenarios: tracks, steps, duration, criterion."""
    from .. import ScenarioError, load_scenario

    names = scenario_names()
    if not names:
        raise CliError(
            "no built-in scenarios were found",
            hint="the package data is missing: reinstall with `pip install -e .`",
        )
    rows, data = [], []
    for name in names:
        try:
            sc = load_scenario(name)
        except (ScenarioError, OSError) as e:
            rows.append([click.style(name, fg="red"), "-", "-", "-", "-", f"cannot load: {e}"])
            data.append({"name": name, "error": str(e)})
            continue
        s = scenario_summary(sc)
        data.append(s)
        rows.append(
            [
                click.style(name, fg="green", bold=True),
                ", ".join(s["tracks"]),
                str(s["steps"]),
                f"{s['duration_seconds']:.2f} s",
                criteria_text(sc),
                s["description"].strip().splitlines()[0] if s["description"].strip() else "",
            ]
        )
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    lines = table(["scenario", "tracks", "steps", "duration", "criterion", "description"], rows, "lllrll")
    cols = shutil.get_terminal_size((100, 20)).columns if sys.stderr.isatty() else 0
    for line in lines:
        if cols and len(click.unstyle(line)) > cols:  # trim the description to the terminal
            line = _clip_styled(line, cols - 1) + symbols()["dots"]
        say(line)
    say(
        dim(
            "\n`raveforce-mae describe NAME` shows one in full; "
            "`raveforce-mae run NAME --agent search` plays it."
        )
    )


def _clip_styled(text: str, width: int) -> str:
    """Cut ``text`` to ``width`` visible characters, keeping its colour codes."""
    out, seen = [], 0
    for part in re.split(r"(\x1b\[[0-9;]*m)", text):
        if part.startswith("\x1b["):
            out.append(part)
        elif seen < width:
            out.append(part[: width - seen])
            seen += len(out[-1])
    return "".join(out) + ("\x1b[0m" if "\x1b[" in text else "")
