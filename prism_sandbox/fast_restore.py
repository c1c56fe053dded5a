"""EBS fast snapshot restore, which moto does not have: Enable-, Disable- and
DescribeFastSnapshotRestores answered over the wire with real per-account, per-region
state.

A pair (snapshot, zone) goes ``enabling`` -> ``optimizing`` (half of
``timings.fast_restore``) -> ``enabled`` (all of it); disabling goes ``disabling`` ->
``disabled`` at the next request. As on EC2, only the snapshot's owner may enable it, the
snapshot must be ``completed`` and the zone one of the region's, per-pair refusals come
back under ``Unsuccessful``, and deleting a snapshot disables its fast restores.
"""

from __future__ import annotations

from typing import Any

from moto.core.responses import ActionResult
from moto.core.utils import utcnow
from moto.ec2.exceptions import EC2ClientError
from moto.ec2.responses.elastic_block_store import ElasticBlockStore

BILLED = ("enabling", "optimizing", "enabled")


def _records(backend: Any) -> dict[tuple[str, str], dict[str, Any]]:
    """The backend's FSR records, ``(snapshot, zone) -> record`` (wiped with it)."""
    found = getattr(backend, "_sbx_fast_restores", None)
    if found is None:
        found = backend._sbx_fast_restores = {}
    return found


def _zones(backend: Any) -> set[str]:
    return {z.name for z in backend.describe_availability_zones()}


def _error(snapshot: str, zone: str, code: str, message: str) -> dict[str, Any]:
    return {
        "SnapshotId": snapshot,
        "FastSnapshotRestoreStateErrors": [
            {"AvailabilityZone": zone, "Error": {"Code": code, "Message": message}}
        ],
    }


def _asked(response: ElasticBlockStore) -> tuple[Any, list[str], list[str]]:
    response.error_on_dryrun()
    backend = response.ec2_backend
    zones = [str(z) for z in response._get_param("AvailabilityZones", []) or []]
    snapshots = [str(s) for s in response._get_param("SourceSnapshotIds", []) or []]
    if not zones or not snapshots:
        raise EC2ClientError(
            "MissingParameter", "AvailabilityZones and SourceSnapshotIds are required"
        )
    known = _zones(backend)
    for zone in zones:
        if zone not in known:
            raise EC2ClientError(
                "InvalidParameterValue", f"Invalid availability zone: [{zone}]"
            )
    return backend, zones, snapshots


def _public(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if not k.startswith("_")}


def enable_fast_snapshot_restores(self: ElasticBlockStore) -> ActionResult:
    """Start enabling FSR for each (snapshot, zone) the caller owns."""
    backend, zones, snapshots = _asked(self)
    sb = _runtime.current if _runtime is not None else None
    records = _records(backend)
    ok: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    for snapshot_id in snapshots:
        snapshot = backend.snapshots.get(snapshot_id)
        for zone in zones:
            if snapshot is None:
                failed.append(
                    _error(snapshot_id, zone, "InvalidSnapshot.NotFound",
                           f"The snapshot '{snapshot_id}' does not exist.")
                )
                continue
            if snapshot.owner_id != backend.account_id:
                failed.append(
                    _error(snapshot_id, zone, "UnauthorizedOperation",
                           "You can only enable fast snapshot restore for snapshots you own.")
                )
                continue
            if snapshot.status != "completed":
                failed.append(
                    _error(snapshot_id, zone, "IncorrectState",
                           f"The snapshot '{snapshot_id}' is not in the completed state.")
                )
                continue
            record = records.get((snapshot_id, zone))
            if record is None or record["State"] not in BILLED:
                record = {
                    "SnapshotId": snapshot_id,
                    "AvailabilityZone": zone,
                    "State": "enabling",
                    "StateTransitionReason": "Client.UserInitiated",
                    "OwnerId": backend.account_id,
                    "EnablingTime": utcnow(),
                }
                records[(snapshot_id, zone)] = record
                _schedule(sb, record)
            ok.append(_public(record))
    return ActionResult({"Successful": ok, "Unsuccessful": failed})


def _schedule(sb: Any, record: dict[str, Any]) -> None:
    duration = sb.timings.fast_restore if sb is not None else 0.0

    def optimizing() -> None:
        if record["State"] == "enabling":
            record["State"], record["OptimizingTime"] = "optimizing", utcnow()

    def enabled() -> None:
        optimizing()
        if record["State"] == "optimizing":
            record["State"], record["EnabledTime"] = "enabled", utcnow()
            record["StateTransitionReason"] = "Client.UserInitiated - Lifecycle state transition"

    if sb is None:
        enabled()
        return
    sb.scheduler.at(duration / 2, optimizing)
    sb.scheduler.at(duration, enabled)


def disable_fast_snapshot_restores(self: ElasticBlockStore) -> ActionResult:
    """Disable FSR for each (snapshot, zone); disabling -> disabled at the next request."""
    backend, zones, snapshots = _asked(self)
    records = _records(backend)
    ok: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    for snapshot_id in snapshots:
        for zone in zones:
            record = records.get((snapshot_id, zone))
            if record is None or record["State"] not in BILLED:
                failed.append(
                    _error(snapshot_id, zone, "IncorrectState",
                           f"Fast snapshot restore is not enabled for {snapshot_id} in {zone}.")
                )
                continue
            record["State"], record["DisablingTime"] = "disabling", utcnow()
            record["StateTransitionReason"] = "Client.UserInitiated"
            ok.append(_public(record))
            _finish_disabling(_runtime.current if _runtime is not None else None, record)
    return ActionResult({"Successful": ok, "Unsuccessful": failed})


def _finish_disabling(sb: Any, record: dict[str, Any]) -> None:
    def disabled() -> None:
        if record["State"] == "disabling":
            record["State"], record["DisabledTime"] = "disabled", utcnow()

    if sb is None:
        disabled()
    else:
        sb.scheduler.at(0.0, disabled)


def describe_fast_snapshot_restores(self: ElasticBlockStore) -> ActionResult:
    """The account's FSR records in the region, with EC2's filters (snapshot-id,
    availability-zone, state, owner-id) and pages of ``MaxResults`` (default 200)."""
    self.error_on_dryrun()
    backend = self.ec2_backend
    filters = self._filters_from_querystring()
    listed = []
    for (snapshot_id, _zone), record in sorted(_records(backend).items()):
        if snapshot_id not in backend.snapshots and record["State"] != "disabled":
            # EC2 disables fast snapshot restore of a deleted snapshot itself
            record["State"], record["DisabledTime"] = "disabled", utcnow()
            record["StateTransitionReason"] = "Lifecycle - Snapshot deleted"
        values = {
            "snapshot-id": record["SnapshotId"],
            "availability-zone": record["AvailabilityZone"],
            "state": record["State"],
            "owner-id": record["OwnerId"],
        }
        if all(values.get(name) in wanted for name, wanted in filters.items()):
            listed.append(_public(record))
    size = int(self._get_param("MaxResults") or 200)
    token = str(self._get_param("NextToken") or "0")
    start = int(token) if token.isdigit() else 0
    answer: dict[str, Any] = {"FastSnapshotRestores": listed[start : start + size]}
    if start + size < len(listed):
        answer["NextToken"] = str(start + size)
    return ActionResult(answer)


#: The sandbox's request context (``patches.runtime``), given by :func:`install`.
_runtime: Any = None


def install(runtime: Any) -> None:
    """Add the three actions to moto's EBS responses (called by ``patches.install``)."""
    global _runtime
    _runtime = runtime
    ElasticBlockStore.enable_fast_snapshot_restores = enable_fast_snapshot_restores  # type: ignore[attr-defined]
    ElasticBlockStore.disable_fast_snapshot_restores = disable_fast_snapshot_restores  # type: ignore[attr-defined]
    ElasticBlockStore.describe_fast_snapshot_restores = describe_fast_snapshot_restores  # type: ignore[attr-defined]
