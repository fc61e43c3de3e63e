"""``raveforce-mae check``: is everything installed, and what to do about what is missing."""

from __future__ import annotations

import io
import os
import re
import sys
import time

import click
import numpy as np

from .common import EXIT_FAILURE, dbfs, dim, say, scenario_names, symbols, version

__all__ = ["check_cmd"]


class _Checks:
    """Prints one line per check and counts the failures."""

    def __init__(self) -> None:
        self.failed = 0
        self.sym = symbols()

    def ok(self, what: str, detail: str) -> None:
        say(f"  {click.style(self.sym['ok'], fg='green')} {what:<13} {detail}")

    def fail(self, what: str, detail: str, fix: str) -> None:
        self.failed += 1
        say(f"  {click.style(self.sym['fail'], fg='red', bold=True)} {what:<13} {detail}")
        say(f"    {click.style('fix:', fg='cyan')} {fix}")

    def info(self, what: str, detail: str) -> None:
        say(f"  {dim(self.sym['skip'])} {what:<13} {dim(detail)}")


def _pkg_version(mod: str) -> str | None:
    try:
        from importlib.metadata import version

        return version(mod)
    except Exception:  # noqa: BLE001 - not installed
        return None


@click.command("check")
@click.option("--fetch", is_flag=True, help="If the engine is missing, fetch it now (needs npm and network).")
def check_cmd(fetch: bool) -> None:
    """Check the installation: engine fetched and verified, a patch renders, scenarios load.

    Says exactly what to do about anything that is missing; exits with 1 if something is.
    """
    c = _Checks()
    say(f"raveforce-mae {version()} on Python {sys.version.split()[0]} ({sys.executable})")

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
            say(f"  {dim('fetching the engine with npm ...')}")
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
                c.ok("renders", f"{code!r}: 0.5 s, peak {dbfs(peak)}, in {ms:.0f} ms")
        except glicol_wasm.EngineCacheError as e:
            # Its message names the cache path and says how to fix it (chmod, or another
            # GLICOL_WASM_CACHE); fetching again would not help.
            m = re.search(r"`([^`]+)`", str(e))
            c.fail(
                "cache",
                str(e),
                m.group(1) if m else "set GLICOL_WASM_CACHE to a folder of your own (mode 700)",
            )
            path = None
        except Exception as e:  # noqa: BLE001 - reported
            c.fail("renders", f"{type(e).__name__}: {e}", "python -m glicol_wasm fetch --force")
            path = None

    names: list[str] = []
    try:
        names = scenario_names()
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
