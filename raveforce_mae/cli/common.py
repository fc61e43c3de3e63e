"""Output helpers and argument checks shared by the commands of ``raveforce-mae``.

Human output (progress, tables, messages) goes to stderr, coloured only on a terminal;
what programs read goes to files (and to stdout with ``--json``). Errors are
:class:`CliError` (``error: message`` plus an optional hint) with an exit code: 1
failure, 2 bad usage, 130 interrupted.
"""

from __future__ import annotations

import difflib
import math
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import click
import numpy as np

from ..export import safe_name

__all__ = [
    "AGENT_KINDS",
    "EXIT_FAILURE",
    "EXIT_INTERRUPTED",
    "EXIT_USAGE",
    "CliError",
    "Progress",
    "bold",
    "check_scenario_arg",
    "check_writable_dir",
    "criteria_text",
    "dbfs",
    "dim",
    "fmt",
    "load_scenario",
    "looks_like_path",
    "note",
    "parse_overrides",
    "safe_name",
    "say",
    "scenario_names",
    "duration_text",
    "showwarning",
    "symbols",
    "table",
    "translate",
    "usage_error",
    "version",
    "warn",
    "write_atomic",
]

AGENT_KINDS = ("random", "search", "reference")
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

# ---------------------------------------------------------------------------------------
# Output helpers
# ---------------------------------------------------------------------------------------


def can_encode(text: str) -> bool:
    """Whether stderr's encoding can write ``text``."""
    enc = getattr(sys.stderr, "encoding", None) or "ascii"
    try:
        text.encode(enc)
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def symbols() -> dict[str, str]:
    """Check marks, bars and dots: Unicode where stderr can write it, else ASCII."""
    if can_encode("✓✗·—█░…"):
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


def dim(text: str) -> str:
    """``text`` dimmed (on a colour terminal)."""
    return click.style(text, dim=True)


def bold(text: str) -> str:
    """``text`` in bold (on a colour terminal)."""
    return click.style(text, bold=True)


def note(message: str) -> None:
    """Say ``note: message``."""
    say(f"{click.style('note:', fg='cyan')} {message}")


def warn(message: str) -> None:
    """Say ``warning: message``."""
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


def usage_error(message: str, hint: str | None = None) -> NoReturn:
    """Stop with a usage error (exit 2)."""
    raise CliError(message, hint=hint, exit_code=EXIT_USAGE)


def showwarning(
    message: Any,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    """Show Python warnings from the library in the CLI's own style, once each."""
    text = str(message)
    if text in SEEN_WARNINGS:
        return
    SEEN_WARNINGS.add(text)
    warn(text)


SEEN_WARNINGS: set[str] = set()


def fmt(x: float, digits: int = 3) -> str:
    """A number with ``digits`` decimals, ``-`` for None or non-finite."""
    if x is None or not np.isfinite(x):
        return "-"
    return f"{x:.{digits}f}"


def dbfs(x: float) -> str:
    """An amplitude in dB re full scale."""
    return "-inf dBFS" if x <= 0 else f"{20 * math.log10(x):+.1f} dBFS"


def duration_text(s: float) -> str:
    """A duration in seconds, minutes or hours."""
    if s < 60:
        return f"{s:.1f} s"
    m, s = divmod(int(round(s)), 60)
    return f"{m}:{s:02d} min" if m < 60 else f"{m // 60}:{m % 60:02d}:{s:02d} h"


def table(header: Sequence[str], rows: Iterable[Sequence[str]], align: str | None = None) -> list[str]:
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

    lines = [bold("  ".join(cell(h, i) for i, h in enumerate(header)).rstrip())]
    for r in rows:
        lines.append("  ".join(cell(c, i) for i, c in enumerate(r)).rstrip())
    return lines


class Progress:
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
        self._sym = symbols()

    def set(self, episode: int, frac: float, note: str | None = None, force: bool = False) -> None:
        """Move the bar to ``frac`` of ``episode`` (redrawn at most every 0.1 s unless ``force``)."""
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
        eta = f" eta {duration_text(elapsed * (1 - done) / done)}" if 0.02 < done < 1 else ""
        right = (
            f" {done * 100:3.0f}%  episode {min(self.episode + 1, self.episodes)}/{self.episodes}"
            f"{'  ' + self.note if self.note else ''}  {duration_text(elapsed)}{eta}"
        )
        cols = shutil.get_terminal_size((80, 20)).columns
        # A fixed width (not one that follows the text on its right) keeps the bar still.
        width = max(10, min(30, cols - len(click.unstyle(self.label)) - 56))
        fill = int(round(done * width))
        bar = click.style(self._sym["full"] * fill, fg="green") + dim(self._sym["empty"] * (width - fill))
        line = f"{self.label} {bar}{right}"
        click.echo("\r\x1b[2K" + line[: cols + 40], err=True, nl=False)
        self._drawn = True

    def clear(self) -> None:
        """Erase the bar."""
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


def scenario_names() -> list[str]:
    """Names of the built-in scenarios."""
    from .. import list_scenarios

    return list(list_scenarios())


def looks_like_path(arg: str) -> bool:
    """Whether a scenario or agent argument was meant as a file path rather than a name."""
    return os.sep in arg or "/" in arg or arg.endswith(".toml") or arg.startswith(".")


def check_scenario_arg(arg: str) -> str:
    """Validate a scenario argument (a built-in name or a TOML path) before any work.

    Raises:
        CliError: (exit 2) naming the missing path, or suggesting the closest names.
    """
    if os.path.isfile(arg):
        return arg
    if looks_like_path(arg):
        if os.path.isdir(arg):
            usage_error(f"scenario path {arg!r} is a folder; expected a .toml file")
        usage_error(f"no scenario file at {arg!r} (no such file)")
    names = scenario_names()
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


def load_scenario(arg: str, **overrides: Any) -> Any:
    """Load a scenario argument; a scenario error is a usage error (exit 2)."""
    from .. import ScenarioError
    from .. import load_scenario as load

    check_scenario_arg(arg)
    try:
        return load(arg, **overrides)
    except ScenarioError as e:
        usage_error(f"scenario {arg!r}: {e}")


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs; values are read as TOML (numbers, booleans, strings, arrays)."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # tomli is a dependency on Python 3.10 only
        import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]  # absent where mypy runs on 3.11+

    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            usage_error(f"--set expects KEY=VALUE, got {item!r}", hint="e.g. --set shared_weight=0.5")
        try:
            out[key] = tomllib.loads(f"v = {value.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            out[key] = value.strip()
    return out


def criteria_text(sc: Any) -> str:
    """The reward criteria of a scenario in a few words (the mix's, then tracks that differ)."""
    crit = {str(k): str(v) for k, v in dict(sc.criteria).items()}
    values = set(crit.values())
    if len(values) == 1:
        return values.pop()
    mix = crit.get("mix")
    rest = ", ".join(f"{k}={v}" for k, v in crit.items() if k != "mix" and v != mix)
    return f"{mix} (mix); {rest}" if mix else rest


def nearest_existing(path: Path) -> Path:
    """``path`` or its closest existing parent."""
    p = path.absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def check_writable_dir(path: Path, what: str = "output folder") -> None:
    """Fail now, before any work, if ``path`` cannot be created or written to.

    Raises:
        CliError: naming the path and the reason.
    """
    if path.exists() and not path.is_dir():
        raise CliError(f"the {what} {str(path)!r} is a file, not a folder")
    base = nearest_existing(path)
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


def write_atomic(path: Path, data: bytes | str) -> None:
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


def translate(e: Exception) -> click.ClickException:
    """A library exception as a CLI error with a hint where we know what to do."""
    import glicol_wasm

    from ..errors import RaveforceError, ScenarioError

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


def version() -> str:
    """The installed version of raveforce-mae (the package's own when run from a checkout)."""
    try:
        from importlib.metadata import version as dist_version

        return dist_version("raveforce-mae")
    except Exception:  # noqa: BLE001 - not installed: running from a checkout
        from .. import __version__

        return __version__
