"""``prism list``: the user's prism instances in a region."""

from __future__ import annotations

from typing import Any

from prism_core.aws.tags import TEMPLATE_TAG, TEMPLATE_VERSION_TAG, tags_of
from prism_core.cli.aws_options import PROFILE_ARGUMENT, aws_clients
from prism_core.cli.cement_api import Controller, ex
from prism_core.cli.layout import output_width, table
from prism_core.cli.output import DEBUG_ARGUMENT, OUTPUT_ARGUMENT, emit


def instance_rows(ec2: Any, region: str, everything: bool) -> list[dict[str, Any]]:
    """Instances launched by prism (tagged ``prism:template``), or all with ``everything``.

    Terminated instances are shown only with ``everything``.
    """
    from prism_core.aws.ec2 import instance_records, instance_state  # not needed for --help

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
        rows.append(
            {
                "name": tags.get("Name", ""),
                "id": data["InstanceId"],
                "state": instance_state(data),
                "template": f"{template}@{version}" if template and version else template,
                "type": data.get("InstanceType"),
                "region": region,
                "launched": str(data["LaunchTime"]) if data.get("LaunchTime") else None,
                "public_ip": data.get("PublicIpAddress"),
                "private_ip": data.get("PrivateIpAddress"),
            }
        )
    return sorted(rows, key=lambda r: (r["launched"] or "", r["id"]))


def instances_text(rows: list[dict[str, Any]], width: int | None) -> str:
    """The text table of ``prism list`` (one region, named above it): names, templates and
    launch times wrap to fit."""
    columns = [
        ("name", "NAME"),
        ("id", "ID"),
        ("state", "STATE"),
        ("template", "TEMPLATE"),
        ("type", "TYPE"),
        ("launched", "LAUNCHED"),
    ]
    cells = [
        [
            "-" if row.get(key) is None else str(row[key])[:16].replace("T", " ")
            if key == "launched" else str(row[key])
            for key, _ in columns
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
