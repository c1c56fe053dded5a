"""Embedded sandbox cloud: moto's server plus the EC2 behaviours moto lacks.

``Timings`` and ``Faults`` are cheap to import; ``Sandbox`` imports moto on first
use, so ``import prism_sandbox`` works without moto installed.
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
    """Raise a one-line ``InputError`` saying what to install if moto's server is missing.

    Only looks the packages up: importing moto reads the AWS configuration, which
    callers isolate first.
    """
    from importlib.util import find_spec

    from prism_core.exceptions import InputError

    for name in ("moto", "flask", "werkzeug"):
        try:
            found = find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            raise InputError(
                f"{'moto' if name == 'moto' else 'moto[server]'} is not installed; "
                "install the sandbox extra",
                INSTALL_HINT,
            )


def __getattr__(name: str) -> Any:
    if name == "Sandbox":
        from .server import Sandbox

        return Sandbox
    raise AttributeError(name)
