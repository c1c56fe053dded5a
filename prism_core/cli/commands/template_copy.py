"""``prism templates copy NAME@N --to-regions R1,R2``: one version's images to more regions."""

from __future__ import annotations

import sys
from typing import Any

from prism_core.cli.aws_options import PROFILE_ARGUMENT, aws_clients
from prism_core.cli.cement_api import Controller, ex
from prism_core.cli.output import DEBUG_ARGUMENT, OUTPUT_ARGUMENT, emit
from prism_core.exceptions import EXIT_OK, EXIT_PARTIAL, InputError

COPY_EPILOG = """examples:
  prism templates copy my-env@2 --to-regions eu-west-1
  prism templates copy my-env@2 --to-regions eu-west-1,ap-south-1 --yes
  prism launch my-env box --region eu-west-1 --copy     # copy, then launch

The copies carry the source image's tags and the version's sharing; the version's
registry entry is rewritten in every region it has, so teammates launch it there."""


def copy_version(app: Any, aws: Any, found: Any, to_regions: list[str], *, yes: bool,
                 dry_run: bool = False) -> tuple[dict[str, Any], int]:
    """Plan, confirm, copy and register; (result document, exit code)."""
    from prism_core.cli.progress import Progress
    from prism_core.cli.prompts import confirm
    from prism_core.templates import copy_version as copying

    progress = Progress(sys.stderr)
    plan = copying.plan_copy(found, to_regions, aws.region)
    for line in plan.lines():
        progress.line("", line, indent=3)
    document: dict[str, Any] = {"template": plan.name, "version": plan.version,
                                "from": plan.source_region, "to_regions": plan.to_regions}
    if dry_run:
        return {**document, "dry_run": True}, EXIT_OK
    confirm(f"Copy {plan.name} v{plan.version} to {', '.join(plan.to_regions)}?", yes)
    app.changes_started = True
    app.interrupt_note = "copies already requested go on in EC2; run the copy again to finish"
    copies, failures = copying.copy_images(aws, app.settings, plan, progress)
    if copies:
        _doc, problems = copying.register_copies(aws, app.settings, plan, copies)
        failures += problems
    document.update({"amis": copies, "failures": failures, "progress": progress.readings})
    if not copies:
        from prism_core.exceptions import OperationFailed

        raise OperationFailed("no copy succeeded: " + "; ".join(failures))
    return document, EXIT_PARTIAL if failures else EXIT_OK


def copy_text(document: dict[str, Any]) -> str:
    """The human summary of ``templates copy``."""
    if document.get("dry_run"):
        return "Dry run: every check passed, nothing was copied."
    lines = [f"Template {document['template']} v{document['version']} copied:"]
    for region, images in sorted(document["amis"].items()):
        lines.append(f"   {region}: {', '.join(images.values())}")
    lines += [f"   FAILED {failure}" for failure in document["failures"]]
    return "\n".join(lines)


class TemplateCopy(Controller):
    """``templates copy`` (under ``templates``)."""

    class Meta:
        label = "template_copy"
        stacked_on = "templates"
        stacked_type = "embedded"

    @ex(
        label="copy",
        help="copy a version's images to more regions and register it there",
        description="Copy the images of one version of a template to more regions, share "
        "them as the version is shared, and write the version to the registry there.",
        epilog=COPY_EPILOG,
        arguments=[
            (["name"], {"metavar": "NAME@N", "help": "the template and version to copy"}),
            (["--to-regions"], {"metavar": "R1,R2", "required": True,
                                "help": "regions to copy to (comma-separated)"}),
            (["--region"], {"help": "region whose registry to read (default: AWS config)"}),
            PROFILE_ARGUMENT,
            (["-y", "--yes"], {"action": "store_true", "help": "do not ask"}),
            (["--dry-run"], {"action": "store_true", "help": "show the plan only"}),
            OUTPUT_ARGUMENT,
            DEBUG_ARGUMENT,
        ],
    )
    def copy(self) -> None:
        """``prism templates copy NAME@N --to-regions R``."""
        from prism_core import validation
        from prism_core.templates import store

        pargs = self.app.pargs
        name, version = store.parse_ref(pargs.name)
        if version is None:
            raise InputError(f"give the version to copy: {name}@N",
                             f"see the versions with `prism templates show {name}`")
        aws = aws_clients(self.app, pargs.region)
        to_regions = validation.copy_regions(pargs.to_regions, "")
        if not to_regions:
            raise InputError("--to-regions names no region", "e.g. --to-regions eu-west-1")
        settings = self.app.settings
        found = store.find(pargs.name, settings.templates_dir, aws, settings.registry_prefix,
                           aws.region)
        document, code = copy_version(self.app, aws, found, to_regions, yes=pargs.yes,
                                      dry_run=pargs.dry_run)
        emit(document, pargs.output, copy_text(document))
        self.app.exit_code = code
