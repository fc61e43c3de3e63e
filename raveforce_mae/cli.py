"""The ``raveforce-mae`` command line (also ``python -m raveforce_mae``).

Commands:

- ``scenarios``: list the built-in scenarios.
- ``describe NAME``: one scenario in full (chains, parameters and ranges, targets).
- ``run NAME --agent random|search|reference|PATH``: play episodes and write what to
  listen to and look at (WAV, ``.glicol``, CSV, PNG) to a folder.
- ``render PATCH.glicol``: render any Glicol patch or performance to WAV, offline.
- ``bench``: run the benchmark scripts and show their tables.
- ``check``: check the installation and say what to do about anything missing.

Human output (progress, tables, messages) goes to stderr, coloured only on a terminal;
what programs read goes to files (and to stdout with ``--json``). Exit codes: 0 success,
1 failure, 2 bad usage (unknown scenario, bad path, bad option), 130 interrupted.

Only public APIs of :mod:`raveforce_mae` and :mod:`glicol_wasm` are used, imported
lazily so that ``--help`` answers at once. See ``docs/cli.md``.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

import click
import numpy as np

__all__ = ["main"]

AGENT_KINDS = ("random", "search", "reference")
BENCHMARKS = ("engine", "rewards", "env", "vector")
"""Benchmark scripts in their preferred order (others found in the folder run after)."""

EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

_EPISODE_DIR = re.compile(r"^episode_\d{3,}$")
_PARTIAL = re.compile(r"^\.(episode_\d{3,}|targets|summary\.json)\.partial")


# ---------------------------------------------------------------------------------------
# Output helpers
# ---------------------------------------------------------------------------------------


def _can_encode(text: str) -> bool:
    enc = getattr(sys.stderr, "encoding", None) or "ascii"
    try:
        text.encode(enc)
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def _symbols() -> dict[str, str]:
    if _can_encode("✓✗·—█░…"):
        return {
            "ok": "✓",
            "fail": "✗",
            "skip": "·",
            "dash": "—",
            "full": "█",
            "empty": "░",
            "dots": "…",
        }
    return {
        "ok": "ok",
        "fail": "XX",
        "skip": "--",
        "dash": "-",
        "full": "#",
        "empty": "-",
        "dots": "...",
    }


def say(message: str = "", nl: bool = True) -> None:
    """Write a line for humans to stderr (colours are stripped when it is not a terminal)."""
    click.echo(message, err=True, nl=nl)


def _dim(text: str) -> str:
    return click.style(text, dim=True)


def _bold(text: str) -> str:
    return click.style(text, bold=True)


def _note(message: str) -> None:
    say(f"{click.style('note:', fg='cyan')} {message}")


def _warn(message: str) -> None:
    say(f"{click.style('warning:', fg='yellow', bold=True)} {message}")


class CliError(click.ClickException):
    """A failure reported as ``error: message`` (plus an optional hint) with an exit code."""

    def __init__(self, message: str, *, hint: str | None = None, exit_code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.hint = hint
        self.exit_code = exit_code

    def show(self, file: Any = None) -> None:  # noqa: D102 - click's hook
        say(f"{click.style('error:', fg='red', bold=True)} {self.format_message()}")
        if self.hint:
            say(f"{click.style('hint:', fg='cyan')} {self.hint}")


def _usage_error(message: str, hint: str | None = None) -> NoReturn:
    raise CliError(message, hint=hint, exit_code=EXIT_USAGE)


def _showwarning(
    message: Any,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    """Show Python warnings from the library in the CLI's own style, once each."""
    text = str(message)
    if text in _SEEN_WARNINGS:
        return
    _SEEN_WARNINGS.add(text)
    _warn(text)


_SEEN_WARNINGS: set[str] = set()


def _fmt(x: float, digits: int = 3) -> str:
    if x is None or not np.isfinite(x):
        return "-"
    return f"{x:.{digits}f}"


def _dbfs(x: float) -> str:
    return "-inf dBFS" if x <= 0 else f"{20 * math.log10(x):+.1f} dBFS"


def _seconds(s: float) -> str:
    if s < 60:
        return f"{s:.1f} s"
    m, s = divmod(int(round(s)), 60)
    return f"{m}:{s:02d} min" if m < 60 else f"{m // 60}:{m % 60:02d}:{s:02d} h"


def _table(header: Sequence[str], rows: Iterable[Sequence[str]], align: str | None = None) -> list[str]:
    """Plain text table lines; ``align`` has one of ``l``/``r`` per column."""
    rows = [list(map(str, r)) for r in rows]
    n = len(header)
    align = align or "l" * n
    widths = [
        max([click.unstyle(header[i]).__len__()] + [len(click.unstyle(r[i])) for r in rows]) for i in range(n)
    ]

    def cell(text: str, i: int) -> str:
        pad = widths[i] - len(click.unstyle(text))
        return text + " " * pad if align[i] == "l" else " " * pad + text

    lines = [_bold("  ".join(cell(h, i) for i, h in enumerate(header)).rstrip())]
    for r in rows:
        lines.append("  ".join(cell(c, i) for i, c in enumerate(r)).rstrip())
    return lines


class _Progress:
    """A one-line progress bar on stderr, drawn only when stderr is a terminal."""

    def __init__(self, episodes: int, label: str) -> None:
        self.episodes = episodes
        self.label = label
        self.enabled = sys.stderr.isatty() and os.environ.get("TERM") != "dumb"
        self.t0 = time.perf_counter()
        self.episode = 0
        self.frac = 0.0
        self.note = ""
        self._last = 0.0
        self._drawn = False
        self._sym = _symbols()

    def set(self, episode: int, frac: float, note: str | None = None, force: bool = False) -> None:
        if episode != self.episode:
            self.episode, self.frac = episode, 0.0
        self.frac = max(self.frac, min(1.0, frac))  # never moves back within an episode
        if note is not None:
            self.note = note
        now = time.perf_counter()
        if self.enabled and (force or now - self._last > 0.1):
            self._last = now
            self._draw()

    def _draw(self) -> None:
        done = (self.episode + self.frac) / self.episodes
        elapsed = time.perf_counter() - self.t0
        eta = f" eta {_seconds(elapsed * (1 - done) / done)}" if 0.02 < done < 1 else ""
        right = (
            f" {done * 100:3.0f}%  episode {min(self.episode + 1, self.episodes)}/{self.episodes}"
            f"{'  ' + self.note if self.note else ''}  {_seconds(elapsed)}{eta}"
        )
        cols = shutil.get_terminal_size((80, 20)).columns
        # A fixed width (not one that follows the text on its right) keeps the bar still.
        width = max(10, min(30, cols - len(click.unstyle(self.label)) - 56))
        fill = int(round(done * width))
        bar = click.style(self._sym["full"] * fill, fg="green") + _dim(self._sym["empty"] * (width - fill))
        line = f"{self.label} {bar}{right}"
        click.echo("\r\x1b[2K" + line[: cols + 40], err=True, nl=False)
        self._drawn = True

    def clear(self) -> None:
        if self.enabled and self._drawn:
            click.echo("\r\x1b[2K", err=True, nl=False)
            self._drawn = False

    def line(self, message: str) -> None:
        """Print a line above the bar."""
        self.clear()
        say(message)
        if self.enabled:
            self._draw()


# ---------------------------------------------------------------------------------------
# Shared argument handling
# ---------------------------------------------------------------------------------------


def _scenario_names() -> list[str]:
    from . import list_scenarios

    return list(list_scenarios())


def _looks_like_path(arg: str) -> bool:
    return os.sep in arg or "/" in arg or arg.endswith(".toml") or arg.startswith(".")


def _check_scenario_arg(arg: str) -> str:
    """Validate a scenario argument (a built-in name or a TOML path) before any work.

    Raises:
        CliError: (exit 2) naming the missing path, or suggesting the closest names.
    """
    if os.path.isfile(arg):
        return arg
    if _looks_like_path(arg):
        if os.path.isdir(arg):
            _usage_error(f"scenario path {arg!r} is a folder; expected a .toml file")
        _usage_error(f"no scenario file at {arg!r} (no such file)")
    names = _scenario_names()
    if arg in names:
        return arg
    close = difflib.get_close_matches(arg.lower(), names, n=3, cutoff=0.5)
    if not close:  # prefixes and substrings: "drum" -> "drum_loop"
        close = [n for n in names if arg.lower() in n.lower()][:3]
    hint = f"did you mean {' or '.join(repr(c) for c in close)}?" if close else None
    known = ", ".join(names) if names else "(none found: is the package installed with its data?)"
    raise CliError(
        f"unknown scenario {arg!r}. Built-in scenarios: {known}",
        hint=hint or "`raveforce-mae scenarios` lists them; a path to a .toml file works too",
        exit_code=EXIT_USAGE,
    )


def _load_scenario(arg: str, **overrides: Any) -> Any:
    from . import ScenarioError, load_scenario

    _check_scenario_arg(arg)
    try:
        return load_scenario(arg, **overrides)
    except ScenarioError as e:
        _usage_error(f"scenario {arg!r}: {e}")


def _parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs; values are read as TOML (numbers, booleans, strings, arrays)."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]

    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            _usage_error(f"--set expects KEY=VALUE, got {item!r}", hint="e.g. --set shared_weight=0.5")
        try:
            out[key] = tomllib.loads(f"v = {value.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            out[key] = value.strip()
    return out


def _nearest_existing(path: Path) -> Path:
    p = path.absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def _check_writable_dir(path: Path, what: str = "output folder") -> None:
    """Fail now, before any work, if ``path`` cannot be created or written to.

    Raises:
        CliError: naming the path and the reason.
    """
    if path.exists() and not path.is_dir():
        raise CliError(f"the {what} {str(path)!r} is a file, not a folder")
    base = _nearest_existing(path)
    if not base.is_dir():
        raise CliError(f"cannot create the {what} {str(path)!r}: {str(base)!r} is a file, not a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=".raveforce-write-test-", dir=base)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise CliError(
            f"cannot write to the {what} {str(path)!r}: {e.strerror or e} (in {str(base)!r})",
            hint="choose another folder with --out",
        ) from None


def _write_atomic(path: Path, data: bytes | str) -> None:
    """Write a file under a temporary name, then rename it into place."""
    tmp = path.with_name(f".{path.name}.partial-{os.getpid()}")
    try:
        if isinstance(data, str):
            tmp.write_text(data, encoding="utf-8")
        else:
            tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _write_wav(path: Path, audio: np.ndarray, sample_rate: int) -> None:
    import soundfile as sf

    # 32-bit float keeps the engine's samples exactly (re-renders compare bit for bit)
    # and never clips; every DAW and audio editor reads it.
    a = np.asarray(audio, dtype=np.float32)
    sf.write(str(path), a.T if a.ndim == 2 else a, int(sample_rate), subtype="FLOAT", format="WAV")


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "track"


# ---------------------------------------------------------------------------------------
# The command group
# ---------------------------------------------------------------------------------------


class _Group(click.Group):
    """Turns library errors and Ctrl-C into messages and exit codes, without tracebacks."""

    def invoke(self, ctx: click.Context) -> Any:
        old = warnings.showwarning
        warnings.showwarning = _showwarning
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
            raise _translate(e) from e
        finally:
            warnings.showwarning = old


def _translate(e: Exception) -> click.ClickException:
    """A library exception as a CLI error with a hint where we know what to do."""
    import glicol_wasm

    from .errors import RaveforceError, ScenarioError

    if isinstance(e, glicol_wasm.EngineIntegrityError):
        return CliError(str(e), hint="run `python -m glicol_wasm fetch --force`, then `raveforce-mae check`")
    if isinstance(e, glicol_wasm.EngineUnavailableError):
        return CliError(str(e), hint="run `python -m glicol_wasm fetch`, then `raveforce-mae check`")
    if isinstance(e, ScenarioError):
        return CliError(str(e), exit_code=EXIT_USAGE)
    if isinstance(e, (RaveforceError, glicol_wasm.GlicolError)):
        return CliError(str(e))
    if isinstance(e, ImportError):
        return CliError(str(e), hint="pip install 'raveforce-mae[rl]' installs the optional dependencies")
    if isinstance(e, OSError) and e.filename:
        return CliError(f"{e.strerror or e}: {e.filename}")
    return CliError(
        f"{type(e).__name__}: {e}",
        hint="run again with --debug for the traceback, and please report it",
    )


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("raveforce-mae")
    except Exception:  # noqa: BLE001 - not installed: running from a checkout
        from . import __version__

        return __version__


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    click.echo(f"raveforce-mae {_version()}")
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


# ---------------------------------------------------------------------------------------
# scenarios, describe
# ---------------------------------------------------------------------------------------


def _criteria_text(sc: Any) -> str:
    crit = {str(k): str(v) for k, v in dict(sc.criteria).items()}
    values = set(crit.values())
    if len(values) == 1:
        return values.pop()
    mix = crit.get("mix")
    rest = ", ".join(f"{k}={v}" for k, v in crit.items() if k != "mix" and v != mix)
    return f"{mix} (mix); {rest}" if mix else rest


def _scenario_summary(sc: Any) -> dict[str, Any]:
    return {
        "name": sc.name,
        "description": getattr(sc, "description", "") or "",
        "path": str(getattr(sc, "path", "") or ""),
        "tracks": [t.name for t in sc.tracks],
        "agents": [t.agent for t in sc.tracks],
        "steps": int(sc.n_steps),
        "step_seconds": float(sc.step_seconds),
        "duration_seconds": float(sc.total_frames) / float(sc.sample_rate),
        "bpm": float(sc.bpm),
        "sample_rate": int(sc.sample_rate),
        "criteria": {str(k): str(v) for k, v in dict(sc.criteria).items()},
        "shared_weight": float(sc.shared_weight),
        "per_track_targets": bool(sc.targets.per_track_available),
        "reference": sc.reference is not None,
    }


@main.command("scenarios")
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON on stdout instead.")
def scenarios_cmd(as_json: bool) -> None:
    """List the built-in scenarios: tracks, steps, duration, criterion."""
    from . import ScenarioError, load_scenario

    names = _scenario_names()
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
        s = _scenario_summary(sc)
        data.append(s)
        rows.append(
            [
                click.style(name, fg="green", bold=True),
                ", ".join(s["tracks"]),
                str(s["steps"]),
                f"{s['duration_seconds']:.2f} s",
                _criteria_text(sc),
                s["description"].strip().splitlines()[0] if s["description"].strip() else "",
            ]
        )
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    lines = _table(["scenario", "tracks", "steps", "duration", "criterion", "description"], rows, "lllrll")
    cols = shutil.get_terminal_size((100, 20)).columns if sys.stderr.isatty() else 0
    for line in lines:
        if cols and len(click.unstyle(line)) > cols:  # trim the description to the terminal
            line = _clip_styled(line, cols - 1) + _symbols()["dots"]
        say(line)
    say(
        _dim(
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
    return f"{len(y) / sample_rate:.2f} s, peak {_dbfs(peak)}, RMS {_dbfs(rms)}"


@main.command("describe")
@click.argument("name", metavar="NAME")
@click.option("--json", "as_json", is_flag=True, help="Print the description as JSON on stdout instead.")
def describe_cmd(name: str, as_json: bool) -> None:
    """Show one scenario in full: chains, parameters with their ranges, and targets.

    NAME is a built-in scenario or a path to a scenario .toml file.
    """
    sc = _load_scenario(name)
    info = _scenario_summary(sc)
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
    say(f"{head}  {_dim(info['path'])}")
    if info["description"]:
        for line in info["description"].strip().splitlines():
            say(f"  {line}")
    say()
    say(_bold("timing"))
    say(
        f"  {info['steps']} steps of {info['step_seconds']:g} s = {info['duration_seconds']:.2f} s "
        f"at {info['bpm']:g} bpm, {info['sample_rate']} Hz"
    )
    say(_bold("rewards"))
    w = info["shared_weight"] if info["per_track_targets"] else 1.0
    say(f"  reward = {w:g} x shared (mix vs target mix) + {1 - w:g} x per-track (stem vs target stem)")
    say(f"  criteria: {_criteria_text(sc)}")
    say(f"  observation: {sc.observation}")
    shared = dict(getattr(sc, "shared_refs", {}) or {})
    if shared:
        say(_bold("shared chains") + _dim("  (used by the tracks; not set by any agent)"))
        for ref, chain in shared.items():
            say("    " + _code(f"~{ref}: {chain}"))
    say(_dim("  {name} in a chain: a number an agent sets each step, one derived from those, or a constant"))
    for tr in tracks:
        say()
        say(
            f"{_bold('track ' + tr['name'])}  agent {click.style(tr['agent'], fg='cyan')}, "
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
            for line in _table(["parameter", "kind", "range", "unit", "set by", "about"], rows):
                say("  " + line)
        else:
            say("  (no parameters: this track plays a fixed chain)")
        code = " ".join([tr["template"], *dict(getattr(t, "refs", {}) or {}).values()])
        pnames = {p.name for p in t.params}
        consts = dict(getattr(sc, "constants", {}) or {})
        used = [h for h in dict.fromkeys(re.findall(r"\{(\w+)\}", code)) if h not in pnames and h in consts]
        if used:
            say("  " + _dim("constants: " + ", ".join(f"{h} = {consts[h]:.6g}" for h in used)))
    say()
    say(_bold("targets") + f"  ({targets['kind']})")
    say(f"  mix: {_audio_stats(sc.targets.mix, sc.sample_rate)}")
    for t in sc.tracks:
        y = stems.get(t.name)
        say(
            f"  {t.name}: "
            + (_audio_stats(y, sc.sample_rate) if y is not None else "no stem (the target is the mix only)")
        )
    ref = "yes: `--agent reference` plays it" if sc.reference is not None else "no"
    say(f"  reference performance: {ref}")


# ---------------------------------------------------------------------------------------
# run
# ---------------------------------------------------------------------------------------


def _agent_label(agent: str) -> str:
    return agent if agent in AGENT_KINDS else _safe_name(Path(agent).stem)


def _check_agent_arg(agent: str) -> str:
    if agent in AGENT_KINDS:
        return agent
    p = Path(agent)
    if p.is_file() or Path(agent + ".zip").is_file():
        return agent
    if p.is_dir():
        _usage_error(f"--agent {agent!r} is a folder; expected a saved policy file (.zip)")
    close = difflib.get_close_matches(agent, AGENT_KINDS, n=1, cutoff=0.6)
    hint = (
        f"did you mean {close[0]!r}?"
        if close
        else (f"--agent takes one of {', '.join(AGENT_KINDS)} or the path of a saved policy (.zip)")
    )
    if _looks_like_path(agent) or agent.endswith(".zip"):
        _usage_error(
            f"--agent {agent!r}: no such policy file ({str(p.absolute())!r} does not exist)",
            hint=hint,
        )
    _usage_error(
        f"unknown agent {agent!r}: expected {', '.join(AGENT_KINDS)} or the path of a saved policy (.zip)",
        hint=hint if close else None,
    )


def _previous_run(out: Path) -> list[Path]:
    """Entries of a previous run in ``out`` (only the names ``run`` writes)."""
    if not out.is_dir():
        return []
    found = []
    for p in sorted(out.iterdir()):
        if (p.is_dir() and (_EPISODE_DIR.match(p.name) or p.name == "targets")) or p.name == "summary.json":
            found.append(p)
    return found


def _remove(paths: Iterable[Path]) -> None:
    for p in paths:
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        elif p.exists() or p.is_symlink():
            p.unlink()


class _EpisodeWriter:
    """Writes each finished episode into its own folder, atomically (temp folder, rename)."""

    def __init__(
        self,
        out: Path,
        env: Any,
        agent: str,
        seed: int,
        episodes: int,
        plots: bool,
        overrides: Mapping[str, Any],
    ) -> None:
        self.out = out
        self.env = env
        self.sc = env.scenario
        self.agent = agent
        self.seed = seed
        self.episodes_requested = episodes
        self.plots = plots
        self.overrides = dict(overrides)
        self.finished: list[dict[str, Any]] = []
        self.written: list[Path] = []
        self.interrupted = False
        self.error: str | None = None
        self.t0 = time.time()

    # -- helpers ---------------------------------------------------------------------------

    def _staging(self, name: str) -> Path:
        tmp = self.out / f".{name}.partial-{os.getpid()}"
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir()
        return tmp

    def _commit(self, tmp: Path, name: str) -> Path:
        final = self.out / name
        if final.exists():
            shutil.rmtree(final)
        os.rename(tmp, final)
        self.written.append(final)
        return final

    def _title(self, episode: int, mean_reward: float) -> str:
        return f"{self.sc.name}: {self.agent}, episode {episode} (mean reward {mean_reward:.3f})"

    def _ylabel(self) -> str:
        crit = {str(v) for v in dict(self.sc.criteria).values()}
        return f"reward ({crit.pop()})" if len(crit) == 1 else "reward"

    # -- files -------------------------------------------------------------------------------

    def write_targets(self) -> Path:
        tmp = self._staging("targets")
        try:
            for name, y in self.env.targets().items():
                if y is not None:
                    _write_wav(tmp / f"{_safe_name(name)}.wav", y, self.sc.sample_rate)
            return self._commit(tmp, "targets")
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)

    def write_episode(self, index: int, seed: int, result: Any) -> Path:
        from . import plots

        name = f"episode_{index:03d}"
        tmp = self._staging(name)
        sc = self.sc
        try:
            for track, y in result.audio.items():
                _write_wav(tmp / f"{_safe_name(track)}.wav", y, sc.sample_rate)
            patch = result.patch if result.patch.endswith("\n") else result.patch + "\n"
            (tmp / "performance.glicol").write_text(patch, encoding="utf-8")
            self._write_rewards_csv(tmp / "rewards.csv", index, result)
            if self.plots:
                names = [t.name for t in sc.tracks]
                plots.spectrogram_figure(
                    result.audio,
                    self.env.targets(),
                    sc.sample_rate,
                    tracks=names,
                    step_seconds=sc.step_seconds,
                    title=self._title(index, result.mean_reward),
                    path=tmp / "spectrogram.png",
                )
                plots.reward_figure(
                    result.rewards,
                    result.shared,
                    agents=list(result.agents or self.env.possible_agents),
                    track=result.track,
                    step_seconds=sc.step_seconds,
                    ylabel=self._ylabel(),
                    title=self._title(index, result.mean_reward),
                    path=tmp / "rewards.png",
                )
            final = self._commit(tmp, name)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        agents = list(result.agents or self.env.possible_agents)
        track_means = [
            float(np.nanmean(result.track[:, i])) if np.isfinite(result.track[:, i]).any() else None
            for i in range(len(agents))
        ]
        self.finished.append(
            {
                "episode": index,
                "folder": name,
                "seed": seed,
                "mean_reward": float(result.mean_reward),
                "mean_shared": float(np.mean(result.shared)) if result.shared.size else None,
                "agents": {
                    a: {
                        "mean_reward": float(np.mean(result.rewards[:, i])),
                        "mean_track": track_means[i],
                    }
                    for i, a in enumerate(agents)
                },
            }
        )
        self.write_summary()
        return final

    def _write_rewards_csv(self, path: Path, index: int, result: Any) -> None:
        sc = self.sc
        agents = list(result.agents or self.env.possible_agents)
        track_of = {t.agent: t.name for t in sc.tracks}
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["episode", "step", "time_s", "agent", "track", "reward", "shared", "track_reward"])
        starts = [a for a, _ in sc.bounds]
        for k in range(result.rewards.shape[0]):
            t0 = (starts[k % len(starts)] + (k // len(starts)) * sc.total_frames) / sc.sample_rate
            for i, a in enumerate(agents):
                tr = result.track[k, i]
                w.writerow(
                    [
                        index,
                        k,
                        f"{t0:.6g}",
                        a,
                        track_of.get(a, a),
                        f"{result.rewards[k, i]:.6g}",
                        f"{result.shared[k]:.6g}",
                        "" if not np.isfinite(tr) else f"{tr:.6g}",
                    ]
                )
        path.write_text(buf.getvalue(), encoding="utf-8")

    def summary(self) -> dict[str, Any]:
        from . import __version__

        sc = self.sc
        best = max(self.finished, key=lambda e: e["mean_reward"], default=None)
        return {
            "raveforce_mae": __version__,
            "command": "raveforce-mae " + " ".join(sys.argv[1:]) if sys.argv else "",
            "scenario": _scenario_summary(sc),
            "overrides": self.overrides,
            "agent": self.agent,
            "seed": self.seed,
            "episodes_requested": self.episodes_requested,
            "episodes_finished": len(self.finished),
            "interrupted": self.interrupted,
            "error": self.error,
            "seconds": round(time.time() - self.t0, 3),
            "best_episode": best["folder"] if best else None,
            "episodes": self.finished,
        }

    def write_summary(self) -> None:
        _write_atomic(self.out / "summary.json", json.dumps(self.summary(), indent=2) + "\n")


def _results_table(writer: _EpisodeWriter) -> list[str]:
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
            return _fmt(v[0])
        return f"{_fmt(float(np.mean(v)))} ± {_fmt(float(np.std(v)))}"

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
    rows.append([_dim("mix"), _dim("(shared)"), stat([e["mean_shared"] for e in eps]), ""])
    rows.append([_bold("all"), "", _bold(stat([e["mean_reward"] for e in eps])), ""])
    return _table(["agent", "track", "reward", "per-track part"], rows, "llrr")


@main.command("run")
@click.argument("scenario", metavar="NAME")
@click.option(
    "--agent",
    "-a",
    default="random",
    show_default=True,
    metavar="random|search|reference|PATH",
    help="Who plays: uniform random numbers, a black-box search against the targets, "
    "the scenario's own reference performance, or a saved policy (.zip).",
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
    type=int,
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
    help="Search agent: evaluations per step and track (default 200).",
)
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a scenario setting, e.g. --set shared_weight=0.5 (repeatable).",
)
@click.option("--overwrite", is_flag=True, help="Replace a previous run in the output folder.")
@click.option("--no-plots", is_flag=True, help="Skip the PNG pictures (faster).")
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
      summary.json              settings and results, for programs

    Ctrl-C keeps the episodes that finished; no half-written file is left behind.
    """  # noqa: D301 - click's \b (no rewrapping) needs a real backspace, not a raw string
    from . import baselines

    # 1. Everything that can be wrong with the command is reported before any work.
    name = _check_scenario_arg(scenario)
    agent = _check_agent_arg(agent)
    kw = _parse_overrides(overrides)
    if budget is not None and agent != "search":
        _usage_error("--budget applies to --agent search only")
    if out is None:
        out = Path("runs") / f"{_safe_name(Path(name).stem)}-{_agent_label(agent)}"
    _check_writable_dir(out)
    previous = _previous_run(out)
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

    say(f"{_dim('loading')} {name} ...")
    try:
        env = raveforce_mae.parallel_env(name, **kw)
    except raveforce_mae.ScenarioError as e:
        _usage_error(f"scenario {name!r}: {e}")
    sc = env.scenario
    n_agents = len(env.possible_agents)
    label = f"{sc.name} {_dim('·')} {_agent_label(agent)}"
    progress = _Progress(episodes, label)
    state = {"episode": 0, "steps": 0}

    def on_search(done: int, total: int) -> None:
        progress.set(state["episode"], 0.95 * done / max(total, 1), note=f"search {done}/{total}")

    original_step = env.step

    def counting_step(actions: Any) -> Any:
        # Counts the played steps for the progress bar; the env itself is unchanged.
        result = original_step(actions)
        state["steps"] += 1
        base = 0.95 if agent == "search" else 0.0
        progress.set(
            state["episode"],
            base + (1 - base) * state["steps"] / env.max_cycles,
            note=f"step {state['steps']}/{env.max_cycles}",
        )
        return result

    def make(ep_seed: int) -> Any:
        try:
            return baselines.make_policy(agent, env, seed=ep_seed, budget=budget, progress=on_search)
        except FileNotFoundError as e:
            _usage_error(f"--agent: {e}")
        except ValueError as e:
            _usage_error(f"--agent {agent}: {e}")

    # A policy that is built once (not the search, which is the work itself) is built
    # now, so that e.g. a scenario without a reference is reported before any file.
    policy = None if agent == "search" else make(seed)

    # 3. Play. The search runs once per episode (seed + i), so episodes are independent
    # samples of the baseline; the other agents are built once.
    out.mkdir(parents=True, exist_ok=True)
    _remove(p for p in out.iterdir() if _PARTIAL.match(p.name))  # leftovers of a killed run
    if previous:
        _remove(previous)
        _note(f"replaced the previous run in {out}")
    writer = _EpisodeWriter(out, env, _agent_label(agent), seed, episodes, not no_plots, kw)
    desc = f"{episodes} episode{'s' if episodes > 1 else ''} of {sc.n_steps} steps"
    say(
        f"{_bold('playing')} {sc.name} with {_agent_label(agent)}: {desc}, "
        f"{n_agents} agents ({', '.join(env.possible_agents)}), seed {seed}"
    )
    if agent in ("reference",) and episodes > 1:
        _note("the reference plays the same numbers every episode; the episodes will be identical")
    exit_code = 0
    try:
        writer.write_targets()
        env.step = counting_step  # instance attribute: shadows the method for this run only
        for i in range(episodes):
            state["episode"], state["steps"] = i, 0
            progress.set(i, 0.0, note="", force=True)
            ep_seed = seed + i
            if policy is None or agent == "search":
                policy = make(ep_seed)
            result = baselines.play_episode(env, policy, seed=ep_seed)
            progress.set(i, 1.0, note="writing", force=True)
            folder = writer.write_episode(i, ep_seed, result)
            progress.line(
                f"{click.style(_symbols()['ok'], fg='green')} episode {i}: mean reward "
                f"{_fmt(result.mean_reward)}  {_dim(str(folder))}"
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
        _cleanup_if_empty(writer, out, previous)
        raise
    except Exception as e:
        progress.clear()
        writer.error = f"{type(e).__name__}: {e}"
        if not writer.finished:
            _cleanup_if_empty(writer, out, previous)
            raise
        err = _translate(e)
        err.show()
        _note(f"kept the {len(writer.finished)} episodes that finished")
        exit_code = EXIT_FAILURE
    finally:
        env.__dict__.pop("step", None)
        progress.clear()

    if not writer.finished:
        _cleanup_if_empty(writer, out, previous)
        raise click.exceptions.Exit(exit_code or EXIT_FAILURE)
    writer.write_summary()

    # 4. The results.
    say()
    for line in _results_table(writer):
        say("  " + line)
    best = writer.summary()["best_episode"]
    say()
    if len(writer.finished) > 1:
        best_mean = max(e["mean_reward"] for e in writer.finished)
        say(f"best episode: {best} (mean reward {_fmt(best_mean)})")
    say(f"wrote {_bold(str(out))}")
    say(f"  listen: {out / best / 'mix.wav'}  (target: {out / 'targets' / 'mix.wav'})")
    if not no_plots:
        say(f"  look:   {out / best / 'spectrogram.png'}, {out / best / 'rewards.png'}")
    say(
        f"  patch:  {out / best / 'performance.glicol'}  (paste into a Glicol editor, "
        f"or `raveforce-mae render`)"
    )
    if exit_code:
        raise click.exceptions.Exit(exit_code)


def _cleanup_if_empty(writer: _EpisodeWriter, out: Path, previous: list[Path]) -> None:
    """No episode finished: remove what this run wrote, and the folder if it is now empty."""
    if writer.finished:
        return
    _remove(writer.written)
    if (out / "summary.json").exists() and not previous:
        (out / "summary.json").unlink()
    try:
        if out.is_dir() and not any(out.iterdir()):
            out.rmdir()
    except OSError:
        pass


# ---------------------------------------------------------------------------------------
# render
# ---------------------------------------------------------------------------------------


@main.command("render")
@click.argument("patch", type=click.Path(dir_okay=False, allow_dash=True, path_type=str))
@click.option(
    "--seconds",
    "-t",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Length of the render.  [default: a performance's own length; 4 s for a plain patch]",
)
@click.option(
    "--out",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="WAV file to write.  [default: PATCH with .wav]",
)
@click.option(
    "--sample-rate",
    "-r",
    type=click.IntRange(min=1000, max=384000),
    default=None,
    help="Sample rate in Hz.  [default: the file's @render header, else 44100]",
)
@click.option(
    "--bpm",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Tempo of a plain patch.  [default: the @render header, else 120]",
)
@click.option("--seed", type=int, default=None, help="Seed of `choose` in a plain patch.  [default: 42]")
@click.option(
    "--stereo",
    is_flag=True,
    help="Write both engine channels (default: mono, the left channel, as the environments use; "
    "several Glicol nodes write the left channel only).",
)
def render_cmd(
    patch: str,
    seconds: float | None,
    out: Path | None,
    sample_rate: int | None,
    bpm: float | None,
    seed: int | None,
    stereo: bool,
) -> None:
    """Render a Glicol patch or performance (PATCH.glicol, or - for stdin) to WAV, offline.

    A performance written by `raveforce-mae run` (a .glicol file with `// @step` sections)
    is rendered section by section and reproduces the episode's mix; --seconds then
    trims it. A plain patch plays for --seconds.
    """
    import glicol_wasm

    from .timeline import render_timeline

    if patch == "-":
        text = sys.stdin.read()
        source = "stdin"
        if out is None:
            _usage_error("reading the patch from stdin needs --out FILE.wav")
    else:
        p = Path(patch)
        if not p.exists():
            _usage_error(f"no such patch file: {str(p)!r}")
        try:
            text = p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            _usage_error(f"cannot read the patch {str(p)!r}: {getattr(e, 'strerror', None) or e}")
        source = str(p)
        if out is None:
            out = p.with_suffix(".wav")
    assert out is not None
    if out.exists() and out.is_dir():
        _usage_error(f"--out {str(out)!r} is a folder; expected a .wav file name")
    _check_writable_dir(out.parent if str(out.parent) else Path("."), "folder of --out")
    if not text.strip():
        _usage_error(f"the patch {source} is empty")

    from .timeline import header, is_timeline

    head = header(text)
    sr = int(sample_rate or head.get("sample_rate", 44100))
    t0 = time.perf_counter()
    if is_timeline(text):
        kind = "performance"
        if bpm is not None or seed is not None:
            _note("--bpm and --seed apply to plain patches; a performance uses its @render header")
        try:
            audio = render_timeline(text, sample_rate=sr)
        except ValueError as e:
            _usage_error(f"{source}: {e}")
        own = audio.shape[1] / sr
        if seconds is not None:
            n = int(round(seconds * sr))
            if n < audio.shape[1]:
                audio = audio[:, :n]
            elif n > audio.shape[1]:
                _note(f"the performance lasts {own:.3f} s; wrote all of it (not {seconds:g} s)")
    else:
        kind = "patch"
        secs = 4.0 if seconds is None else float(seconds)
        audio = glicol_wasm.render(
            text,
            secs,
            sr,
            bpm=float(bpm if bpm is not None else head.get("bpm", 120.0)),
            seed=int(seed if seed is not None else head.get("seed", 42)),
        )
    took = time.perf_counter() - t0
    data = audio if stereo else audio[0]
    tmp = out.with_name(f".{out.name}.partial-{os.getpid()}")
    try:
        _write_wav(tmp, data, sr)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()
    peak = float(np.max(np.abs(data))) if data.size else 0.0
    say(
        f"wrote {_bold(str(out))}: {kind}, {data.shape[-1] / sr:.3f} s at {sr} Hz, "
        f"{'stereo' if stereo else 'mono'}, peak {_dbfs(peak)} " + _dim(f"(rendered in {took:.2f} s)")
    )
    if peak == 0.0:
        _warn("the render is silent")
    elif peak > 1.0:
        _warn("it peaks above 0 dBFS: the float WAV keeps every sample, but fixed-point playback will clip")


# ---------------------------------------------------------------------------------------
# bench
# ---------------------------------------------------------------------------------------


def _benchmarks_dir() -> Path | None:
    here = Path(__file__).resolve().parent.parent / "benchmarks"
    if here.is_dir():
        return here
    cwd = Path.cwd() / "benchmarks"
    return cwd if cwd.is_dir() else None


def _find_benchmarks(folder: Path) -> list[str]:
    found = sorted(p.stem for p in folder.glob("*.py") if not p.name.startswith("_"))
    return [b for b in BENCHMARKS if b in found] + [b for b in found if b not in BENCHMARKS]


@main.command("bench", context_settings={"ignore_unknown_options": True})
@click.option(
    "--only",
    multiple=True,
    metavar="NAME",
    help=f"Run only this benchmark (repeatable): {', '.join(BENCHMARKS)}.",
)
@click.option(
    "--dir",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder of the benchmark scripts.  [default: benchmarks/ of the source checkout]",
)
@click.option(
    "--out",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also save the tables to this text file.",
)
@click.option("--list", "list_only", is_flag=True, help="List the benchmarks found and exit.")
@click.argument("extra", nargs=-1, type=click.UNPROCESSED, metavar="[-- ARGS]")
def bench_cmd(
    only: tuple[str, ...],
    folder: Path | None,
    out: Path | None,
    list_only: bool,
    extra: tuple[str, ...],
) -> None:
    """Run the benchmarks and show their tables (`python benchmarks/NAME.py`, one process each).

    Arguments after `--` go to every benchmark script, e.g.
    `raveforce-mae bench --only env -- --steps 500`.
    """
    if folder is None:
        folder = _benchmarks_dir()
        if folder is None:
            raise CliError(
                "the benchmarks/ folder was not found: it ships with the source checkout, "
                "not with the installed package",
                hint="run from a clone of the repository (pip install -e . there), or pass --dir",
            )
    elif not folder.is_dir():
        _usage_error(f"--dir {str(folder)!r}: no such folder")
    names = _find_benchmarks(folder)
    if list_only:
        for n in names:
            click.echo(n)
        return
    if not names:
        raise CliError(f"no benchmark scripts (*.py) in {str(folder)!r}")
    selected = names
    if only:
        unknown = [o for o in only if o not in names]
        if unknown:
            missing = ", ".join(repr(u) for u in unknown)
            known = [b for b in BENCHMARKS if b not in names]
            why = f" ({', '.join(known)} not written yet)" if any(u in BENCHMARKS for u in unknown) else ""
            _usage_error(
                f"--only {missing}: no such benchmark in {folder}{why}",
                hint=f"available: {', '.join(names)}",
            )
        selected = [n for n in names if n in only]
    if out is not None:
        _check_writable_dir(out.parent if str(out.parent) else Path("."), "folder of --out")
    missing = [b for b in BENCHMARKS if b not in names and not only]
    if missing:
        _note(f"not found in {folder}: {', '.join(m + '.py' for m in missing)} (skipped)")

    env = dict(os.environ)
    root = str(folder.resolve().parent)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    results: list[tuple[str, int, float]] = []
    captured: list[str] = []
    for n in selected:
        say(_bold(f"== {n} ") + _dim(f"python {folder.name}/{n}.py {' '.join(extra)}".rstrip()))
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, str(folder / f"{n}.py"), *extra],
            cwd=root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=None,
            text=True,
            bufsize=1,
        )
        lines = []
        try:
            assert proc.stdout is not None
            for line in proc.stdout:  # the tables are human output: shown on stderr as they come
                say(line, nl=False)
                lines.append(line)
            rc = proc.wait()
        except KeyboardInterrupt:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
            raise
        results.append((n, rc, time.perf_counter() - t0))
        captured.append(f"== {n}\n" + "".join(lines))
        say()
    if out is not None:
        _write_atomic(out, "\n".join(captured))
    sym = _symbols()
    for n, rc, secs in results:
        mark = click.style(sym["ok"], fg="green") if rc == 0 else click.style(sym["fail"], fg="red")
        say(f"{mark} {n:<10} {_seconds(secs):>9}" + ("" if rc == 0 else f"  (exit code {rc})"))
    if out is not None:
        say(f"wrote {out}")
    if any(rc for _, rc, _ in results):
        raise click.exceptions.Exit(EXIT_FAILURE)


# ---------------------------------------------------------------------------------------
# check
# ---------------------------------------------------------------------------------------


class _Checks:
    def __init__(self) -> None:
        self.failed = 0
        self.sym = _symbols()

    def ok(self, what: str, detail: str) -> None:
        say(f"  {click.style(self.sym['ok'], fg='green')} {what:<13} {detail}")

    def fail(self, what: str, detail: str, fix: str) -> None:
        self.failed += 1
        say(f"  {click.style(self.sym['fail'], fg='red', bold=True)} {what:<13} {detail}")
        say(f"    {click.style('fix:', fg='cyan')} {fix}")

    def info(self, what: str, detail: str) -> None:
        say(f"  {_dim(self.sym['skip'])} {what:<13} {_dim(detail)}")


def _pkg_version(mod: str) -> str | None:
    try:
        from importlib.metadata import version

        return version(mod)
    except Exception:  # noqa: BLE001 - not installed
        return None


@main.command("check")
@click.option("--fetch", is_flag=True, help="If the engine is missing, fetch it now (needs npm and network).")
def check_cmd(fetch: bool) -> None:
    """Check the installation: engine fetched and verified, a patch renders, scenarios load.

    Says exactly what to do about anything that is missing; exits with 1 if something is.
    """
    c = _Checks()
    say(f"raveforce-mae {_version()} on Python {sys.version.split()[0]} ({sys.executable})")

    required = [
        "numpy",
        "wasmtime",
        "gymnasium",
        "pettingzoo",
        "librosa",
        "soundfile",
        "matplotlib",
        "click",
    ]
    missing = []
    found = []
    for pkg in required:
        v = _pkg_version(pkg)
        if v is None:
            try:
                __import__(pkg)
                v = "?"
            except ImportError:
                missing.append(pkg)
                continue
        found.append(f"{pkg} {v}")
    if missing:
        c.fail(
            "packages",
            f"missing: {', '.join(missing)}",
            "pip install -e .  (or pip install raveforce-mae)",
        )
    else:
        c.ok("packages", ", ".join(found))

    try:
        import glicol_wasm
        from glicol_wasm import binary
    except Exception as e:  # noqa: BLE001 - reported
        c.fail("engine", f"glicol_wasm does not import: {e}", "pip install -e .")
        raise click.exceptions.Exit(EXIT_FAILURE) from None

    path = None
    try:
        path = glicol_wasm.locate()
    except glicol_wasm.EngineUnavailableError as e:
        if fetch:
            say(f"  {_dim('fetching the engine with npm ...')}")
            try:
                path = glicol_wasm.fetch()
            except glicol_wasm.GlicolError as fe:
                c.fail(
                    "engine",
                    str(fe),
                    "python -m glicol_wasm fetch --tarball glicol-0.4.0.tgz "
                    "(without network here: `npm pack glicol@0.4.0` elsewhere, copy the file)",
                )
        elif os.environ.get("GLICOL_WASM"):
            c.fail(
                "engine",
                str(e).split(". Run")[0],
                "point GLICOL_WASM at a glicol_wasm.wasm file, or unset it and run "
                "`python -m glicol_wasm fetch`",
            )
        else:
            c.fail(
                "engine",
                str(e).split(". Run")[0],
                "python -m glicol_wasm fetch   (once; or `raveforce-mae check --fetch`)",
            )
    if path is not None:
        try:
            data = binary.verify_file(path)
            c.ok("engine", f"{path}")
            c.ok(
                "verified",
                f"sha256 {binary.WASM_SHA256[:16]}{c.sym['dots']} ({len(data):,} bytes, "
                f"npm {binary.PACKAGE})",
            )
        except glicol_wasm.EngineIntegrityError as e:
            c.fail("verified", str(e).split(". Run")[0], "python -m glicol_wasm fetch --force")
            path = None
        except glicol_wasm.EngineUnavailableError as e:
            c.fail("engine", str(e), "python -m glicol_wasm fetch --force")
            path = None
    if path is not None:
        code = "o: sin 440 >> mul 0.5"
        try:
            t0 = time.perf_counter()
            a = glicol_wasm.render(code, 0.5, 44100)
            ms = (time.perf_counter() - t0) * 1000
            peak = float(np.max(np.abs(a[0])))
            if not np.isfinite(a).all() or not 0.45 < peak < 0.55:
                c.fail(
                    "renders",
                    f"{code!r} gave peak {peak:.3f} (expected 0.5)",
                    "python -m glicol_wasm fetch --force, then report it if it persists",
                )
            else:
                c.ok("renders", f"{code!r}: 0.5 s, peak {_dbfs(peak)}, in {ms:.0f} ms")
        except Exception as e:  # noqa: BLE001 - reported
            c.fail("renders", f"{type(e).__name__}: {e}", "python -m glicol_wasm fetch --force")
            path = None

    names: list[str] = []
    try:
        names = _scenario_names()
        if names:
            c.ok("scenarios", f"{len(names)} built in: {', '.join(names)}")
        else:
            c.fail(
                "scenarios",
                "none found",
                "reinstall with `pip install -e .` (the scenario files are package data)",
            )
    except Exception as e:  # noqa: BLE001 - reported
        c.fail(
            "scenarios",
            f"raveforce_mae does not import: {type(e).__name__}: {e}",
            "pip install -e .",
        )
    if names and path is not None:
        name = "ensemble" if "ensemble" in names else names[0]
        try:
            import raveforce_mae

            t0 = time.perf_counter()
            env = raveforce_mae.parallel_env(name)
            env.reset(seed=0)
            env.step({a: env.action_space(a).sample() for a in env.agents})
            mix = env.audio()["mix"]
            if not np.abs(mix).max() > 0:
                c.fail("environment", f"{name}: one step rendered silence", "report it: this is a bug")
            else:
                c.ok("environment", f"{name}: reset and one step in {time.perf_counter() - t0:.2f} s")
        except Exception as e:  # noqa: BLE001 - reported
            c.fail("environment", f"{name}: {type(e).__name__}: {e}", "run with --debug and report it")

    try:
        import matplotlib

        matplotlib.use("Agg", force=True)
        import matplotlib.pyplot as plt

        fig = plt.figure(figsize=(1, 1))
        fig.savefig(io.BytesIO(), format="png")
        plt.close(fig)
        c.ok("pictures", f"matplotlib {matplotlib.__version__} (Agg)")
    except Exception as e:  # noqa: BLE001 - reported
        c.fail("pictures", f"matplotlib cannot draw: {e}", "pip install -U matplotlib")

    opt = []
    for pkg, why in (
        ("cma", "CMA-ES for --agent search"),
        ("stable-baselines3", "--agent PATH.zip"),
    ):
        v = _pkg_version(pkg)
        opt.append(f"{pkg} {v}" if v else f"{pkg} missing ({why}; pip install 'raveforce-mae[rl]')")
    c.info("optional", "; ".join(opt))
    say()
    if c.failed:
        say(
            click.style(f"{c.failed} problem{'s' if c.failed > 1 else ''} found", fg="red", bold=True)
            + ": see the fix lines above"
        )
        raise click.exceptions.Exit(EXIT_FAILURE)
    say(click.style("all good", fg="green", bold=True) + ": try `raveforce-mae run ensemble --agent search`")


if __name__ == "__main__":  # pragma: no cover
    main(prog_name="raveforce-mae")
