"""Unit layer: throttling while the instance is down is retried until the timeout, never
for a fixed number of attempts; other errors and other waits are not retried."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from prism_core.aws.waiting import retry_throttled, throttle_pause, wait_for
from prism_core.exceptions import WaitTimeout


def _error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, "StartInstances")


class Flaky:
    """Raises ``code`` the first ``times`` calls, then answers ``value``."""

    def __init__(self, times: int, code: str = "RequestLimitExceeded", value: object = "ok"):
        self.times, self.code, self.value, self.calls = times, code, value, 0

    def __call__(self) -> object:
        self.calls += 1
        if self.calls <= self.times:
            raise _error(self.code)
        return self.value


def test_retry_throttled_outlasts_any_fixed_budget() -> None:
    call = Flaky(40)
    assert retry_throttled(call, what="start", timeout=60, poll=0.0001) == "ok"
    assert call.calls == 41


def test_retry_throttled_raises_other_errors_at_once() -> None:
    call = Flaky(1, code="IncorrectInstanceState")
    with pytest.raises(ClientError):
        retry_throttled(call, what="start", timeout=60, poll=0.0001)
    assert call.calls == 1


def test_retry_throttled_gives_up_at_the_timeout() -> None:
    with pytest.raises(ClientError):
        retry_throttled(Flaky(10**9), what="start", timeout=0.05, poll=0.001)


def test_wait_for_counts_throttling_as_not_yet_only_when_asked() -> None:
    assert wait_for(Flaky(20), what="x", timeout=60, poll=0.0001, retry_throttling=True) == "ok"
    with pytest.raises(ClientError):
        wait_for(Flaky(1), what="x", timeout=60, poll=0.0001)


def test_wait_for_throttled_until_the_timeout_is_a_timeout() -> None:
    with pytest.raises((WaitTimeout, ClientError)):
        wait_for(Flaky(10**9), what="x", timeout=0.05, poll=0.001, retry_throttling=True)


def test_throttle_pause_backs_off_and_is_capped() -> None:
    pauses = [throttle_pause(15.0, attempt) for attempt in range(10)]
    assert pauses == sorted(pauses)
    assert pauses[0] == 15.0 and max(pauses) == 60.0
