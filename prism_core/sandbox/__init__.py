"""Embedded sandbox cloud: moto's server plus the EC2 behaviours moto lacks.

``Timings`` and ``Faults`` are cheap to import; ``Sandbox`` imports moto on first
use, so ``import prism_core.sandbox`` works without moto installed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .faults import Faults
from .timings import Timings

if TYPE_CHECKING:  # pragma: no cover
    from .server import Sandbox

__all__ = ["Faults", "Sandbox", "Timings", "require_sandbox"]

INSTALL_HINT = "pip install 'prism-cloud[sandbox]'"


def require_sandbox() -> None:
    """Import the sandbox server, or raise a one-line ``InputError`` saying what to install."""
    from prism_core.exceptions import InputError

    try:
        import moto  # noqa: F401

        from . import server  # noqa: F401
    except ImportError:
        raise InputError(
            "moto is not installed; install the sandbox extra", INSTALL_HINT
        ) from None


def __getattr__(name: str) -> Any:
    if name == "Sandbox":
        from .server import Sandbox

        return Sandbox
    raise AttributeError(name)
