"""``prism project costs P``: storage cost of a project's AMIs and snapshots across regions."""

from __future__ import annotations

from typing import Any

from prism_core.cli.output import emit
from prism_core.exceptions import InputError
from prism_core.validation import project_id, region_name
from prism_cost_tags.pricing import PriceTable, image_snapshots

TAG = "prism:project"


def region_usage(ec2: Any, project: str) -> dict[str, Any]:
    """AMIs and snapshots tagged with ``project`` in one region, and their GB."""
    tag_filter = [{"Name": f"tag:{TAG}", "Values": [project]}]
    images = ec2.describe_images(Owners=["self"], Filters=tag_filter)["Images"]
    sizes: dict[str, int] = {}
    for image in images:
        sizes.update(image_snapshots(image))
    snapshots = ec2.describe_snapshots(OwnerIds=["self"], Filters=tag_filter)["Snapshots"]
    for snap in snapshots:
        sizes[snap["SnapshotId"]] = int(snap.get("VolumeSize") or 0)
    return {
        "amis": sorted(i["ImageId"] for i in images),
        "snapshots": sorted(sizes),
        "gb": sum(sizes.values()),
    }


def _regions(args: Any) -> list[str]:
    if args.regions:
        return [region_name(r.strip()) for r in args.regions.split(",") if r.strip()]
    import boto3

    answer = boto3.client("ec2").describe_regions()["Regions"]
    return sorted(r["RegionName"] for r in answer)


def run(app: Any, args: Any) -> int:
    """Sum the storage cost per region and in total; exit 2 on bad input."""
    import boto3

    project = project_id(args.project)
    if not project:
        raise InputError("prism project costs needs a project id")
    prices = PriceTable(app.plugin_settings("cost-tags").get("prices"))
    rows = {}
    for region in _regions(args):
        usage = region_usage(boto3.client("ec2", region_name=region), project)
        if usage["amis"] or usage["snapshots"]:
            usage["usd_per_month"] = prices.monthly({region: usage["gb"]})
            rows[region] = usage
    total = round(sum(r["usd_per_month"] for r in rows.values()), 2)
    lines = [f"{'REGION':<16}  AMIS  SNAPSHOTS  GB      USD/MONTH"]
    lines += [
        f"{region:<16}  {len(r['amis']):<4}  {len(r['snapshots']):<9}  {r['gb']:<6}  "
        f"{r['usd_per_month']:.2f}"
        for region, r in rows.items()
    ]
    lines.append(f"Total for project {project}: ${total:.2f}/month (snapshot storage, list price)")
    emit(
        {"project": project, "regions": rows, "usd_per_month": total}, args.output, "\n".join(lines)
    )
    return 0
