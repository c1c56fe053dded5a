"""Unit layer: the one restart routine of ``--stop`` (:mod:`prism_core.save.restart`),
which the guard and the watchdog share: the snapshots first (bounded), the start
(throttling retried, a stopping instance waited for, one up or gone left alone), the
confirmation, and an image found again by its name. EC2 is a Stubber-backed client,
time a fake clock."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from restart_fakes import IMAGE, INSTANCE, REGION, TIMINGS, Cloud, FakeClock

from prism_core.exceptions import WaitTimeout
from prism_core.save.restart import (
    InstanceGone,
    Restart,
    StartFailed,
    image_named,
    recover_image_id,
)


@pytest.fixture
def cloud():
    cloud = Cloud()
    yield cloud
    cloud.done()


def _restart(cloud: Cloud, clock: FakeClock | None = None, lines: list | None = None) -> Restart:
    def notify(kind: str, text: str) -> None:
        if lines is not None:
            lines.append((kind, text))

    return Restart(cloud.ec2, INSTANCE, REGION, TIMINGS, clock=clock or FakeClock(),
                   notify=notify)


# ------------------------------------------------------------------------ the start
def test_a_stopped_instance_is_started_without_describing_it_first(cloud) -> None:
    cloud.started()
    done = _restart(cloud).bring_back()
    assert done.state == "pending" and not done.gone and done.snapshot_ids is None


def test_a_throttled_start_is_retried_with_back_off_until_accepted(cloud) -> None:
    cloud.throttled("start_instances", times=5)
    cloud.started()
    clock = FakeClock()
    assert _restart(cloud, clock).start() == "pending"
    assert clock.pauses == [2.0, 4.0, 8.0, 8.0, 8.0]  # the poll doubling, at most 4 polls


def test_a_start_throttled_past_the_start_timeout_raises_the_throttling(cloud) -> None:
    cloud.throttled("start_instances", times=14)  # pauses 2, 4, then 8 up to 86 s, then 4
    clock = FakeClock()
    with pytest.raises(ClientError, match="RequestLimitExceeded"):
        _restart(cloud, clock).start()
    assert sum(clock.pauses) == pytest.approx(TIMINGS.start)


@pytest.mark.parametrize("code", ["UnauthorizedOperation", "InsufficientInstanceCapacity"])
def test_a_start_refused_for_another_reason_raises_at_once(cloud, code) -> None:
    cloud.start_refused(code, "no")
    clock = FakeClock()
    with pytest.raises(ClientError, match=code):
        _restart(cloud, clock).start()
    assert clock.pauses == []


def test_a_start_refused_while_stopping_is_sent_again_once_stopped(cloud) -> None:
    cloud.start_refused("IncorrectInstanceState", "still stopping")
    cloud.state("stopping")
    cloud.throttled("describe_instances")  # a throttled look is "not yet"
    cloud.state("stopping")
    cloud.state("stopped")
    cloud.started()
    assert _restart(cloud).start() == "pending"


@pytest.mark.parametrize("now", ["running", "pending"])
def test_an_instance_already_up_is_not_started_again(cloud, now) -> None:
    cloud.start_refused("IncorrectInstanceState")
    cloud.state(now)
    done = _restart(cloud).bring_back()
    assert done.state == now and not done.gone


@pytest.mark.parametrize("now", ["terminated", "shutting-down"])
def test_an_instance_terminated_meanwhile_is_left_alone(cloud, now) -> None:
    cloud.start_refused("IncorrectInstanceState")
    cloud.state(now)
    done = _restart(cloud).bring_back()
    assert done.state == now and done.gone


def test_an_instance_ec2_no_longer_knows_is_gone(cloud) -> None:
    cloud.start_refused("InvalidInstanceID.NotFound")
    assert _restart(cloud).bring_back().gone


def test_an_instance_stopping_past_the_stop_timeout_is_started_anyway_and_ec2_says_why(
    cloud,
) -> None:
    cloud.start_refused("IncorrectInstanceState", "first")
    for _ in range(33):  # at 0, 0.5, 1.5, then every 2 s, and at 60 s
        cloud.state("stopping")
    cloud.start_refused("IncorrectInstanceState", "still stopping after a minute")
    clock = FakeClock()
    with pytest.raises(ClientError, match="still stopping after a minute"):
        _restart(cloud, clock).start()
    assert sum(clock.pauses) == pytest.approx(TIMINGS.stop)


# ------------------------------------------------------------------------ the snapshots
def test_the_snapshots_still_pending_are_waited_for_before_the_start(cloud) -> None:
    cloud.image([None])
    cloud.image(["snap-1", None])
    cloud.throttled("describe_images")
    cloud.image(["snap-1", "snap-2"])
    cloud.started()
    lines: list = []
    done = _restart(cloud, lines=lines).bring_back(IMAGE)
    assert done.snapshot_ids == ["snap-1", "snap-2"] and done.state == "pending"
    assert lines == [
        ("wait", f"Letting EC2 list the snapshots of {IMAGE} first..."),
        ("start", f"Restarting instance {INSTANCE}..."),
    ]


def test_a_failed_image_lists_no_snapshots_and_the_start_follows(cloud) -> None:
    cloud.image([None], state="failed")
    cloud.started()
    assert _restart(cloud).bring_back(IMAGE).snapshot_ids == []


def test_snapshots_not_listed_in_time_delay_the_start_no_more(cloud) -> None:
    for _ in range(63):  # at 0, 0.5, 1.5, then every 2 s, and at 120 s
        cloud.image([None])
    cloud.started()
    clock, lines = FakeClock(), []
    done = _restart(cloud, clock, lines).bring_back(IMAGE)
    assert done.state == "pending" and done.snapshot_ids is None
    assert sum(clock.pauses) == pytest.approx(TIMINGS.snapshots)
    assert lines[-2][0] == "warn" and lines[-2][1].startswith("Restarting anyway: timed out")


def test_an_error_reading_the_image_delays_the_start_no_more(cloud) -> None:
    cloud.error("describe_images", "UnauthorizedOperation", "not allowed")
    cloud.started()
    lines: list = []
    assert _restart(cloud, lines=lines).bring_back(IMAGE).state == "pending"
    assert lines[-2] == ("warn", "Restarting anyway: UnauthorizedOperation: not allowed")


# ------------------------------------------------------------------------ the confirmation
def test_the_confirmation_waits_for_running_and_gives_the_new_address(cloud) -> None:
    cloud.state("pending")
    cloud.throttled("describe_instances")
    cloud.state("running", ip="203.0.113.9")
    clock = FakeClock()
    info = _restart(cloud, clock).confirm_running(first_check_after=30.0)
    assert info.state == "running" and info.public_ip == "203.0.113.9"
    assert clock.pauses[0] == 30.0  # no look before the expected end of the start


def test_an_instance_back_to_stopped_is_a_failed_start_with_ec2s_reason(cloud) -> None:
    cloud.state("pending")
    cloud.state("stopped", reason="Insufficient capacity.")
    with pytest.raises(StartFailed, match=r"is stopped after the restart request \(Insuff"):
        _restart(cloud).confirm_running()


@pytest.mark.parametrize("now", ["terminated", "shutting-down", None])
def test_an_instance_gone_during_the_confirmation_is_said_so(cloud, now) -> None:
    cloud.state(now)
    with pytest.raises(InstanceGone, match=INSTANCE):
        _restart(cloud).confirm_running()


def test_an_instance_that_never_runs_times_out_after_the_start_timeout(cloud) -> None:
    for _ in range(48):  # at 0, 0.5, 1.5, then every 2 s, and at 90 s
        cloud.state("pending")
    clock = FakeClock()
    with pytest.raises(WaitTimeout):
        _restart(cloud, clock).confirm_running()
    assert sum(clock.pauses) == pytest.approx(TIMINGS.start)


def test_the_state_is_none_for_an_instance_ec2_does_not_know(cloud) -> None:
    cloud.error("describe_instances", "InvalidInstanceID.Malformed")
    assert _restart(cloud).state() is None


# ------------------------------------------------------------------------ images by name
def test_an_image_found_by_name_is_this_saves_when_tagged_so(cloud) -> None:
    cloud.named("env-1", save_id="save-a")
    found = image_named(cloud.ec2, "env-1", "save-a")
    assert found is not None and found.image_id == IMAGE and found.ours
    cloud.named("env-1", save_id="save-b")
    assert recover_image_id(cloud.ec2, "env-1", "save-a") is None  # another save's
    cloud.named("env-1", save_id=None)
    assert recover_image_id(cloud.ec2, "env-1", "save-a") == IMAGE  # untagged: not another's


def test_an_image_not_found_by_name_is_none(cloud) -> None:
    cloud.no_image_named("env-1")
    assert image_named(cloud.ec2, "env-1", "save-a") is None


def test_a_patient_search_waits_for_the_image_to_be_listed(cloud) -> None:
    cloud.no_image_named("env-1")
    cloud.no_image_named("env-1")
    cloud.named("env-1", save_id="save-a")
    clock = FakeClock()
    found = recover_image_id(cloud.ec2, "env-1", "save-a", patience=30, poll=2, clock=clock)
    assert found == IMAGE and clock.pauses == [2, 2]


def test_a_patient_search_ends_at_its_patience(cloud) -> None:
    for _ in range(6):
        cloud.no_image_named("env-1")
    clock = FakeClock()
    assert recover_image_id(cloud.ec2, "env-1", "save-a", patience=10, poll=2, clock=clock) is None
    assert sum(clock.pauses) == 10


def test_the_image_plugin_adopts_its_own_image_and_refuses_another_saves(cloud) -> None:
    """CreateImage has no idempotency token: a retried request finds the image by name."""
    from types import SimpleNamespace

    from prism_core.exceptions import OperationFailed
    from prism_plugins.ec2_image import adopt_existing

    ctx = SimpleNamespace(state=SimpleNamespace(image_name="env-1", save_id="save-a"))
    cloud.named("env-1", save_id="save-a")
    assert adopt_existing(ctx, cloud.ec2) == IMAGE
    cloud.no_image_named("env-1")
    assert adopt_existing(ctx, cloud.ec2) is None
    cloud.named("env-1", save_id="save-b")
    with pytest.raises(OperationFailed, match=f"this save did not create appeared \\({IMAGE}\\)"):
        adopt_existing(ctx, cloud.ec2)
