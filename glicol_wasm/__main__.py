"""Command line: ``python -m glicol_wasm {fetch,render,info}``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import binary
from .errors import GlicolError


def _cmd_fetch(args: argparse.Namespace) -> int:
    from ._module import compiled

    path = binary.fetch(args.tarball, force=args.force)
    # Compile the module now, into the private cache: otherwise the first process
    # after installing pays the compile (about a second) when it creates its first engine.
    c = compiled()
    state = "loaded from" if c.from_cache else "compiled into"
    print(
        f"Glicol engine ({binary.PACKAGE}) verified and cached at {path}; module {state} {c.artefact}",
        file=sys.stderr,
    )
    return 0


def _cmd_render(args: argparse.Namespace) -> int:
    import soundfile as sf

    from .engine import render

    src = Path(args.patch)
    try:
        code = src.read_text(encoding="utf-8")
    except OSError as e:
        print(f"error: cannot read the patch {src}: {e.strerror}", file=sys.stderr)
        return 2
    audio = render(code, args.seconds, args.sample_rate, bpm=args.bpm, seed=args.seed)
    out = Path(args.output)
    fmt = args.format or out.suffix.lstrip(".").upper() or "WAV"
    tmp = out.with_name(f".{out.name}.partial")
    sf.write(tmp, audio.T, args.sample_rate, subtype="FLOAT", format=fmt)
    tmp.replace(out)
    peak = float(abs(audio).max()) if audio.size else 0.0
    print(
        f"wrote {out} ({audio.shape[1]} frames, {args.sample_rate} Hz, stereo, peak {peak:.3f})",
        file=sys.stderr,
    )
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    from ._module import compiled, key_dir

    c = compiled()
    print(f"binary:  {c.wasm_path} (sha256 {binary.WASM_SHA256[:16]}..., verified in this process)")
    print(f"cache:   {binary.cache_dir()} (private to this user)")
    if c.from_cache:
        how = f"loaded from the compiled cache, {c.artefact.name} (HMAC-SHA256 valid, key in {key_dir()})"
    else:
        how = "compiled from the verified binary in this process"
    print(f"module:  {how}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the command line."""
    p = argparse.ArgumentParser(prog="python -m glicol_wasm", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fetch", help="obtain and verify the engine binary with npm (once)")
    f.add_argument("--tarball", help="use an already downloaded glicol-0.4.0.tgz")
    f.add_argument("--force", action="store_true", help="fetch again even if cached")
    f.set_defaults(func=_cmd_fetch)
    r = sub.add_parser("render", help="render a Glicol patch file to a WAV file")
    r.add_argument("patch", help="a text file with Glicol code")
    r.add_argument("--seconds", type=float, default=4.0)
    r.add_argument("--sample-rate", type=int, default=44100)
    r.add_argument("--bpm", type=float, default=120.0)
    r.add_argument("--seed", type=int, default=42)
    r.add_argument("--format", help="soundfile format, default from the extension")
    r.add_argument("-o", "--output", default="out.wav")
    r.set_defaults(func=_cmd_render)
    i = sub.add_parser("info", help="show where the engine is and check that it loads")
    i.set_defaults(func=_cmd_info)
    args = p.parse_args(argv)
    try:
        return args.func(args)
    except GlicolError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
