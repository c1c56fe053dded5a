"""Unit layer: waits scheduled from an expected completion (the snapshots' progress), the
progress estimate's handling of what EC2 answers, and the entry-point cache that also
holds the required plugins (no second scan)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import boto3
import pytest
from botocore.stub import Stubber

from prism_core.aws.estimate import completion_estimate, snapshots_time_left
from prism_core.aws.waiting import _towards


def _towards_due(due: float | None, elapsed: float, pause: float = 1.0) -> float:
    return _towards(pause, 1.0, elapsed, (lambda: due))


def test_polls_land_on_the_expected_end_then_come_densely_for_one_poll() -> None:
    assert _towards_due(None, 3.0) == 1.0  # unknown: the plain schedule
    assert _towards_due(10.0, 2.0) == 1.0  # far before: one poll
    assert _towards_due(10.0, 9.6) == pytest.approx(0.4)  # lands on the expected end
    assert _towards_due(10.0, 9.95) == 0.25  # never a burst of checks right before it
    assert _towards_due(10.0, 8.9) == pytest.approx(1.1)  # stretched to land on it
    assert _towards_due(10.0, 10.1) == 0.25  # a quarter poll for one poll after it
    assert _towards_due(10.0, 11.2) == 1.0  # then the plain schedule again
    assert _towards(0.5, 1.0, 10.1, lambda: 10.0) == 0.25
    assert _towards(0.1, 1.0, 10.1, lambda: 10.0) == 0.1  # never slower than asked


def _ec2() -> tuple[object, Stubber]:
    client = boto3.client(
        "ec2", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y"
    )
    return client, Stubber(client)


def _snapshot(sid: str, state: str, progress: object, start: datetime | None = None) -> dict:
    return {
        "SnapshotId": sid,
        "State": state,
        "Progress": progress,
        "StartTime": start or datetime.now(UTC),
    }


def test_time_left_is_extrapolated_from_the_slowest_snapshot() -> None:
    client, stub = _ec2()
    stub.add_response(
        "describe_snapshots",
        {
            "Snapshots": [
                _snapshot("snap-1", "pending", "25%"),
                _snapshot("snap-2", "pending", "50%"),
                _snapshot("snap-3", "completed", "100%"),
            ]
        },
        {"SnapshotIds": ["snap-1", "snap-2", "snap-3"]},
    )
    with stub:
        left = snapshots_time_left(client, ["snap-1", "snap-2", "snap-3"], time.time() - 10, 3600)
    assert left is not None and 29.0 <= left <= 32.0  # 10 s for 25 %: 30 s to go


@pytest.mark.parametrize(
    "snapshot",
    [
        _snapshot("snap-1", "pending", "0%"),
        _snapshot("snap-1", "pending", "100%"),
        _snapshot("snap-1", "pending", "abc"),
        _snapshot("snap-1", "pending", "-5%"),
        _snapshot("snap-1", "error", "40%"),
        _snapshot("snap-1", "pending", "40%", datetime(2999, 1, 1, tzinfo=UTC)),
    ],
    ids=["no-progress", "done-but-pending", "garbage", "negative", "error", "future-start"],
)
def test_an_answer_that_tells_nothing_gives_no_estimate(snapshot: dict) -> None:
    client, stub = _ec2()
    stub.add_response("describe_snapshots", {"Snapshots": [snapshot]})
    with stub:
        assert snapshots_time_left(client, ["snap-1"], None, 3600) is None


def test_an_estimate_is_bounded_and_a_refusal_is_unknown() -> None:
    client, stub = _ec2()
    stub.add_response("describe_snapshots", {"Snapshots": [_snapshot("snap-1", "pending", "1%")]})
    stub.add_client_error("describe_snapshots", "UnauthorizedOperation")
    with stub:
        assert snapshots_time_left(client, ["snap-1"], time.time() - 3600, 600) == 600
        assert snapshots_time_left(client, ["snap-1"], None, 600) is None
    # nothing to ask about, or more than one page: no call at all (the stub has none left)
    assert snapshots_time_left(client, [], None, 600) is None
    assert snapshots_time_left(client, [f"snap-{i}" for i in range(101)], None, 600) is None


def test_the_estimate_is_read_once_then_refined_near_the_end() -> None:
    client, stub = _ec2()
    for progress in ("10%", "90%"):
        stub.add_response(
            "describe_snapshots", {"Snapshots": [_snapshot("snap-1", "pending", progress)]}
        )
    with stub:
        not_yet, expected_at = completion_estimate(
            client, "ami-1", lambda: ["snap-1"], poll=1000.0, longest=10**6
        )
        assert expected_at() is None
        not_yet()  # first read
        first = expected_at()
        assert first is not None
        not_yet()  # within two polls of the (distant) end with a huge poll: refined once
        not_yet()  # and not again until the end has passed by a poll
        stub.assert_no_pending_responses()
    assert expected_at() is not None and expected_at() != first


def test_required_plugins_come_from_the_entry_point_cache(tmp_path, monkeypatch) -> None:
    from prism_core import entry_point_scan, plugin_manager

    scans: list[object] = []
    real = entry_point_scan.entry_points

    def counting(groups):  # type: ignore[no-untyped-def]
        scans.append(groups)
        return real(groups)

    monkeypatch.setattr(entry_point_scan, "entry_points", counting)
    first = plugin_manager.cached_scan(tmp_path)
    assert scans  # the first run scans
    scans.clear()
    manager = plugin_manager.PrismPluginManager(disabled=set()).load(cache_dir=tmp_path)
    assert scans == []  # plugins and required plugins both from the cache
    assert first.required == manager.required
    assert plugin_manager.cached_scan(tmp_path).required == first.required
    assert scans == []


def test_a_slow_answer_does_not_make_the_estimate_early() -> None:
    """The time left counts from when DescribeSnapshots answered: 50 % after 10 s, said
    by an answer that took 0.5 s, is 10.5 s more from the answer (not from the ask)."""
    client, stub = _ec2()
    stub.add_response("describe_snapshots", {"Snapshots": [_snapshot("snap-1", "pending", "50%")]})

    def slow(**_: object) -> None:
        time.sleep(0.5)

    client.meta.events.register("before-parameter-build.ec2.DescribeSnapshots", slow)
    requested = time.time() - 10  # the save asked for the image 10 s ago
    began = time.monotonic()
    with stub:
        not_yet, expected_at = completion_estimate(
            client, "ami-slow", lambda: ["snap-1"], poll=1.0, longest=3600, since=requested
        )
        not_yet()
        answered = time.monotonic()
    due = expected_at()
    assert due is not None
    # done at twice the time the answer found it half done: 10.5 s after the answer
    assert began + due >= answered + 10.4, (began + due) - answered


def test_the_sandbox_reports_pending_snapshots_progress(prism_sandbox) -> None:
    from prism_sandbox import Timings

    instance_id = prism_sandbox.create_instance("box")
    prism_sandbox.timings = Timings(snapshot=0.05, image=30.0)
    ec2 = boto3.client("ec2", region_name="us-east-1")
    image_id = ec2.create_image(InstanceId=instance_id, Name="progress-check", NoReboot=True)[
        "ImageId"
    ]
    ids: list[str] = []
    for _ in range(200):  # the snapshot ids are listed after Timings.snapshot
        image = ec2.describe_images(ImageIds=[image_id])["Images"][0]
        ids = [m["Ebs"].get("SnapshotId", "") for m in image["BlockDeviceMappings"] if "Ebs" in m]
        if ids and all(ids):
            break
        time.sleep(0.01)
    snapshots = ec2.describe_snapshots(SnapshotIds=ids)["Snapshots"]
    assert snapshots and all(s["State"] == "pending" for s in snapshots)
    for snapshot in snapshots:
        assert snapshot["Progress"].endswith("%")
        assert 0 <= int(snapshot["Progress"].rstrip("%")) <= 99
