"""The process a watchdog guards for: who it is, whether it lives, whether it is frozen.

The watchdog learns its owner when it is started (its parent's pid and start time, on
its command line), never from a file someone else can write: a journal whose ``pid``
names another live process cannot keep it from its duty.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

#: ``/proc/PID/stat`` states of a process that runs no code until someone continues it:
#: stopped by a signal (SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU) or by a tracer.
SUSPENDED_STATES = frozenset({"T", "t"})
#: States of a process that is gone: a zombie (dead, not yet reaped) or dead.
DEAD_STATES = frozenset({"Z", "X", "x"})


def process_status(pid: int) -> tuple[str, int | None] | None:
    """``(state letter, start time in clock ticks)`` of ``pid`` from ``/proc``; ``None``
    when there is no such process (or ``/proc`` does not say)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    try:
        return fields[0], int(fields[19])
    except (IndexError, ValueError):
        return None


@dataclass(frozen=True)
class Owner:
    """One process: its pid and start time (pids are reused; the pair is not)."""

    pid: int
    started: int | None


class OwnerWatch:
    """Decides when the owner is gone for the watchdog's purposes.

    ``gone()`` answers ``"exited"`` once the owner process no longer exists (or a later
    process has its pid), ``"suspended"`` once it has been stopped (SIGSTOP, a tracer)
    for ``grace`` seconds in a row, else ``None``. ``probe`` and ``clock`` are seams for
    tests (``process_status`` and ``time.monotonic`` by default).
    """

    def __init__(
        self,
        owner: Owner,
        grace: float,
        probe: Callable[[int], tuple[str, int | None] | None] = process_status,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.owner = owner
        self.grace = grace
        self._probe = probe
        self._clock = clock
        self._suspended_since: float | None = None

    def gone(self) -> str | None:
        """``"exited"``, ``"suspended"`` or ``None`` (the owner runs)."""
        status = self._probe(self.owner.pid)
        if status is None:
            return "exited"
        state, started = status
        if self.owner.started is not None and started != self.owner.started:
            return "exited"  # the pid now names a later process
        if state in DEAD_STATES:
            return "exited"
        if state not in SUSPENDED_STATES:
            self._suspended_since = None
            return None
        now = self._clock()
        if self._suspended_since is None:
            self._suspended_since = now
        return "suspended" if now - self._suspended_since >= self.grace else None
