"""``raveforce-mae bench``: run the benchmark scripts of a source checkout.

A developer command. The benchmarks (``benchmarks/*.py`` in the repository) measure
this code against the bare engine, use internal modules and the source tree's files,
take minutes and every core: they are for people changing the code, so they ship with
the source checkout and not with the installed package. Where no checkout is found
(an installed wheel), ``bench`` is not listed in ``--help``, and running it says where
the scripts are; ``--dir`` points it at a checkout's folder.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import click

from .common import (
    EXIT_FAILURE,
    EXIT_USAGE,
    CliError,
    bold,
    check_writable_dir,
    dim,
    duration_text,
    note,
    say,
    symbols,
    usage_error,
    write_atomic,
)

__all__ = ["BENCHMARKS", "bench_cmd", "benchmarks_dir"]

BENCHMARKS = ("engine", "rewards", "env", "vector")
"""Benchmark scripts in their preferred order (others found in the folder run after)."""


def benchmarks_dir() -> Path | None:
    """The ``benchmarks/`` folder of the source checkout this package runs from, if any.

    Also found in the current folder (running from a clone). An installed wheel has none.
    """
    here = Path(__file__).resolve().parents[2] / "benchmarks"
    if here.is_dir():
        return here
    cwd = Path.cwd() / "benchmarks"
    return cwd if cwd.is_dir() else None


def _find_benchmarks(folder: Path) -> list[str]:
    found = sorted(p.stem for p in folder.glob("*.py") if not p.name.startswith("_"))
    return [b for b in BENCHMARKS if b in found] + [b for b in found if b not in BENCHMARKS]


@click.command("bench", context_settings={"ignore_unknown_options": True})
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
    """Run the benchmarks of a source checkout and show their tables (a developer command).

    Each script runs as `python benchmarks/NAME.py` in its own process.

    Arguments after `--` go to every benchmark script, e.g.
    `raveforce-mae bench --only env -- --steps 500`.
    """
    if folder is None:
        folder = benchmarks_dir()
        if folder is None:
            raise CliError(
                "bench runs the benchmark scripts of a source checkout (benchmarks/ in the "
                "repository); they are not part of the installed package",
                hint="clone the repository and run `pip install -e .` there, or pass --dir FOLDER",
                exit_code=EXIT_USAGE,
            )
    elif not folder.is_dir():
        usage_error(f"--dir {str(folder)!r}: no such folder")
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
            shown = ", ".join(repr(u) for u in unknown)
            known = [b for b in BENCHMARKS if b not in names]
            why = f" ({', '.join(known)} not written yet)" if any(u in BENCHMARKS for u in unknown) else ""
            usage_error(
                f"--only {shown}: no such benchmark in {folder}{why}",
                hint=f"available: {', '.join(names)}",
            )
        selected = [n for n in names if n in only]
    if out is not None:
        check_writable_dir(out.parent if str(out.parent) else Path("."), "folder of --out")
    missing = [b for b in BENCHMARKS if b not in names and not only]
    if missing:
        note(f"not found in {folder}: {', '.join(m + '.py' for m in missing)} (skipped)")

    env = dict(os.environ)
    root = str(folder.resolve().parent)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    results: list[tuple[str, int, float]] = []
    captured: list[str] = []
    for n in selected:
        say(bold(f"== {n} ") + dim(f"python {folder.name}/{n}.py {' '.join(extra)}".rstrip()))
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
        write_atomic(out, "\n".join(captured))
    sym = symbols()
    for n, rc, secs in results:
        mark = click.style(sym["ok"], fg="green") if rc == 0 else click.style(sym["fail"], fg="red")
        say(f"{mark} {n:<10} {duration_text(secs):>9}" + ("" if rc == 0 else f"  (exit code {rc})"))
    if out is not None:
        say(f"wrote {out}")
    if any(rc for _, rc, _ in results):
        raise click.exceptions.Exit(EXIT_FAILURE)
