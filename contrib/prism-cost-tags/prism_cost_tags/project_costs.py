"""``prism project costs P``: storage cost of a project's AMIs and snapshots across regions.

Regions are asked concurrently with prism's retry settings; a region that fails
(throttled, denied by an SCP, unreachable) is reported by name beside the partial
totals, and the command exits with the partial-success code.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from prism_core.plugin_api import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_PARTIAL,
    AwsClients,
    InputError,
    aws_clients,
    emit,
    error_code,
    error_message,
)
from prism_cost_tags.pricing import PriceTable, image_snapshots

#: Regions asked at once (each is a handful of Describe calls).
CONCURRENCY = 12
THROTTLED = ("Throttling", "ThrottlingException", "RequestLimitExceeded")
DENIED = ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthFailure")


def region_usage(ec2: Any, project: str) -> dict[str, Any]:
    """AMIs and snapshots tagged with ``project`` in one region, and their GB."""
    from prism_core.toolkit import PROJECT_TAG  # the toolkit loads prism's engine: here

    tag_filter = [{"Name": f"tag:{PROJECT_TAG}", "Values": [project]}]
    images = ec2.describe_images(Owners=["self"], Filters=tag_filter)["Images"]
    sizes: dict[str, int] = {}
    for image in images:
        sizes.update(image_snapshots(image))
    for page in ec2.get_paginator("describe_snapshots").paginate(
        OwnerIds=["self"], Filters=tag_filter
    ):
        for snap in page["Snapshots"]:
            sizes[snap["SnapshotId"]] = int(snap.get("VolumeSize") or 0)
    return {
        "amis": sorted(i["ImageId"] for i in images),
        "snapshots": sorted(sizes),
        "gb": sum(sizes.values()),
    }


def _regions(args: Any, aws: AwsClients) -> list[str]:
    from prism_core.toolkit import region_name

    if args.regions:
        return [region_name(r.strip(), "--regions") for r in args.regions.split(",") if r.strip()]
    return aws.available_regions()


def failure_kind(exc: BaseException) -> str:
    """``throttled``, ``denied`` or ``failed``."""
    code = error_code(exc)
    if code in THROTTLED:
        return "throttled"
    if code in DENIED:
        return "denied"
    return "failed"


def run(app: Any, args: Any) -> int:
    """Sum the storage cost per region and in total; exit 2 on bad input, 3 if some
    regions could not be read (their names and why are listed), 1 if none could."""
    from prism_core.toolkit import project_id

    project = project_id(args.project)
    if not project:
        raise InputError("prism project costs needs a project id")
    prices = PriceTable(app.plugin_settings("cost-tags").get("prices"))
    aws = aws_clients(app)
    regions = _regions(args, aws)

    def one(region: str) -> tuple[str, dict[str, Any] | None, dict[str, str] | None]:
        try:
            return region, region_usage(aws.ec2(region), project), None
        except Exception as exc:
            return region, None, {"kind": failure_kind(exc), "error": error_message(exc)}

    rows: dict[str, dict[str, Any]] = {}
    failures: dict[str, dict[str, str]] = {}
    with ThreadPoolExecutor(max_workers=min(CONCURRENCY, max(1, len(regions)))) as pool:
        for region, usage, failure in pool.map(one, regions):
            if failure is not None:
                failures[region] = failure
            elif usage and (usage["amis"] or usage["snapshots"]):
                usage["usd_per_month"] = prices.monthly({region: usage["gb"]})
                rows[region] = usage
    total = round(sum(r["usd_per_month"] for r in rows.values()), 2)
    lines = [f"{'REGION':<16}  AMIS  SNAPSHOTS  GB      USD/MONTH"]
    lines += [
        f"{region:<16}  {len(r['amis']):<4}  {len(r['snapshots']):<9}  {r['gb']:<6}  "
        f"{r['usd_per_month']:.2f}"
        for region, r in sorted(rows.items())
    ]
    partial = " (partial: some regions could not be read)" if failures else ""
    lines.append(
        f"Total for project {project}: ${total:.2f}/month (snapshot storage, list price){partial}"
    )
    lines += [f"   {region}: {f['kind']}: {f['error']}" for region, f in sorted(failures.items())]
    code = EXIT_OK
    if failures:
        code = EXIT_FAILURE if len(failures) == len(regions) else EXIT_PARTIAL
    emit(
        {
            "project": project,
            "regions": rows,
            "usd_per_month": total,
            "failed_regions": failures,
            "complete": not failures,
            "exit_code": code,
        },
        args.output,
        "\n".join(lines),
    )
    return code
