r"""RaveForce's ``make()`` interface, on current Gymnasium.

The 2022 RaveForce toolkit took a Glicol patch with ``{}`` holes, a target and a list
of action specs::

    env = raveforce_mae.make(
        "~env: imp 0.1 >> envperc {} {}\nkick_drum: sin {} >> mul ~env",
        target=target, total_step=1, step_len=dur,
        action_space=[["lin", 0.0001, dur - 0.0001],
                      ["rel", 0, lambda x: dur - 0.0001 - x],
                      ["exp", 10, 10000]])
    obs, info = env.reset()
    action = env.action_space.sample()
    obs, reward, terminated, truncated, info = env.step(action)

Actions are in the parameters' own units (as in RaveForce, not normalised), one
number per hole, in order: ``action_space`` is a :class:`SpecBox`, a ``Box`` over
every hole whose ``sample()`` draws as RaveForce's did -- ``lin`` uniformly, ``exp``
log-uniformly, ``choose`` uniformly over the choices (the slot holds the choice's
index) -- and fills each ``rel`` slot with its function of the drawn values, so the
seed's kick action is three numbers. ``action_space.seed(s)`` makes the draws
repeatable. ``step`` takes that full action (a list or an array) or the free
(non-``rel``) values alone. A ``rel`` slot is always recomputed from its function:
a value passed there is not used anywhere (neither in the code nor in
``info["values"]``, which reports the recomputed one). The observation is the audio rendered so far,
zero-padded to the target's length, and ``criteria="raw"`` gives RaveForce's reward,
the negative waveform MSE of that padded audio against the target. Other criteria
(``"mrstft"``, ``"mel"``, ...) come from :mod:`raveforce_mae.rewards`.

Fixed from the original: episodes end (``terminated`` after ``total_step`` steps),
nothing is printed, nothing is downloaded, and step boundaries are exact frames.

Under the hood the arguments become a one-track scenario (the code as the track's
``code``, one parameter per hole, the target as its mix) played by the Gymnasium
environment, so ``make()`` has the environments' checks: the code is tried in the
engine when the environment is made, a step shorter than one engine block (128
frames) or a sample rate outside 8000..192000 Hz is refused, and runaway audio raises
:class:`~raveforce_mae.EngineError`. Bad arguments raise
:class:`~raveforce_mae.ParameterError` (or :class:`~raveforce_mae.PatchError` for the
code's holes) naming the argument, the value and what was expected.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces

from glicol_wasm import BLOCK, SAMPLE_RATES

from .defaults import DEFAULT_SAMPLE_RATE, DEFAULT_SEED
from .envs.gym_env import RaveforceGymEnv
from .errors import ParameterError, PatchError, ScenarioError
from .params import Param, show_short
from .patch import parse_template
from .rewards import make_criterion
from .scenario import Scenario, scenario_from_dict
from .scenario.targets import MAX_TARGET_AMPLITUDE

__all__ = ["RaveforceCompatEnv", "SpecBox", "make"]


def _is_int(v: Any) -> bool:
    return not isinstance(v, bool) and isinstance(v, (int, np.integer))


def _is_real(v: Any) -> bool:
    """A real number that has a float value (a bool or a 400-digit int has none)."""
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
        return False
    try:
        float(v)
    except OverflowError:
        return False
    return True


def _load_target(target: Any, sample_rate: int) -> Any:
    """A file is read (mono, resampled) with librosa, as RaveForce did; arrays go to the scenario as they are."""
    what = "target"
    if isinstance(target, (str, os.PathLike)):
        import librosa

        what = f"target file {os.fspath(target)!r}"
        try:
            y = librosa.load(os.fspath(target), sr=sample_rate, mono=True)[0].astype(np.float32)
        except Exception as e:  # noqa: BLE001 - name the file whatever the decoder says
            raise ParameterError(f"target: cannot read audio file {os.fspath(target)!r}: {e}") from e
    else:
        try:
            y = np.asarray(target)
        except Exception as e:  # noqa: BLE001 - ragged lists and the like
            raise ParameterError(
                f"target must be a numpy array of audio or a path, got {target!r:.80}: {e}"
            ) from None
        if y.dtype.kind not in "fiu" or y.ndim not in (1, 2) or y.size == 0:
            raise ParameterError(
                "target must be a non-empty 1-D (or 2-D) array of audio samples or a path, "
                f"got {type(target).__name__} of dtype {y.dtype} and shape {y.shape}"
            )
        y = y.astype(np.float32)
    if not np.isfinite(y).all():
        raise ParameterError(f"{what} contains NaN or inf; expected finite audio")
    peak = float(np.max(np.abs(y)))
    if peak > MAX_TARGET_AMPLITUDE:
        raise ParameterError(
            f"{what} peaks at {peak:.3g}; expected samples within ±{MAX_TARGET_AMPLITUDE:g} "
            "(audio normally stays within ±1)"
        )
    return y


def _bound(spec: Sequence[Any], j: int, i: int) -> float:
    v = spec[j]
    if not _is_real(v):
        raise ParameterError(
            f"action_space[{i}]: {'low' if j == 1 else 'high'} must be a number, got {show_short(v)} "
            f"in {show_short(spec)}"
        )
    return float(v)


def _params(action_space: Sequence[Sequence[Any]]) -> list[Param]:
    """RaveForce's action specs as parameters ``p0, p1, ...`` (one per hole, in order)."""
    if isinstance(action_space, (str, bytes, Mapping)) or not isinstance(action_space, Sequence):
        raise ParameterError(
            f"action_space must be a list of specs like [['lin', low, high], ...], got {action_space!r:.80}"
        )
    out: list[Param] = []
    for i, spec in enumerate(action_space):
        if not isinstance(spec, (list, tuple)) or not spec:
            raise ParameterError(f"action_space[{i}] must be a list like ['lin', low, high], got {spec!r}")
        kind = spec[0]
        try:
            if kind in ("lin", "exp"):
                if len(spec) != 3:
                    raise ParameterError(f"action_space[{i}]: {kind!r} takes [kind, low, high], got {spec!r}")
                out.append(Param(f"p{i}", kind, low=_bound(spec, 1, i), high=_bound(spec, 2, i)))
            elif kind == "choose":
                if (
                    len(spec) != 2
                    or not isinstance(spec[1], (list, tuple, np.ndarray))
                    or not len(spec[1])
                    or not all(_is_real(v) for v in spec[1])
                ):
                    raise ParameterError(
                        f"action_space[{i}]: 'choose' takes ['choose', [v1, v2, ...]] with numbers, got {show_short(spec)}"
                    )
                out.append(Param(f"p{i}", "choose", choices=tuple(float(v) for v in spec[1])))
            elif kind == "rel":
                if len(spec) != 3 or not callable(spec[2]) or not _is_int(spec[1]):
                    raise ParameterError(
                        f"action_space[{i}]: 'rel' takes ['rel', index, function], got {spec!r}"
                    )
                j = int(spec[1])
                if not (
                    0 <= j < len(action_space)
                    and isinstance(action_space[j], (list, tuple))
                    and action_space[j]
                    and action_space[j][0] != "rel"
                ):
                    raise ParameterError(
                        f"action_space[{i}]: 'rel' index {j} must name a non-rel hole "
                        f"(0..{len(action_space) - 1})"
                    )
                out.append(Param(f"p{i}", "rel", expr=spec[2], depends=(f"p{j}",)))
            else:
                raise ParameterError(
                    f"action_space[{i}]: unknown kind {kind!r}; expected 'lin', 'exp', 'rel' or 'choose'"
                )
        except ScenarioError as e:
            raise ParameterError(f"action_space[{i}]: {e}") from None
    for i, p in enumerate(out):
        if p.kind == "rel":
            _try_rel(p, out[int(p.depends[0][1:])], i)
    return out


class SpecBox(spaces.Box):
    """A ``Box`` over every hole of :func:`make` whose ``sample()`` draws as RaveForce did.

    Slot ``i`` holds hole ``i``'s value in its own units: ``lin`` and ``exp`` between
    their bounds, ``choose`` the index of the choice (0 .. n - 1), ``rel`` its
    function's value (the bounds of a ``rel`` slot are the range of the function
    over its input's range). :meth:`sample` draws ``lin`` uniformly, ``exp``
    log-uniformly and ``choose`` uniformly over the choices from the space's own
    generator (``seed()``), then computes each ``rel`` slot from the drawn values.

    Args:
        params: One parameter per hole, named ``p0, p1, ...`` (see :func:`make`).
        seed: Seed of the space's generator.
    """

    def __init__(self, params: Sequence[Param], seed: int | None = None) -> None:
        self.params = tuple(params)
        free = {p.name: p for p in self.params if p.free}
        lows, highs = [], []
        for p in self.params:
            if p.kind == "choose":
                lo, hi = 0.0, float(len(p.choices) - 1)
            elif p.kind == "rel":
                lo, hi = _rel_range(p, free[p.depends[0]])
            else:
                assert p.low is not None and p.high is not None
                lo, hi = p.low, p.high
            lows.append(lo)
            highs.append(hi)
        low = np.array(lows, np.float32)
        high = np.array(highs, np.float32)
        # float32 rounding must not put a legal value outside its slot
        low = np.where(low > np.array(lows), np.nextafter(low, np.float32(-np.inf)), low)
        high = np.where(high < np.array(highs), np.nextafter(high, np.float32(np.inf)), high)
        super().__init__(low, high, dtype=np.float32, seed=seed)

    def sample(self, mask: None = None, probability: None = None) -> np.ndarray:
        """One action as RaveForce drew it: every hole's value, ``rel`` ones computed."""
        if mask is not None or probability is not None:
            raise gymnasium.error.Error("SpecBox.sample() takes no mask or probability")
        rng = self.np_random
        env: dict[str, float] = {}
        out = np.empty(len(self.params), np.float64)
        for i, p in enumerate(self.params):
            if p.kind == "lin":
                assert p.low is not None and p.high is not None
                out[i] = env[p.name] = float(rng.uniform(p.low, p.high))
            elif p.kind == "exp":
                assert p.low is not None and p.high is not None
                out[i] = env[p.name] = math.exp(rng.uniform(math.log(p.low), math.log(p.high)))
            elif p.kind == "choose":
                j = int(rng.integers(len(p.choices)))
                out[i] = j
                env[p.name] = p.choices[j]
        for i, p in enumerate(self.params):
            if p.kind == "rel":
                out[i] = p.compute(env)
        return np.clip(out.astype(np.float32), self.low, self.high)


def _rel_range(p: Param, dep: Param) -> tuple[float, float]:
    """The range of a ``rel`` function over its input's range (a fine grid and both ends)."""
    if dep.kind == "choose":
        xs = np.array(dep.choices)
    elif dep.kind == "exp":
        xs = np.geomspace(dep.low, dep.high, 4097)  # type: ignore[arg-type]
    else:
        xs = np.linspace(dep.low, dep.high, 4097)  # type: ignore[arg-type]
    ys = np.array([p.compute({dep.name: float(x)}) for x in xs])
    lo, hi = float(ys.min()), float(ys.max())
    pad = 1e-6 * max(hi - lo, abs(hi), abs(lo), 1e-12)  # between grid points of a curved function
    return lo - pad, hi + pad


def _try_rel(p: Param, src: Param, i: int) -> None:
    """Call a ``rel`` function at its input's lowest, middle and highest values.

    The loader probes the same points; doing it here names the failing spec.
    """
    for u in (-1.0, 0.0, 1.0):
        x = src.from_unit(u)
        try:
            p.compute({src.name: x})
        except ParameterError as e:
            detail = str(e).split(": ", 1)[-1]
            raise ParameterError(
                f"action_space[{i}]: the 'rel' function failed for hole {src.name[1:]} = {x:g} "
                f"({detail}); expected it to return a finite number for every value of that hole"
            ) from e.__cause__


def compat_scenario(
    code: str,
    target: Any,
    total_step: int,
    step_len: float,
    criteria: str,
    action_space: Sequence[Sequence[Any]],
    sample_rate: int,
) -> Scenario:
    """The one-track scenario behind :func:`make` (see the module docs)."""
    params = _params(action_space)
    try:
        template = parse_template(code)
    except PatchError as e:
        raise PatchError(f"code: {e}; make() takes positional {{}} holes only") from None
    named = sorted({h for h in template.holes if h})
    if named:
        raise PatchError(
            f"code: make() takes positional {{}} holes only (one per action spec), got "
            f"{', '.join('{' + h + '}' for h in named)}"
        )
    holes = len(template.holes)
    if holes != len(params):
        raise ParameterError(
            f"code has {holes} '{{}}' holes but action_space has {len(params)} specs; "
            "they must match one to one"
        )
    return scenario_from_dict(
        {
            "name": "raveforce",
            "seed": DEFAULT_SEED,
            "timing": {
                "sample_rate": sample_rate,
                "steps": total_step,
                "step_seconds": step_len,
                "end": "terminate",
            },
            "tracks": {"patch": {"code": code, "params": params}},
            "targets": {"mix": (target, sample_rate)},
            "reward": {"criterion": "mse" if criteria == "raw" else criteria},
            "observation": {"kind": "waveform"},
        }
    )


class RaveforceCompatEnv(gymnasium.Wrapper):
    """RaveForce's environment (see the module docs). Create it with :func:`make`.

    A wrapper of :class:`~raveforce_mae.RaveforceGymEnv` that takes actions in the
    parameters' own units and pays RaveForce's reward (the criterion over the whole
    audio so far, zero-padded, against the whole target).
    """

    metadata = {"render_modes": [], "render_fps": 8}

    def __init__(
        self,
        code: str,
        target: Any,
        total_step: int = 16,
        step_len: float = 0.125,
        criteria: str = "raw",
        action_space: Sequence[Sequence[Any]] = (),
        sample_rate: int | None = None,
    ) -> None:
        if not isinstance(code, str) or not code.strip():
            raise PatchError("code must be a non-empty Glicol patch with {} holes")
        if not _is_int(total_step) or total_step < 1:
            raise ParameterError(f"total_step must be a positive int, got {total_step!r}")
        total_step = int(total_step)
        if not (_is_real(step_len) and step_len > 0 and math.isfinite(step_len)):
            raise ParameterError(f"step_len must be a positive number of seconds, got {step_len!r}")
        sr = DEFAULT_SAMPLE_RATE if sample_rate is None else sample_rate
        lo, hi = SAMPLE_RATES
        if not _is_int(sr) or not lo <= sr <= hi:
            raise ParameterError(f"sample_rate must be an int within {lo}..{hi} Hz, got {sample_rate!r}")
        sr = int(sr)
        if step_len * sr < BLOCK:
            raise ParameterError(
                f"step_len must be at least one engine block, {BLOCK} frames ({BLOCK / sr:.3g} s at {sr} Hz): "
                f"the engine takes new numbers once per block; got {step_len!r} s ({step_len * sr:.3g} frames)"
            )
        if not isinstance(criteria, str):
            raise ParameterError(
                f"criteria must be a criterion name such as 'raw' or 'mrstft', got {criteria!r}"
            )
        try:
            make_criterion("mse" if criteria == "raw" else criteria, sr)
        except ValueError as e:
            raise ParameterError(f"criteria: {e}") from None
        self.sample_rate = sr
        self.code = code
        self.total_step = total_step
        self.step_len = float(step_len)
        self.criteria = criteria
        y = _load_target(target, sr)
        sc = compat_scenario(code, y, total_step, float(step_len), criteria, action_space, sr)
        super().__init__(RaveforceGymEnv(sc, on_engine_error="raise"))
        self.scenario = sc
        track = sc.tracks[0]
        self.target = sc.targets.mix
        n = len(self.target)
        self._crit = make_criterion("mse" if criteria == "raw" else criteria, sc.sample_rate)
        self._prepared = self._crit.prepare(self.target)
        self._n_holes = len(action_space)
        self._order = [int(p.name[1:]) for p in track.free]
        self.action_space = SpecBox(sorted(track.params, key=lambda p: int(p.name[1:])))
        self.observation_space = spaces.Box(-np.inf, np.inf, (n,), np.float32)
        self._t = 0

    def _unit(self, action: Any) -> np.ndarray:
        try:
            a = np.asarray(action)
        except Exception as e:  # noqa: BLE001 - ragged lists and the like
            raise ParameterError(
                f"action must be a list or array of numbers, got {action!r:.80}: {e}"
            ) from None
        if a.dtype.kind not in "fiu":
            raise ParameterError(
                f"action must be a list or array of numbers (one per non-rel hole), got "
                f"{type(action).__name__} {action!r:.80} (dtype {a.dtype})"
            )
        a = a.astype(np.float64).ravel()
        if a.shape[0] == self._n_holes and len(self._order) != self._n_holes:
            a = a[sorted(self._order)]  # RaveForce-style full list: rel slots are recomputed
        if a.shape[0] != len(self._order):
            raise ParameterError(
                f"action must have {len(self._order)} values (one per non-rel hole) or "
                f"{self._n_holes} (one per hole), got {a.shape[0]}"
            )
        if not np.isfinite(a).all():
            j = sorted(self._order)[int(np.argmax(~np.isfinite(a)))]
            raise ParameterError(f"action has a non-finite value for hole {j}")
        u = np.empty(len(a), np.float32)
        for i, p in enumerate(self.scenario.tracks[0].free):
            if p.kind == "choose":
                idx = int(np.clip(round(a[i]), 0, len(p.choices) - 1))
                u[i] = -1.0 + (2 * idx + 1) / len(p.choices)
            else:
                u[i] = np.clip(p.to_unit(float(np.clip(a[i], p.low, p.high))), -1.0, 1.0)
        return u

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Start again from silence; returns (zeros like the target, info)."""
        obs, _ = self.env.reset(seed=seed, options=options)
        self._t = 0
        return np.array(obs), {}

    def step(self, action: Any):
        """Fill the holes with ``action``, render ``step_len`` seconds, score against the target."""
        if self._t >= self.total_step:
            raise RuntimeError("step() called after the episode ended; call reset()")
        obs, _, terminated, truncated, info = self.env.step(self._unit(action))
        self._t += 1
        obs = np.array(obs)
        reward = float(self._crit.score(obs, self._prepared))
        values = info["values"]["patch"]
        vals = [values[f"p{i}"] for i in range(self._n_holes)]
        code = self.scenario.tracks[0].code(values)
        return obs, reward, terminated, truncated, {"code": code, "values": vals}


def make(
    code: str = "",
    target: Any = (),
    total_step: int = 16,
    step_len: float = 0.125,
    criteria: str = "raw",
    action_space: Sequence[Sequence[Any]] = (),
    sample_rate: int | None = None,
) -> RaveforceCompatEnv:
    """Create a RaveForce-style environment (see the module docs).

    Args:
        code: Glicol code with one ``{}`` hole per action spec and one audible line.
        target: Target audio: a mono numpy array at ``sample_rate`` (a 2-D array is
            averaged to mono), or a file path (loaded and resampled with librosa).
            It is padded or trimmed (with a warning) to ``total_step * step_len``.
        total_step: Steps per episode.
        step_len: Seconds per step.
        criteria: ``"raw"`` (RaveForce's negative waveform MSE) or a criterion name
            from :mod:`raveforce_mae.rewards`.
        action_space: Specs ``["lin", lo, hi]``, ``["exp", lo, hi]``,
            ``["rel", i, fn]`` or ``["choose", [values]]``, one per hole.
        sample_rate: Engine sample rate (default 44100; 8000..192000).
    """
    return RaveforceCompatEnv(code, target, total_step, step_len, criteria, action_space, sample_rate)
