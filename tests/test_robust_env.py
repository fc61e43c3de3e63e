"""Robustness of one environment: threads, long runs of engine faults, odd arguments.

* An env entered by a second thread refuses with ``ConcurrentUseError`` instead of
  corrupting its engines; the first thread's step is unaffected (bit-identical to a
  step played alone). Threads are made to overlap for certain by a ``rel`` function,
  user code that runs inside ``step``.
* Engine-fault warnings have a text that does not depend on the step or the values,
  so Python's warning registry stays the same size over 1,000 faults.
* Paths, mixed-type action keys: accepted, or refused with a clear error.
"""

from __future__ import annotations

import pathlib
import sys
import threading
import warnings

import numpy as np
import pytest

import glicol_wasm
import raveforce_mae
from raveforce_mae import ParameterError
from raveforce_mae.scenario import scenario_from_dict, scenario_path


class _Gate:
    """A rel function that, when armed, waits inside ``step`` until released."""

    def __init__(self) -> None:
        self.armed = False
        self.inside = threading.Event()
        self.release = threading.Event()

    def __call__(self, x: float) -> float:
        if self.armed:
            self.inside.set()
            assert self.release.wait(10)
        return x * 0.5


def _gated_scenario(gate):
    return scenario_from_dict(
        {
            "timing": {"steps": 4, "step_seconds": 0.05},
            "tracks": {
                "a": {
                    "chain": "sin {f} >> mul {g}",
                    "params": {
                        "f": {"kind": "lin", "low": 100, "high": 400},
                        "g": {"kind": "rel", "expr": gate, "depends": ["f"], "low": 0, "high": 1},
                    },
                    "reference": {"f": 200},
                },
                "b": {
                    "chain": "saw {h} >> mul 0.1",
                    "params": {"h": {"kind": "exp", "low": 50, "high": 500}},
                    "reference": {"h": 100},
                },
            },
        }
    )


ACTS = {"a_0": np.array([0.3], np.float32), "b_0": np.array([-0.2], np.float32)}


def _overlap(first, second_calls):
    """Run ``first()`` in a thread, held inside the env; meanwhile make ``second_calls``."""
    gate = first.gate
    gate.armed = True
    out = {}

    def run():
        try:
            out["result"] = first()
        except BaseException as e:  # noqa: BLE001 - reported by the test
            out["error"] = e

    t = threading.Thread(target=run)
    t.start()
    try:
        assert gate.inside.wait(10)
        gate.armed = False
        refused = []
        for call in second_calls:
            with pytest.raises(glicol_wasm.ConcurrentUseError) as ei:
                call()
            refused.append(str(ei.value))
    finally:
        gate.release.set()
        t.join(10)
    assert "error" not in out, out.get("error")
    return out["result"], refused


def test_parallel_env_used_from_two_threads_refuses_the_second():
    gate = _Gate()
    sc = _gated_scenario(gate)
    env = raveforce_mae.parallel_env(sc)
    env.reset(seed=0)

    def first():
        return env.step(ACTS)

    first.gate = gate
    (obs, rew, *_), refused = _overlap(first, [lambda: env.step(ACTS), lambda: env.reset(seed=1)])
    for msg in refused:
        assert "this environment is already in use by another thread" in msg
        assert "create one environment per thread, or use a vector env" in msg
    # the first thread's step was not disturbed: same as the same step played alone
    alone = raveforce_mae.parallel_env(sc)
    alone.reset(seed=0)
    obs2, rew2, *_ = alone.step(ACTS)
    assert rew == rew2
    for a in obs:
        np.testing.assert_array_equal(obs[a], obs2[a])
    np.testing.assert_array_equal(env.audio()["mix"], alone.audio()["mix"])
    # and the env is usable again from any thread once the first call returned
    env.step(ACTS)


def test_gym_and_aec_forms_go_through_the_same_guard():
    gate = _Gate()
    sc = _gated_scenario(gate)
    g = raveforce_mae.gym_env(sc)
    g.reset(seed=0)
    action = np.array([0.3, -0.2], np.float32)

    def first():
        return g.step(action)

    first.gate = gate
    _overlap(first, [lambda: g.step(action), lambda: g.reset(seed=0)])

    gate2 = _Gate()
    aec = raveforce_mae.env(_gated_scenario(gate2))
    aec.reset(seed=0)
    aec.step(ACTS["a_0"])  # the parallel step runs at the last agent's turn

    def last_turn():
        aec.step(ACTS["b_0"])
        return True

    last_turn.gate = gate2
    # a parallel view of the same underlying env, used while the AEC step renders
    par = aec.unwrapped
    _overlap(last_turn, [lambda: par.step(ACTS)])


def test_threads_with_their_own_envs_are_independent():
    """What the error message recommends: one env per thread, identical results."""
    sc = _gated_scenario(_Gate())
    results = [None] * 4

    def play(i):
        env = raveforce_mae.parallel_env(sc)
        env.reset(seed=0)
        rs = []
        while env.agents:
            rs.append(env.step(ACTS)[1]["a_0"])
        results[i] = (rs, env.audio()["mix"])

    threads = [threading.Thread(target=play, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for rs, mix in results[1:]:
        assert rs == results[0][0]
        np.testing.assert_array_equal(mix, results[0][1])


# -- engine faults: warnings with stable texts --------------------------------------------------------


def _nan_scenario():
    return scenario_from_dict(
        {
            "timing": {"steps": 2, "step_seconds": 0.01},
            "tracks": {
                "lead": {
                    "chain": "saw 110 >> lpf 800 {d} >> mul 0.3",
                    "params": {"d": {"kind": "choose", "choices": [1, 2, 0, 3, 4, 5]}},
                    "reference": {"d": 1},
                }
            },
        }
    )


def test_a_thousand_engine_faults_keep_the_warning_registry_constant():
    """Each fault's details (step, values) go to infos; the warning text stays the same."""
    env = raveforce_mae.parallel_env(_nan_scenario())
    bad = {"lead_0": np.array([-0.2], np.float32)}  # the choice 0: lpf with q = 0 gives NaN
    registry = sys.modules[__name__].__dict__.setdefault("__warningregistry__", {})
    messages = set()
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("default")
        registry.clear()
        sizes = []
        for i in range(1000):
            env.reset(seed=i)
            *_, truncs, infos = env.step(bad)
            assert all(truncs.values()) and "NaN" in infos["lead_0"]["engine_error"]
            messages.add(infos["lead_0"]["engine_error"])
            if i in (9, 999):
                sizes.append(len([k for k in registry if k != "version"]))
    assert sizes == [1, 1], sizes
    assert len(shown) == 1  # "default": shown once for this line of code
    assert str(shown[0].message).startswith("the Glicol engine of track 'lead' failed (GlicolNonFiniteError)")
    assert shown[0].filename == __file__  # attributed to the caller of step()
    assert len(messages) >= 1 and env.last_engine_error is not None


# -- arguments ----------------------------------------------------------------------------------------


def test_parallel_env_and_gym_env_take_paths():
    p = pathlib.Path(scenario_path("kick"))
    env = raveforce_mae.parallel_env(p)
    assert env.possible_agents == ["kick_0"]
    assert raveforce_mae.gym_env(p).scenario.name == "kick"
    assert raveforce_mae.env(p).possible_agents == ["kick_0"]


@pytest.mark.parametrize(
    "actions",
    [
        {1: 0.5, "x": 0.2},  # no action for the agent; keys of mixed types
        {"kick_0": np.zeros(2, np.float32), 1: 0.5, "zz": 1},  # unknown keys of mixed types
        {None: 1, (1, 2): 3},
    ],
)
def test_action_dicts_with_keys_of_mixed_types_give_a_parameter_error(actions):
    env = raveforce_mae.parallel_env("kick")
    env.reset(seed=0)
    with pytest.raises(ParameterError, match="agent"):
        env.step(actions)
    env.step({"kick_0": np.zeros(2, np.float32)})  # unchanged: the next step works
