from __future__ import annotations

import pytest

from raveforce_mae._suggest import did_you_mean

ENV_KEYWORDS = [
    "scenario",
    "render_mode",
    "max_cycles",
    "native_spaces",
    "agent_indicator",
    "on_engine_error",
]


@pytest.mark.parametrize(
    ("typo", "meant"),
    [
        ("render_mod", "render_mode"),
        ("max_cycle", "max_cycles"),
        ("Max_Cycles", "max_cycles"),  # case is ignored, the suggestion keeps its spelling
        ("agent_indicater", "agent_indicator"),
        ("on_engine_errors", "on_engine_error"),
        ("nativespaces", "native_spaces"),
    ],
)
def test_a_misspelt_keyword_gets_the_right_suggestion_first(typo, meant):
    hint = did_you_mean(typo, ENV_KEYWORDS)
    assert hint.startswith(f"; did you mean {meant!r}")


def test_several_close_names_are_all_offered_and_far_names_none():
    assert did_you_mean("shared_weigth", ["shared_weight", "shared_weights", "criterion"]) == (
        "; did you mean 'shared_weight' or 'shared_weights'?"
    )
    assert did_you_mean("sample_rate", ENV_KEYWORDS) == ""
    assert did_you_mean("x", []) == ""
    assert did_you_mean("render_mod", ENV_KEYWORDS, n=1) == "; did you mean 'render_mode'?"
