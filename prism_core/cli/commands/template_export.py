"""``prism templates export NAME[@N|@CHANNEL] --launch-template [LT-NAME]``.

Parses, plans (:func:`prism_core.templates.launch_templates.plan_export`), shows the
plan, asks, writes, reports (exit 3 when some regions failed, 1 when all did).
"""

from __future__ import annotations

import sys

from prism_core.cli.aws_options import command_clients
from prism_core.cli.cement_api import Controller, ex
from prism_core.cli.commands.template_lifecycle import exit_code
from prism_core.cli.commands.templates import CHANGE_ARGUMENTS, dry_run_done, warn
from prism_core.cli.output import emit
from prism_core.exceptions import InputError
from prism_core.validation import channel_name, region_name


def _regions(text: str | None) -> list[str] | None:
    if text is None:
        return None
    regions = [r.strip() for r in text.split(",")]
    if not all(regions) or len(set(regions)) != len(regions):
        raise InputError("--regions must list each region once", "use R1,R2 with no spaces")
    return [region_name(r, "--regions") for r in regions]


class TemplateExport(Controller):
    """Exports of template versions to other AWS tools (under ``templates``)."""

    class Meta:
        label = "template_export"
        stacked_on = "templates"
        stacked_type = "embedded"

    @ex(
        help="create or update an EC2 launch template per region from a template version",
        description="Write a new version of an EC2 launch template in each region (default: "
        "every region with the version's image; created, tagged prism:template, on first "
        "use): the image as `resolve:ssm:<prefix>images/NAME/<channel|N|latest>` (EC2 "
        "resolves it at each launch) or the AMI id with --pin-image, the template's "
        "instance type, IMDSv2 required, an encrypted root volume, its tags, and the "
        "setup script of a package-based template as user data. --channel C binds the "
        "launch template to channel C: `prism templates promote NAME@N --channel C` then "
        "adds a version for the new image and makes it the default.",
        arguments=[
            (["ref"], {"metavar": "NAME[@N|@CHANNEL]", "help": "template and version"}),
            (
                ["--launch-template"],
                {
                    "nargs": "?",
                    "const": "",
                    "metavar": "LT-NAME",
                    "help": "launch template name (default: the template's name)",
                },
            ),
            (["--regions"], {"metavar": "R1,R2", "help": "regions (default: all with images)"}),
            (
                ["--set-default"],
                {"action": "store_true", "help": "make the new version the default"},
            ),
            (
                ["--channel"],
                {"metavar": "C", "help": "bind the launch template to channel C"},
            ),
            (
                ["--pin-image"],
                {"action": "store_true", "help": "the AMI id itself, not resolve:ssm:"},
            ),
            *CHANGE_ARGUMENTS,
        ],
    )
    def export(self) -> None:
        """``prism templates export NAME[@N|@CHANNEL] --launch-template [LT-NAME]``."""
        from prism_core.cli.prompts import confirm
        from prism_core.templates import launch_templates, store

        pargs, settings = self.app.pargs, self.app.settings
        if pargs.launch_template is None:
            raise InputError("export needs a target", "pass --launch-template [LT-NAME]")
        name, version, channel = store.parse_selector(pargs.ref)
        lt_name = launch_templates.launch_template_name(pargs.launch_template or name)
        regions = _regions(pargs.regions)
        ref = pargs.ref
        if pargs.channel is not None:
            bind = channel_name(pargs.channel)
            if version is not None or (channel is not None and channel != bind):
                raise InputError(
                    f"--channel {bind} binds the launch template to that channel; "
                    f"{pargs.ref} names another version",
                    f"write {name} or {name}@{bind}",
                )
            ref = f"{name}@{bind}"
        else:
            bind = None
        aws, region = command_clients(self.app)
        problems: list[str] = []
        found = store.find(
            ref, settings.templates_dir, aws, settings.registry_prefix, region, problems
        )
        warn(problems)
        plan = launch_templates.plan_export(
            aws,
            settings,
            found,
            name=lt_name,
            explicit_version=version is not None,
            regions=regions,
            set_default=pargs.set_default,
            bind=bind,
            pin_image=pargs.pin_image,
        )
        headline = (
            f"Export {found.name}@{plan.alias} (v{found.version}) to launch template {lt_name}"
        )
        print(headline, file=sys.stderr)
        for line in plan.lines():
            print(f"   {line}", file=sys.stderr)
        if pargs.dry_run:
            dry_run_done(pargs.output, [headline, *plan.lines()])
            return
        confirm(f"Write launch template {lt_name}?", pargs.yes)
        self.app.changes_started = True
        who = aws.identity()["Arn"]
        done = launch_templates.apply(aws, settings.registry_prefix, plan, who)
        lines = [headline, *(f"   {c}" for c in done.changed)]
        lines += [f"   FAILED: {f}" for f in done.failures]
        emit(
            {
                "template": found.name,
                "version": found.version,
                "alias": plan.alias,
                "launch_template": lt_name,
                "images": {r.region: r.image for r in plan.regions},
                **done.to_dict(),
            },
            pargs.output,
            "\n".join(lines),
        )
        self.app.exit_code = exit_code(done)
