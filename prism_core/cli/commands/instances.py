"""``prism list``: the user's prism instances in a region."""

from __future__ import annotations

from typing import Any

from cement import Controller, ex

from prism_core.cli.output import DEBUG_ARGUMENT, OUTPUT_ARGUMENT, emit
from prism_core.validation import region_name

TEMPLATE_TAG = "prism:template"


def instance_rows(ec2: Any, region: str, everything: bool) -> list[dict[str, Any]]:
    """Instances launched by prism (tagged ``prism:template``), or all with ``everything``.

    Terminated instances are shown only with ``everything``.
    """
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
    for page in ec2.get_paginator("describe_instances").paginate(Filters=filters):
        for reservation in page["Reservations"]:
            for data in reservation["Instances"]:
                tags = {t["Key"]: t["Value"] for t in data.get("Tags", [])}
                version = tags.get("prism:template-version")
                template = tags.get(TEMPLATE_TAG)
                rows.append(
                    {
                        "name": tags.get("Name", ""),
                        "id": data["InstanceId"],
                        "state": data["State"]["Name"],
                        "template": f"{template}@{version}" if template and version else template,
                        "type": data.get("InstanceType"),
                        "region": region,
                        "launched": str(data["LaunchTime"]) if data.get("LaunchTime") else None,
                        "public_ip": data.get("PublicIpAddress"),
                        "private_ip": data.get("PrivateIpAddress"),
                    }
                )
    return sorted(rows, key=lambda r: (r["launched"] or "", r["id"]))


def table(rows: list[dict[str, Any]], columns: list[tuple[str, str]]) -> str:
    """A plain aligned text table; ``columns`` are (key, heading)."""
    cells = [
        [str(row.get(key) if row.get(key) is not None else "-") for key, _ in columns]
        for row in rows
    ]
    widths = [max([len(h)] + [len(c[i]) for c in cells]) for i, (_, h) in enumerate(columns)]
    lines = ["  ".join(h.ljust(w) for (_, h), w in zip(columns, widths, strict=True)).rstrip()]
    lines += [
        "  ".join(c.ljust(w) for c, w in zip(cell, widths, strict=True)).rstrip() for cell in cells
    ]
    return "\n".join(lines)


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
            OUTPUT_ARGUMENT,
            DEBUG_ARGUMENT,
        ],
    )
    def list_instances(self) -> None:
        """``prism list [--all] [--region R]``."""
        from prism_core.aws.clients import AwsClients

        pargs = self.app.pargs
        if pargs.region:
            region_name(pargs.region)
        aws = AwsClients(pargs.region, self.app.settings.max_attempts)
        region = region_name(aws.region)
        rows = instance_rows(aws.ec2(region), region, pargs.all)
        columns = [
            ("name", "NAME"),
            ("id", "ID"),
            ("state", "STATE"),
            ("template", "TEMPLATE"),
            ("type", "TYPE"),
            ("region", "REGION"),
            ("launched", "LAUNCHED"),
        ]
        text = table(rows, columns) if rows else f"No prism instances in {region}."
        emit({"region": region, "instances": rows}, pargs.output, text)
