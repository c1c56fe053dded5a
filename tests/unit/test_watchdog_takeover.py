"""Unit layer: what the ``--stop`` watchdog does once its owner is gone, through the
restart routine it shares with the guard: an instance up or gone is left alone, a
stopped one is started (after the snapshots of an image EC2 shows by the save's name),
and the journal says what happened. EC2 is a Stubber-backed client, time a fake clock,
the journal a real file."""

from __future__ import annotations

import argparse

import pytest
from restart_fakes import (
    IMAGE,
    IMAGE_NAME,
    INSTANCE,
    REGION,
    SAVE_ID,
    TIMINGS,
    Cloud,
    FakeClock,
    save_state,
    source_image,
)

from prism_core.save.journal import Journal
from prism_core.save.owner import Owner, OwnerWatch
from prism_core.save.watchdog import Watchdog


@pytest.fixture
def cloud():
    cloud = Cloud()
    yield cloud
    cloud.done()


def _watchdog(tmp_path, cloud: Cloud, **state) -> Watchdog:
    journal = Journal(tmp_path, save_state(**state))
    journal.write()
    args = argparse.Namespace(
        journal=str(journal.path), save_id=SAVE_ID, instance_id=INSTANCE, region=REGION,
        image_name=IMAGE_NAME, poll=TIMINGS.poll, stop_timeout=TIMINGS.stop,
        start_timeout=TIMINGS.start, snapshots_timeout=TIMINGS.snapshots, profile=None,
    )
    owner = OwnerWatch(Owner(pid=1, started=None), 60.0, lambda pid: None, lambda: 0.0)
    return Watchdog(args, owner, ec2=cloud.ec2, clock=FakeClock())


def _journal(watchdog: Watchdog):
    return Journal.load(watchdog.path).state


@pytest.mark.parametrize("now", ["running", "pending"])
def test_an_instance_up_twice_in_a_row_is_left_alone(tmp_path, cloud, now) -> None:
    cloud.state(now)
    cloud.state("running")  # looked at once more: a stop sent just before may land late
    watchdog = _watchdog(tmp_path, cloud)
    watchdog.take_over("exited")
    state = _journal(watchdog)
    assert state.summary == [] and state.failures == [] and state.status == "running"


@pytest.mark.parametrize("now", ["terminated", None])
def test_an_instance_gone_is_journaled_and_left_at_once(tmp_path, cloud, now) -> None:
    cloud.state(now)
    watchdog = _watchdog(tmp_path, cloud)
    watchdog.take_over("exited")
    state = _journal(watchdog)
    gone = "no longer exists" if now is None else "is terminated"
    assert state.summary == [
        f"instance {INSTANCE} {gone}: its watchdog had nothing to restart when prism went"
    ]
    assert state.status == "interrupted"


def test_a_stopped_instance_is_started_after_the_snapshots_of_the_image_ec2_shows(
    tmp_path, cloud
) -> None:
    cloud.state("stopped")
    cloud.named(IMAGE_NAME, save_id=SAVE_ID)
    cloud.image([None])
    cloud.image(["snap-1"])
    cloud.started()
    cloud.state("running")
    watchdog = _watchdog(tmp_path, cloud, images={REGION: source_image()})
    watchdog.take_over("exited")
    state = _journal(watchdog)
    assert state.instance_restarted and state.downtime_ended is not None
    assert state.images[REGION].snapshot_ids == ["snap-1"]
    assert state.status == "interrupted" and state.failures == []
    assert state.summary[0].startswith(
        f"prism exited while instance {INSTANCE} was stopped; its watchdog started it again"
    )


def test_an_image_id_lost_with_its_response_is_found_by_name(tmp_path, cloud) -> None:
    cloud.state("stopped")
    cloud.named(IMAGE_NAME, save_id=SAVE_ID)
    cloud.image(["snap-1"])
    cloud.started()
    cloud.state("running")
    watchdog = _watchdog(tmp_path, cloud, images={REGION: source_image(image_id=None)})
    watchdog.take_over("exited")
    image = _journal(watchdog).images[REGION]
    assert image.image_id == IMAGE and image.state == "pending"


def test_an_image_id_ec2_does_not_show_by_name_keeps_nothing_down(tmp_path, cloud) -> None:
    """A journal naming an image EC2 does not show under the save's name (forged, or not
    listed yet) is looked for ten polls at most (bounded by 30 s), then the start."""
    cloud.state("stopped")
    for _ in range(16):  # at 0, then every 2 s up to 30 s
        cloud.no_image_named(IMAGE_NAME)
    cloud.started()
    cloud.state("running")
    watchdog = _watchdog(tmp_path, cloud, images={REGION: source_image("ami-0fffffffffffffff0")})
    watchdog.take_over("exited")
    state = _journal(watchdog)
    assert "its watchdog started it again" in state.summary[0]
    assert state.images[REGION].image_id == "ami-0fffffffffffffff0"  # kept as it was


def test_an_instance_stopped_before_the_image_is_started_and_stopped_again_by_resume(
    tmp_path, cloud
) -> None:
    cloud.state("stopped")
    cloud.no_image_named(IMAGE_NAME)
    cloud.started()
    cloud.state("running")
    watchdog = _watchdog(tmp_path, cloud)
    watchdog.take_over("exited")
    state = _journal(watchdog)
    assert not state.stopped_by_prism and not state.instance_restarted
    assert "(before the image was requested: the save stops it once more)" in state.summary[0]


def test_a_stopping_instance_is_waited_for_then_started(tmp_path, cloud) -> None:
    cloud.state("stopping")
    cloud.state("stopping")
    cloud.state("stopped")
    cloud.no_image_named(IMAGE_NAME)
    cloud.started()
    cloud.state("running")
    watchdog = _watchdog(tmp_path, cloud)
    watchdog.take_over("exited")
    assert _journal(watchdog).downtime_started is None  # started before the image


def test_a_start_refused_is_journaled_for_resume(tmp_path, cloud) -> None:
    cloud.state("stopped")
    cloud.named(IMAGE_NAME, save_id=SAVE_ID)
    cloud.image(["snap-1"])
    cloud.start_refused("UnauthorizedOperation", "not allowed to start")
    watchdog = _watchdog(tmp_path, cloud, images={REGION: source_image()})
    watchdog.take_over("exited")
    state = _journal(watchdog)
    assert state.failures == [
        f"the watchdog could not start instance {INSTANCE} after prism exited: "
        "UnauthorizedOperation: not allowed to start; start it from the console or run "
        "`prism save --resume`"
    ]
    assert not state.instance_restarted and state.status == "interrupted"


def test_an_instance_terminated_before_the_start_is_journaled_as_gone(tmp_path, cloud) -> None:
    cloud.state("stopped")
    cloud.no_image_named(IMAGE_NAME)
    cloud.start_refused("IncorrectInstanceState")
    cloud.state("terminated")
    watchdog = _watchdog(tmp_path, cloud)
    watchdog.take_over("exited")
    assert _journal(watchdog).summary == [
        f"instance {INSTANCE} is terminated: its watchdog had nothing to restart when prism went"
    ]


def test_a_start_that_ends_stopped_again_is_journaled_so_resume_starts_it(
    tmp_path, cloud
) -> None:
    cloud.state("stopped")
    cloud.named(IMAGE_NAME, save_id=SAVE_ID)
    cloud.image(["snap-1"])
    cloud.started()
    cloud.state("stopped", reason="Insufficient capacity.")
    watchdog = _watchdog(tmp_path, cloud, images={REGION: source_image()})
    watchdog.take_over("exited")
    state = _journal(watchdog)
    assert not state.instance_restarted and state.downtime_ended is None
    assert state.failures == [
        f"the watchdog started instance {INSTANCE} but it did not come up: instance "
        f"{INSTANCE} is stopped after the restart request (Insufficient capacity.); start it "
        "from the console or run `prism save --resume`"
    ]


def test_a_throttled_start_is_retried_until_accepted(tmp_path, cloud) -> None:
    cloud.state("stopped")
    cloud.no_image_named(IMAGE_NAME)
    cloud.throttled("start_instances", times=4)
    cloud.started()
    cloud.state("running")
    watchdog = _watchdog(tmp_path, cloud)
    watchdog.take_over("exited")
    assert _journal(watchdog).failures == []
