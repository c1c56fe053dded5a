"""Polling with back-off, timeouts that explain themselves, and cancellation."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from prism_core.aws.clients import error_code
from prism_core.exceptions import OperationFailed, WaitTimeout

T = TypeVar("T")

#: Error codes AWS answers when a caller is throttled.
THROTTLING_CODES = frozenset(
    {
        "RequestLimitExceeded",
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestThrottled",
        "RequestThrottledException",
        "SlowDown",
        "PriorRequestNotComplete",
    }
)
#: The longest pause between two throttled attempts of prism's own retry loop.
MAX_THROTTLE_PAUSE = 60.0


class Clock(Protocol):
    """The time a wait reads and the pauses it makes (a seam: unit tests pass a fake
    one whose pauses only move its time forward)."""

    def monotonic(self) -> float:
        """Seconds from an arbitrary start, never going back."""
        ...

    def sleep(self, seconds: float, cancel: threading.Event | None = None) -> bool:
        """Pause ``seconds``; ``True`` if ``cancel`` was set meanwhile (the pause ends then)."""
        ...


class SystemClock:
    """The real clock: :func:`time.monotonic`, and :func:`time.sleep` or ``cancel.wait``."""

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float, cancel: threading.Event | None = None) -> bool:
        if cancel is not None:
            return cancel.wait(seconds)
        time.sleep(seconds)
        return False


#: The clock every wait uses unless it is given another.
SYSTEM_CLOCK: Clock = SystemClock()


@dataclass(frozen=True)
class WaitSchedule:
    """When a wait looks, and for how long: the arguments of :func:`wait_for` as one value.

    ``poll``: seconds between checks (the back-off of :func:`poll_delays` unless
    ``steady``); ``timeout``: seconds until the wait gives up; ``first_check_after``:
    no check before that many seconds, then one per ``poll``; ``retry_throttling``: a
    throttled check counts as "not yet" (waits while the instance is down).
    """

    poll: float
    timeout: float
    first_check_after: float | None = None
    steady: bool = False
    retry_throttling: bool = False


def wait_on(
    schedule: WaitSchedule,
    check: Callable[[], T | None],
    *,
    what: str,
    hint: str | None = None,
    cancel: threading.Event | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> T:
    """:func:`wait_for` with its timing given as one :class:`WaitSchedule`."""
    return wait_for(
        check,
        what=what,
        timeout=schedule.timeout,
        poll=schedule.poll,
        hint=hint,
        cancel=cancel,
        retry_throttling=schedule.retry_throttling,
        first_check_after=schedule.first_check_after,
        steady=schedule.steady,
        clock=clock,
    )


def is_throttling(exc: BaseException) -> bool:
    """Whether ``exc`` is AWS throttling (after botocore's own retries gave up)."""
    return error_code(exc) in THROTTLING_CODES


def throttle_pause(poll: float, attempt: int) -> float:
    """Back-off between throttled attempts: ``poll`` doubling, at most 4x ``poll`` or 60 s."""
    cap = min(max(4 * poll, 0.05), MAX_THROTTLE_PAUSE)
    return float(min(cap, max(poll, 0.01) * (2 ** min(attempt, 6))))


def retry_throttled(
    call: Callable[[], T],
    *,
    what: str,
    timeout: float,
    poll: float,
    clock: Clock = SYSTEM_CLOCK,
) -> T:
    """Run ``call``; while AWS throttles it, retry with back-off until ``timeout`` seconds.

    For the calls that bring a stopped instance back: botocore's own retry budget is
    spent in seconds, the instance's start may not give up before ``timeouts.start``.
    Any other error is raised at once; throttling after ``timeout`` raises the last error.
    """
    deadline = clock.monotonic() + timeout
    attempt = 0
    while True:
        try:
            return call()
        except Exception as exc:
            if not is_throttling(exc) or clock.monotonic() >= deadline:
                raise
        clock.sleep(min(throttle_pause(poll, attempt), max(0.0, deadline - clock.monotonic())))
        attempt += 1


class WaitCancelled(OperationFailed):
    """Another part of the save failed or was interrupted; this wait stopped."""


def poll_delays(poll: float) -> Callable[[int], float]:
    """Back-off schedule: a quarter of ``poll`` first, doubling up to ``poll``."""

    def delay(attempt: int) -> float:
        return min(poll, (poll / 4.0) * (2 ** min(attempt, 2)))

    return delay


def _towards(
    pause: float, poll: float, elapsed: float, expected_at: Callable[[], float | None] | None
) -> float:
    """The pause before the next check: ``pause``, shortened to land on the expected end
    (see :func:`wait_for`), a quarter of ``poll`` for one ``poll`` after it.

    A pause that would end just before the expected end is stretched to it (by at most
    a quarter poll), so that check is not spent a moment too early. The estimate itself
    leans late (EC2's whole percents are truncated), so no margin is added to it.
    """
    due = expected_at() if expected_at is not None else None
    if due is None:
        return pause
    dense = max(poll / 4.0, 0.01)
    if elapsed < due:
        if due - elapsed > pause + dense:
            return pause
        return max(due - elapsed, min(dense, pause))
    if elapsed < due + poll:
        return min(pause, dense)
    return pause


def wait_for(
    check: Callable[[], T | None],
    *,
    what: str,
    timeout: float,
    poll: float,
    hint: str | None = None,
    cancel: threading.Event | None = None,
    on_tick: Callable[[float], None] | None = None,
    retry_throttling: bool = False,
    first_check_after: float | None = None,
    steady: bool = False,
    expected_at: Callable[[], float | None] | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> T:
    """Call ``check`` until it returns a value other than ``None``; return that value.

    ``check`` raises to abort. After ``timeout`` seconds raises :class:`WaitTimeout`
    naming ``what`` and ``hint``; if ``cancel`` is set, raises :class:`WaitCancelled`.
    ``on_tick(elapsed_seconds)`` is called after every check that is not yet done
    (progress display uses it for the live line of this wait).
    ``retry_throttling=True`` (waits while the instance is down) counts a throttled
    check as "not yet" and backs off, so only ``timeout`` ends the wait.

    ``first_check_after`` schedules the wait from an expected completion: no check
    before that many seconds, then one every ``poll`` (no back-off), so a wait whose
    duration is known roughly costs a couple of calls instead of one per poll.
    ``steady=True`` polls every ``poll`` from the start (no back-off from a quarter of
    it): for waits that never end within the first second (EC2 state changes).
    ``expected_at()`` (asked before every pause) is when the wait should end, in seconds
    from its start (``None``: unknown): the polls land on that moment, then come every
    quarter of ``poll`` for one ``poll``, then every ``poll`` again (an estimate that
    is too late costs nothing, one too early a few calls).
    ``clock`` gives the time and makes the pauses (:data:`SYSTEM_CLOCK` unless a test
    passes its own).
    """
    started = clock.monotonic()
    deadline = started + timeout
    schedule = (lambda _attempt: poll) if steady else poll_delays(poll)
    attempt = 0
    throttled = 0
    if first_check_after is not None and first_check_after > 0:
        schedule = lambda _attempt: poll  # noqa: E731
        pause = min(first_check_after, timeout)
        if on_tick is not None:
            on_tick(0.0)
        if clock.sleep(pause, cancel):
            raise WaitCancelled(f"stopped waiting for {what}")
    while True:
        try:
            result = check()
        except Exception as exc:
            if not (retry_throttling and is_throttling(exc)):
                raise
            if clock.monotonic() >= deadline:
                raise
            result = None
            throttled += 1
        else:
            throttled = 0
        if result is not None:
            return result
        if on_tick is not None:
            on_tick(clock.monotonic() - started)
        remaining = deadline - clock.monotonic()
        if remaining <= 0:
            raise WaitTimeout(
                f"timed out after {timeout:g}s waiting for {what}",
                hint or "raise the limit in config (prism.timeouts) and run `prism save --resume`",
            )
        if throttled:
            pause = throttle_pause(poll, throttled)
        else:
            pause = _towards(schedule(attempt), poll, clock.monotonic() - started, expected_at)
        pause = min(pause, remaining)
        attempt += 1
        if clock.sleep(pause, cancel):
            raise WaitCancelled(f"stopped waiting for {what}")
