"""``--fast-restore AZ[,AZ]`` on ``prism save``: fast snapshot restore for the snapshots
of the save's images, in the zones asked, each zone in its own region's image.

Enabled once each image is available (after the copies), waited on until every pair
(snapshot, zone) is ``enabled``. Each pair is journaled before it is requested, so
``--resume`` finishes the wait and ``--abort`` disables what this save enabled (on
snapshots whose tags name this save) before it deletes them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prism_core.aws import fast_restore
from prism_core.aws.clients import error_message
from prism_core.aws.tags import SAVE_ID_TAG, tags_of
from prism_core.aws.waiting import WaitCancelled

if TYPE_CHECKING:
    from prism_core.save.context import SaveContext


def zones_by_region(zones: list[str]) -> dict[str, list[str]]:
    """The request's zones grouped by the region each belongs to."""
    grouped: dict[str, list[str]] = {}
    for zone in zones:
        grouped.setdefault(fast_restore.zone_region(zone), []).append(zone)
    return grouped


def plan_lines(ctx: SaveContext) -> list[str]:
    """The plan's lines of ``--fast-restore``: zones, DSU-hours and price per hour."""
    zones = list(ctx.request.fast_restore)
    if not zones:
        return []
    snapshots = len(set(ctx.instance.volumes.values())) or 1
    grouped = zones_by_region(zones)
    where = "; ".join(f"{', '.join(z)} ({r})" for r, z in grouped.items())
    return [
        f"Fast restore: {where}",
        "            " + fast_restore.cost_line(snapshots, len(zones)),
        "            billed until disabled: `prism templates delete` or `prune` disables "
        "it, or `aws ec2 disable-fast-snapshot-restores`",
    ]


def _snapshot_tags(ec2: Any, snapshot_ids: list[str]) -> dict[str, dict[str, str]]:
    """The tags of those of ``snapshot_ids`` that exist (a missing one is left out)."""
    if not snapshot_ids:
        return {}
    answer = ec2.describe_snapshots(
        Filters=[{"Name": "snapshot-id", "Values": snapshot_ids}], OwnerIds=["self"]
    )
    return {str(s["SnapshotId"]): tags_of(s) for s in answer.get("Snapshots", [])}


def _own_snapshots(ctx: SaveContext, ec2: Any, snapshot_ids: list[str]) -> list[str]:
    """The snapshots whose tags name this save (the only ones prism touches)."""
    found = _snapshot_tags(ec2, snapshot_ids)
    return [s for s in snapshot_ids if found.get(s, {}).get(SAVE_ID_TAG) == ctx.state.save_id]


def enable_for_save(ctx: SaveContext) -> None:
    """Enable FSR for each available image of the save in its region's zones, and wait
    until it is ``enabled``; a failure is recorded per region (the save ends partial and
    ``--resume`` tries again)."""
    grouped = zones_by_region(list(ctx.request.fast_restore))
    if not grouped:
        return
    images = ctx.images()
    for region, zones in grouped.items():
        image = images.get(region)
        if image is None:
            ctx.record_failure(f"fast restore in {region}: the save has no image there")
            continue
        try:
            _enable_region(ctx, region, image.snapshot_ids, zones)
        except WaitCancelled:
            raise
        except Exception as exc:
            message = f"fast restore in {region} failed: {error_message(exc)}"
            ctx.record_failure(message)
            ctx.progress.line("fail", message)


def _enable_region(
    ctx: SaveContext, region: str, snapshot_ids: list[str], zones: list[str]
) -> None:
    ec2 = ctx.aws.ec2(region)
    own = _own_snapshots(ctx, ec2, list(snapshot_ids))
    if not own:
        raise RuntimeError("no snapshot of the image is tagged as this save's")
    pairs = [f"{region}:{s}:{z}" for s in own for z in zones]
    ctx.record(fast_restores=sorted(set(ctx.state.fast_restores) | set(pairs)))
    todo = fast_restore.pending(ec2, own, zones)
    if todo:
        problems = fast_restore.enable(ec2, own, zones)
        if problems:
            raise RuntimeError("; ".join(problems))
        ctx.progress.line(
            "info",
            f"Enabling fast snapshot restore of {len(own)} snapshot(s) in {', '.join(zones)}",
        )
    ctx.wait(
        lambda: None if fast_restore.pending(ec2, own, zones) else True,
        what=f"fast snapshot restore in {', '.join(zones)}",
        schedule=ctx.wait_schedule.limit("fast_restore").state_change(),
    )
    ctx.progress.line(
        "ok", f"Fast snapshot restore enabled in {', '.join(zones)}: {', '.join(own)}"
    )


def disable_for_abort(ctx: SaveContext) -> tuple[list[str], list[str]]:
    """``--abort``: disable FSR on the journaled snapshots whose tags name this save;
    returns (``region:snapshot@zone`` disabled, problems)."""
    by_region: dict[str, set[str]] = {}
    for entry in ctx.state.fast_restores:
        region, _, rest = entry.partition(":")
        by_region.setdefault(region, set()).add(rest.partition(":")[0])
    done: list[str] = []
    problems: list[str] = []
    for region, snapshots in sorted(by_region.items()):
        try:
            ec2 = ctx.aws.ec2(region)
            tags = _snapshot_tags(ec2, sorted(snapshots))
            own = [s for s, t in tags.items() if t.get(SAVE_ID_TAG) == ctx.state.save_id]
            for snapshot in sorted(set(tags) - set(own)):
                problems.append(
                    f"{region}: {snapshot} is not tagged as this save's; its fast restore "
                    "was left alone"
                )
            done += [f"{region}:{pair}" for pair in fast_restore.disable_all(ec2, own)]
        except Exception as exc:
            problems.append(f"{region}: could not disable fast restore: {error_message(exc)}")
    if done:
        ctx.progress.line("info", "Disabled fast snapshot restore: " + ", ".join(done))
    return [f"fast restore {d}" for d in done], problems

