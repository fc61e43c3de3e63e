"""``python -m raveforce_mae``: the same command line as ``raveforce-mae``."""

from __future__ import annotations

from .cli import main

if __name__ == "__main__":
    main(prog_name="raveforce-mae")
