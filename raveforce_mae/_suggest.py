"""'Did you mean' suggestions for misspelt names (keywords, scenarios, settings)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["did_you_mean"]


def did_you_mean(name: str, candidates: Iterable[str], n: int = 3, cutoff: float = 0.6) -> str:
    """A hint naming the candidates closest to ``name``, or ``""`` if none is close.

    Case is ignored when matching; the suggestions keep the candidates' own spelling.

    Args:
        name: The name the user gave, e.g. ``"render_mod"``.
        candidates: The valid names.
        n: At most this many suggestions.
        cutoff: Minimum similarity (``difflib`` ratio, 0 to 1) of a suggestion.

    Returns:
        ``"; did you mean 'render_mode'?"`` (or ``"'a' or 'b'"`` for several), ready to
        append to an error message, or ``""``.

    Example:
        >>> did_you_mean("max_cycle", ["max_cycles", "render_mode", "seed"])
        "; did you mean 'max_cycles'?"
    """
    by_lower: dict[str, str] = {}
    for c in candidates:
        by_lower.setdefault(str(c).lower(), str(c))
    close = difflib.get_close_matches(str(name).lower(), list(by_lower), n=n, cutoff=cutoff)
    if not close:
        return ""
    names = [repr(by_lower[c]) for c in close]
    if len(names) == 1:
        return f"; did you mean {names[0]}?"
    return f"; did you mean {', '.join(names[:-1])} or {names[-1]}?"
