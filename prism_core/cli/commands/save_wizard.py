"""``prism save`` with missing arguments on a terminal: ask for them, one by one.

Asks (questionary) for every value not given on the command line: the instance (a
list of the user's running and stopped instances in the region), the template name
(validated as it is typed, with a note when it would make a new version), the
description, copy regions, project and sharing. The caller then shows the plan and
asks ``Continue?``. Ctrl-C or Ctrl-D at any prompt raises ``Cancelled``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prism_core import validation
from prism_core.aws.clients import AwsClients, error_message
from prism_core.aws.ec2 import instance_records, instance_state
from prism_core.aws.tags import TEMPLATE_TAG, tags_of
from prism_core.cli.layout import output_width, table_lines
from prism_core.cli.progress import Progress, format_duration
from prism_core.cli.prompts import ask
from prism_core.exceptions import InputError, PrismError
from prism_core.save.options import SaveOptions
from prism_core.templates import document as templates

SAVEABLE_STATES = ("running", "stopped")
PRIVATE, ACCOUNTS, PUBLIC = "private", "accounts", "public"


def _uptime(data: dict[str, Any], now: datetime) -> str:
    launched = data.get("LaunchTime")
    if instance_state(data) != "running" or not isinstance(launched, datetime):
        return "-"
    if launched.tzinfo is None:
        launched = launched.replace(tzinfo=UTC)
    seconds = max(0.0, (now - launched).total_seconds())
    days, rest = divmod(int(seconds), 86400)
    return f"{days}d {rest // 3600}h" if days else format_duration(seconds)


def instance_rows(ec2: Any) -> list[dict[str, str]]:
    """The caller's running and stopped instances: id, name, type, state, template, uptime."""
    rows: list[dict[str, str]] = []
    now = datetime.now(UTC)
    filters = [{"Name": "instance-state-name", "Values": list(SAVEABLE_STATES)}]
    for data in instance_records(ec2, filters):
        tags = tags_of(data)
        rows.append(
            {
                "id": data["InstanceId"],
                "name": tags.get("Name", "(no name)"),
                "type": data.get("InstanceType", ""),
                "state": instance_state(data),
                "template": tags.get(TEMPLATE_TAG, "-"),
                "uptime": _uptime(data, now),
            }
        )
    return sorted(rows, key=lambda r: (r["name"].lower(), r["id"]))


def _instance_choices(rows: list[dict[str, str]]) -> tuple[str, list[Any]]:
    """The picker's heading and one choice per instance, fitted to the terminal."""
    import questionary

    keys = ("name", "type", "state", "template", "uptime")
    headings = ["NAME", "TYPE", "STATE", "TEMPLATE", "UPTIME"]
    width = output_width(sys.stdout) or output_width(sys.stderr)
    # the picker's pointer and indent take 4 columns; a choice must stay on one line
    lines = table_lines(
        headings,
        [[r[k] for k in keys] for r in rows],
        None if width is None else width - 4,
        shrink_columns=(0, 3),
    )
    choices = [
        questionary.Choice(title=line, value=r["id"])
        for line, r in zip(lines[1:], rows, strict=True)
    ]
    return lines[0], choices


def version_note(templates_dir: Path, name: str) -> str:
    """What saving ``name`` makes: a new template or its next version."""
    try:
        current = templates.local_version(templates_dir, validation.template_name(name))
    except PrismError:
        return ""
    if current:
        return f"'{name}' exists (version {current}): this save makes version {current + 1}"
    return f"'{name}' is a new template (version 1)"


def _validator(check: Any, optional: bool = False) -> Any:
    def validate(text: str) -> bool | str:
        if optional and not text.strip():
            return True
        try:
            check(text.strip())
        except InputError as exc:
            return str(exc)
        return True

    return validate


def ask_instance(ec2: Any, region: str) -> str:
    """Pick one of the saveable instances in ``region``; returns its id."""
    import questionary

    rows = instance_rows(ec2)
    if not rows:
        raise InputError(
            f"no running or stopped instance in {region}",
            "pass --region for the region your instance runs in",
        )
    header, choices = _instance_choices(rows)
    return str(
        ask(
            questionary.select(
                f"Which instance do you want to save? ({region})",
                choices=choices,
                instruction=f"\n    {header}",
            )
        )
    )


def ask_template(templates_dir: Path, progress: Progress) -> str:
    """A template name, validated while typed; says when it makes a new version."""
    import questionary

    name = str(
        ask(
            questionary.text(
                "Template name:",
                validate=_validator(validation.template_name),
                instruction="(letters, digits, - _ .)",
            )
        )
    ).strip()
    progress.line("info", version_note(templates_dir, name), indent=2)
    return name


def ask_regions(aws: AwsClients, source: str, progress: Progress) -> str | None:
    """Regions to copy to: a checkbox of the account's enabled regions in the source's
    partition (an image never crosses from aws to aws-cn or aws-us-gov), source excluded."""
    import questionary

    same_partition = validation.partition_regions(source)
    try:
        regions = [
            r
            for r in aws.available_regions()
            if r != source and (not same_partition or r in same_partition)
        ]
    except Exception as exc:
        progress.line("warn", f"Cannot list regions ({error_message(exc)}); not copying")
        return None
    if not regions:
        return None
    picked = ask(
        questionary.checkbox(
            "Copy the image to other regions?",
            choices=regions,
            instruction="(space to select, enter when done; none is fine)",
        )
    )
    return ",".join(picked) if picked else None


def ask_sharing() -> tuple[bool, str | None]:
    """Private, specific accounts (ids asked and validated) or public."""
    import questionary

    choice = ask(
        questionary.select(
            "Who may launch it?",
            choices=[
                questionary.Choice("private (only this account)", value=PRIVATE),
                questionary.Choice("specific accounts, organizations or OUs", value=ACCOUNTS),
                questionary.Choice("public (any AWS account)", value=PUBLIC),
            ],
        )
    )
    if choice == PUBLIC:
        return True, None
    if choice == ACCOUNTS:

        def nonempty_targets(text: str) -> list[str]:
            if not text:
                raise InputError("give at least one account id")
            return validation.share_targets(text)

        targets = ask(
            questionary.text(
                "Account ids or ARNs (comma-separated):",
                validate=_validator(nonempty_targets),
            )
        )
        return False, ",".join(t.strip() for t in str(targets).split(","))
    return False, None


def _ask_optional(label: str, check: Callable[[str], object]) -> str | None:
    """A free-text answer checked as it is typed; empty means none."""
    import questionary

    answer = str(ask(questionary.text(label, validate=_validator(check, optional=True))))
    return answer.strip() or None


def complete_save_options(
    options: SaveOptions, aws: AwsClients, templates_dir: Path, progress: Progress
) -> SaveOptions:
    """Ask on the terminal for what the command line did not give; keep the rest."""
    region = validation.region_name(aws.region)
    progress.line("save", "Save an instance as a template (Ctrl-C to cancel at any time)")
    answers: dict[str, Any] = {}
    if not options.instance:
        answers["instance"] = ask_instance(aws.ec2(region), region)
    if not options.template:
        answers["template"] = ask_template(templates_dir, progress)
    if options.description is None:
        answers["description"] = _ask_optional("Description (optional):", validation.description)
    if options.copy_to_regions is None:
        answers["copy_to_regions"] = ask_regions(aws, region, progress)
    if options.project is None:
        answers["project"] = _ask_optional("Project (optional):", validation.project_id)
    if not options.public and options.share_with is None:
        answers["public"], answers["share_with"] = ask_sharing()
    return replace(options, **answers)
