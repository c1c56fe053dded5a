"""Unit layer: what the guard decides when it brings the instance back (in prism's
process, on success and on any failure): nothing to do unless prism stopped it, the
snapshots of a requested image first, the start through the shared restart routine,
and what the journal and the user are told. EC2 is a Stubber-backed client, time a
fake clock, the journal a real one in a temporary folder."""

from __future__ import annotations

import io

import pytest
from restart_fakes import (
    IMAGE,
    INSTANCE,
    REGION,
    TIMINGS,
    Cloud,
    FakeClock,
    save_state,
    source_image,
)

from prism_core.aws.clients import AwsClients
from prism_core.aws.ec2 import InstanceInfo
from prism_core.cli.progress import Progress
from prism_core.save.context import SaveContext
from prism_core.save.guard import InstanceGuard
from prism_core.save.journal import Journal
from prism_core.save.request import SaveRequest
from prism_core.settings import Settings


@pytest.fixture
def cloud():
    cloud = Cloud()
    yield cloud
    cloud.done()


def _guard(tmp_path, cloud: Cloud, **state) -> tuple[InstanceGuard, SaveContext, io.StringIO]:
    settings = Settings(home=tmp_path, poll_delay=2 * TIMINGS.poll)
    settings.timeouts.update(stop=TIMINGS.stop, start=TIMINGS.start, snapshots=TIMINGS.snapshots)
    saved = save_state(**state)
    out = io.StringIO()
    ctx = SaveContext(
        request=SaveRequest.from_dict(saved.request),
        settings=settings,
        aws=AwsClients(REGION),
        progress=Progress(out, live=False),
        journal=Journal(tmp_path, saved),
        instance=InstanceInfo(
            instance_id=INSTANCE, name="box", state="stopped", region=REGION,
            instance_type="t3.micro", architecture="x86_64", root_device_type="ebs",
            root_device_name="/dev/xvda", image_id="ami-00000000", lifecycle=None,
            public_ip="198.51.100.1",
        ),
    )
    return InstanceGuard(ctx, ec2=cloud.ec2, clock=FakeClock()), ctx, out


def test_nothing_is_started_unless_prism_stopped_the_instance(tmp_path, cloud) -> None:
    guard, ctx, _ = _guard(tmp_path, cloud, stopped_by_prism=False)
    guard.restart_after_failure()
    guard, ctx, _ = _guard(tmp_path, cloud, instance_restarted=True)
    guard.restart_after_failure()
    assert ctx.state.failures == []


def test_a_reboot_never_sent_is_not_waited_for(tmp_path, cloud) -> None:
    guard, ctx, _ = _guard(tmp_path, cloud, stopped_by_prism=False, rebooted_by_ec2=True,
                           images={REGION: source_image(image_id=None)})
    guard.restart_after_failure()
    assert not ctx.state.rebooted_by_ec2 and ctx.state.downtime_started is None


def test_the_snapshots_still_pending_are_listed_then_the_instance_runs(tmp_path, cloud) -> None:
    cloud.image([None])
    cloud.image(["snap-1"])
    cloud.started()
    cloud.state("pending")
    cloud.state("running", ip="203.0.113.9")
    guard, ctx, out = _guard(tmp_path, cloud, images={REGION: source_image()})
    guard.restart_after_failure()
    state = Journal.load(ctx.journal.path).state
    assert state.instance_restarted and state.downtime_ended is not None
    assert state.failures == []
    text = out.getvalue()
    assert text.index(f"snapshots of {IMAGE}") < text.index(f"Restarting instance {INSTANCE}")
    assert "Instance restarted successfully" in text
    assert any("new public IP: 203.0.113.9 (was 198.51.100.1)" in n for n in state.summary)


def test_listed_snapshots_are_not_waited_for_again(tmp_path, cloud) -> None:
    cloud.started()
    cloud.state("running", ip="198.51.100.1")
    guard, ctx, _ = _guard(tmp_path, cloud, images={REGION: source_image(snapshots=["s-1"])})
    guard.restart_after_failure()
    assert ctx.state.instance_restarted
    assert "Instance public IP unchanged: 198.51.100.1" in ctx.state.summary


def test_a_throttled_start_is_retried_until_it_is_accepted(tmp_path, cloud) -> None:
    cloud.throttled("start_instances", times=3)
    cloud.started()
    cloud.state("running")
    guard, ctx, _ = _guard(tmp_path, cloud)
    guard.restart_after_failure()
    assert ctx.state.instance_restarted and ctx.state.failures == []


def test_an_instance_still_stopping_is_started_once_stopped(tmp_path, cloud) -> None:
    cloud.start_refused("IncorrectInstanceState", "still stopping")
    cloud.state("stopping")
    cloud.state("stopped")
    cloud.started()
    cloud.state("running")
    guard, ctx, _ = _guard(tmp_path, cloud)
    guard.restart_after_failure()
    assert ctx.state.instance_restarted and ctx.state.downtime_ended is not None


def test_an_instance_already_running_is_confirmed_not_started_again(tmp_path, cloud) -> None:
    cloud.start_refused("IncorrectInstanceState")
    cloud.state("running")
    cloud.state("running")
    guard, ctx, _ = _guard(tmp_path, cloud)
    guard.restart_after_failure()
    assert ctx.state.instance_restarted and ctx.state.failures == []


def test_a_start_refused_is_recorded_and_left_to_the_watchdog(tmp_path, cloud) -> None:
    cloud.start_refused("UnauthorizedOperation", "not allowed to start")
    guard, ctx, out = _guard(tmp_path, cloud)
    guard.restart_after_failure()
    assert not ctx.state.instance_restarted
    assert ctx.state.failures == [
        f"could not restart instance {INSTANCE}: UnauthorizedOperation: not allowed to start; "
        "the watchdog keeps trying; or run `prism save --resume` or start it from the console"
    ]
    assert "Could not restart the instance" in out.getvalue()


def test_an_instance_terminated_meanwhile_is_reported_not_started(tmp_path, cloud) -> None:
    cloud.start_refused("IncorrectInstanceState")
    cloud.state("terminated")
    cloud.state("terminated")
    guard, ctx, _ = _guard(tmp_path, cloud)
    guard.restart_after_failure()
    assert ctx.state.failures == [
        f"instance {INSTANCE} did not come back: instance {INSTANCE} is terminated after the "
        "restart request; start it from the console or with `aws ec2 start-instances` (its "
        "watchdog tries again once prism exits)"
    ]


def test_a_start_that_ends_stopped_again_is_reported_with_ec2s_reason(tmp_path, cloud) -> None:
    cloud.started()
    cloud.state("stopped", reason="Insufficient capacity.")
    guard, ctx, _ = _guard(tmp_path, cloud)
    guard.restart()
    guard.join()
    assert len(ctx.state.failures) == 1
    assert "is stopped after the restart request (Insufficient capacity.)" in (
        ctx.state.failures[0]
    )
    assert ctx.state.downtime_ended is None


def test_the_first_look_after_the_start_is_scheduled_from_the_stop(tmp_path, cloud) -> None:
    cloud.started()
    cloud.state("running")
    guard, ctx, _ = _guard(tmp_path, cloud)
    guard.stop_seconds = 3.0
    guard.restart()
    guard.join()
    assert guard.restarter.clock.pauses == [2.25]  # three quarters of the stop
