"""The exception tree of raveforce_mae.

``RaveforceError`` is the root. Engine errors keep their own root,
:class:`glicol_wasm.GlicolError`; :class:`EngineError` wraps one when an environment
reports it with the track and parameters that caused it.
"""

from __future__ import annotations

from glicol_wasm import GlicolError

__all__ = [
    "RaveforceError",
    "ScenarioError",
    "ParameterError",
    "PatchError",
    "EngineError",
    "GlicolError",
]


class RaveforceError(Exception):
    """Root of every error raised by raveforce_mae."""


class ScenarioError(RaveforceError, ValueError):
    """A scenario file or override is invalid.

    The message names the file, the track and the key, and says what was expected.
    """


class ParameterError(RaveforceError, ValueError):
    """A parameter value or action is invalid (NaN, wrong shape, unknown name, ...)."""


class PatchError(RaveforceError, ValueError):
    """Glicol code assembled from a template could not be built or was rejected."""


class EngineError(RaveforceError):
    """The engine failed while an environment was rendering a step.

    Attributes:
        track: The track whose engine failed, or ``None``.
        values: The parameter values that were being played.
    """

    def __init__(self, message: str, track: str | None = None, values: dict | None = None) -> None:
        super().__init__(message)
        self.track = track
        self.values = dict(values or {})
