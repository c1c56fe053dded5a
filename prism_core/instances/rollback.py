"""The ordered steps of a launch, each with its cleanup (as Packer's step list does).

Every resource a launch creates is recorded here the moment the cloud answers; when a
later step fails (or the user interrupts), :meth:`Rollback.undo` runs the cleanups in
reverse order, so a failed launch leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from prism_core.aws.clients import error_message


@dataclass
class Step:
    """One created resource: what it is (``security group sg-...``) and how to remove it."""

    what: str
    cleanup: Callable[[], None]


@dataclass
class Rollback:
    """Created resources in creation order; :meth:`undo` removes them newest first."""

    steps: list[Step] = field(default_factory=list)

    def add(self, what: str, cleanup: Callable[[], None]) -> None:
        """Record a resource as soon as it exists."""
        self.steps.append(Step(what, cleanup))

    def created(self) -> list[str]:
        """What has been created so far, in order."""
        return [s.what for s in self.steps]

    def undo(self, report: Callable[[str, str], None]) -> list[str]:
        """Run every cleanup, newest first; ``report(kind, line)`` tells each outcome.
        Returns what could not be removed (each with the reason)."""
        left: list[str] = []
        for step in reversed(self.steps):
            try:
                step.cleanup()
                report("info", f"Rolled back: {step.what}")
            except Exception as exc:
                left.append(f"{step.what} ({error_message(exc)})")
                report("warn", f"Could not remove {step.what}: {error_message(exc)}")
        self.steps.clear()
        return left
