"""EBS fast snapshot restore (FSR): zones, cost, enabling, waiting and disabling.

Volumes created from a snapshot with fast snapshot restore enabled in their
availability zone are fully initialized at once. EC2 bills it per snapshot, per zone,
per hour (one "DSU-hour" each) until it is disabled; prism enables it only when asked
(``--fast-restore AZ[,AZ]`` on ``prism save`` or ``prism templates promote``) and only
on snapshots its own tags prove prism made, and disables it before it deletes them.

Each zone names its region (``us-east-1a`` is in ``us-east-1``): a zone applies to the
image in its own region, so ``--fast-restore us-east-1a,eu-west-1b`` covers the source
image in us-east-1 and its copy in eu-west-1. A zone of a region without an image of
the save is refused before anything changes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from prism_core.aws.clients import AwsClients
from prism_core.exceptions import InputError

#: Zones one ``--fast-restore`` may name (AWS allows FSR on 5 snapshots per region by
#: default; ten zones cover every region a save may reach several times over).
MAX_ZONES = 10
#: EC2's public price of one DSU-hour (one snapshot in one zone for one hour) in
#: us-east-1; other regions cost about the same or a little more.
USD_PER_DSU_HOUR = 0.75
#: States DescribeFastSnapshotRestores reports, in order; ``enabled`` is the goal.
ENABLING, OPTIMIZING, ENABLED, DISABLING, DISABLED = (
    "enabling",
    "optimizing",
    "enabled",
    "disabling",
    "disabled",
)
#: States that bill (everything but disabling/disabled).
ACTIVE = (ENABLING, OPTIMIZING, ENABLED)
#: ``us-east-1a``, ``eu-central-1b``, local zones such as ``us-west-2-lax-1a``.
ZONE = re.compile(r"^([a-z]{2}(?:-gov|-iso[a-z]*)?-[a-z]+-\d{1,2})(?:-[a-z0-9]+-\d)?[a-z]$")


def parse_zones(text: str | list[str] | None, option: str = "--fast-restore") -> list[str]:
    """``us-east-1a,us-east-1b`` as a list, each well formed and listed once, at most
    :data:`MAX_ZONES`; ``[]`` for nothing. :class:`InputError` otherwise."""
    if text is None:
        return []
    items = text if isinstance(text, list) else str(text).split(",")
    zones: list[str] = []
    for raw in items:
        zone = str(raw).strip()
        if not zone:
            continue
        if not ZONE.match(zone):
            shown = zone[:40].encode("ascii", "backslashreplace").decode()
            raise InputError(
                f"{option}: {shown!r} is not an availability zone name",
                "list zones such as us-east-1a,us-east-1b "
                "(`aws ec2 describe-availability-zones`)",
            )
        if zone in zones:
            raise InputError(f"{option} names {zone} twice", "list each zone once")
        zones.append(zone)
    if not zones and items:
        raise InputError(f"{option} names no zone", "list zones such as us-east-1a,us-east-1b")
    if len(zones) > MAX_ZONES:
        raise InputError(
            f"{option} lists {len(zones)} zones; at most {MAX_ZONES}", "list fewer zones"
        )
    return zones


def zone_region(zone: str) -> str:
    """The region a well-formed zone name belongs to."""
    match = ZONE.match(zone)
    assert match is not None, zone
    return match.group(1)


def check_zones(aws: AwsClients, zones: list[str], regions: list[str]) -> dict[str, list[str]]:
    """The zones by region, each proven an available zone of its region
    (DescribeAvailabilityZones) and each region one of ``regions``; refused otherwise
    with one line, before anything changes."""
    by_region: dict[str, list[str]] = {}
    for zone in zones:
        region = zone_region(zone)
        if region not in regions:
            raise InputError(
                f"--fast-restore: {zone} is in {region}, where there is no image of this "
                f"version (regions: {', '.join(regions)})",
                "name zones of those regions, or add the region with --copy-to-regions",
            )
        by_region.setdefault(region, []).append(zone)
    for region, wanted in by_region.items():
        answer = aws.ec2(region).describe_availability_zones()
        known = {
            z["ZoneName"]: z.get("State", "available")
            for z in answer.get("AvailabilityZones", [])
        }
        for zone in wanted:
            if known.get(zone) != "available":
                have = ", ".join(sorted(z for z, s in known.items() if s == "available"))
                what = "is not available" if zone in known else "is not a zone"
                raise InputError(
                    f"--fast-restore: {zone} {what} in {region} (zones: {have or 'none'})",
                    "name available zones of that region",
                )
    return by_region


def cost_line(snapshots: int, zones: int, price: float = USD_PER_DSU_HOUR) -> str:
    """``2 snapshots x 2 AZs = 4 DSU-hours per hour, about $3.00/hour``."""
    units = snapshots * zones
    return (
        f"{snapshots} snapshot{'s' if snapshots != 1 else ''} x {zones} "
        f"AZ{'s' if zones != 1 else ''} = {units} DSU-hour{'s' if units != 1 else ''} per "
        f"hour, about ${units * price:,.2f}/hour (${units * price * 730:,.0f}/month)"
    )


def describe(ec2: Any, snapshot_ids: Iterable[str]) -> dict[tuple[str, str], str]:
    """``(snapshot, zone) -> state`` of every FSR record of ``snapshot_ids``."""
    ids = sorted(set(snapshot_ids))
    found: dict[tuple[str, str], str] = {}
    for start in range(0, len(ids), 200):
        paginator = ec2.get_paginator("describe_fast_snapshot_restores")
        pages = paginator.paginate(
            Filters=[{"Name": "snapshot-id", "Values": ids[start : start + 200]}]
        )
        for page in pages:
            for record in page.get("FastSnapshotRestores", []):
                key = (str(record["SnapshotId"]), str(record["AvailabilityZone"]))
                found[key] = str(record.get("State"))
    return found


def _unsuccessful(answer: dict[str, Any]) -> list[str]:
    problems = []
    for item in answer.get("Unsuccessful", []):
        for error in item.get("FastSnapshotRestoreStateErrors", []):
            detail = error.get("Error", {})
            problems.append(
                f"{item.get('SnapshotId')} in {error.get('AvailabilityZone')}: "
                f"{detail.get('Code')}: {detail.get('Message')}"
            )
    return problems


def enable(ec2: Any, snapshot_ids: list[str], zones: list[str]) -> list[str]:
    """EnableFastSnapshotRestores; the per-snapshot refusals EC2 answered, as text."""
    if not snapshot_ids or not zones:
        return []
    answer = ec2.enable_fast_snapshot_restores(
        AvailabilityZones=zones, SourceSnapshotIds=snapshot_ids
    )
    return _unsuccessful(answer)


def pending(ec2: Any, snapshot_ids: list[str], zones: list[str]) -> list[str]:
    """``snapshot@zone`` of every pair not ``enabled`` yet (a disabled one counts)."""
    states = describe(ec2, snapshot_ids)
    return [
        f"{s}@{z}" for s in snapshot_ids for z in zones if states.get((s, z)) != ENABLED
    ]


def disable_all(ec2: Any, snapshot_ids: Iterable[str]) -> list[str]:
    """Disable FSR wherever it is enabling, optimizing or enabled on ``snapshot_ids``
    (the caller has proven them its own); ``snapshot@zone`` of each disabled pair.
    Refusals raise :class:`prism_core.exceptions.OperationFailed`."""
    from prism_core.exceptions import OperationFailed

    by_zone: dict[str, list[str]] = {}
    for (snapshot, zone), state in describe(ec2, snapshot_ids).items():
        if state in ACTIVE:
            by_zone.setdefault(zone, []).append(snapshot)
    done: list[str] = []
    for zone, snapshots in sorted(by_zone.items()):
        answer = ec2.disable_fast_snapshot_restores(
            AvailabilityZones=[zone], SourceSnapshotIds=sorted(snapshots)
        )
        problems = _unsuccessful(answer)
        if problems:
            raise OperationFailed(
                "could not disable fast snapshot restore: " + "; ".join(problems),
                "disable it with `aws ec2 disable-fast-snapshot-restores`",
            )
        done += [f"{s}@{zone}" for s in sorted(snapshots)]
    return done
