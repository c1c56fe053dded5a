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

__all__ = ["Faults", "Sandbox", "Timings"]


def __getattr__(name: str) -> Any:
    if name == "Sandbox":
        from .server import Sandbox

        return Sandbox
    raise AttributeError(name)
