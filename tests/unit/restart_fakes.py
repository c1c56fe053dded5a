"""What the restart's unit tests share: a real EC2 client behind a botocore Stubber
(the requests are checked against EC2's model, nothing reaches a network) and a clock
whose pauses only move its time forward, so a wait of minutes runs in microseconds."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.stub import Stubber
from pipeline_fakes import FakeClock  # noqa: F401  (the unit tests share one fake clock)

from prism_core.save.restart import RestartTimings

INSTANCE = "i-0123456789abcdef0"
IMAGE = "ami-0123456789abcdef0"
REGION = "us-east-1"
#: Polls every 2 s; a stop may take 60 s, a start 90 s, the snapshots 120 s.
TIMINGS = RestartTimings(poll=2.0, stop=60.0, start=90.0, snapshots=120.0)

_clients: list[Any] = []


def _client() -> Any:
    """One EC2 client per test process (building one takes a tenth of a second); each
    test stubs it anew."""
    if not _clients:
        session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
        )
        _clients.append(session.client("ec2", region_name=REGION))
    return _clients[0]


class Cloud:
    """A stubbed EC2 client and the answers it gives, in order."""

    def __init__(self) -> None:
        self.ec2: Any = _client()
        self.stub = Stubber(self.ec2)
        self.stub.activate()

    # ------------------------------------------------------------- instance
    def state(self, name: str | None, reason: str | None = None, ip: str | None = None) -> None:
        """DescribeInstances of the instance answers ``name`` (``None``: not found)."""
        if name is None:
            self.error("describe_instances", "InvalidInstanceID.NotFound")
            return
        record: dict[str, Any] = {"InstanceId": INSTANCE, "State": {"Name": name, "Code": 0}}
        if reason:
            record["StateReason"] = {"Code": "Server.InsufficientInstanceCapacity",
                                     "Message": reason}
        if ip:
            record["PublicIpAddress"] = ip
        self.stub.add_response(
            "describe_instances",
            {"Reservations": [{"Instances": [record]}]},
            {"InstanceIds": [INSTANCE]},
        )

    def started(self) -> None:
        """StartInstances is accepted."""
        self.stub.add_response(
            "start_instances",
            {"StartingInstances": [{"InstanceId": INSTANCE,
                                    "CurrentState": {"Name": "pending", "Code": 0},
                                    "PreviousState": {"Name": "stopped", "Code": 80}}]},
            {"InstanceIds": [INSTANCE]},
        )

    def start_refused(self, code: str, message: str = "refused") -> None:
        self.error("start_instances", code, message)

    def throttled(self, operation: str, times: int = 1) -> None:
        for _ in range(times):
            self.error(operation, "RequestLimitExceeded", "Request limit exceeded.", 503)

    def error(self, operation: str, code: str, message: str = "no", status: int = 400) -> None:
        params: dict[str, Any] = {"InstanceIds": [INSTANCE]}
        if operation == "describe_images":
            params = {"ImageIds": [IMAGE], "IncludeDisabled": True}
        self.stub.add_client_error(
            operation, service_error_code=code, service_message=message,
            http_status_code=status, expected_params=params,
        )

    # ------------------------------------------------------------- images
    def image(self, snapshots: list[str | None], state: str = "pending") -> None:
        """DescribeImages of the image: one EBS mapping per snapshot (``None``: not listed)."""
        mappings = [
            {"DeviceName": f"/dev/sd{chr(97 + i)}", "Ebs": {"SnapshotId": s} if s else {}}
            for i, s in enumerate(snapshots)
        ]
        self.stub.add_response(
            "describe_images",
            {"Images": [{"ImageId": IMAGE, "State": state, "BlockDeviceMappings": mappings}]},
            {"ImageIds": [IMAGE], "IncludeDisabled": True},
        )

    def named(self, name: str, save_id: str | None = None, image_id: str = IMAGE) -> None:
        """DescribeImages by name answers one image (tagged with ``save_id``), or none."""
        images = []
        if save_id != "":
            tags = [{"Key": "prism:save-id", "Value": save_id}] if save_id else []
            images = [{"ImageId": image_id, "Name": name, "State": "pending", "Tags": tags}]
        self.stub.add_response(
            "describe_images",
            {"Images": images},
            {"Owners": ["self"], "Filters": [{"Name": "name", "Values": [name]}]},
        )

    def no_image_named(self, name: str) -> None:
        self.named(name, save_id="")

    def calls_left(self) -> int:
        return len(self.stub._queue)

    def done(self) -> None:
        """Every answer was asked for; the client is free for the next test."""
        try:
            self.stub.assert_no_pending_responses()
        finally:
            self.stub.deactivate()


# --------------------------------------------------------------------- a save in a journal
SAVE_ID = "env-20260101T000000Z-abc123"
IMAGE_NAME = "prism-env-v1-20260101T000000Z"


def save_state(**changes: Any) -> Any:
    """A ``--stop`` save's state as prism journals it (prism stopped the instance)."""
    from prism_core.save.request import SaveRequest
    from prism_core.save.state import SaveState

    request = SaveRequest(
        instance_id=INSTANCE, instance_name="box", template_name="env", region=REGION,
        image_mode="stop",
    )
    state = SaveState(
        save_id=SAVE_ID,
        request=request.to_dict(),
        started_at="2026-01-01T00:00:00Z",
        image_name=IMAGE_NAME,
        instance_original_state="running",
        stopped_by_prism=True,
        downtime_started=1.0,
    )
    for key, value in changes.items():
        setattr(state, key, value)
    return state


def source_image(image_id: str | None = IMAGE, snapshots: list[str] | None = None) -> Any:
    from prism_core.save.state import PENDING, REQUESTED, RegionImage

    return RegionImage(
        region=REGION,
        image_id=image_id,
        state=PENDING if image_id else REQUESTED,
        snapshot_ids=list(snapshots or []),
    )
