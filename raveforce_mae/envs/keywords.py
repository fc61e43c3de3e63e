"""Keyword arguments of the environment factories: misspellings get "did you mean"."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .._suggest import did_you_mean
from ..errors import ScenarioError
from ..scenario import OVERRIDE_KEYS

__all__ = ["check_keywords"]


def check_keywords(where: str, overrides: Mapping[str, Any], keywords: Sequence[str]) -> None:
    """Refuse keyword arguments that are neither constructor keywords nor scenario settings.

    A misspelt keyword (``render_mod``, ``max_cycle``) would otherwise be taken for a
    scenario setting and reported as an unknown override, suggesting only setting names.

    Raises:
        ScenarioError: naming the keyword, the closest valid names and all valid ones.
    """
    for key in overrides:
        if key not in OVERRIDE_KEYS and key not in keywords:  # the gym env passes some on
            hint = did_you_mean(key, (*keywords, *OVERRIDE_KEYS))
            raise ScenarioError(
                f"{where}: unknown keyword argument {key!r}{hint or ';'} keywords: {', '.join(keywords)}; "
                f"scenario settings: {', '.join(OVERRIDE_KEYS)}"
            )
