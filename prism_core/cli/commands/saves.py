"""``prism saves list|show|follow|abort``: detached saves, read from the save engine's
executions (any machine, any teammate with the permissions)."""

from __future__ import annotations

import sys
import time
from typing import Any

from prism_core.cli.aws_options import PROFILE_ARGUMENT
from prism_core.cli.cement_api import Controller, ex
from prism_core.cli.layout import ListingHelpFormatter
from prism_core.cli.output import DEBUG_ARGUMENT, OUTPUT_ARGUMENT, emit

REGION_ARGUMENT = (["--region"], {"help": "the engine's region (default: your AWS configuration)"})
SAVE_ID_ARGUMENT = (["save_id"], {"metavar": "SAVE_ID", "help": "the save's id"})
NEWEST_ARGUMENT = (
    ["save_id"],
    {"metavar": "SAVE_ID", "nargs": "?", "help": "the save's id (default: the newest)"},
)


def _context(app: Any) -> tuple[Any, Any, str]:
    """The clients, the Step Functions client and the engine's state machine ARN."""
    from prism_core.cli.aws_options import command_clients
    from prism_core.cloud.deploy import STATE_MACHINE

    aws, region = command_clients(app)
    arn = aws.identity()["Arn"]
    partition = arn.split(":")[1] if arn.startswith("arn:") else "aws"
    machine = f"arn:{partition}:states:{region}:{aws.account_id()}:stateMachine:{STATE_MACHINE}"
    return aws, aws.client("stepfunctions", region), machine


def _run(app: Any, sfn: Any, machine: str, history: bool = True) -> Any:
    from prism_core.cloud.executions import execution_arn, read
    from prism_core.exceptions import InputError
    from prism_core.validation import printable

    save_id = app.pargs.save_id
    if save_id is None:  # the newest detached save
        newest = sfn.list_executions(stateMachineArn=machine, maxResults=1)["executions"]
        if not newest:
            raise InputError("no detached saves yet", "run `prism save ... --detach` first")
        save_id = newest[0]["name"]
    try:
        return read(sfn, execution_arn(machine, save_id), history)
    except Exception as exc:
        if "ExecutionDoesNotExist" in str(exc) or "does not exist" in str(exc).lower():
            raise InputError(f"no detached save {printable(save_id, 80)}",
                             "see `prism saves list`") from None
        raise


def _text(run: Any) -> str:
    lines = [f"Save {run.save_id}: {run.status}",
             f"  template: {run.template}@{run.version}".rstrip("@"),
             *([f"  schedule: {run.schedule}"] if run.schedule else []),
             f"  started:  {run.started}" + (f", ended {run.stopped}" if run.stopped else "")]
    for region in run.regions:
        what = region.get("image_id") or ""
        cause = f" ({region.get('error')}: {region.get('cause')})" if region.get("error") else ""
        lines.append(f"  {region.get('region')}: {region.get('status')} {what}{cause}".rstrip())
    instance = _instance_text(run.instance)
    if instance:
        lines.append(f"  instance: {instance}")
    if run.error:
        lines.append(f"  error: {run.error}")
    return "\n".join(lines)


def _instance_text(instance: dict[str, Any] | None) -> str:
    """What became of the instance of a detached ``--stop`` save (empty otherwise)."""
    if not instance or not instance.get("restart"):
        return ""
    if instance.get("started"):
        by = "prism saves abort" if instance.get("by") == "saves-abort" else "the save engine"
        return f"{instance.get('instance_id')} running again (started by {by})"
    return f"{instance.get('instance_id')} {instance.get('state')}: {instance.get('note')}"


class Saves(Controller):
    """``prism saves ...``: detached saves (``prism save --detach``)."""

    class Meta:
        label = "saves"
        stacked_on = "base"
        stacked_type = "nested"
        help = "detached saves run by the save engine: list, show, follow, abort"
        argument_formatter = ListingHelpFormatter  # the description wraps at the terminal
        description = ("Detached saves (`prism save --detach`) run as executions of the save "
                       "engine in your account; these commands read them from any machine.")

    @ex(help="list the newest detached and scheduled saves",
        arguments=[REGION_ARGUMENT, PROFILE_ARGUMENT, OUTPUT_ARGUMENT, DEBUG_ARGUMENT])
    def list(self) -> None:
        """``prism saves list``."""
        from prism_core.cli.layout import output_width, table
        from prism_core.cloud.executions import list_runs

        _, sfn, machine = _context(self.app)
        try:
            runs = list_runs(sfn, machine)
        except Exception as exc:
            if "StateMachineDoesNotExist" not in str(exc):
                raise
            runs = []
        cells = [[r.save_id, f"{r.template}@{r.version}".rstrip("@"), r.status,
                  r.started[:19], r.schedule or "-"] for r in runs]
        text = (table(["SAVE ID", "TEMPLATE", "STATUS", "STARTED", "SCHEDULE"], cells,
                      output_width())
                if runs else "No detached saves.")
        emit({"saves": [r.to_dict() for r in runs]}, self.app.pargs.output, text)

    @ex(help="one detached save: phases, regions, the cause of a failure",
        arguments=[NEWEST_ARGUMENT, REGION_ARGUMENT, PROFILE_ARGUMENT, OUTPUT_ARGUMENT,
                   DEBUG_ARGUMENT])
    def show(self) -> None:
        """``prism saves show ID``: exit 0 done (or still running), 3 partial, 1 failed."""
        _, sfn, machine = _context(self.app)
        run = _run(self.app, sfn, machine)
        emit(run.to_dict(), self.app.pargs.output, _text(run))
        self.app.exit_code = 0 if run.status == "running" else run.exit_code

    @ex(help="stream a detached save's progress until it ends",
        arguments=[NEWEST_ARGUMENT, REGION_ARGUMENT, PROFILE_ARGUMENT, OUTPUT_ARGUMENT,
                   DEBUG_ARGUMENT])
    def follow(self) -> None:
        """``prism saves follow ID``: like an attached save; its exit code at the end."""
        _, sfn, machine = _context(self.app)
        delay = self.app.settings.poll_delay
        seen = 0
        while True:
            run = _run(self.app, sfn, machine)
            for event in run.events[seen:]:
                if event["event"] == "entered":
                    print(f"> {event['state']}", file=sys.stderr)
            seen = len(run.events)
            if run.status != "running":
                break
            time.sleep(delay)
        emit(run.to_dict(), self.app.pargs.output, _text(run))
        self.app.exit_code = run.exit_code

    @ex(help="stop a detached save and remove what it made (proven by tags)",
        arguments=[SAVE_ID_ARGUMENT, (["--yes", "-y"], {"action": "store_true",
                                                        "help": "do not ask"}),
                   REGION_ARGUMENT, PROFILE_ARGUMENT, OUTPUT_ARGUMENT, DEBUG_ARGUMENT])
    def abort(self) -> None:
        """``prism saves abort ID``."""
        from prism_core.cli.prompts import confirm
        from prism_core.cloud.executions import abort

        aws, sfn, machine = _context(self.app)
        run = _run(self.app, sfn, machine, history=False)
        confirm(f"Stop save {run.save_id} and remove its images?", self.app.pargs.yes)
        self.app.changes_started = True
        self.app.interrupt_note = f"run `prism saves abort {run.save_id}` again to finish"
        settings = self.app.settings
        result = abort(aws, sfn, run.arn, settings.poll_delay,
                       settings.timeouts["snapshots"] + settings.timeouts["start"])
        removed = result["removed"]
        text = f"Aborted save {run.save_id}; removed: " + (", ".join(removed) or "nothing")
        instance = _instance_text(result.get("instance"))
        for line in result.get("problems") or []:
            print(f"prism: {line}", file=sys.stderr)
        emit({"save_id": run.save_id, "aborted": True, **result}, self.app.pargs.output,
             text + (f"\nInstance {instance}" if instance else ""))
