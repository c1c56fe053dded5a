"""Polling with back-off, timeouts that explain themselves, and cancellation."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

from prism_core.exceptions import OperationFailed, WaitTimeout

T = TypeVar("T")


class WaitCancelled(OperationFailed):
    """Another part of the save failed or was interrupted; this wait stopped."""


def poll_delays(poll: float) -> Callable[[int], float]:
    """Back-off schedule: a quarter of ``poll`` first, doubling up to ``poll``."""

    def delay(attempt: int) -> float:
        return min(poll, (poll / 4.0) * (2 ** min(attempt, 2)))

    return delay


def wait_for(
    check: Callable[[], T | None],
    *,
    what: str,
    timeout: float,
    poll: float,
    hint: str | None = None,
    cancel: threading.Event | None = None,
    on_tick: Callable[[float], None] | None = None,
    first_check_after: float | None = None,
) -> T:
    """Call ``check`` until it returns a value other than ``None``; return that value.

    ``check`` raises to abort. After ``timeout`` seconds raises :class:`WaitTimeout`
    naming ``what`` and ``hint``; if ``cancel`` is set, raises :class:`WaitCancelled`.
    ``on_tick(elapsed_seconds)`` is called after every check that is not yet done
    (progress display uses it for the live line of this wait).

    ``first_check_after`` schedules the wait from an expected completion: no check
    before that many seconds, then one every ``poll`` (no back-off), so a wait whose
    duration is known roughly costs a couple of calls instead of one per poll.
    """
    started = time.monotonic()
    deadline = started + timeout
    schedule = poll_delays(poll)
    attempt = 0
    if first_check_after is not None and first_check_after > 0:
        schedule = lambda _attempt: poll  # noqa: E731
        pause = min(first_check_after, timeout)
        if on_tick is not None:
            on_tick(0.0)
        if cancel is not None:
            if cancel.wait(pause):
                raise WaitCancelled(f"stopped waiting for {what}")
        else:
            time.sleep(pause)
    while True:
        result = check()
        if result is not None:
            return result
        if on_tick is not None:
            on_tick(time.monotonic() - started)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise WaitTimeout(
                f"timed out after {timeout:g}s waiting for {what}",
                hint or "raise the limit in config (prism.timeouts) and run `prism save --resume`",
            )
        pause = min(schedule(attempt), remaining)
        attempt += 1
        if cancel is not None:
            if cancel.wait(pause):
                raise WaitCancelled(f"stopped waiting for {what}")
        else:
            time.sleep(pause)
