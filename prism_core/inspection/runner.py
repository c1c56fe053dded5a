"""Run the inspection on an instance through SSM Run Command (``AWS-RunShellScript``).

Every way it can fail (no SSM agent, a Windows instance, Run Command denied, no python3,
a timeout) becomes a :class:`Report` that is *unavailable* with the reason, never an
exception: the save decides what an uninspectable instance means for it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from prism_core.aws.clients import AwsClients, error_code, error_message
from prism_core.exceptions import OperationFailed
from prism_core.inspection import script
from prism_core.inspection.findings import Report
from prism_core.validation import printable

#: How long prism waits for one Run Command invocation (the program stops itself sooner).
INVOCATION_SECONDS = script.SECONDS + 120
#: At most this many output parts (20,000 characters each) are fetched.
MAX_PARTS = 64
_DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"}
_DONE = {"Success", "Failed", "Cancelled", "TimedOut", "Undeliverable", "Terminated"}


def inspect_instance(
    aws: AwsClients,
    region: str,
    instance_id: str,
    *,
    poll: float = 1.0,
    on_tick: Callable[[float], None] | None = None,
) -> Report:
    """Inspect ``instance_id``; the report says why when it could not."""
    ssm = aws.client("ssm", region)
    try:
        reason = _not_inspectable(ssm, instance_id)
        if reason:
            return Report.unavailable(reason)
        parts, part = script.Parts(), 1
        while True:
            parts.add(_run(ssm, instance_id, part, poll, on_tick))
            missing = parts.missing()
            if not missing:
                return Report.from_document(parts.document())
            if parts.total > MAX_PARTS:
                return Report.unavailable(f"its inventory is larger than {MAX_PARTS} parts")
            part = missing[0]
    except OperationFailed as exc:
        return Report.unavailable(printable(str(exc), 300))
    except Exception as exc:  # noqa: BLE001 - every AWS answer becomes a reason
        code = error_code(exc)
        if code in _DENIED:
            return Report.unavailable(
                f"Run Command is denied to you ({code}): prism needs ssm:SendCommand, "
                "ssm:GetCommandInvocation and ssm:DescribeInstanceInformation"
            )
        if code == "InvalidInstanceId":
            return Report.unavailable(
                "Systems Manager does not manage the instance (no SSM agent online)"
            )
        return Report.unavailable(f"Run Command failed: {printable(error_message(exc), 300)}")


def _not_inspectable(ssm: Any, instance_id: str) -> str:
    """Why Run Command cannot reach the instance, or ''."""
    answer = ssm.describe_instance_information(
        Filters=[{"Key": "InstanceIds", "Values": [instance_id]}]
    )
    nodes = [
        n for n in answer.get("InstanceInformationList", []) if n.get("InstanceId") == instance_id
    ]
    if not nodes:
        return (
            "Systems Manager does not manage the instance (no SSM agent running, or no "
            "instance profile that lets it register, e.g. AmazonSSMManagedInstanceCore)"
        )
    node = nodes[0]
    if node.get("PlatformType") == "Windows":
        return "it runs Windows; prism's inspection is for Linux instances"
    if node.get("PingStatus", "Online") != "Online":
        return f"its SSM agent is {printable(node.get('PingStatus'), 40)}, not online"
    return ""


def _run(
    ssm: Any, instance_id: str, part: int, poll: float, on_tick: Callable[[float], None] | None
) -> str:
    """Send part ``part`` of the inspection and return what it printed."""
    command_id = ssm.send_command(
        InstanceIds=[instance_id],
        DocumentName="AWS-RunShellScript",
        Comment="prism: read-only inspection before imaging",
        TimeoutSeconds=60,
        Parameters={
            "commands": script.commands(part),
            "executionTimeout": [str(INVOCATION_SECONDS)],
        },
    )["Command"]["CommandId"]
    started = time.monotonic()
    deadline = started + INVOCATION_SECONDS + 30
    while True:
        try:
            answer = ssm.get_command_invocation(CommandId=command_id, InstanceId=instance_id)
        except Exception as exc:
            if error_code(exc) != "InvocationDoesNotExist":  # not there yet, just after Send
                raise
            answer = {"Status": "Pending"}
        status = answer.get("Status", "")
        if status in _DONE:
            break
        if time.monotonic() > deadline:
            raise OperationFailed(f"the inspection did not finish within {INVOCATION_SECONDS} s")
        if on_tick is not None:
            on_tick(time.monotonic() - started)
        time.sleep(poll)
    if status != "Success":
        detail = printable(answer.get("StandardErrorContent") or "", 200)
        raise OperationFailed(f"the inspection ended {status}" + (f": {detail}" if detail else ""))
    return str(answer.get("StandardOutputContent") or "")
