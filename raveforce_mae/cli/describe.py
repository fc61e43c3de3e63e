"""``raveforce-mae describe NAME``: one scenario in full (chains, parameters, targets)."""

from __future__ import annotations

import json
import re
from typing import Any

import click
import numpy as np

from ..export import scenario_summary
from .common import bold, criteria_text, dbfs, dim, load_scenario, say, table

__all__ = ["describe_cmd"]


def _param_row(p: Any) -> list[str]:
    kind = str(p.kind)
    unit = str(getattr(p, "unit", "") or "")
    if kind == "choose":
        rng = "{" + ", ".join(f"{c:g}" if isinstance(c, (int, float)) else str(c) for c in p.choices) + "}"
    elif kind == "rel":
        expr = p.expr if isinstance(p.expr, str) else getattr(p.expr, "__name__", "function")
        rng = f"= {expr}"
        if getattr(p, "low", None) is not None and getattr(p, "high", None) is not None:
            rng += f"  (clamped to {p.low:g} .. {p.high:g})"
    elif kind == "note":
        rng = f"MIDI {p.low:g} .. {p.high:g}"
        unit = {"hz": "written in Hz", "midi": "written as MIDI"}.get(unit, unit)
    else:
        rng = f"{p.low:g} .. {p.high:g}"
    who = "agent" if kind != "rel" else "derived"
    return [str(p.name), kind, rng, unit, who, str(getattr(p, "doc", "") or "")]


def _code(line: str) -> str:
    """A line of Glicol with its holes ``{name}`` highlighted."""
    parts = re.split(r"(\{[^{}]*\})", line)
    return "".join(
        click.style(p, fg="yellow", bold=True) if p.startswith("{") else click.style(p, fg="magenta")
        for p in parts
        if p
    )


def _audio_stats(y: np.ndarray | None, sample_rate: int) -> str:
    if y is None:
        return "not available"
    y = np.asarray(y, dtype=np.float64)
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    rms = float(np.sqrt(np.mean(y**2))) if y.size else 0.0
    return f"{len(y) / sample_rate:.2f} s, peak {dbfs(peak)}, RMS {dbfs(rms)}"


@click.command("describe")
@click.argument("name", metavar="NAME")
@click.option("--json", "as_json", is_flag=True, help="Print the description as JSON on stdout instead.")
def describe_cmd(name: str, as_json: bool) -> None:
    """Show one scenario in full: chains, parameters with their ranges, and targets.

    NAME is a built-in scenario or a path to a scenario .toml file.
    """
    sc = load_scenario(name)
    info = scenario_summary(sc)
    tracks = []
    for t in sc.tracks:
        tracks.append(
            {
                "name": t.name,
                "agent": t.agent,
                "criterion": str(getattr(t, "criterion", sc.criteria.get(t.name, ""))),
                "template": str(t.template),
                "params": [
                    {
                        "name": p.name,
                        "kind": p.kind,
                        "low": getattr(p, "low", None),
                        "high": getattr(p, "high", None),
                        "choices": list(getattr(p, "choices", ()) or ()),
                        "unit": getattr(p, "unit", "") or "",
                        "expr": p.expr
                        if isinstance(getattr(p, "expr", None), str) or p.expr is None
                        else repr(p.expr),
                        "free": p.kind != "rel",
                    }
                    for p in t.params
                ],
            }
        )
    stems = sc.targets.stems
    targets = {
        "kind": str(sc.targets.kind),
        "per_track_available": bool(sc.targets.per_track_available),
        "mix_seconds": len(sc.targets.mix) / sc.sample_rate,
        "stems": {n: (None if y is None else len(y) / sc.sample_rate) for n, y in stems.items()},
    }
    if as_json:
        click.echo(
            json.dumps(
                {**info, "observation": str(sc.observation), "tracks": tracks, "targets": targets},
                indent=2,
                default=str,
            )
        )
        return

    head = click.style(sc.name, fg="green", bold=True)
    say(f"{head}  {dim(info['path'])}")
    if info["description"]:
        for line in info["description"].strip().splitlines():
            say(f"  {line}")
    say()
    say(bold("timing"))
    say(
        f"  {info['steps']} steps of {info['step_seconds']:g} s = {info['duration_seconds']:.2f} s "
        f"at {info['bpm']:g} bpm, {info['sample_rate']} Hz"
    )
    say(bold("rewards"))
    w = info["shared_weight"] if info["per_track_targets"] else 1.0
    say(f"  reward = {w:g} x shared (mix vs target mix) + {1 - w:g} x per-track (stem vs target stem)")
    say(f"  criteria: {criteria_text(sc)}")
    say(f"  observation: {sc.observation}")
    shared = dict(getattr(sc, "shared_refs", {}) or {})
    if shared:
        say(bold("shared chains") + dim("  (used by the tracks; not set by any agent)"))
        for ref, chain in shared.items():
            say("    " + _code(f"~{ref}: {chain}"))
    say(dim("  {name} in a chain: a number an agent sets each step, one derived from those, or a constant"))
    for tr in tracks:
        say()
        say(
            f"{bold('track ' + tr['name'])}  agent {click.style(tr['agent'], fg='cyan')}, "
            f"criterion {tr['criterion']}"
        )
        t = next(t for t in sc.tracks if t.name == tr["name"])
        if getattr(t, "description", ""):
            say(f"  {t.description}")
        for ref, chain in dict(getattr(t, "refs", {}) or {}).items():
            say("    " + _code(f"~{ref}: {chain}"))
        for line in tr["template"].strip().splitlines():
            say("    " + _code(line if ":" in line.split(">>")[0] else f"{t.name}: {line}"))
        rows = [_param_row(p) for p in t.params]
        if rows:
            for line in table(["parameter", "kind", "range", "unit", "set by", "about"], rows):
                say("  " + line)
        else:
            say("  (no parameters: this track plays a fixed chain)")
        code = " ".join([tr["template"], *dict(getattr(t, "refs", {}) or {}).values()])
        pnames = {p.name for p in t.params}
        consts = dict(getattr(sc, "constants", {}) or {})
        used = [h for h in dict.fromkeys(re.findall(r"\{(\w+)\}", code)) if h not in pnames and h in consts]
        if used:
            say("  " + dim("constants: " + ", ".join(f"{h} = {consts[h]:.6g}" for h in used)))
    say()
    say(bold("targets") + f"  ({targets['kind']})")
    say(f"  mix: {_audio_stats(sc.targets.mix, sc.sample_rate)}")
    for t in sc.tracks:
        y = stems.get(t.name)
        say(
            f"  {t.name}: "
            + (_audio_stats(y, sc.sample_rate) if y is not None else "no stem (the target is the mix only)")
        )
    ref = "yes: `--agent reference` plays it" if sc.reference is not None else "no"
    say(f"  reference performance: {ref}")
