"""``prism cleanup``: remove prism-made groups, key pairs and helpers nothing uses."""

from __future__ import annotations

import sys
from argparse import RawDescriptionHelpFormatter
from typing import Any

from prism_core.cli.aws_options import PROFILE_ARGUMENT, command_clients
from prism_core.cli.cement_api import Controller, ex
from prism_core.cli.output import DEBUG_ARGUMENT, OUTPUT_ARGUMENT, emit
from prism_core.exceptions import OperationFailed

CLEANUP_EPILOG = """what is removed (in one region; ownership proven by the cloud's own
tags, never by a name; each item checked again just before it goes):
  security groups prism launch made (prism:launch-id) that nothing uses
  key pairs prism launch imported (prism:key-of) that no instance uses
  --validate boot-check instances (prism:boot-check) older than a boot
  check lasts

examples:
  prism cleanup --dry-run
  prism cleanup --region us-east-2 --yes"""


def run_cleanup(app: Any) -> int:
    """The ``prism cleanup`` command body; returns the exit code."""
    from prism_core.cli.progress import Progress
    from prism_core.cli.prompts import confirm
    from prism_core.instances import cleanup

    pargs = app.pargs
    progress = Progress(sys.stderr)
    aws, region = command_clients(app)
    ec2 = aws.ec2(region)
    leftovers = cleanup.find_leftovers(ec2, app.settings)
    document: dict[str, Any] = {"region": region, "found": cleanup.document(leftovers)}
    if not leftovers:
        emit({**document, "removed": []}, pargs.output, f"Nothing to clean up in {region}.")
        return 0
    for item in leftovers:
        progress.line("info", f"Remove {item.line()}")
    if pargs.dry_run:
        emit(
            {**document, "dry_run": True},
            pargs.output,
            f"Dry run: {len(leftovers)} item(s) would be removed; nothing was changed",
        )
        return 0
    confirm(f"Remove these {len(leftovers)} item(s) in {region}?", pargs.yes)
    app.changes_started = True
    app.interrupt_note = "cleanup was interrupted; run it again to finish"
    removed, failed = cleanup.remove(ec2, leftovers, app.settings, progress)
    document["removed"] = cleanup.document(removed)
    document["failed"] = failed
    if failed:
        raise OperationFailed(
            f"removed {len(removed)} of {len(leftovers)}; not removed: {'; '.join(failed)}",
            "run `prism cleanup` again, or remove them yourself",
        )
    emit(document, pargs.output, f"Removed {len(removed)} item(s) in {region}.")
    return 0


class Cleanup(Controller):
    """``prism cleanup``: embedded in the base controller."""

    class Meta:
        label = "cleanup_command"
        stacked_on = "base"
        stacked_type = "embedded"

    @ex(
        label="cleanup",
        help="remove prism-made security groups, key pairs and helpers nothing uses",
        description="Find the security groups, key pairs and boot-check instances prism "
        "made in a region (proven by their tags) that nothing uses any more, show them, "
        "and remove them after confirmation.",
        epilog=CLEANUP_EPILOG,
        formatter_class=RawDescriptionHelpFormatter,
        arguments=[
            (["--region"], {"help": "region to clean up (default: your AWS configuration)"}),
            PROFILE_ARGUMENT,
            (
                ["-y", "--yes"],
                {"action": "store_true", "help": "do not ask (required without a terminal)"},
            ),
            (["--dry-run"], {"action": "store_true", "help": "list what would go; change nothing"}),
            OUTPUT_ARGUMENT,
            DEBUG_ARGUMENT,
        ],
    )
    def cleanup(self) -> None:
        """``prism cleanup [--region R] [--yes] [--dry-run]``."""
        self.app.exit_code = run_cleanup(self.app)
