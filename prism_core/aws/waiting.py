"""Polling with back-off, timeouts that explain themselves, and cancellation.

A wait is a condition (``check``) and a :class:`WaitSchedule` (when to check, when to
give up); :func:`wait_for` is the one loop, reading the time from a :class:`Clock`."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Protocol, TypeVar

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
    clock: Clock | None = None,
) -> T:
    """Run ``call``; while AWS throttles it, retry with back-off until ``timeout`` seconds.

    For the calls that bring a stopped instance back: botocore's own retry budget is
    spent in seconds, the instance's start may not give up before ``timeouts.start``.
    Any other error is raised at once; throttling after ``timeout`` raises the last error.
    ``clock`` reads the time and pauses (:data:`SYSTEM_CLOCK`).
    """
    clock = clock if clock is not None else SYSTEM_CLOCK
    deadline = clock.monotonic() + timeout
    attempt = 0
    while True:
        try:
            return call()
        except Exception as exc:
            if not is_throttling(exc) or clock.monotonic() >= deadline:
                raise
        clock.pause(min(throttle_pause(poll, attempt), max(0.0, deadline - clock.monotonic())))
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


class Clock(Protocol):
    """What a wait reads the time from and pauses with (a seam: the unit tests' clock
    advances without sleeping)."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back."""
        ...

    def pause(self, seconds: float, cancel: threading.Event | None = None) -> bool:
        """Pause ``seconds``; True if ``cancel`` was set meanwhile (the pause ends then)."""
        ...


class SystemClock:
    """The real clock: :func:`time.monotonic`, pauses that a set ``cancel`` ends early."""

    def monotonic(self) -> float:
        """:func:`time.monotonic`."""
        return time.monotonic()

    def pause(self, seconds: float, cancel: threading.Event | None = None) -> bool:
        """Sleep ``seconds`` (or until ``cancel`` is set: True)."""
        if cancel is not None:
            return cancel.wait(seconds)
        time.sleep(seconds)
        return False


SYSTEM_CLOCK: Clock = SystemClock()


@dataclass(frozen=True)
class WaitSchedule:
    """When a wait checks and when it gives up: one value (as botocore's waiter config),
    the loop apart from the condition (:func:`wait_for`).

    A save makes one from the settings (:meth:`from_settings`: ``poll_delay_seconds`` /
    ``PRISM_POLL_DELAY_SECONDS`` and the ``prism.timeouts`` limits) and passes it down;
    each wait derives its own from it (:meth:`limit`, :meth:`state_change`, ...), so no
    wait reads a setting or combines flags itself.
    """

    #: Seconds between two checks at full pace.
    poll: float
    #: Seconds after which the wait gives up (:class:`WaitTimeout`).
    timeout: float = 3600.0
    #: No check before this many seconds, then one every ``poll`` (``None``: at once,
    #: backing off from a quarter of ``poll`` unless ``steady``).
    first_check_after: float | None = None
    #: One check every ``poll`` (no back-off): EC2 state changes never end within a second.
    steady: bool = False
    #: A throttled check counts as "not yet" and backs off (waits while the instance is
    #: down: only ``timeout`` ends them, not botocore's retry budget).
    retry_throttling: bool = False
    #: The named limits (``prism.timeouts``) :meth:`limit` picks ``timeout`` from.
    limits: Mapping[str, float] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "limits", MappingProxyType(dict(self.limits)))

    @classmethod
    def from_settings(cls, settings: Any) -> WaitSchedule:
        """The schedule of the configured poll delay and limits (``prism.timeouts``)."""
        return cls(poll=float(settings.poll_delay), limits=dict(settings.timeouts))

    def limit(self, name: str) -> WaitSchedule:
        """This schedule, giving up after the named limit (``prism.timeouts.<name>``)."""
        return replace(self, timeout=self.limits[name])

    def within(self, seconds: float) -> WaitSchedule:
        """This schedule, giving up after ``seconds``."""
        return replace(self, timeout=seconds)

    def state_change(self) -> WaitSchedule:
        """One check per poll, the first one poll in: for EC2 state changes."""
        first = self.first_check_after if self.first_check_after is not None else self.poll
        return replace(self, steady=True, first_check_after=first)

    def critical(self) -> WaitSchedule:
        """Twice the pace: for waits whose lag the user feels (the instance is down)."""
        return replace(self, poll=self.poll / 2.0)

    def while_down(self) -> WaitSchedule:
        """Throttling retried until the limit: prism holds the instance down meanwhile."""
        return replace(self, retry_throttling=True)

    def expecting(self, seconds: float | None) -> WaitSchedule:
        """No check before ``seconds`` (an expected completion), then one per poll."""
        return replace(self, first_check_after=seconds)

    def delay(self, attempt: int) -> float:
        """The pause after check number ``attempt`` (0-based), before any adjustment."""
        if self.steady or (self.first_check_after is not None and self.first_check_after > 0):
            return self.poll
        return poll_delays(self.poll)(attempt)


def wait_for(
    check: Callable[[], T | None],
    *,
    what: str,
    schedule: WaitSchedule | None = None,
    timeout: float | None = None,
    poll: float | None = None,
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

    When it checks and when it gives up is ``schedule`` (:class:`WaitSchedule`); the
    keywords ``timeout``, ``poll``, ``retry_throttling``, ``first_check_after`` and
    ``steady`` build one for callers that pass no schedule (and override its fields).

    ``check`` raises to abort. After the schedule's ``timeout`` raises :class:`WaitTimeout`
    naming ``what`` and ``hint``; if ``cancel`` is set, raises :class:`WaitCancelled`.
    ``on_tick(elapsed_seconds)`` is called after every check that is not yet done
    (progress display uses it for the live line of this wait).
    ``retry_throttling`` (waits while the instance is down) counts a throttled
    check as "not yet" and backs off, so only ``timeout`` ends the wait.

    ``first_check_after`` schedules the wait from an expected completion: no check
    before that many seconds, then one every ``poll`` (no back-off), so a wait whose
    duration is known roughly costs a couple of calls instead of one per poll.
    ``steady`` polls every ``poll`` from the start (no back-off from a quarter of
    it): for waits that never end within the first second (EC2 state changes).
    ``expected_at()`` (asked before every pause) is when the wait should end, in seconds
    from its start (``None``: unknown): the polls land on that moment, then come every
    quarter of ``poll`` for one ``poll``, then every ``poll`` again (an estimate that
    is too late costs nothing, one too early a few calls).
    ``clock`` reads the time and pauses (:data:`SYSTEM_CLOCK`).
    """
    if schedule is None:
        if timeout is None or poll is None:
            raise TypeError("wait_for needs a schedule, or a timeout and a poll")
        schedule = WaitSchedule(poll=poll, timeout=timeout)
    changes: dict[str, Any] = {
        k: v
        for k, v in (("timeout", timeout), ("poll", poll), ("first_check_after", first_check_after))
        if v is not None
    }
    if steady:
        changes["steady"] = True
    if retry_throttling:
        changes["retry_throttling"] = True
    if changes:
        schedule = replace(schedule, **changes)
    return _loop(check, schedule, what, hint, cancel, on_tick, expected_at, clock)


def _loop(
    check: Callable[[], T | None],
    schedule: WaitSchedule,
    what: str,
    hint: str | None,
    cancel: threading.Event | None,
    on_tick: Callable[[float], None] | None,
    expected_at: Callable[[], float | None] | None,
    clock: Clock,
) -> T:
    """The loop of :func:`wait_for`: check, pause as ``schedule`` says, give up at its end."""
    timeout, poll = schedule.timeout, schedule.poll
    started = clock.monotonic()
    deadline = started + timeout
    attempt = 0
    throttled = 0
    first = schedule.first_check_after
    if first is not None and first > 0:
        if on_tick is not None:
            on_tick(0.0)
        if clock.pause(min(first, timeout), cancel):
            raise WaitCancelled(f"stopped waiting for {what}")
    while True:
        try:
            result = check()
        except Exception as exc:
            if not (schedule.retry_throttling and is_throttling(exc)):
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
            elapsed = clock.monotonic() - started
            pause = _towards(schedule.delay(attempt), poll, elapsed, expected_at)
        attempt += 1
        if clock.pause(min(pause, remaining), cancel):
            raise WaitCancelled(f"stopped waiting for {what}")
