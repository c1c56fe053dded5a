"""EC2 operations shared by the core and the built-in plugins."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from prism_core.aws.clients import error_code
from prism_core.aws.tags import SAVE_ID_TAG, TAG_PREFIX, tags_of
from prism_core.exceptions import InputError

LIVE_STATES = ("pending", "running", "stopping", "stopped")


@dataclass
class InstanceInfo:
    """What prism needs to know about the instance being saved."""

    instance_id: str
    name: str
    state: str
    region: str
    instance_type: str
    architecture: str
    root_device_type: str
    root_device_name: str | None
    image_id: str | None
    lifecycle: str | None
    volumes: dict[str, str] = field(default_factory=dict)  # device name -> volume id
    tags: dict[str, str] = field(default_factory=dict)
    security_group_ids: list[str] = field(default_factory=list)
    spot_request_id: str | None = None
    public_ip: str | None = None

    @classmethod
    def from_api(cls, data: dict[str, Any], region: str) -> InstanceInfo:
        """Build from one ``DescribeInstances`` instance record."""
        tags = tags_of(data)
        volumes = {
            m["DeviceName"]: m["Ebs"]["VolumeId"]
            for m in data.get("BlockDeviceMappings", [])
            if "Ebs" in m and "VolumeId" in m["Ebs"]
        }
        return cls(
            instance_id=data["InstanceId"],
            name=tags.get("Name", data["InstanceId"]),
            state=instance_state(data),
            region=region,
            instance_type=data.get("InstanceType", ""),
            architecture=data.get("Architecture", "x86_64"),
            root_device_type=data.get("RootDeviceType", "ebs"),
            root_device_name=data.get("RootDeviceName"),
            image_id=data.get("ImageId"),
            lifecycle=data.get("InstanceLifecycle"),
            volumes=volumes,
            tags=tags,
            security_group_ids=[g["GroupId"] for g in data.get("SecurityGroups", [])],
            spot_request_id=data.get("SpotInstanceRequestId"),
            public_ip=data.get("PublicIpAddress"),
        )


def instance_record(ec2: Any, instance_id: str) -> dict[str, Any] | None:
    """One ``DescribeInstances`` record by id (``None`` while EC2 does not know it)."""
    try:
        reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    except Exception as exc:
        if error_code(exc) == "InvalidInstanceID.NotFound":
            return None
        raise
    for reservation in reservations:
        for data in reservation["Instances"]:
            return dict(data)
    return None


def instance_records(ec2: Any, filters: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every ``DescribeInstances`` record matching ``filters``, page after page."""
    for page in ec2.get_paginator("describe_instances").paginate(Filters=filters):
        for reservation in page.get("Reservations", []):
            yield from reservation.get("Instances", [])


def instance_state(data: dict[str, Any]) -> str:
    """The state name of a ``DescribeInstances`` record (``running``, ``stopped``, ...)."""
    return str(data["State"]["Name"])


def describe_instance(ec2: Any, instance_id: str, region: str) -> InstanceInfo:
    """Describe one instance by id; a missing one is an input error."""
    try:
        data = instance_record(ec2, instance_id)
    except Exception as exc:
        if error_code(exc) != "InvalidInstanceID.Malformed":
            raise
        data = None
    if data is None:
        raise InputError(
            f"no instance {instance_id} in {region}",
            "check the id, or pass --region for the region it runs in",
        )
    return InstanceInfo.from_api(data, region)


#: An EC2 instance id: ``i-`` and 8 or 17 lower-case hex digits. Anything else, however
#: it starts (``i-love-data``), is a ``Name``.
INSTANCE_ID = re.compile(r"i-(?:[0-9a-f]{8}|[0-9a-f]{17})")


def is_instance_id(ref: str) -> bool:
    """Whether ``ref`` is an instance id rather than a ``Name`` tag value."""
    return INSTANCE_ID.fullmatch(ref) is not None


def find_instance(ec2: Any, ref: str, region: str) -> InstanceInfo:
    """Resolve INSTANCE (a ``Name`` tag value or an instance id) to one live instance."""
    if is_instance_id(ref):
        info = describe_instance(ec2, ref, region)
        if info.state not in LIVE_STATES:
            raise InputError(
                f"instance {ref} is {info.state}", "only a running or stopped instance can be saved"
            )
        return info
    matches: list[InstanceInfo] = []
    gone: list[InstanceInfo] = []
    for data in instance_records(ec2, [{"Name": "tag:Name", "Values": [ref]}]):
        info = InstanceInfo.from_api(data, region)
        (matches if info.state in LIVE_STATES else gone).append(info)
    if not matches:
        if gone:
            raise InputError(
                f"instance {ref!r} in {region} is {gone[0].state}",
                "only a running or stopped instance can be saved",
            )
        raise InputError(
            f"no instance named {ref!r} in {region}",
            "run `prism list`, or pass the instance id or --region",
        )
    if len(matches) > 1:
        listing = ", ".join(f"{m.instance_id} ({m.state})" for m in matches)
        raise InputError(
            f"{len(matches)} instances are named {ref!r} in {region}: {listing}",
            "pass the instance id instead of the name",
        )
    return matches[0]


def image_snapshot_ids(image: dict[str, Any]) -> list[str] | None:
    """Snapshot ids of every EBS mapping, or ``None`` while any is not listed yet."""
    snapshots: list[str] = []
    for mapping in image.get("BlockDeviceMappings", []):
        ebs = mapping.get("Ebs")
        if ebs is None:
            continue
        snapshot_id = ebs.get("SnapshotId")
        if not snapshot_id:
            return None
        snapshots.append(snapshot_id)
    return snapshots or None


def describe_image(ec2: Any, image_id: str) -> dict[str, Any] | None:
    """The image record, or ``None`` while EC2 does not show it yet (eventual consistency)."""
    try:
        # a disabled image (lifecycle policies) is still ours to find and remove
        images = ec2.describe_images(ImageIds=[image_id], IncludeDisabled=True)["Images"]
    except Exception as exc:
        if error_code(exc) == "InvalidAMIID.NotFound":
            return None
        raise
    return images[0] if images else None


def settled_image(ec2: Any, image_id: str) -> dict[str, Any] | None:
    """The image record once EC2 has finished with it (``available`` or ``failed``);
    ``None`` while it is pending or not shown yet."""
    data = describe_image(ec2, image_id)
    if data is None or data.get("State") not in ("available", "failed"):
        return None
    return data


def listed_snapshots(ec2: Any, image_id: str) -> list[str] | None:
    """The snapshot ids of ``image_id`` once EC2 lists every one; ``[]`` for a failed
    image (there will be none); ``None`` while the image or a snapshot is not shown yet."""
    data = describe_image(ec2, image_id)
    if data is None:
        return None
    if data.get("State") == "failed":
        return []
    return image_snapshot_ids(data)


def find_image_by_name(ec2: Any, name: str) -> dict[str, Any] | None:
    """An image this account owns with exactly ``name``, if any."""
    images = ec2.describe_images(Owners=["self"], Filters=[{"Name": "name", "Values": [name]}])
    live = [i for i in images["Images"] if i.get("State") not in ("deregistered",)]
    return live[0] if live else None


def find_saved_image(ec2: Any, name: str, save_id: str) -> dict[str, Any] | None:
    """The image named ``name`` if this save (tag ``prism:save-id``) created it."""
    found = find_image_by_name(ec2, name)
    if found is None:
        return None
    owner = tags_of(found).get(SAVE_ID_TAG)
    return found if owner in (None, save_id) else None


def state_reason(image: dict[str, Any]) -> str:
    """A readable ``StateReason`` of a failed image."""
    reason = image.get("StateReason") or {}
    code, message = reason.get("Code", ""), reason.get("Message", "")
    text = f"{code}: {message}".strip(": ")
    return text or "EC2 gave no reason; check the instance's volumes and the AWS Health dashboard"


def share_image(ec2: Any, image_id: str, *, public: bool, share_with: list[str]) -> None:
    """Add launch permissions: ``Group=all`` and accounts, organizations, OUs."""
    add: list[dict[str, str]] = []
    if public:
        add.append({"Group": "all"})
    for target in share_with:
        if target.isdigit():
            add.append({"UserId": target})
        elif ":organization/" in target:
            add.append({"OrganizationArn": target})
        else:
            add.append({"OrganizationalUnitArn": target})
    if add:
        ec2.modify_image_attribute(
            ImageId=image_id, Attribute="launchPermission", LaunchPermission={"Add": add}
        )


def image_sharing(ec2: Any, image_id: str) -> dict[str, Any]:
    """Who may launch ``image_id`` (DescribeImageAttribute ``launchPermission``):
    ``{"public": bool, "accounts": [...], "organizations": [...], "ous": [...]}``."""
    answer = ec2.describe_image_attribute(ImageId=image_id, Attribute="launchPermission")
    found: dict[str, Any] = {"public": False, "accounts": [], "organizations": [], "ous": []}
    for permission in answer.get("LaunchPermissions") or []:
        if permission.get("Group") == "all":
            found["public"] = True
        for key, kind in (
            ("UserId", "accounts"),
            ("OrganizationArn", "organizations"),
            ("OrganizationalUnitArn", "ous"),
        ):
            if permission.get(key):
                found[kind].append(str(permission[key]))
    return {k: sorted(v) if isinstance(v, list) else v for k, v in found.items()}


def made_by_save(image: dict[str, Any] | None, save_id: str, image_name: str) -> bool:
    """Whether the cloud shows that save ``save_id`` created ``image``.

    Its ``prism:save-id`` tag names the save; or, for a copy not tagged yet (tags are
    added once it is available), it has no prism tags and carries the save's unique
    image name.
    """
    if image is None:
        return False
    tags = tags_of(image)
    if SAVE_ID_TAG in tags:
        return tags[SAVE_ID_TAG] == save_id
    return not any(k.startswith(TAG_PREFIX) for k in tags) and image.get("Name") == image_name


def _leftover_snapshots(ec2: Any, image_id: str) -> list[str]:
    """This account's snapshots EC2 made for ``image_id`` (CreateImage or CopyImage)."""
    try:
        answer = ec2.describe_snapshots(
            OwnerIds=["self"], Filters=[{"Name": "description", "Values": [f"*{image_id}*"]}]
        )
    except Exception:
        return []
    import re

    made_for = re.compile(rf"(?:\bfor|\bDestinationAmi) {re.escape(image_id)}\b")
    return [
        str(snapshot["SnapshotId"])
        for snapshot in answer.get("Snapshots", [])
        if made_for.search(snapshot.get("Description") or "")
    ]


def _stop_fast_restores(ec2: Any, snapshot_ids: list[str]) -> None:
    """Disable fast snapshot restore (billed per snapshot, zone and hour) on snapshots
    about to be deleted, so nothing bills on: ``--fast-restore`` enabled it. A caller
    without DescribeFastSnapshotRestores goes on (EC2 disables it on deletion too)."""
    if not snapshot_ids:
        return
    from prism_core.aws.fast_restore import disable_all

    try:
        disable_all(ec2, snapshot_ids)
    except Exception as exc:
        if error_code(exc) not in ("UnauthorizedOperation", "AccessDenied"):
            raise


def discard_image(
    ec2: Any,
    image: dict[str, Any] | None,
    image_id: str,
    *,
    snapshot_timeout: float = 1800.0,
    poll: float = 2.0,
) -> list[str]:
    """Deregister an image and delete its snapshots; return the ids removed.

    A ``pending`` image is not deregistered before EC2 lists a snapshot for every EBS
    mapping (bounded by ``snapshot_timeout``): deregistering it earlier would leave
    snapshots that no image names. Snapshots EC2 made for the image but that its
    mappings no longer show ("Created by CreateImage(...) for ami-...", "Copied for
    DestinationAmi ami-...") are deleted too.
    """
    import time

    snapshot_ids = image_snapshot_ids(image or {})
    deadline = time.monotonic() + snapshot_timeout
    while image is not None and snapshot_ids is None and image.get("State") == "pending":
        if time.monotonic() >= deadline:
            from prism_core.exceptions import OperationFailed

            raise OperationFailed(
                f"image {image_id} is still pending and lists no snapshots; not deregistered, "
                "so that its snapshots are not left behind",
                "run the command again later",
            )
        time.sleep(poll)
        image = describe_image(ec2, image_id)
        snapshot_ids = image_snapshot_ids(image or {})
    removed: list[str] = []
    try:
        ec2.deregister_image(ImageId=image_id)
        removed.append(image_id)
    except Exception as exc:
        if error_code(exc) not in ("InvalidAMIID.NotFound", "InvalidAMIID.Unavailable"):
            raise
    wanted = list(dict.fromkeys([*(snapshot_ids or []), *_leftover_snapshots(ec2, image_id)]))
    _stop_fast_restores(ec2, wanted)
    for snapshot_id in wanted:
        try:
            ec2.delete_snapshot(SnapshotId=snapshot_id)
            removed.append(snapshot_id)
        except Exception as exc:
            if error_code(exc) != "InvalidSnapshot.NotFound":
                raise
    return removed
