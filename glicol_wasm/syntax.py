"""The line structure of Glicol code: which chain each piece of text belongs to.

Glicol's grammar, as this build reads it: a line is ``name: node >> node >> ...``;
lines are separated by newlines or ``;``; ``//`` starts a comment that runs to the end
of the line; a physical line that starts with ``>>`` continues the chain before it.
A name is ``~name`` (a reference chain, not sent to the output) or ``name``.

:func:`code_lines` applies exactly these rules and nothing more: it does not check
the nodes. The engine uses it to find which node a number belongs to
(:mod:`glicol_wasm._retune`); ``raveforce_mae`` uses it to read chain templates.
"""

from __future__ import annotations

import re
from typing import NamedTuple

__all__ = ["GlicolLine", "code_lines"]

_LINE = re.compile(r"^\s*(~?)([A-Za-z_][A-Za-z0-9_]*)\s*:(.*)$", re.S)


class GlicolLine(NamedTuple):
    """One line of Glicol code.

    Attributes:
        ref: ``True`` for a ``~name`` chain.
        name: The chain's name, without ``~``.
        chain: The text after the colon, continuation lines joined, stripped.
        text: The whole line as read (comments removed), for error messages.
    """

    ref: bool
    name: str
    chain: str
    text: str


def code_lines(code: str) -> list[GlicolLine]:
    """Split Glicol code into its lines: comments dropped, continuations joined, ``;`` split.

    Args:
        code: Glicol code (Windows line ends are read as newlines).

    Returns:
        The lines in order of appearance (a name defined twice appears twice).

    Raises:
        ValueError: on a piece that is not ``name: chain`` or ``~name: chain``
            (for instance a continuation with no line before it, or one after ``;``);
            the message quotes it.
    """
    joined: list[str] = []
    for raw in code.replace("\r\n", "\n").split("\n"):
        line = raw.split("//", 1)[0].rstrip()
        if not line.strip():
            continue
        if line.lstrip().startswith(">>") and joined:
            joined[-1] += " " + line.strip()
        else:
            joined.append(line)
    out = []
    for part in (p for ln in joined for p in ln.split(";") if p.strip()):
        m = _LINE.match(part)
        if not m:
            raise ValueError(
                f"cannot read the Glicol line {part.strip()!r}: expected 'name: chain' or '~name: chain'"
            )
        out.append(GlicolLine(m.group(1) == "~", m.group(2), m.group(3).strip(), part.strip()))
    return out
