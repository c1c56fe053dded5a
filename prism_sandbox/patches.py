"""In-process patches of moto's EC2 backend and response classes.

moto's server runs in a thread of this process, so patching its classes changes
what the server answers. Every patch is inert unless a sandbox is serving the
current request (``runtime.current``), so moto's ``mock_aws`` and other servers
in the same process keep moto's own behaviour.

All sandbox-visible work happens under ``runtime.LOCK``: the sandbox's WSGI
middleware serialises requests, so state transitions are deterministic.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from moto.core.responses import ActionResult
from moto.core.utils import utcnow
from moto.ec2.exceptions import EC2ClientError, InvalidAMIIdError
from moto.ec2.models.amis import Ami, AmiBackend
from moto.ec2.models.elastic_block_store import Snapshot
from moto.ec2.models.instances import Instance, InstanceBackend
from moto.ec2.models.security_groups import SecurityGroupBackend
from moto.ec2.models.spot_requests import SpotRequestBackend
from moto.ec2.responses.amis import AmisResponse
from moto.ec2.responses.elastic_block_store import ElasticBlockStore
from moto.ec2.utils import random_ami_id, random_snapshot_id, random_spot_request_id
from moto.ssm.responses import SimpleSystemManagerResponse

from . import fast_restore, moto_caches, run_command, trees

if TYPE_CHECKING:  # pragma: no cover
    from .server import Sandbox


class _Runtime:
    """Process-wide state shared by the patches and the sandbox middleware."""

    def __init__(self) -> None:
        self.LOCK = threading.RLock()
        self.current: Sandbox | None = None


runtime = _Runtime()


class Scheduler:
    """Deadline-ordered transitions, run lazily before each request (under the lock)."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()

    def at(self, delay: float, fn: Callable[[], None]) -> None:
        heapq.heappush(self._heap, (time.monotonic() + max(delay, 0.0), next(self._seq), fn))

    def tick(self) -> None:
        now = time.monotonic()
        while self._heap and self._heap[0][0] <= now:
            _, _, fn = heapq.heappop(self._heap)
            fn()

    def clear(self) -> None:
        self._heap.clear()


def _sandbox() -> Sandbox | None:
    return runtime.current


# --------------------------------------------------------------------------- instances

_orig_instance_start = Instance.start
_orig_instance_stop = Instance.stop
_orig_instance_status = Instance.instance_status
_orig_system_status = Instance.system_status
_INITIALIZING = {
    "Details": [{"Name": "reachability", "Status": "initializing"}],
    "Status": "initializing",
}


def _patched_instance_status(self: Instance) -> dict[str, Any]:
    if _sandbox() is not None and getattr(self, "_sbx_rebooting", False) and self.is_running():
        return dict(_INITIALIZING)
    return _orig_instance_status.fget(self)  # type: ignore[attr-defined,no-any-return]


def _patched_system_status(self: Instance) -> dict[str, Any]:
    if _sandbox() is not None and getattr(self, "_sbx_rebooting", False) and self.is_running():
        return dict(_INITIALIZING)
    return _orig_system_status.fget(self)  # type: ignore[attr-defined,no-any-return]


def begin_reboot(sb: Sandbox, instance: Instance) -> None:
    """EC2's reboot during CreateImage: status checks ``initializing`` for
    ``timings.reboot`` (never less than the snapshot listing takes), then ``ok``."""
    instance._sbx_rebooting = True
    started = time.monotonic()
    sb.reboots.append({"instance_id": instance.id, "started": started, "ended": None})
    record = sb.reboots[-1]

    duration = max(sb.timings.reboot, sb.timings.snapshot)

    def finish() -> None:
        instance._sbx_rebooting = False
        record["ended"] = started + duration

    sb.scheduler.at(duration, finish)
_orig_run_instances = InstanceBackend.run_instances


def _set_state(instance: Instance, name: str, code: int) -> None:
    instance._state.name = name
    instance._state.code = code


def _incorrect_state(instance: Instance, verb: str) -> EC2ClientError:
    return EC2ClientError(
        "IncorrectInstanceState",
        f"The instance '{instance.id}' is not in a state from which it can be {verb}.",
    )


def _patched_stop(self: Instance) -> Any:
    sb = _sandbox()
    if sb is None:
        return _orig_instance_stop(self)
    if getattr(self, "_sbx_instance_store", False) or self.root_device_type != "ebs":
        raise EC2ClientError(
            "UnsupportedOperation",
            f"The instance '{self.id}' does not have an 'ebs' root device type "
            "and cannot be stopped.",
        )
    if self.lifecycle == "spot":
        raise EC2ClientError(
            "UnsupportedOperation",
            f"You can't stop the Spot Instance '{self.id}' because it is associated with a "
            "one-time Spot Instance request. You can only stop Spot Instances associated "
            "with persistent Spot Instance requests.",
        )
    previous = type(self._state)(self._state.name, self._state.code)
    if self.state in ("stopping", "stopped"):
        return previous
    if self.state in ("shutting-down", "terminated", "pending"):
        raise _incorrect_state(self, "stopped")
    _set_state(self, "stopping", 64)

    def finish() -> None:
        if self.state == "stopping":
            _orig_instance_stop(self)

    sb.scheduler.at(sb.timings.stop, finish)
    return previous


def _patched_start(self: Instance) -> Any:
    sb = _sandbox()
    if sb is None:
        return _orig_instance_start(self)
    previous = type(self._state)(self._state.name, self._state.code)
    if self.state in ("pending", "running"):
        return previous
    if self.state != "stopped":
        raise _incorrect_state(self, "started")
    _set_state(self, "pending", 0)
    self._reason = ""

    def finish() -> None:
        if self.state == "pending":
            _orig_instance_start(self)

    sb.scheduler.at(sb.timings.start, finish)
    return previous


def _patched_run_instances(self: Any, image_id: str, *args: Any, **kwargs: Any) -> Any:
    sb = _sandbox()
    if sb is not None:
        # moto's own AMI validation (what MOTO_ENABLE_AMI_VALIDATION turns on, for this
        # sandbox only), plus what it lets through: a deregistered image. Either fails
        # with InvalidAMIID.NotFound, as in EC2.
        if not self.describe_images(ami_ids=[image_id] if image_id else []):
            raise InvalidAMIIdError(image_id)
    reservation = _orig_run_instances(self, image_id, *args, **kwargs)
    if sb is not None:
        for instance in reservation.instances:
            _set_state(instance, "pending", 0)
            if instance.lifecycle == "spot" and not getattr(
                instance, "spot_instance_request_id", None
            ):
                # EC2 answers a Spot launch's request id in DescribeInstances, with the
                # tags asked for it; moto keeps neither
                instance.spot_instance_request_id = random_spot_request_id()
                spot_tags = (kwargs.get("tags") or {}).get("spot-instances-request") or {}
                if spot_tags:
                    self.create_tags([instance.spot_instance_request_id], spot_tags)

            def finish(instance: Instance = instance) -> None:
                if instance.state == "pending":
                    _orig_instance_start(instance)

            sb.scheduler.at(sb.timings.start, finish)
            trees.launched(sb, image_id, instance)
    return reservation


_orig_delete_security_group = SecurityGroupBackend.delete_security_group
_orig_cancel_spot_requests = SpotRequestBackend.cancel_spot_instance_requests


def _patched_delete_security_group(
    self: Any, name: str | None = None, group_id: str | None = None
) -> None:
    # EC2 refuses to delete a group an instance that is not terminated still uses;
    # moto deletes it anyway
    if group_id and _sandbox() is not None:
        for instance in self.all_instances():
            if instance.state == "terminated":
                continue
            held = {g.id for g in instance.security_groups}
            for nic in getattr(instance, "nics", {}).values():
                held |= {g.id for g in nic.group_set}
            if group_id in held:
                raise EC2ClientError(
                    "DependencyViolation", f"resource {group_id} has a dependent object"
                )
    _orig_delete_security_group(self, name, group_id)


def _patched_cancel_spot_requests(self: Any, request_ids: list[str]) -> list[Any]:
    # a one-time Spot launch through RunInstances has a request in EC2 (its id is in
    # DescribeInstances, set by _patched_run_instances); moto keeps none, so cancelling it
    # answers as EC2 does instead of failing
    if _sandbox() is None:
        return list(_orig_cancel_spot_requests(self, request_ids))
    launched = {
        getattr(i, "spot_instance_request_id", None) for i in self.all_instances()
    } - {None}
    known = [r for r in request_ids if r in self.spot_instance_requests]
    cancelled = list(_orig_cancel_spot_requests(self, known)) if known else []
    for request_id in request_ids:
        if request_id not in known and request_id not in launched:
            raise EC2ClientError(
                "InvalidSpotInstanceRequestID.NotFound",
                f"The spot instance request ID '{request_id}' does not exist",
            )
    return cancelled


# --------------------------------------------------------------------------- images

_orig_load_amis = AmiBackend._load_amis
_orig_create_image = AmiBackend.create_image
_orig_register_image = AmiBackend.register_image
_orig_describe_images = AmiBackend.describe_images
_orig_modify_image_attribute = AmiBackend.modify_image_attribute
_orig_modify_image_attribute_response = AmisResponse.modify_image_attribute
_orig_bdm_property = Ami.block_device_mappings
_orig_snapshot_progress = Snapshot.progress
_orig_copy_image_response = AmisResponse.copy_image
_orig_create_image_response = AmisResponse.create_image
_orig_deregister_image_response = AmisResponse.deregister_image
_orig_describe_parameters = SimpleSystemManagerResponse.describe_parameters


def _patched_load_amis(self: Any) -> None:
    sb = _sandbox()
    if sb is not None and not sb.load_default_amis:
        return  # thousands of public AMIs (and their snapshots) per region: slow, and not ours
    _orig_load_amis(self)


def _check_duplicate_name(backend: Any, name: str | None) -> None:
    if not name:
        return
    for ami in list(backend.amis.values()):
        if ami.name == name and ami.owner_id == backend.account_id:
            raise EC2ClientError(
                "InvalidAMIName.Duplicate", f"AMI name {name} is already in use by AMI {ami.id}"
            )


def _split_tag_specs(specs: list[dict[str, Any]]) -> tuple[dict[str, str], dict[str, str]]:
    image_tags: dict[str, str] = {}
    snapshot_tags: dict[str, str] = {}
    for spec in specs or []:
        kind = spec.get("ResourceType")
        tags = {t["Key"]: t.get("Value", "") for t in spec.get("Tags", [])}
        if kind == "image":
            image_tags.update(tags)
        elif kind == "snapshot":
            snapshot_tags.update(tags)
        else:
            raise EC2ClientError(
                "InvalidParameterValue",
                f"'{kind}' is not a valid taggable resource type for this operation.",
            )
    return image_tags, snapshot_tags


def _drop_moto_snapshot(backend: Any, ami: Ami) -> None:
    """moto gives every AMI a throwaway 15 GiB snapshot; the sandbox replaces it."""
    snap = getattr(ami, "ebs_snapshot", None)
    if snap is not None:
        backend.snapshots.pop(snap.id, None)


def _bdm_entry(
    device: str, snapshot: Snapshot, size: int, volume_type: str | None, delete_on_termination: bool
) -> dict[str, Any]:
    return {
        "device": device,
        "snapshot": snapshot,
        "size": size,
        "volume_type": volume_type or "gp3",
        "delete_on_termination": delete_on_termination,
    }


def _patched_bdms(self: Ami) -> list[dict[str, Any]]:
    entries = getattr(self, "_sbx_bdms", None)
    if entries is None:
        return _orig_bdm_property.fget(self)  # type: ignore[attr-defined]
    ready = getattr(self, "_sbx_snapshot_ready", True)
    result = []
    for e in entries:
        ebs: dict[str, Any] = {
            "VolumeSize": e["size"],
            "DeleteOnTermination": e["delete_on_termination"],
            "VolumeType": e["volume_type"],
            "Encrypted": bool(e["snapshot"].encrypted),
        }
        if e["snapshot"].kms_key_id:
            ebs["KmsKeyId"] = e["snapshot"].kms_key_id
        if ready:
            ebs["SnapshotId"] = e["snapshot"].id
        result.append({"DeviceName": e["device"], "Ebs": ebs})
    return result


def _patched_snapshot_progress(self: Snapshot) -> str:
    """A pending snapshot of a sandbox image reports its progress as EC2 does (``"NN%"``),
    linear over the image's duration from its creation (moto always says 100%)."""
    window = getattr(self, "_sbx_window", None)
    if window is None or self.status != "pending":
        return str(_orig_snapshot_progress.fget(self))  # type: ignore[attr-defined]
    started, duration = window
    done = (time.monotonic() - started) / duration if duration > 0 else 1.0
    return f"{max(0, min(99, int(done * 100)))}%"


def _begin_image_lifecycle(
    sb: Sandbox, backend: Any, ami: Ami, delay: float, snapshot_delay: float
) -> None:
    """pending -> (snapshot ids visible) -> available | failed, per the sandbox timings."""
    region = backend.region_name
    failure = sb.faults._take_image_failure(region)
    invisible = sb.faults._take_invisibility()
    if invisible:
        sb.invisible[ami.id] = invisible
    ami.state = "pending"
    ami._sbx_snapshot_ready = False
    started = time.monotonic()
    for e in ami._sbx_bdms:
        e["snapshot"].status = "pending"
        e["snapshot"].start_time = utcnow()
        e["snapshot"]._sbx_window = (started, max(delay, snapshot_delay))

    def snapshots_ready() -> None:
        ami._sbx_snapshot_ready = True

    def finish() -> None:
        if ami.state != "pending":
            return
        ami._sbx_snapshot_ready = True
        if failure:
            ami.state = "failed"
            code = failure.split(":", 1)[0] if ":" in failure else "Client.InternalError"
            ami.state_reason = {"Code": code, "Message": failure}
            status = "error"
        else:
            ami.state = "available"
            status = "completed"
        for e in ami._sbx_bdms:
            e["snapshot"].status = status

    sb.scheduler.at(min(snapshot_delay, delay), snapshots_ready)
    sb.scheduler.at(max(delay, snapshot_delay), finish)


def _patched_create_image(
    self: Any,
    instance_id: str,
    name: str,
    description: str,
    tag_specifications: list[dict[str, Any]],
) -> Ami:
    sb = _sandbox()
    if sb is None:
        return _orig_create_image(self, instance_id, name, description, tag_specifications)
    instance = self.get_instance(instance_id)
    if instance.state not in ("running", "stopped"):
        raise EC2ClientError(
            "IncorrectInstanceState",
            f"The instance '{instance.id}' is not in a valid state for this operation "
            f"(current state: {instance.state}).",
        )
    _check_duplicate_name(self, name)
    image_tags, snapshot_tags = _split_tag_specs(tag_specifications)
    image_spec = (
        [{"ResourceType": "image", "Tags": [{"Key": k, "Value": v} for k, v in image_tags.items()]}]
        if image_tags
        else []
    )
    ami = _orig_create_image(self, instance_id, name, description, image_spec)
    _drop_moto_snapshot(self, ami)
    ami.root_device_type = "ebs"
    ami.root_device_name = instance.root_device_name
    entries = []
    for device, block in sorted(instance.block_device_mapping.items()):
        volume = self.get_volume(block.volume_id)
        snap = self.create_snapshot(
            volume.id, f"Created by CreateImage({instance_id}) for {ami.id}", from_ami=ami.id
        )
        snap.kms_key_id = getattr(volume, "kms_key_id", None)
        if snapshot_tags:
            snap.add_tags(snapshot_tags)
        entries.append(
            _bdm_entry(
                device,
                snap,
                volume.size,
                getattr(volume, "volume_type", None),
                bool(block.delete_on_termination),
            )
        )
    root = [e for e in entries if e["device"] == ami.root_device_name]
    if root:
        ami.ebs_snapshot = root[0]["snapshot"]
    ami._sbx_bdms = entries
    trees.copy_tree(sb.tree(instance_id), sb.tree(ami.id))
    _begin_image_lifecycle(sb, self, ami, sb.timings.image, sb.timings.snapshot)
    return ami


def _patched_create_image_response(self: AmisResponse) -> ActionResult:
    """CreateImage without ``NoReboot`` reboots a running instance (moto ignores it)."""
    sb = _sandbox()
    result = _orig_create_image_response(self)
    if sb is None or _truthy(self._get_param("NoReboot", False)):
        return result
    instance = self.ec2_backend.get_instance(self._get_param("InstanceId"))
    if instance.state == "running":
        begin_reboot(sb, instance)
    return result


def _patched_register_image(
    self: Any, name: str | None = None, description: str | None = None
) -> Ami:
    sb = _sandbox()
    if sb is None:
        return _orig_register_image(self, name, description)
    _check_duplicate_name(self, name)
    ami = _orig_register_image(self, name, description)
    invisible = sb.faults._take_invisibility()
    if invisible:
        sb.invisible[ami.id] = invisible
    return ami


def _patched_modify_image_attribute(
    self: Any,
    ami_id: str,
    launch_permissions_to_add: list[dict[str, str]],
    launch_permissions_to_remove: list[dict[str, str]],
) -> None:
    sb = _sandbox()
    if sb is not None and {"Group": "all"} in launch_permissions_to_add:
        if sb.bpa_blocked(self.region_name):
            raise EC2ClientError(
                "OperationNotPermitted",
                "You can't publicly share this image because block public access for AMIs "
                "is enabled for this account. To publicly share the image, you must call "
                "the DisableImageBlockPublicAccess API.",
            )
    return _orig_modify_image_attribute(
        self, ami_id, launch_permissions_to_add, launch_permissions_to_remove
    )


def _patched_modify_image_attribute_response(self: AmisResponse) -> ActionResult:
    # moto accepts ImdsSupport but forgets it; EC2 shows it in DescribeImages from then on
    result = _orig_modify_image_attribute_response(self)
    value = (self._get_param("ImdsSupport") or {}).get("Value")
    if value:
        ami = self.ec2_backend.describe_images(ami_ids=[self._get_param("ImageId")])[0]
        ami.imds_support = value
    return result


def _truthy(value: Any) -> bool:
    return str(value).lower() == "true"


def _copy_source(backend: Any, region: str, image_id: str) -> Any:
    """The image CopyImage copies: this account's, or another account's that shares it
    with this one as EC2 requires for a copy (a launch permission, and permission to
    create volumes from every snapshot); None when there is no such image to copy.
    moto looks in the caller's own account only."""
    from moto.ec2.models import ec2_backends

    try:
        own = _orig_describe_images(ec2_backends[backend.account_id][region], ami_ids=[image_id])
    except Exception:
        own = []
    if own and own[0].id == image_id:
        return own[0]
    me = backend.account_id
    for account in list(ec2_backends.keys()):
        if account == me:
            continue
        ami = ec2_backends[account][region].amis.get(image_id)
        if ami is None:
            continue
        launchable = {"UserId": me} in ami.launch_permissions or ami.is_public
        readable = all(
            me in e["snapshot"].create_volume_permission_userids
            or "all" in e["snapshot"].create_volume_permission_groups
            for e in getattr(ami, "_sbx_bdms", None) or []
        )
        return ami if launchable and readable else None
    return None


def _patched_copy_image_response(self: AmisResponse) -> ActionResult:
    sb = _sandbox()
    if sb is None:
        return _orig_copy_image_response(self)
    source_image_id = self._get_param("SourceImageId")
    source_region = self._get_param("SourceRegion")
    name = self._get_param("Name")
    description = self._get_param("Description")
    client_token = self._get_param("ClientToken")
    encrypted = _truthy(self._get_param("Encrypted", False))
    kms_key_id = self._get_param("KmsKeyId")
    copy_tags = _truthy(self._get_param("CopyImageTags", False))
    image_tags, snapshot_tags = _split_tag_specs(self._get_param("TagSpecifications", []))
    self.error_on_dryrun()

    backend = self.ec2_backend
    if client_token:
        for ami in list(backend.amis.values()):
            if getattr(ami, "_sbx_client_token", None) == (source_image_id, client_token):
                return ActionResult({"ImageId": ami.id})
    if kms_key_id and not encrypted:
        raise EC2ClientError(
            "InvalidParameterDependency",
            "The request must contain the parameter Encrypted when KmsKeyId is specified.",
        )
    source_ami = _copy_source(backend, source_region, source_image_id)
    if source_ami is None:
        raise EC2ClientError(
            "InvalidAMIID.NotFound", f"The image id '[{source_image_id}]' does not exist"
        )
    if source_ami.state != "available":
        raise EC2ClientError(
            "IncorrectState",
            f"Image {source_image_id} is in state {source_ami.state}, "
            "it must be 'available' to be copied.",
        )
    _check_duplicate_name(backend, name or source_ami.name)
    # what moto's copy_image does, with a source that may be another account's
    ami = Ami(
        backend,
        random_ami_id(),
        instance=None,
        source_ami=source_ami,
        name=name,
        description=description,
    )
    backend.amis[ami.id] = ami
    _drop_moto_snapshot(backend, ami)
    if client_token:
        ami._sbx_client_token = (source_image_id, client_token)
    ami.root_device_type = source_ami.root_device_type
    ami.root_device_name = source_ami.root_device_name

    default_key = f"arn:aws:kms:{backend.region_name}:{backend.account_id}:alias/aws/ebs"
    entries = []
    for e in getattr(source_ami, "_sbx_bdms", None) or []:
        src = e["snapshot"]
        is_encrypted = bool(src.encrypted) or encrypted
        key = kms_key_id or (default_key if is_encrypted and not src.kms_key_id else src.kms_key_id)
        if not is_encrypted:
            key = None
        snap = Snapshot(
            backend,
            random_snapshot_id(),
            volume=src.volume,
            description=f"Copied for DestinationAmi {ami.id} from SourceAmi {source_image_id} "
            f"for SourceSnapshot {src.id}. Task created on {time.strftime('%Y-%m-%d')}.",
            encrypted=is_encrypted,
            kms_key_id=key,
            from_ami=ami.id,
        )
        backend.snapshots[snap.id] = snap
        if snapshot_tags:
            snap.add_tags(snapshot_tags)
        entries.append(
            _bdm_entry(e["device"], snap, e["size"], e["volume_type"], e["delete_on_termination"])
        )
    if entries:
        root = [e for e in entries if e["device"] == ami.root_device_name]
        ami.ebs_snapshot = (root or entries)[0]["snapshot"]
    ami._sbx_bdms = entries
    trees.copy_tree(sb.tree(source_image_id), sb.tree(ami.id))

    tags: dict[str, str] = {}
    if copy_tags:
        tags.update({t["key"]: t["value"] for t in source_ami.get_tags()})
    tags.update(image_tags)
    if tags:
        ami.add_tags(tags)
    _begin_image_lifecycle(
        sb, backend, ami, sb.timings.copy, min(sb.timings.snapshot, sb.timings.copy)
    )
    return ActionResult({"ImageId": ami.id})


def _patched_deregister_image_response(self: AmisResponse) -> ActionResult:
    sb = _sandbox()
    if sb is None or not _truthy(self._get_param("DeleteAssociatedSnapshots", False)):
        return _orig_deregister_image_response(self)
    ami_id = self._get_param("ImageId")
    self.error_on_dryrun()
    backend = self.ec2_backend
    ami = backend.amis.get(ami_id)
    snapshot_ids: list[str] = []
    if ami is not None:
        entries = getattr(ami, "_sbx_bdms", None)
        if entries is not None:
            snapshot_ids = [e["snapshot"].id for e in entries]
        elif getattr(ami, "ebs_snapshot", None) is not None:
            snapshot_ids = [ami.ebs_snapshot.id]
    backend.deregister_image(ami_id)
    results = []
    for snapshot_id in snapshot_ids:
        if backend.snapshots.pop(snapshot_id, None) is not None:
            results.append({"SnapshotId": snapshot_id, "ReturnCode": "success"})
        else:
            results.append({"SnapshotId": snapshot_id, "ReturnCode": "error-generic"})
    return ActionResult({"Return": True, "DeleteSnapshotResults": results})


# --------------------------------------------------------------------------- lifecycle
# moto has no AMI deprecation and no deregistration protection. The sandbox keeps both on
# moto's Ami objects (``deprecation_time`` / ``deregistration_protection``, which moto's
# serializer turns into DescribeImages' ``DeprecationTime`` / ``DeregistrationProtection``)
# and answers the four calls that set them, as EC2 does.

_orig_deregister_image = AmiBackend.deregister_image
PROTECTION_COOLDOWN_SECONDS = 24 * 3600


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(epoch))


def _own_image(response: AmisResponse) -> Ami:
    ami_id = response._get_param("ImageId")
    backend = response.ec2_backend
    ami = backend.amis.get(ami_id)
    if ami is None or ami.state == "deregistered":
        raise EC2ClientError("InvalidAMIID.NotFound", f"The image id '[{ami_id}]' does not exist")
    if ami.owner_id != backend.account_id:
        raise EC2ClientError(
            "AuthFailure", f"Not authorized for image:{ami_id}; only its owner may change it"
        )
    return ami


def _parse_time(value: Any) -> float:
    import calendar
    import datetime

    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.UTC)
        return value.timestamp()
    value = str(value or "")
    text = value.strip().replace("Z", "").split(".", 1)[0].replace(" ", "T")
    try:
        return float(calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%S")))
    except ValueError:
        raise EC2ClientError(
            "InvalidParameterValue", f"Value ({value}) for parameter DeprecateAt is invalid."
        ) from None


def _enable_image_deprecation(self: AmisResponse) -> ActionResult:
    """DeprecateAt is rounded to the minute; not in the past, at most ten years ahead."""
    self.error_on_dryrun()
    ami = _own_image(self)
    when = round(_parse_time(self._get_param("DeprecateAt")) / 60.0) * 60
    now = time.time()
    if when < now - 60:
        raise EC2ClientError("InvalidParameterValue", "The deprecation time can't be in the past.")
    if when > now + 10 * 366 * 86400:
        raise EC2ClientError(
            "InvalidParameterValue", "The deprecation time can't be more than 10 years ahead."
        )
    ami.deprecation_time = _iso(when)
    return ActionResult({"Return": True})


def _disable_image_deprecation(self: AmisResponse) -> ActionResult:
    self.error_on_dryrun()
    ami = _own_image(self)
    if hasattr(ami, "deprecation_time"):
        del ami.deprecation_time
    return ActionResult({"Return": True})


def _protection_blocks(ami: Ami) -> bool:
    state = getattr(ami, "deregistration_protection", None) or "disabled"
    if state == "enabled":
        return True
    until = getattr(ami, "_sbx_protected_until", 0.0)
    if until > time.time():
        return True
    if state.startswith("disabled-until"):
        ami.deregistration_protection = "disabled"
    return False


def _enable_deregistration_protection(self: AmisResponse) -> ActionResult:
    self.error_on_dryrun()
    ami = _own_image(self)
    ami.deregistration_protection = "enabled"
    ami._sbx_cooldown = _truthy(self._get_param("WithCooldown", False))
    return ActionResult({"Return": "enabled"})


def _disable_deregistration_protection(self: AmisResponse) -> ActionResult:
    """With the cooldown chosen at enable time, deregistration stays refused for 24 hours."""
    self.error_on_dryrun()
    ami = _own_image(self)
    if getattr(ami, "deregistration_protection", None) == "enabled" and getattr(
        ami, "_sbx_cooldown", False
    ):
        ami._sbx_protected_until = time.time() + PROTECTION_COOLDOWN_SECONDS
        ami.deregistration_protection = f"disabled-until {_iso(ami._sbx_protected_until)}"
    else:
        ami.deregistration_protection = "disabled"
    return ActionResult({"Return": "disabled"})


def _patched_deregister_image(self: Any, ami_id: str) -> None:
    sb = _sandbox()
    ami = self.amis.get(ami_id)
    if sb is not None and ami is not None and _protection_blocks(ami):
        raise EC2ClientError(
            "OperationNotPermitted",
            f"You can't deregister image {ami_id} because deregistration protection is "
            "enabled. Disable it first with DisableImageDeregistrationProtection.",
        )
    _orig_deregister_image(self, ami_id)


# --------------------------------------------------------------------------- snapshots

_orig_describe_snapshots_response = ElasticBlockStore.describe_snapshots


def _patched_describe_snapshots_response(self: ElasticBlockStore) -> ActionResult:
    """Honour OwnerIds (moto ignores it), so `OwnerIds=['self']` lists only the account's."""
    sb = _sandbox()
    owners = self._get_param("OwnerIds", [])
    if sb is None or not owners:
        return _orig_describe_snapshots_response(self)
    account = self.ec2_backend.account_id
    wanted = {account if o == "self" else o for o in owners}
    filters = self._filters_from_querystring()
    snapshots = self.ec2_backend.describe_snapshots(
        snapshot_ids=self._get_param("SnapshotIds", []), filters=filters
    )
    return ActionResult({"Snapshots": [s for s in snapshots if s.owner_id in wanted]})


# --------------------------------------------------------------------------- install

#: DescribeParameters' largest page on AWS (moto always answers pages of 10).
DESCRIBE_PARAMETERS_MAX_RESULTS = 50


def _patched_describe_parameters(self: SimpleSystemManagerResponse) -> ActionResult:
    """DescribeParameters with ``MaxResults`` honoured (1-50, default 10), as on AWS."""
    from moto.ssm.exceptions import ValidationException

    if _sandbox() is None:
        return _orig_describe_parameters(self)
    page_size = int(self._get_param("MaxResults") or 10)
    if not 1 <= page_size <= DESCRIBE_PARAMETERS_MAX_RESULTS:
        raise ValidationException(
            f"1 validation error detected: Value '{page_size}' at 'maxResults' failed to "
            f"satisfy constraint: Member must have value less than or equal to "
            f"{DESCRIBE_PARAMETERS_MAX_RESULTS}"
        )
    token = str(self._get_param("NextToken") or "0").strip() or "0"
    start = int(token) if token.isdigit() else 0
    result = self.ssm_backend.describe_parameters(
        self._get_param("Filters"), self._get_param("ParameterFilters")
    )
    page = result[start : start + page_size]
    response: dict[str, Any] = {"Parameters": [p.describe_response_object(False) for p in page]}
    if start + page_size < len(result):
        response["NextToken"] = str(start + page_size)
    return ActionResult(response)


#: The ``cache_clear`` of each moto module's per-instance caches, found once per module.
_CACHE_CLEARS: dict[str, list[Callable[[], None]]] = {}


def _instance_caches(name: str, module: Any) -> list[Callable[[], None]]:
    """The ``cache_clear`` of the cached methods of ``module``'s classes. Class and static
    methods are left out: their keys hold no backend (moto's botocore session)."""
    found = []
    for value in list(vars(module).values()):
        if isinstance(value, type) and value.__module__ == name:
            for attribute in vars(value).values():
                if isinstance(attribute, classmethod | staticmethod):
                    continue
                clear = getattr(attribute, "cache_clear", None)
                if callable(clear):
                    found.append(clear)
    return found


def forget_old_backends() -> None:
    """Let the backends of earlier resets be freed.

    A few moto methods are cached with ``functools.lru_cache`` on their class
    (``Subnet._base_avail_ip_iterator``, ...): ``self`` is part of the cache key, so every
    backend a reset replaces stays reachable, about 27 MB per reset of a sandbox that has
    served a save. Each module's classes are looked at once (they do not change).
    """
    import sys

    for name, module in list(sys.modules.items()):
        if module is None or not (name == "moto" or name.startswith("moto.")):
            continue
        clears = _CACHE_CLEARS.get(name)
        if clears is None:
            clears = _CACHE_CLEARS[name] = _instance_caches(name, module)
        for clear in clears:
            clear()


_installed = False


def install() -> None:
    """Install the patches once (idempotent)."""
    global _installed
    with runtime.LOCK:
        if _installed:
            return
        Instance.start = _patched_start  # type: ignore[method-assign]
        Instance.stop = _patched_stop  # type: ignore[method-assign]
        InstanceBackend.run_instances = _patched_run_instances  # type: ignore[method-assign]
        SecurityGroupBackend.delete_security_group = _patched_delete_security_group  # type: ignore[method-assign]
        SpotRequestBackend.cancel_spot_instance_requests = _patched_cancel_spot_requests  # type: ignore[method-assign]
        Instance.instance_status = property(_patched_instance_status)  # type: ignore[method-assign,assignment]
        Instance.system_status = property(_patched_system_status)  # type: ignore[method-assign,assignment]
        AmisResponse.create_image = _patched_create_image_response  # type: ignore[method-assign]
        AmiBackend._load_amis = _patched_load_amis  # type: ignore[method-assign]
        AmiBackend.create_image = _patched_create_image  # type: ignore[method-assign]
        AmiBackend.register_image = _patched_register_image  # type: ignore[method-assign]
        AmiBackend.modify_image_attribute = _patched_modify_image_attribute  # type: ignore[method-assign]
        AmisResponse.modify_image_attribute = _patched_modify_image_attribute_response  # type: ignore[method-assign]
        Ami.block_device_mappings = property(_patched_bdms)  # type: ignore[method-assign,assignment]
        Snapshot.progress = property(_patched_snapshot_progress)  # type: ignore[method-assign,assignment]
        AmiBackend.deregister_image = _patched_deregister_image  # type: ignore[method-assign]
        AmisResponse.enable_image_deprecation = _enable_image_deprecation  # type: ignore[attr-defined]
        AmisResponse.disable_image_deprecation = _disable_image_deprecation  # type: ignore[attr-defined]
        AmisResponse.enable_image_deregistration_protection = (  # type: ignore[attr-defined]
            _enable_deregistration_protection
        )
        AmisResponse.disable_image_deregistration_protection = (  # type: ignore[attr-defined]
            _disable_deregistration_protection
        )
        AmisResponse.copy_image = _patched_copy_image_response  # type: ignore[method-assign]
        AmisResponse.deregister_image = _patched_deregister_image_response  # type: ignore[method-assign]
        ElasticBlockStore.describe_snapshots = _patched_describe_snapshots_response  # type: ignore[method-assign]
        SimpleSystemManagerResponse.describe_parameters = _patched_describe_parameters  # type: ignore[method-assign]
        fast_restore.install(runtime)
        run_command.install(runtime)
        moto_caches.install()
        _installed = True
