"""``prism templates promote NAME@N --channel C --fast-restore AZ[,AZ]``: fast snapshot
restore for the promoted version's snapshots, in the zones asked (each zone for the
version's image in its region), once the channel points at it.

Only images the cloud's tags prove this template's saves made (as deletes require) and
only their snapshots tagged with the template and a save id are touched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from prism_core.aws import fast_restore
from prism_core.aws.clients import AwsClients, error_message
from prism_core.aws.ec2 import describe_image, image_snapshot_ids
from prism_core.aws.tags import SAVE_ID_TAG, TEMPLATE_TAG, tags_of
from prism_core.aws.waiting import wait_for
from prism_core.exceptions import InputError
from prism_core.settings import Settings


@dataclass
class FastRestorePlan:
    """The zones by region and the snapshots of the version there."""

    zones: dict[str, list[str]]
    snapshots: dict[str, list[str]] = field(default_factory=dict)

    def lines(self) -> list[str]:
        """The plan's lines: where, DSU-hours and price per hour, how it stops."""
        where = "; ".join(f"{', '.join(z)} ({r})" for r, z in self.zones.items())
        counts = {len(self.snapshots.get(r, [])) for r in self.zones}
        if len(counts) == 1:  # as many snapshots in every region: one product
            zones = sum(len(z) for z in self.zones.values())
            cost = fast_restore.cost_line(counts.pop(), zones)
        else:
            parts = " + ".join(
                f"{len(self.snapshots.get(r, []))} x {len(z)} ({r})" for r, z in self.zones.items()
            )
            units = sum(len(self.snapshots.get(r, [])) * len(z) for r, z in self.zones.items())
            cost = (
                f"snapshots x AZs: {parts} = {units} DSU-hours per hour, about "
                f"${units * fast_restore.USD_PER_DSU_HOUR:,.2f}/hour"
            )
        return [
            f"fast snapshot restore in {where}",
            cost,
            "billed until disabled: `prism templates delete --purge` or `prune` disables "
            "it, or `aws ec2 disable-fast-snapshot-restores`",
        ]


def plan(aws: AwsClients, target: Any, text: str | None) -> FastRestorePlan | None:
    """Check ``--fast-restore`` against the version (its regions' zones, its own
    snapshots); ``None`` when not asked. Refusals are one-line :class:`InputError`."""
    from prism_core.templates.lifecycle import Outcome

    zones = fast_restore.parse_zones(text)
    if not zones:
        return None
    regions = sorted(target.parts.images)
    grouped = fast_restore.check_zones(aws, zones, regions)
    owned = target.owned_images(aws, Outcome())
    planned = FastRestorePlan(grouped)
    for region in grouped:
        ec2 = aws.ec2(region)
        snapshots: list[str] = []
        for image_id in sorted(owned.get(region, set())):
            snapshots += image_snapshot_ids(describe_image(ec2, image_id) or {}) or []
        tags = _tags(ec2, snapshots)
        mine = [
            s for s in snapshots
            if tags.get(s, {}).get(TEMPLATE_TAG) == target.name and tags[s].get(SAVE_ID_TAG)
        ]
        if not mine:
            raise InputError(
                f"--fast-restore: {target.name}@{target.version} has no snapshot in {region} "
                "that its tags prove prism saved",
                "name zones of regions where the version's images are prism's",
            )
        planned.snapshots[region] = mine
    return planned


def _tags(ec2: Any, snapshot_ids: list[str]) -> dict[str, dict[str, str]]:
    if not snapshot_ids:
        return {}
    answer = ec2.describe_snapshots(
        Filters=[{"Name": "snapshot-id", "Values": snapshot_ids}], OwnerIds=["self"]
    )
    return {str(s["SnapshotId"]): tags_of(s) for s in answer.get("Snapshots", [])}


def enable(aws: AwsClients, planned: FastRestorePlan, settings: Settings, done: Any) -> None:
    """Enable and wait until ``enabled`` in each region; changes and failures go to
    ``done`` (a :class:`prism_core.templates.lifecycle.Outcome`)."""
    for region, zones in planned.zones.items():
        snapshots = planned.snapshots.get(region, [])
        ec2 = aws.ec2(region)
        try:
            problems = fast_restore.enable(ec2, snapshots, zones)
            if problems:
                raise RuntimeError("; ".join(problems))
            wait_for(
                lambda ec2=ec2, s=snapshots, z=zones: (
                    None if fast_restore.pending(ec2, s, z) else True
                ),
                what=f"fast snapshot restore in {', '.join(zones)}",
                timeout=settings.timeouts["fast_restore"],
                poll=settings.poll_delay,
                steady=True,
            )
            done.changed += [f"{region}:{s}@{z} fast restore enabled" for s in snapshots
                             for z in zones]
        except Exception as exc:
            done.failures.append(f"fast restore in {region}: {error_message(exc)}")
