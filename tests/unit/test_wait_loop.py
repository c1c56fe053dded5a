"""Unit layer: one wait loop (``wait_for``) driven by one schedule value (``WaitSchedule``)
and a clock that advances without sleeping; the schedule comes from the settings users
set (``PRISM_POLL_DELAY_SECONDS``, ``prism.timeouts``, ``PRISM_TIMEOUT_<NAME>_SECONDS``)."""

from __future__ import annotations

import threading
from dataclasses import FrozenInstanceError

import pytest
from pipeline_fakes import FakeClock, aws_error

from prism_core.aws.waiting import WaitCancelled, WaitSchedule, wait_for
from prism_core.exceptions import WaitTimeout
from prism_core.settings import DEFAULT_TIMEOUTS, Settings


def never() -> None:
    return None


def after(checks: int):
    """A condition true on its ``checks``-th call."""
    calls = [0]

    def check() -> bool | None:
        calls[0] += 1
        return True if calls[0] >= checks else None

    return check


def test_the_schedule_is_a_frozen_value_and_each_wait_derives_its_own() -> None:
    base = WaitSchedule(poll=8.0, limits={"stop": 60.0, "image": 600.0})
    with pytest.raises(FrozenInstanceError):
        base.poll = 1.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        base.limits["stop"] = 1.0  # type: ignore[index]
    down = base.limit("stop").critical().while_down().state_change()
    assert (down.timeout, down.poll, down.first_check_after) == (60.0, 4.0, 4.0)
    assert down.steady and down.retry_throttling
    assert base.limit("image").timeout == 600.0 and base.poll == 8.0  # unchanged
    assert base.limit("image").expecting(30.0).delay(0) == 8.0  # scheduled: no back-off


def test_the_schedule_comes_from_the_settings_users_set(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("PRISM_HOME", str(tmp_path))
    monkeypatch.setenv("PRISM_POLL_DELAY_SECONDS", "0.25")
    monkeypatch.setenv("PRISM_TIMEOUT_IMAGE_SECONDS", "42")
    schedule = WaitSchedule.from_settings(Settings.load({"timeouts": {"stop": 77}}))
    assert schedule.poll == 0.25
    assert schedule.limit("image").timeout == 42.0
    assert schedule.limit("stop").timeout == 77.0
    assert schedule.limit("copy").timeout == DEFAULT_TIMEOUTS["copy"]


def test_back_off_from_a_quarter_poll_then_a_timeout_naming_the_wait() -> None:
    clock = FakeClock()
    with pytest.raises(WaitTimeout) as caught:
        wait_for(never, what="the thing", schedule=WaitSchedule(poll=8.0, timeout=20.0),
                 clock=clock)
    assert clock.pauses == [2.0, 4.0, 8.0, 6.0]  # back-off, then cut to the limit
    assert "timed out after 20s waiting for the thing" in str(caught.value)


def test_a_state_change_is_checked_once_per_poll_from_one_poll_in() -> None:
    clock = FakeClock()
    schedule = WaitSchedule(poll=5.0, timeout=100.0).state_change()
    assert wait_for(after(3), what="x", schedule=schedule, clock=clock) is True
    assert clock.pauses == [5.0, 5.0, 5.0]


def test_throttling_while_down_is_retried_until_the_limit_only() -> None:
    clock = FakeClock()
    answers = [aws_error("RequestLimitExceeded", "DescribeInstances")] * 3

    def check() -> bool | None:
        if answers:
            raise answers.pop()
        return True

    down = WaitSchedule(poll=1.0, timeout=60.0).while_down()
    assert wait_for(check, what="x", schedule=down, clock=clock) is True
    assert len(clock.pauses) == 3
    with pytest.raises(Exception) as caught:  # not down: throttling is an error at once
        answers[:] = [aws_error("RequestLimitExceeded", "DescribeInstances")]
        wait_for(check, what="x", schedule=WaitSchedule(poll=1.0, timeout=60.0), clock=clock)
    assert "RequestLimitExceeded" in str(caught.value)


def test_a_cancelled_wait_stops_at_its_next_pause() -> None:
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(WaitCancelled):
        wait_for(never, what="x", schedule=WaitSchedule(poll=1.0, timeout=10.0),
                 cancel=cancel, clock=FakeClock())


def test_the_keywords_of_older_callers_build_the_same_schedule() -> None:
    """guard.py, the launch and the plugins pass ``timeout=``/``poll=``/flags."""
    by_keywords, by_value = FakeClock(), FakeClock()
    with pytest.raises(WaitTimeout):
        wait_for(never, what="x", timeout=9.0, poll=2.0, steady=True, first_check_after=1.0,
                 clock=by_keywords)
    with pytest.raises(WaitTimeout):
        wait_for(never, what="x", clock=by_value,
                 schedule=WaitSchedule(poll=2.0, timeout=9.0, steady=True, first_check_after=1.0))
    assert by_keywords.pauses == by_value.pauses == [1.0, 2.0, 2.0, 2.0, 2.0]
    with pytest.raises(TypeError):
        wait_for(never, what="x", poll=1.0)
