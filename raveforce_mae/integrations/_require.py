"""Clear errors for optional libraries that are not installed."""

from __future__ import annotations

import importlib
from types import ModuleType


def require(module: str, extra: str) -> ModuleType:
    """Import ``module`` or raise an ``ImportError`` saying which extra installs it.

    Args:
        module: The module to import, e.g. ``"torchrl"``.
        extra: The raveforce-mae extra that installs it, e.g. ``"torchrl"``.

    Returns:
        The imported module.
    """
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ImportError(
            f"{module} is needed here but cannot be imported ({e}); "
            f"install it with: pip install 'raveforce-mae[{extra}]'"
        ) from e
