"""A new process plays its first step without importing librosa or numba.

librosa's numba kernels compile on first use (tens of seconds on a fresh install), so
nothing on the environments' path may import them. This checks the behaviour (which
modules a fresh process has imported), not a timing; benchmarks/cold_start.py
measures the times.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

HEAVY = ("librosa", "numba", "torch", "matplotlib")

PROBE = textwrap.dedent(
    """
    import json, sys, warnings
    import numpy as np
    import raveforce_mae
    after_import = sorted(m for m in {heavy!r} if m in sys.modules)
    for scenario, kwargs in {cases!r}:
        env = raveforce_mae.parallel_env(scenario, **kwargs)
        env.reset(seed=0)
        while env.agents:
            env.step({{a: np.full(env.action_space(a).shape, 0.3, np.float32) for a in env.agents}})
    # a scenario whose targets are audio files at its own rate (no resampling needed)
    import soundfile as sf
    from raveforce_mae.scenario import load_scenario, scenario_path
    ref = load_scenario("bassline")
    sf.write("mix.wav", ref.targets.mix, ref.sample_rate, subtype="FLOAT")
    sf.write("bass.wav", ref.targets.mix[:30000], ref.sample_rate, subtype="FLOAT")
    head = scenario_path("bassline").read_text().partition("[tracks.bass.reference]")[0]
    with open("from_audio.toml", "w") as f:
        f.write(head + '[targets]\\nmix = "mix.wav"\\nbass = "bass.wav"\\n')
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # bass.wav is short: padded, with a warning
        env = raveforce_mae.parallel_env("from_audio.toml")
    env.reset(seed=0)
    env.step({{a: np.zeros(env.action_space(a).shape, np.float32) for a in env.agents}})
    import gymnasium
    from raveforce_mae.registration import env_id
    g = gymnasium.make(env_id("kick"))
    g.reset(seed=0)
    g.step(g.action_space.sample())
    aec = raveforce_mae.env("ensemble")
    aec.reset(seed=0)
    for agent in aec.agent_iter(6):
        aec.step(None if aec.terminations[agent] or aec.truncations[agent] else aec.action_space(agent).sample())
    print(json.dumps({{"after_import": after_import,
                      "after_steps": sorted(m for m in {heavy!r} if m in sys.modules)}}))
    """
)

CASES = [
    ("ensemble", {}),
    ("drum_loop", {}),
    ("bassline", {}),
    ("drums_mix", {}),
    ("ensemble", {"criterion": "mel"}),
    ("ensemble", {"criterion": "mfcc"}),
    ("ensemble", {"observation": "mel"}),
    ("kick", {"criterion": "pitch+onset"}),
]


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    code = PROBE.format(heavy=HEAVY, cases=CASES)
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path_factory.mktemp("cold"),  # not the source tree: the installed package
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_pulls_in_no_heavy_library(imported):
    assert imported["after_import"] == []


def test_playing_every_built_in_scenario_imports_neither_librosa_nor_numba(imported):
    # parallel, AEC and gymnasium.make, several criteria and observation kinds, and
    # audio-file targets at the scenario's rate (only resampling needs librosa)
    assert imported["after_steps"] == []
