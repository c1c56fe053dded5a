"""``prism terminate NAME``: end an instance prism launched, and its security group."""

from __future__ import annotations

import sys
from argparse import RawDescriptionHelpFormatter
from typing import Any

from prism_core.cli.aws_options import PROFILE_ARGUMENT, command_clients
from prism_core.cli.cement_api import Controller, ex
from prism_core.cli.output import DEBUG_ARGUMENT, OUTPUT_ARGUMENT, emit

TERMINATE_EPILOG = """only instances prism launched are terminated: the instance's own tags must
carry the prism:launch-id of its launch. Once EC2 says the instance is terminated, the
security group made for it (same launch id) is deleted; any other group it uses is kept.

examples:
  prism terminate aftershock-prediction --dry-run   # show what would go
  prism terminate i-0abc12345def67890 --region us-east-2 --yes"""


def run_terminate(app: Any) -> int:
    """The ``prism terminate`` command body; returns the exit code."""
    from prism_core.cli.progress import Progress
    from prism_core.cli.prompts import confirm
    from prism_core.instances import terminate

    pargs = app.pargs
    progress = Progress(sys.stderr)
    aws, region = command_clients(app)
    ec2 = aws.ec2(region)
    plan = terminate.plan_terminate(ec2, pargs.name, region)
    for line in plan.lines():
        progress.line("info", line)
    document = plan.document()
    if pargs.dry_run:
        document["dry_run"] = True
        emit(document, pargs.output, "Dry run: nothing was changed")
        return 0
    confirm(f"Terminate {plan.instance.name} ({plan.instance.instance_id})?", pargs.yes)
    app.changes_started = True
    app.interrupt_note = f"termination of {plan.instance.instance_id} was requested"
    document["deleted_security_groups"] = terminate.run_terminate(
        ec2, plan, app.settings, progress
    )
    document["state"] = "terminated"
    text = f"Terminated {plan.instance.name} ({plan.instance.instance_id})"
    if document["deleted_security_groups"]:
        text += "; deleted security group " + ", ".join(document["deleted_security_groups"])
    emit(document, pargs.output, text)
    return 0


class Terminate(Controller):
    """``prism terminate``: embedded in the base controller."""

    class Meta:
        label = "terminate_command"
        stacked_on = "base"
        stacked_type = "embedded"

    @ex(
        label="terminate",
        help="terminate an instance prism launched, and its security group",
        description="Terminate an instance prism launched (proven by its tags) and, once "
        "it is gone, delete the security group made for it.",
        epilog=TERMINATE_EPILOG,
        formatter_class=RawDescriptionHelpFormatter,
        arguments=[
            (["name"], {"help": "the instance's Name tag or its id (i-...)"}),
            (["--region"], {"help": "region of the instance (default: your AWS configuration)"}),
            PROFILE_ARGUMENT,
            (
                ["-y", "--yes"],
                {"action": "store_true", "help": "do not ask (required without a terminal)"},
            ),
            (["--dry-run"], {"action": "store_true", "help": "show the plan; change nothing"}),
            OUTPUT_ARGUMENT,
            DEBUG_ARGUMENT,
        ],
    )
    def terminate(self) -> None:
        """``prism terminate NAME [--region R] [--yes] [--dry-run]``."""
        self.app.exit_code = run_terminate(self.app)
