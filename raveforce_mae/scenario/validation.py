"""Validation helpers of the scenario loader: one TOML table in, model objects out.

Every check raises :class:`~raveforce_mae.ScenarioError` naming the file, the track
and the key, and saying what was expected (:class:`Ctx` builds the message).
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ParameterError, PatchError, ScenarioError
from ..params import KINDS, Param, compile_expr, format_number, note_number, rel_order
from ..patch import NAME, CodeLine, Template, parse_template, split_code
from ..rewards import make_criterion
from .model import FrozenDict, Track, show

_TRACK_KEYS = (
    "chain", "code", "refs", "params", "reference", "distribution", "criterion", "role", "description",
)  # fmt: skip
_PARAM_KEYS = ("name", "kind", "low", "high", "choices", "unit", "expr", "depends", "doc")
_ROLE = NAME.pattern.replace("_", "")  # roles have no underscore: agents are <role>_<n>
BUILTIN_CONSTANTS = ("sample_rate", "bpm", "steps", "step_seconds", "beat", "bar")
"""Constants every scenario has: ``beat`` = 60/bpm s, ``bar`` = 4 beats."""

REF_SEPARATOR = "__"
"""Joins a track's name and a private ref's name in the engine (``~env`` of track
``bass`` is ``~bass__env``). Track and ref names may not contain it nor end with
``_`` (:data:`USER_NAME`), so two different (track, ref) pairs can never give the same
name, and no shared ref can be named like a private one."""
USER_NAME = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")
"""Track, ref and shared-ref names: lowercase words joined by single underscores."""
_LINE_BREAKS = frozenset("\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029")
"""Characters that end a line (Python's ``str.splitlines``; Glicol splits at newlines)."""
MAX_TEXT = 10_000
"""Longest chain, ref or code text, in characters."""
MAX_PARAMS = 256
"""Most parameters (holes) one track may declare."""


def check_name(ctx: Ctx, name: Any, key: str, what: str, track: str | None = None) -> None:
    """Refuse a track or ref name that is not :data:`USER_NAME`."""
    if not isinstance(name, str) or not USER_NAME.fullmatch(name):
        raise ctx.error(
            key,
            f"a lowercase {what}: letters and digits, words joined by single underscores "
            f"(no '{REF_SEPARATOR}', no '_' at the end: '{REF_SEPARATOR}' joins track and ref "
            "names in the engine)",
            name,
            track,
        )


def check_text(ctx: Ctx, text: str, key: str, track: str | None, *, one_line: bool) -> None:
    """Refuse chain text that could smuggle in another Glicol line, or that is too long.

    A chain (``one_line``) is one line of Glicol: a ``;`` or any line break in it would
    start a new line, which could be an extra audible chain outside the track's
    namespace. Full ``code`` may use newlines and ``;`` (each line is checked), but no
    other line break, which Glicol and this loader might split differently.
    """
    if len(text) > MAX_TEXT:
        raise ctx.error(key, f"Glicol text of at most {MAX_TEXT:,} characters", f"{len(text):,}", track)
    if one_line:
        bad = [c for c in text if c in _LINE_BREAKS or c == ";"]
    else:
        bad = [c for c in text.replace("\r\n", "\n") if c in _LINE_BREAKS and c != "\n"]
    if bad:
        raise ctx.error(
            key,
            "one Glicol chain, without ';' or line breaks (a second line would be an extra chain "
            "outside the track; use code = ... for several lines)"
            if one_line
            else "Glicol code whose lines end with newlines (\\n) only",
            f"{text!r} (contains {bad[0]!r})" if len(text) < 100 else f"text containing {bad[0]!r}",
            track,
        )


class Ctx:
    """Builds error messages that name the file, the track and the key."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.where = str(path) if path is not None else "<scenario dict>"

    def error(self, key: str, expected: str, got: Any = ..., track: str | None = None) -> ScenarioError:
        """A ScenarioError naming the file, the track and the key, and what was expected."""
        msg = f"{self.where}: "
        if track is not None:
            msg += f"track {track!r}, "
        msg += f"key '{key}': expected {expected}"
        if got is not ...:
            msg += f", got {show(got)}"
        err = ScenarioError(msg)
        err.file = self.where  # type: ignore[attr-defined]
        err.track = track  # type: ignore[attr-defined]
        err.key = key  # type: ignore[attr-defined]
        return err

    def table(self, data: Any, key: str, allowed: Sequence[str], track: str | None = None) -> dict:
        """Check that ``data`` is a table with known keys only; returns it as a dict."""
        if data is None:
            return {}
        if not isinstance(data, Mapping):
            raise self.error(key, "a table", data, track)
        unknown = [k for k in data if k not in allowed]
        if unknown:
            sub = f"{key}.{unknown[0]}" if key else unknown[0]
            raise self.error(
                sub,
                f"a known key (unknown key {unknown[0]!r}); valid keys: {', '.join(allowed)}",
                track=track,
            )
        return dict(data)


def is_number(v: Any) -> bool:
    """Whether ``v`` is a real number (not a bool)."""
    return not isinstance(v, bool) and isinstance(v, (int, float, np.integer, np.floating))


def number(
    ctx: Ctx,
    v: Any,
    key: str,
    track: str | None = None,
    *,
    lo: float | None = None,
    hi: float | None = None,
    integer: bool = False,
    what: str = "a number",
) -> float:
    """Check a finite number, optionally whole and within ``[lo, hi]``."""
    try:
        ok = is_number(v) and math.isfinite(float(v)) and (not integer or float(v).is_integer())
    except OverflowError:  # an integer beyond the float range (TOML integers are unbounded here)
        ok = False
    if not ok:
        raise ctx.error(key, what, v, track)
    v = float(v)
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise ctx.error(key, what, v, track)
    return v


def parse(ctx: Ctx, text: str, key: str, track: str | None = None) -> Template:
    """Parse a chain template, naming the key on error."""
    try:
        return parse_template(text)
    except PatchError as e:
        raise ctx.error(key, f"a Glicol chain with valid holes ({e})", track=track) from None


def constants_table(ctx: Ctx, raw: Any, builtins: dict[str, float]) -> dict[str, float]:
    """The ``[constants]`` table evaluated (expressions in dependency order), built-ins included."""
    table = ctx.table(raw, "constants", list(raw or {}) if isinstance(raw, Mapping) else [])
    out = dict(builtins)
    pending: dict[str, tuple[Callable[[Mapping[str, float]], float], tuple[str, ...]]] = {}
    for k, v in table.items():
        key = f"constants.{k}"
        if not isinstance(k, str) or not k.isidentifier():
            raise ctx.error(key, "a constant name that is an identifier", k)
        if k in builtins:
            raise ctx.error(key, f"a name other than the built-in constants {list(BUILTIN_CONSTANTS)}", k)
        if is_number(v):
            out[k] = number(ctx, v, key, what="a finite number")
        elif isinstance(v, str):
            try:
                pending[k] = compile_expr(v, list(builtins) + list(table))
            except ValueError as e:
                raise ctx.error(key, f"a number or an expression over constants ({e})", v) from None
        else:
            raise ctx.error(key, "a number or an expression string", v)
    state: dict[str, int] = {}

    def visit(k: str, path: list[str]) -> None:
        if k in out:
            return
        if state.get(k) == 1:
            raise ctx.error(f"constants.{k}", f"constants without a cycle: {' -> '.join(path + [k])}")
        state[k] = 1
        fn, used = pending[k]
        for d in used:
            if d not in out:
                visit(d, path + [k])
        try:
            val = fn(out)
        except ParameterError as e:
            raise ctx.error(f"constants.{k}", f"an expression that evaluates ({e})", table[k]) from None
        if not math.isfinite(val):
            raise ctx.error(f"constants.{k}", "a finite value", val)
        out[k] = val
        state[k] = 2

    for k in pending:
        visit(k, [])
    return out


@functools.lru_cache(maxsize=64)
def _check_criterion_cached(spec: str, sr: int) -> str | None:
    try:
        make_criterion(spec, sr)
    except ValueError as e:
        return str(e)
    return None


def criterion(ctx: Ctx, spec: Any, key: str, sr: int, track: str | None = None) -> Any:
    """Check a reward criterion spec (string or table) by building it once."""
    if isinstance(spec, str):
        if not spec.strip():
            raise ctx.error(key, "a criterion name such as 'mrstft' or 'mrstft+pitch'", spec, track)
        problem = _check_criterion_cached(spec, sr)
    elif isinstance(spec, Mapping):
        try:
            make_criterion(dict(spec), sr)
            problem = None
        except (ValueError, TypeError) as e:
            problem = str(e)
        spec = FrozenDict(spec)
    else:
        raise ctx.error(key, "a criterion spec: a string such as 'mrstft+pitch' or a table", spec, track)
    if problem:
        raise ctx.error(key, f"a valid criterion ({problem})", spec, track)
    return spec


def param_from_table(
    ctx: Ctx, pname: str, raw: Any, key: str, track: str, constants: Mapping[str, float]
) -> Param:
    """One parameter spec as a :class:`Param`."""
    if isinstance(raw, Param):
        return raw
    if isinstance(raw, str) and raw in ("lin", "exp", "note", "int", "choose", "rel"):
        raise ctx.error(key, f'a table such as {{ kind = "{raw}", low = ..., high = ... }}', raw, track)
    spec = ctx.table(raw, key, _PARAM_KEYS, track)
    kind = spec.get("kind")
    if kind not in KINDS:
        raise ctx.error(f"{key}.kind", f"one of {list(KINDS)}", kind, track)
    args: dict[str, Any] = {"name": pname, "kind": kind}
    for b in ("low", "high"):
        if b not in spec:
            if kind in ("lin", "exp", "note", "int"):
                raise ctx.error(f"{key}.{b}", f"a {b} bound for a '{kind}' parameter", track=track)
            continue
        v = spec[b]
        if kind == "note" and isinstance(v, str):
            try:
                v = note_number(v)
            except ValueError:
                pass
        if isinstance(v, str):
            try:
                fn, _ = compile_expr(v, list(constants))
                v = fn(constants)
            except (ValueError, ParameterError) as e:
                raise ctx.error(
                    f"{key}.{b}", f"a number or an expression over constants ({e})", spec[b], track
                ) from None
        elif not is_number(v):
            raise ctx.error(f"{key}.{b}", "a number", v, track)
        args[b] = v
    if "choices" in spec:
        ch = spec["choices"]
        if not isinstance(ch, (list, tuple)) or not ch or not all(is_number(c) for c in ch):
            raise ctx.error(f"{key}.choices", "a non-empty list of numbers", ch, track)
        args["choices"] = tuple(ch)
    elif kind == "choose":
        raise ctx.error(f"{key}.choices", "a list of values for a 'choose' parameter", track=track)
    for k in ("unit", "doc"):
        if k in spec:
            if not isinstance(spec[k], str):
                raise ctx.error(f"{key}.{k}", "a string", spec[k], track)
            args[k] = spec[k]
    if "expr" in spec:
        args["expr"] = spec["expr"]
    elif kind == "rel":
        raise ctx.error(f"{key}.expr", 'an expression such as "dur - 0.0001 - attack"', track=track)
    if "depends" in spec:
        d = spec["depends"]
        if isinstance(d, str):
            d = (d,)
        args["depends"] = tuple(d)
    if kind == "rel" and isinstance(args.get("expr"), str):
        try:
            compile_expr(args["expr"])
        except ValueError as e:
            raise ctx.error(f"{key}.expr", f"a valid expression ({e})", args["expr"], track) from None
    try:
        return Param(**args)
    except ScenarioError as e:
        msg = str(e).split(": ", 1)[-1]
        raise ctx.error(key, msg, track=track) from None


def track_from_table(
    ctx: Ctx,
    tname: Any,
    traw: Any,
    constants: Mapping[str, float],
    shared_t: Mapping[str, Template],
    shared_lines: tuple[CodeLine, ...],
    default_crit: Any,
    sr: int,
    roles: dict[str, int],
) -> tuple[Track, Any]:
    """One ``[tracks.<name>]`` table as a :class:`Track` and its raw reference (or ``None``)."""
    base = f"tracks.{tname}"
    if tname == "mix":
        raise ctx.error(base, "a track name other than 'mix' (the name of the target mix)", tname)
    check_name(ctx, tname, base, "track name")
    t = ctx.table(traw, base, _TRACK_KEYS, tname)
    role = t.get("role", tname)
    if not isinstance(role, str) or not re.fullmatch(_ROLE, role):
        raise ctx.error(
            f"{base}.role" if "role" in t else base,
            "a role of lowercase letters and digits (agents are named <role>_<n>); "
            "set role = \"...\" for a track name with '_'",
            role,
            tname,
        )
    n = roles.get(role, 0)
    roles[role] = n + 1
    agent = f"{role}_{n}"

    # the text: chain + refs, or code (RaveForce style)
    if ("chain" in t) == ("code" in t):
        raise ctx.error(
            f"{base}.chain",
            "exactly one of chain (the audible chain) or code (full Glicol "
            "code with ~refs and one audible line)",
            track=tname,
        )
    refs_src: dict[str, str] = {}
    chain_key = "chain" if "chain" in t else "code"
    src = t[chain_key]
    if not isinstance(src, str) or not src.strip():
        raise ctx.error(f"{base}.{chain_key}", "a Glicol chain (a string)", src, tname)
    lines_raw: list[tuple[str, bool, str, str]] = []  # name, is_ref, body, key
    if chain_key == "chain":
        refs_in = t.get("refs")
        refs = ctx.table(
            refs_in, f"{base}.refs", list(refs_in) if isinstance(refs_in, Mapping) else [], tname
        )
        for rname, body in refs.items():
            check_name(ctx, rname, f"{base}.refs.{rname}", "ref name (without ~)", tname)
            if not isinstance(body, str) or not body.strip():
                raise ctx.error(f"{base}.refs.{rname}", "a Glicol chain (a string)", body, tname)
            check_text(ctx, body.strip(), f"{base}.refs.{rname}", tname, one_line=True)
            refs_src[rname] = body
            lines_raw.append((rname, True, body.strip(), f"refs.{rname}"))
        check_text(ctx, src.strip(), f"{base}.chain", tname, one_line=True)
        if ":" in src.split(">>")[0]:
            raise ctx.error(
                f"{base}.chain",
                'one chain without a name (e.g. "saw {note} >> lpf {cutoff} 1.0"); '
                "use code = ... for multi-line Glicol code",
                src,
                tname,
            )
        lines_raw.append((tname, False, src.strip(), "chain"))
    else:
        if "refs" in t:
            raise ctx.error(
                f"{base}.refs", "refs inside code (as ~name: ... lines) when code is used", track=tname
            )
        check_text(ctx, src, f"{base}.code", tname, one_line=False)
        try:
            parsed = split_code(src)
        except PatchError as e:
            raise ctx.error(f"{base}.code", f"Glicol code ({e})", track=tname) from None
        audible = [x for x in parsed if not x[1]]
        if len(audible) != 1:
            raise ctx.error(
                f"{base}.code",
                f"exactly one audible line (others must be ~refs); found {[a[0] for a in audible]}",
                track=tname,
            )
        seen: set[str] = set()
        for lname, is_ref, body in parsed:
            if is_ref:
                check_name(ctx, lname, f"{base}.code", f"ref name (~{lname})", tname)
                if lname in seen:
                    raise ctx.error(
                        f"{base}.code", f"each ~ref defined once (~{lname} is defined twice)", track=tname
                    )
                seen.add(lname)
                refs_src[lname] = body
                lines_raw.append((lname, True, body, f"code (~{lname})"))
            else:
                lines_raw.append((tname, False, body, f"code ({lname})"))

    templates = [
        (ln, ref, parse(ctx, body, f"{base}.{key.split(' ')[0]}", tname), key)
        for ln, ref, body, key in lines_raw
    ]

    # parameters
    praw = t.get("params", {})
    if isinstance(praw, Mapping):
        items = list(praw.items())
    elif isinstance(praw, (list, tuple)):
        items = []
        for i, spec in enumerate(praw):
            if isinstance(spec, Param):
                items.append((spec.name, spec))
                continue
            if not isinstance(spec, Mapping):
                raise ctx.error(f"{base}.params[{i}]", "a parameter table", spec, tname)
            items.append((spec.get("name", f"p{i}"), {k: v for k, v in spec.items() if k != "name"}))
    else:
        raise ctx.error(f"{base}.params", "a table of parameters (name = { kind = ..., ... })", praw, tname)
    if len(items) > MAX_PARAMS:
        raise ctx.error(f"{base}.params", f"at most {MAX_PARAMS} parameters", f"{len(items)}", tname)
    params_decl: dict[str, Param] = {}
    for pname, spec in items:
        key = f"{base}.params.{pname}"
        if not isinstance(pname, str) or not pname.isidentifier() or pname in ("min", "max", "abs", "clip"):
            raise ctx.error(key, "a parameter name that is an identifier", pname, tname)
        if pname in constants:
            raise ctx.error(key, f"a parameter name that is not a constant ({pname} is one)", track=tname)
        if pname in params_decl:
            raise ctx.error(key, "each parameter declared once", track=tname)
        params_decl[pname] = param_from_table(ctx, pname, spec, key, tname, constants)

    # holes -> parameters (positional holes take the declared parameters in order)
    all_holes = [h for _, _, tpl, _ in templates for h in tpl.holes]
    positional = [h for h in all_holes if h == ""]
    named = [h for h in all_holes if h != ""]
    if positional and any(h not in constants for h in named):
        raise ctx.error(
            f"{base}.{chain_key}",
            "either named holes ({name}) or positional holes ({}), not both",
            src,
            tname,
        )
    decl = list(params_decl)
    if positional:
        if len(positional) != len(decl):
            what = "a hole without a spec" if len(positional) > len(decl) else "a spec without a hole"
            raise ctx.error(
                f"{base}.params",
                f"one parameter per positional {{}} hole ({what}: "
                f"{len(positional)} holes, {len(decl)} parameters)",
                track=tname,
            )
        counter = iter(decl)
        templates = [
            (ln, ref, tpl.map_holes(lambda h, k: (next(counter),) if h == "" else (h,)), key)
            for ln, ref, tpl, key in templates
        ]
    # constants in holes are baked in
    for _ln, _ref, tpl, key in templates:
        for h in tpl.holes:
            if h not in params_decl and h not in constants:
                raise ctx.error(
                    f"{base}.params.{h}",
                    f"a spec for the hole {{{h}}} in {key} (a hole without a "
                    f"spec); declared parameters: {decl}; constants: {sorted(constants)}",
                    track=tname,
                )
    templates = [
        (
            ln,
            ref,
            tpl.map_holes(lambda h, k: format_number(constants[h]) if h not in params_decl else (h,)),
            key,
        )
        for ln, ref, tpl, key in templates
    ]
    order: list[str] = []
    for _, _, tpl, _ in templates:
        for h in tpl.holes:
            if h not in order:
                order.append(h)
    unused = [p for p in decl if p not in order]
    if unused:
        raise ctx.error(
            f"{base}.params.{unused[0]}",
            f"a hole {{{unused[0]}}} in the chain or refs for this parameter (a spec without a hole)",
            track=tname,
        )
    params = tuple(params_decl[n] for n in order)
    free = tuple(p for p in params_decl.values() if p.kind != "rel")
    try:
        rels = tuple(rel_order(params, list(constants)))
    except ScenarioError as e:
        raise ctx.error(f"{base}.params", str(e), track=tname) from None

    # refs: private ones are namespaced, shared ones are kept
    private = {r for ln, ref, _, _ in templates if ref for r in [ln]}
    mapping = {r: f"{tname}{REF_SEPARATOR}{r}" for r in private}
    own: list[CodeLine] = []
    used_shared: list[str] = []
    for ln, ref, tpl, key in templates:
        for r in tpl.refs:
            if r not in private and r not in shared_t:
                raise ctx.error(
                    f"{base}.{key.split(' ')[0]}",
                    f"refs defined in this track's refs or in [shared] "
                    f"(~{r} is undefined; private refs: {sorted(private)}, shared: {sorted(shared_t)})",
                    track=tname,
                )
            if r not in private and r not in used_shared:
                used_shared.append(r)
        lhs = "~" + mapping[ln] if ref else tname
        own.append(CodeLine(lhs, tpl.rename_refs(mapping), key))
    # shared refs used by shared refs
    stack = list(used_shared)
    while stack:
        for r in shared_t[stack.pop()].refs:
            if r not in used_shared:
                used_shared.append(r)
                stack.append(r)
    shared_used = tuple(n for n in shared_t if n in used_shared)
    track_shared = tuple(ln for ln in shared_lines if ln.lhs[1:] in shared_used)

    crit = (
        criterion(ctx, t["criterion"], f"{base}.criterion", sr, tname) if "criterion" in t else default_crit
    )
    desc = t.get("description", "")
    if not isinstance(desc, str):
        raise ctx.error(f"{base}.description", "a string", desc, tname)
    track = Track(
        name=tname,
        agent=agent,
        role=role,
        template=src,
        params=params,
        free=free,
        criterion=crit,
        refs=FrozenDict(refs_src),
        shared=shared_used,
        description=desc,
        constants=FrozenDict(constants),
        rels=rels,
        own_lines=tuple(own),
        shared_lines=track_shared,
    )
    return track, t.get("reference")
