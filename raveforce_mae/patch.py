"""Glicol chain templates: holes, private and shared refs, and patch assembly.

A track's Glicol text is written with holes for the numbers its agent chooses
(``saw {note} >> lpf {cutoff} 2.0``). This module parses such text, renames a track's
private ``~refs`` so that tracks cannot collide (``~env`` of track ``bass`` becomes
``~bass__env``), and compiles a track's code into a Python format string, so that the
per-step work is one ``str.format`` call.

Glicol facts relied on here: a line is ``name: node >> ...``;
``~name`` chains are not audible and exist to be referenced; lines are separated by
newlines or ``;``; ``//`` starts a comment; a continuation line starts with ``>>``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from glicol_wasm.syntax import code_lines

from .errors import PatchError
from .params import format_number

__all__ = [
    "NAME",
    "CodeLine",
    "Template",
    "compile_lines",
    "merge",
    "parse_template",
    "split_code",
]

NAME = re.compile(r"[a-z][a-z0-9_]*")
"""A Glicol chain or reference name (without the ``~``)."""

_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_REF = re.compile(r"~([a-z][a-z0-9_]*)")


@dataclass(frozen=True)
class Template:
    """Glicol text with holes.

    Attributes:
        segments: Literal text (``str``) and holes, alternating as written. A hole is a
            1-tuple ``(name,)``; ``name`` is ``""`` for a positional ``{}`` hole.
    """

    segments: tuple[str | tuple[str], ...]

    @property
    def holes(self) -> tuple[str, ...]:
        """Hole names in order of appearance (``""`` for positional holes), repeats kept."""
        return tuple(s[0] for s in self.segments if isinstance(s, tuple))

    @property
    def refs(self) -> tuple[str, ...]:
        """Names of the ``~refs`` the literal text uses, in order, without repeats."""
        out: list[str] = []
        for s in self.segments:
            if isinstance(s, str):
                for m in _REF.finditer(s):
                    if m.group(1) not in out:
                        out.append(m.group(1))
        return tuple(out)

    def map_holes(self, fn: Callable[[str, int], str | tuple[str]]) -> Template:
        """Replace each hole: ``fn(name, position)`` returns a new name (as a 1-tuple) or text."""
        segs: list[str | tuple[str]] = []
        k = 0
        for s in self.segments:
            if isinstance(s, tuple):
                r = fn(s[0], k)
                k += 1
                s = r
            if isinstance(s, str) and segs and isinstance(segs[-1], str):
                segs[-1] = segs[-1] + s
            else:
                segs.append(s)
        return Template(tuple(segs))

    def rename_refs(self, mapping: Mapping[str, str]) -> Template:
        """Rename ``~refs`` in the literal text (names not in ``mapping`` stay)."""

        def sub(m: re.Match[str]) -> str:
            return "~" + mapping.get(m.group(1), m.group(1))

        return Template(tuple(_REF.sub(sub, s) if isinstance(s, str) else s for s in self.segments))

    def fill(self, values: Mapping[str, str]) -> str:
        """The text with each hole replaced by ``values[name]`` (already formatted)."""
        return "".join(s if isinstance(s, str) else values[s[0]] for s in self.segments)

    def format_string(self, index: Mapping[str, int]) -> str:
        """A ``str.format`` string: literal braces doubled, hole ``name`` -> ``{index[name]}``."""
        out = []
        for s in self.segments:
            if isinstance(s, str):
                out.append(s.replace("{", "{{").replace("}", "}}"))
            else:
                out.append("{" + str(index[s[0]]) + "}")
        return "".join(out)

    def __str__(self) -> str:
        return "".join(
            s.replace("{", "{{").replace("}", "}}") if isinstance(s, str) else "{" + s[0] + "}"
            for s in self.segments
        )


def parse_template(text: str) -> Template:
    """Parse Glicol text with ``{name}`` and ``{}`` holes (``{{``/``}}`` are literal braces).

    Raises:
        PatchError: on an unmatched brace or a hole name that is not an identifier.
    """
    if not isinstance(text, str):
        raise PatchError(f"a chain template must be a string, got {type(text).__name__}")
    segs: list[str | tuple[str]] = []
    lit: list[str] = []
    pos = 0
    for m in _TOKEN.finditer(text):
        lit.append(text[pos : m.start()])
        pos = m.end()
        tok = m.group(0)
        if tok == "{{":
            lit.append("{")
        elif tok == "}}":
            lit.append("}")
        elif tok in ("{", "}"):
            raise PatchError(
                f"unmatched {tok!r} at column {m.start() + 1} of {text!r}; write holes as "
                "{name} or {}, and literal braces as {{ and }}"
            )
        else:
            name = m.group(1).strip()
            if name and not name.isidentifier():
                raise PatchError(
                    f"bad hole {tok!r} in {text!r}: a hole is {{}} or {{name}} with a "
                    "parameter or constant name (letters, digits, _)"
                )
            segs.append("".join(lit))
            lit = []
            segs.append((name,))
    lit.append(text[pos:])
    segs.append("".join(lit))
    return Template(tuple(s for s in segs if s != ""))


def split_code(text: str) -> list[tuple[str, bool, str]]:
    """Split multi-line Glicol code into ``(name, is_ref, body)`` lines.

    Comments (``//``) are dropped, continuation lines (starting with ``>>``) are joined,
    and ``;`` separates lines as in Glicol (:func:`glicol_wasm.syntax.code_lines`).

    Raises:
        PatchError: on a line that is not ``name: chain`` or ``~name: chain`` with a
            lowercase name, or whose chain is empty.
    """
    try:
        lines = code_lines(text)
    except ValueError as e:
        raise PatchError(f"{e}, with a lowercase name (letters, digits, _)") from None
    out = []
    for line in lines:
        if not NAME.fullmatch(line.name):
            raise PatchError(
                f"cannot read the Glicol line {line.text!r}: expected 'name: chain' or "
                "'~name: chain', with a lowercase name (letters, digits, _)"
            )
        if not line.chain:
            raise PatchError(f"the Glicol line {line.text!r} has an empty chain")
        out.append((line.name, line.ref, line.chain))
    return out


@dataclass(frozen=True)
class CodeLine:
    """One line of a track's code: ``lhs: body``.

    Attributes:
        lhs: The chain name as written in the code (``"bass"`` or ``"~bass__env"``).
        body: The chain template (refs already renamed, holes are parameter names).
        key: Where the line came from, for error messages (``"chain"``,
            ``"refs.env"``, ``"shared.clock"``).
    """

    lhs: str
    body: Template
    key: str

    def template(self) -> Template:
        """The whole line as a template."""
        return Template((self.lhs + ": ",) + self.body.segments).map_holes(lambda n, k: (n,))


def compile_lines(lines: Sequence[CodeLine]) -> tuple[str, tuple[str, ...]]:
    """Compile lines into a format string and the parameter names it takes, in order.

    ``fmt.format(*[format_number(values[n]) for n in names])`` is then the code.
    """
    names: list[str] = []
    for ln in lines:
        for h in ln.body.holes:
            if h not in names:
                names.append(h)
    index = {n: i for i, n in enumerate(names)}
    fmt = "\n".join(ln.template().format_string(index) for ln in lines)
    return fmt, tuple(names)


def merge(parts: Iterable[tuple[str | None, Sequence[str]]], header: Sequence[str] = ()) -> str:
    """Merge blocks of Glicol lines into one patch.

    Args:
        parts: ``(comment or None, lines)`` blocks, in order.
        header: Comment lines (without ``//``) put first.

    Returns:
        The patch text, ending with a newline.
    """
    out = [f"// {h}" for h in header]
    for comment, lines in parts:
        if not lines:
            continue
        if comment:
            out.append(f"// {comment}")
        out.extend(lines)
    return "\n".join(out) + "\n"


def fill_lines(lines: Sequence[CodeLine], values: Mapping[str, float]) -> list[str]:
    """The lines as Glicol text with ``values`` (numbers) filled in."""
    strs = {}
    for ln in lines:
        for h in ln.body.holes:
            if h not in strs:
                strs[h] = format_number(values[h])
    return [ln.lhs + ": " + ln.body.fill(strs) for ln in lines]
