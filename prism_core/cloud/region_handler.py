"""The engine's per-region worker: the handler of the Lambda function ``prism-engine-region``.

Step Functions' SDK integrations call their own region; CopyImage, a copy's sharing and
deprecation and the registry entries of a copy region must be called *in* that region.
The state machine therefore invokes this handler with ``{"op": ..., "region": ...}``
and it makes its clients for that region.

This module imports only the standard library and boto3 (both present in AWS Lambda's
Python runtime). The function's entry point is :mod:`prism_core.cloud.engine_function`,
which also runs the scheduled-save operations (``prepare``, ``retain``, ``notify``) of
:mod:`prism_core.cloud.scheduled` (prism's own save and retention code, bundled with
the function's package, docs/cloud.md).

Operations (each returns a JSON-able dict, raises on failure):

``start``     the source region: the image itself; another region: CopyImage (with a
              ClientToken, so a retried start never makes a second copy) -> ``image_id``
``poll``      ``state`` of the region's image (``pending``/``available``/``failed``)
``finish``    launch permissions and deprecation on the region's image
``register``  registry entries (version and current) in every region that succeeded,
              then the save lock's release (only if this save holds it)
``abort``     deregister the images and delete the snapshots this save made (proven by
              the ``prism:save-id`` tag), in the regions named
``restart``   the restart duty of a detached ``--stop`` save, one step at a time (the
              state machine repeats it while it answers ``duty: waiting``): once the
              source image's snapshots are listed (or it is available, failed or gone),
              start the instance if it is stopped and carries this save's lock tag, then
              wait until it runs
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

#: A client factory: ``(service, region) -> boto3 client``.
ClientFactory = Callable[[str, str], Any]

SAVE_ID_TAG = "prism:save-id"
LOCK_TAG = "prism:save-lock"


def _boto3_clients(service: str, region: str) -> Any:
    import boto3

    return boto3.client(service, region_name=region)


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """The Lambda entry point: run ``event["op"]`` with boto3's default clients."""
    return run(event, _boto3_clients)


def run(event: dict[str, Any], clients: ClientFactory) -> dict[str, Any]:
    """Run one operation with clients from ``clients``."""
    op = event.get("op")
    operations: dict[str, Callable[[dict[str, Any], ClientFactory], dict[str, Any]]] = {
        "start": start,
        "poll": poll,
        "finish": finish,
        "register": register,
        "abort": abort,
        "restart": restart,
    }
    if op not in operations:
        raise ValueError(f"unknown operation {op!r}")
    return operations[op](event, clients)


def _tags(save: dict[str, Any]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in save["tags"].items()]


def start(event: dict[str, Any], clients: ClientFactory) -> dict[str, Any]:
    """The region's image: the source image, or a new copy of it."""
    save, region = event["save"], event["region"]
    if region == save["source_region"]:
        return {"region": region, "image_id": save["image_id"]}
    ec2 = clients("ec2", region)
    kwargs: dict[str, Any] = {
        "Name": save["image_name"],
        "Description": save.get("image_description") or save["image_name"],
        "SourceImageId": save["image_id"],
        "SourceRegion": save["source_region"],
        "ClientToken": f"{save['save_id']}-{region}"[:64],
        "TagSpecifications": [{"ResourceType": "image", "Tags": _tags(save)}],
    }
    key = (save.get("kms_keys") or {}).get(region)
    if key:
        kwargs.update(Encrypted=True, KmsKeyId=key)
    image_id = ec2.copy_image(**kwargs)["ImageId"]
    return {"region": region, "image_id": image_id}


def poll(event: dict[str, Any], clients: ClientFactory) -> dict[str, Any]:
    """The state of the region's image (``pending`` while it is not visible yet)."""
    region, image_id = event["region"], event["image_id"]
    images = clients("ec2", region).describe_images(
        Filters=[{"Name": "image-id", "Values": [image_id]}]
    )["Images"]
    if not images:
        return {"region": region, "image_id": image_id, "state": "pending"}
    image = images[0]
    state = image.get("State", "pending")
    reason = (image.get("StateReason") or {}).get("Message", "")
    if state == "failed":
        raise RuntimeError(f"image {image_id} in {region} failed: {reason or 'no reason given'}")
    return {"region": region, "image_id": image_id, "state": state}


def finish(event: dict[str, Any], clients: ClientFactory) -> dict[str, Any]:
    """Launch permissions and deprecation of the region's image; the region's result."""
    save, region, image_id = event["save"], event["region"], event["image_id"]
    ec2 = clients("ec2", region)
    if region != save["source_region"]:
        snapshots = _snapshots(ec2, image_id)
        if snapshots:
            ec2.create_tags(Resources=snapshots, Tags=_tags(save))
    permissions = [{"UserId": a} for a in save.get("share_accounts") or []]
    permissions += [{"OrganizationArn": a} for a in save.get("share_organizations") or []]
    permissions += [{"OrganizationalUnitArn": a} for a in save.get("share_units") or []]
    if save.get("public"):
        permissions.append({"Group": "all"})
    if permissions:
        ec2.modify_image_attribute(
            ImageId=image_id, LaunchPermission={"Add": permissions}
        )
    days = save.get("deprecate_after_days")
    if days:
        when = datetime.now(UTC) + timedelta(days=int(days))
        ec2.enable_image_deprecation(ImageId=image_id, DeprecateAt=when)
    return {"region": region, "image_id": image_id, "status": "done"}


def _snapshots(ec2: Any, image_id: str) -> list[str]:
    images = ec2.describe_images(ImageIds=[image_id])["Images"]
    mappings = images[0].get("BlockDeviceMappings", []) if images else []
    return [m["Ebs"]["SnapshotId"] for m in mappings if m.get("Ebs", {}).get("SnapshotId")]


def _put(ssm: Any, name: str, value: str, description: str) -> None:
    ssm.put_parameter(
        Name=name, Value=value, Type="String", Overwrite=True,
        Tier="Intelligent-Tiering", Description=description,
    )


def _current_version(ssm: Any, name: str) -> int:
    try:
        value = ssm.get_parameter(Name=name)["Parameter"]["Value"]
        return int(json.loads(value).get("version") or 0)
    except Exception:  # none yet, or not a document of ours: ours becomes current
        return 0


def register(event: dict[str, Any], clients: ClientFactory) -> dict[str, Any]:
    """Registry entries in every region that succeeded (the document lists each of their
    images), then the save lock's release."""
    save = event["save"]
    results = [r for r in event.get("results") or [] if r.get("status") == "done"]
    document = dict(save["document"])
    arch = save.get("architecture", "x86_64")
    document["ami_config"] = dict(document.get("ami_config") or {})
    document["ami_config"]["amis"] = {r["region"]: {arch: r["image_id"]} for r in results}
    value = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    registry = save["registry"]
    written = []
    for result in results:
        ssm = clients("ssm", result["region"])
        _put(ssm, registry["version_parameter"], value, registry["version_description"])
        written.append(f"{result['region']}:{registry['version_parameter']}")
        if _current_version(ssm, registry["current_parameter"]) <= int(document["version"]):
            _put(ssm, registry["current_parameter"], value, registry["current_description"])
            written.append(f"{result['region']}:{registry['current_parameter']}")
    for result in event.get("results") or []:
        if result.get("status") != "done":  # its version claim goes (if still ours)
            try:
                _release_claim(clients("ssm", result["region"]),
                               registry["version_parameter"], save["save_id"])
            except Exception:  # noqa: BLE001 - that region's registry is unreachable too
                pass
    released = release_lock(save, clients)
    regions = event.get("results") or []
    status = "failed" if not results else "done" if len(results) == len(regions) else "partial"
    return {"status": status, "registered": written, "lock_released": released,
            "document": document}


def _release_claim(ssm: Any, name: str, save_id: str) -> bool:
    """Delete the claim at ``name`` if save ``save_id`` holds it."""
    try:
        value = json.loads(ssm.get_parameter(Name=name)["Parameter"]["Value"])
    except Exception:  # noqa: BLE001 - none there, or not a claim of ours
        return False
    holder = value.get("claim") if isinstance(value, dict) else None
    if not isinstance(holder, dict) or holder.get("save_id") != save_id:
        return False
    ssm.delete_parameter(Name=name)
    return True


def release_lock(save: dict[str, Any], clients: ClientFactory) -> bool:
    """Remove the instance's lock tag (only with this save's value) and delete the save
    lock if this save holds it."""
    if save.get("lock_tag_value") and save.get("instance_id"):
        clients("ec2", save["source_region"]).delete_tags(
            Resources=[save["instance_id"]],
            Tags=[{"Key": LOCK_TAG, "Value": save["lock_tag_value"]}],
        )
    lock = save.get("lock_parameter")
    if not lock:
        return False
    return _release_claim(clients("ssm", save["source_region"]), lock, save["save_id"])


def abort(event: dict[str, Any], clients: ClientFactory) -> dict[str, Any]:
    """Deregister this save's images and delete their snapshots in ``regions``, each
    proven ours by its ``prism:save-id`` tag; then release the lock."""
    save = event["save"]
    removed: list[str] = []
    for region in event.get("regions") or []:
        ec2 = clients("ec2", region)
        images = ec2.describe_images(
            Owners=["self"],
            Filters=[{"Name": f"tag:{SAVE_ID_TAG}", "Values": [save["save_id"]]}],
        )["Images"]
        for image in images:
            snapshots = [
                m["Ebs"]["SnapshotId"]
                for m in image.get("BlockDeviceMappings", [])
                if m.get("Ebs", {}).get("SnapshotId")
            ]
            ec2.deregister_image(ImageId=image["ImageId"])
            removed.append(f"{region}:{image['ImageId']}")
            for snapshot in snapshots:
                tags = ec2.describe_snapshots(SnapshotIds=[snapshot])["Snapshots"][0].get("Tags")
                if {"Key": SAVE_ID_TAG, "Value": save["save_id"]} in (tags or []):
                    ec2.delete_snapshot(SnapshotId=snapshot)
                    removed.append(f"{region}:{snapshot}")
    return {"removed": removed, "lock_released": release_lock(save, clients)}


def _code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


def _snapshots_pending(ec2: Any, save: dict[str, Any]) -> bool:
    """Whether the source image may still need the instance stopped: not visible yet
    (EC2's eventual consistency right after CreateImage), or pending with an EBS mapping
    whose snapshot id is not listed yet; within ``snapshots_timeout`` of the image's
    creation (of the hand-over while it is not visible), as the local guard bounds it."""
    try:
        images = ec2.describe_images(ImageIds=[save["image_id"]])["Images"]
    except Exception as exc:
        if not _code(exc).startswith("InvalidAMIID"):
            raise
        images = []
    since = save.get("requested_at")
    if images:
        image = images[0]
        if image.get("State") != "pending":
            return False  # available, failed or deregistered: nothing needs it stopped
        mappings = [m for m in image.get("BlockDeviceMappings", []) if "Ebs" in m]
        if mappings and all(m["Ebs"].get("SnapshotId") for m in mappings):
            return False
        since = image.get("CreationDate") or since
    limit = float(save.get("snapshots_timeout") or 0)
    if not limit or not since:
        return True
    when = datetime.fromisoformat(str(since).replace("Z", "+00:00"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return (datetime.now(UTC) - when).total_seconds() < limit


def restart(event: dict[str, Any], clients: ClientFactory) -> dict[str, Any]:
    """One step of the restart duty of a detached ``--stop`` save.

    Answers ``duty: waiting`` while the snapshots are not listed, the instance is still
    stopping or not running yet after its start, and ``duty: done`` once it runs, is
    gone, or is not this save's to start (no restart wanted, or stopped without this
    save's lock tag: someone else stopped it since). Only an instance that was running
    when the save began is ever started (``restart_instance`` in the input)."""
    save = event["save"]
    instance_id = save.get("instance_id")
    answer: dict[str, Any] = {"instance_id": instance_id, "restart": False, "state": None,
                              "started": False, "duty": "done", "note": ""}
    if not save.get("restart_instance") or not instance_id:
        answer["note"] = "the save did not stop the instance"
        return answer
    answer["restart"] = True
    ec2 = clients("ec2", save["source_region"])
    if save.get("image_id") and _snapshots_pending(ec2, save):
        return {**answer, "state": "stopped", "duty": "waiting",
                "note": "waiting for EC2 to list the image's snapshots"}
    try:
        reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    except Exception as exc:
        if _code(exc).startswith("InvalidInstanceID"):
            return {**answer, "state": "terminated", "note": "the instance is gone"}
        raise
    instances = [i for r in reservations for i in r.get("Instances", [])]
    if not instances:
        return {**answer, "state": "terminated", "note": "the instance is gone"}
    instance = instances[0]
    state = str((instance.get("State") or {}).get("Name", "unknown"))
    answer["state"] = state
    tags = {t["Key"]: t["Value"] for t in instance.get("Tags") or []}
    if state == "running":
        return {**answer, "started": True, "note": "running",
                "at": datetime.now(UTC).isoformat(timespec="seconds")}
    if state in ("shutting-down", "terminated"):
        return {**answer, "note": "the instance is gone"}
    if state == "stopped":
        if not save.get("lock_tag_value") or tags.get(LOCK_TAG) != save["lock_tag_value"]:
            return {**answer, "note": f"stopped without this save's {LOCK_TAG} tag: left "
                                      "as it is"}
        try:
            ec2.start_instances(InstanceIds=[instance_id])
        except Exception as exc:
            if _code(exc) != "IncorrectInstanceState":
                raise
        return {**answer, "state": "pending", "duty": "waiting", "note": "start requested"}
    return {**answer, "duty": "waiting", "note": f"the instance is {state}"}
