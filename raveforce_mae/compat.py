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

Actions are in the parameters' own units (as in RaveForce, not normalised):
``action_space`` is a ``Box`` over the non-``rel`` holes (a ``choose`` hole takes the
index of its choice, rounded). ``step`` also accepts a full-length list with a value
(ignored) in each ``rel`` slot. The observation is the audio rendered so far,
zero-padded to the target's length, and ``criteria="raw"`` gives RaveForce's reward,
the negative waveform MSE of that padded audio against the target. Other criteria
(``"mrstft"``, ``"mel"``, ...) come from :mod:`raveforce_mae.rewards`.

Fixed from the original: episodes end (``terminated`` after ``total_step`` steps),
nothing is printed, nothing is downloaded, and step boundaries are exact frames.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces

import glicol_wasm

from .errors import ParameterError, PatchError
from .params import format_number

__all__ = ["RaveforceCompatEnv", "make"]


def _load_target(target: Any, sample_rate: int) -> np.ndarray:
    if isinstance(target, (str, os.PathLike)):
        import librosa

        try:
            y, _ = librosa.load(os.fspath(target), sr=sample_rate, mono=True)
        except Exception as e:  # noqa: BLE001 - name the file whatever the decoder says
            raise ParameterError(f"target: cannot read audio file {os.fspath(target)!r}: {e}") from e
        return y.astype(np.float32)
    y = np.asarray(target, dtype=np.float32)
    if y.ndim == 2:  # channels averaged to mono, as librosa.load does for files
        y = y.mean(axis=0 if y.shape[0] <= 8 else 1, dtype=np.float32)
    if y.ndim != 1 or y.size == 0:
        raise ParameterError(f"target must be a non-empty 1-D array or a path, got shape {np.shape(target)}")
    if not np.isfinite(y).all():
        raise ParameterError("target contains NaN or inf")
    return y


class _Spec:
    __slots__ = ("kind", "low", "high", "choices", "ref", "fn")

    def __init__(self, i: int, spec: Sequence[Any]) -> None:
        if not isinstance(spec, (list, tuple)) or not spec:
            raise ParameterError(f"action_space[{i}] must be a list like ['lin', low, high], got {spec!r}")
        self.kind = spec[0]
        self.low = self.high = None
        self.choices: tuple[float, ...] = ()
        self.ref = -1
        self.fn: Callable[[float], float] | None = None
        if self.kind in ("lin", "exp"):
            if len(spec) != 3:
                raise ParameterError(
                    f"action_space[{i}]: {self.kind!r} takes [kind, low, high], got {spec!r}"
                )
            self.low, self.high = float(spec[1]), float(spec[2])
            if not (math.isfinite(self.low) and math.isfinite(self.high) and self.low < self.high):
                raise ParameterError(f"action_space[{i}]: need finite low < high, got {spec!r}")
            if self.kind == "exp" and self.low <= 0:
                raise ParameterError(f"action_space[{i}]: 'exp' needs low > 0, got {spec!r}")
        elif self.kind == "choose":
            if len(spec) != 2 or not len(spec[1]):
                raise ParameterError(
                    f"action_space[{i}]: 'choose' takes ['choose', [v1, v2, ...]], got {spec!r}"
                )
            self.choices = tuple(float(v) for v in spec[1])
        elif self.kind == "rel":
            if len(spec) != 3 or not callable(spec[2]) or not isinstance(spec[1], int):
                raise ParameterError(f"action_space[{i}]: 'rel' takes ['rel', index, function], got {spec!r}")
            self.ref, self.fn = spec[1], spec[2]
        else:
            raise ParameterError(
                f"action_space[{i}]: unknown kind {self.kind!r}; expected 'lin', 'exp', 'rel' or 'choose'"
            )


class RaveforceCompatEnv(gymnasium.Env[np.ndarray, np.ndarray]):
    """RaveForce's environment (see the module docs). Create it with :func:`make`."""

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
        if not isinstance(total_step, int) or total_step < 1:
            raise ParameterError(f"total_step must be a positive int, got {total_step!r}")
        if not (isinstance(step_len, (int, float)) and step_len > 0 and math.isfinite(step_len)):
            raise ParameterError(f"step_len must be a positive number of seconds, got {step_len!r}")
        self.sample_rate = int(sample_rate or 44100)
        self.code = code
        self.total_step = total_step
        self.step_len = float(step_len)
        self.criteria = criteria
        self.specs = [_Spec(i, s) for i, s in enumerate(action_space)]
        holes = code.count("{}")
        if holes != len(self.specs):
            raise ParameterError(
                f"code has {holes} '{{}}' holes but action_space has {len(self.specs)} specs; "
                "they must match one to one"
            )
        for i, s in enumerate(self.specs):
            if s.kind == "rel" and not (0 <= s.ref < len(self.specs) and self.specs[s.ref].kind != "rel"):
                raise ParameterError(f"action_space[{i}]: 'rel' index {s.ref} must name a non-rel hole")
        self.target = _load_target(target, self.sample_rate)
        self._free = [i for i, s in enumerate(self.specs) if s.kind != "rel"]
        lows, highs = [], []
        for i in self._free:
            s = self.specs[i]
            if s.kind == "choose":
                lows.append(0.0)
                highs.append(float(len(s.choices) - 1))
            else:
                lows.append(s.low)
                highs.append(s.high)
        self.action_space = spaces.Box(
            np.array(lows, np.float32), np.array(highs, np.float32), dtype=np.float32
        )
        peak = max(1.0, float(np.abs(self.target).max()) * 4)
        self.observation_space = spaces.Box(-peak, peak, (len(self.target),), np.float32)
        self._bounds = [round(i * self.step_len * self.sample_rate) for i in range(total_step + 1)]
        if criteria == "raw":
            self._crit = None
        else:
            from .rewards import make_criterion

            self._crit = make_criterion(criteria, self.sample_rate)
        self._engine: glicol_wasm.Engine | None = None
        self._t = 0

    def _values(self, action: Any) -> list[float]:
        a = np.asarray(action, dtype=np.float64).ravel()
        if a.shape[0] == len(self.specs) and len(self._free) != len(self.specs):
            a = a[self._free]  # RaveForce-style full list: rel slots are recomputed
        if a.shape[0] != len(self._free):
            raise ParameterError(
                f"action must have {len(self._free)} values (one per non-rel hole) or "
                f"{len(self.specs)} (one per hole), got {a.shape[0]}"
            )
        if not np.isfinite(a).all():
            j = self._free[int(np.argmax(~np.isfinite(a)))]
            raise ParameterError(f"action has a non-finite value for hole {j}")
        vals: list[float] = [0.0] * len(self.specs)
        for v, i in zip(a, self._free, strict=True):
            s = self.specs[i]
            if s.kind == "choose":
                vals[i] = s.choices[int(np.clip(round(v), 0, len(s.choices) - 1))]
            else:
                vals[i] = float(np.clip(v, s.low, s.high))
        for i, s in enumerate(self.specs):
            if s.kind == "rel":
                vals[i] = float(s.fn(vals[s.ref]))
        return vals

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Start again from silence; returns (zeros like the target, info)."""
        super().reset(seed=seed)
        self._engine = glicol_wasm.Engine(self.sample_rate)
        self._audio = np.zeros(len(self.target), np.float32)
        self._rendered = 0
        self._t = 0
        return self._audio.copy(), {}

    def step(self, action: Any):
        """Fill the holes with ``action``, render ``step_len`` seconds, score against the target."""
        if self._engine is None:
            raise RuntimeError("step() called before reset()")
        if self._t >= self.total_step:
            raise RuntimeError("step() called after the episode ended; call reset()")
        vals = self._values(action)
        code = self.code.format(*(format_number(v) for v in vals))
        n = self._bounds[self._t + 1] - self._bounds[self._t]
        self._engine.set_code(code)
        try:
            y = self._engine.render(n)[0]
        except glicol_wasm.GlicolError as e:
            raise PatchError(f"the engine rejected the code for values {vals}: {e}") from e
        start = self._rendered
        stop = min(start + n, len(self._audio))
        self._audio[start:stop] = y[: stop - start]
        self._rendered += n
        self._t += 1
        obs = self._audio.copy()
        if self._crit is None:
            reward = -float(np.square(obs - self.target).mean(axis=0))
        else:
            reward = float(self._crit(obs, self.target))
        terminated = self._t >= self.total_step
        return obs, reward, terminated, False, {"code": code, "values": vals}


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
        code: Glicol code with one ``{}`` hole per action spec.
        target: Target audio: a mono numpy array at ``sample_rate``, or a file path
            (loaded and resampled with librosa).
        total_step: Steps per episode.
        step_len: Seconds per step.
        criteria: ``"raw"`` (RaveForce's negative waveform MSE) or a criterion name
            from :mod:`raveforce_mae.rewards`.
        action_space: Specs ``["lin", lo, hi]``, ``["exp", lo, hi]``,
            ``["rel", i, fn]`` or ``["choose", [values]]``, one per hole.
        sample_rate: Engine sample rate (default 44100).
    """
    return RaveforceCompatEnv(code, target, total_step, step_len, criteria, action_space, sample_rate)
