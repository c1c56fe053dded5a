"""``prism list``: the user's prism instances in a region."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prism_core.aws.tags import TEMPLATE_TAG, TEMPLATE_VERSION_TAG, tags_of
from prism_core.cli.aws_options import PROFILE_ARGUMENT, aws_clients
from prism_core.cli.cement_api import Controller, ex
from prism_core.cli.layout import output_width, table
from prism_core.cli.output import DEBUG_ARGUMENT, OUTPUT_ARGUMENT, emit


def _uptime(launched: Any, now: datetime) -> float | None:
    """Hours since ``LaunchTime`` (EC2 resets it at every start), if known."""
    if not isinstance(launched, datetime):
        return None
    return max((now - launched).total_seconds(), 0.0) / 3600


def instance_rows(ec2: Any, region: str, everything: bool) -> list[dict[str, Any]]:
    """Instances launched by prism (tagged ``prism:template``), or all with ``everything``.

    Terminated instances are shown only with ``everything``. Each row has its address
    (public, else private), list price per hour (prism's instance-type data, on-demand)
    and, while it runs, the hours since it was (re)started and their cost.
    """
    from prism_core.aws.ec2 import instance_records, instance_state  # not needed for --help
    from prism_core.templates.document import instance_types

    prices = instance_types()
    now = datetime.now(UTC)
    filters = (
        []
        if everything
        else [
            {"Name": "tag-key", "Values": [TEMPLATE_TAG]},
            {
                "Name": "instance-state-name",
                "Values": ["pending", "running", "stopping", "stopped", "shutting-down"],
            },
        ]
    )
    rows: list[dict[str, Any]] = []
    for data in instance_records(ec2, filters):
        tags = tags_of(data)
        version = tags.get(TEMPLATE_VERSION_TAG)
        template = tags.get(TEMPLATE_TAG)
        state = instance_state(data)
        price = (prices.get(str(data.get("InstanceType"))) or {}).get("usd_per_hour")
        hours = _uptime(data.get("LaunchTime"), now) if state == "running" else None
        rows.append(
            {
                "name": tags.get("Name", ""),
                "id": data["InstanceId"],
                "state": state,
                "template": f"{template}@{version}" if template and version else template,
                "type": data.get("InstanceType"),
                "region": region,
                "launched": str(data["LaunchTime"]) if data.get("LaunchTime") else None,
                "public_ip": data.get("PublicIpAddress"),
                "private_ip": data.get("PrivateIpAddress"),
                "address": data.get("PublicIpAddress") or data.get("PrivateIpAddress"),
                "usd_per_hour": price,
                "uptime_hours": round(hours, 3) if hours is not None else None,
                "usd_since_start": (
                    round(hours * float(price), 2) if hours is not None and price else None
                ),
            }
        )
    return sorted(rows, key=lambda r: (r["launched"] or "", r["id"]))


def _running_cost(row: dict[str, Any]) -> str | None:
    """``$0.04/h, 3h12m $0.13``: price per hour and, while running, time up and its cost."""
    price = row.get("usd_per_hour")
    if price is None:
        return None
    text = f"${price}/h"
    hours = row.get("uptime_hours")
    if hours is not None:
        whole = int(hours)
        text += f", up {whole}h{int((hours - whole) * 60):02d}m ${row['usd_since_start']:.2f}"
    return text


def instances_text(rows: list[dict[str, Any]], width: int | None) -> str:
    """The text table of ``prism list`` (one region, named above it): names, templates and
    costs wrap to fit."""
    columns = [
        ("name", "NAME"),
        ("state", "STATE"),
        ("address", "ADDRESS"),
        ("template", "TEMPLATE"),
        ("type", "TYPE"),
        ("cost", "COST"),
        ("id", "ID"),
    ]
    cells = [
        [
            "-" if value is None else str(value)
            for value in (
                _running_cost(row) if key == "cost" else row.get(key) for key, _ in columns
            )
        ]
        for row in rows
    ]
    return table([h for _, h in columns], cells, width, wrap_columns=(0, 3, 5))


class Instances(Controller):
    """``prism list``: embedded in the base controller."""

    class Meta:
        label = "instances_command"
        stacked_on = "base"
        stacked_type = "embedded"

    @ex(
        label="list",
        help="list your prism instances (launched from a template) in a region",
        arguments=[
            (
                ["--all"],
                {"action": "store_true", "help": "every instance, also those prism did not launch"},
            ),
            (["--region"], {"help": "region to list (default: your AWS configuration)"}),
            PROFILE_ARGUMENT,
            OUTPUT_ARGUMENT,
            DEBUG_ARGUMENT,
        ],
    )
    def list_instances(self) -> None:
        """``prism list [--all] [--region R]``."""
        pargs = self.app.pargs
        aws = aws_clients(self.app, pargs.region)
        region = aws.region
        rows = instance_rows(aws.ec2(region), region, pargs.all)
        text = (
            f"Instances in {region}:\n" + instances_text(rows, output_width())
            if rows
            else f"No prism instances in {region}."
        )
        emit({"region": region, "instances": rows}, pargs.output, text)
