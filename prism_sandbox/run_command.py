"""SSM Run Command as the sandbox emulates it: ``AWS-RunShellScript`` runs its commands
for real (``sh``) with ``PRISM_INSPECT_ROOT`` set to the instance's tree.

moto records commands and answers every invocation ``Success`` with no output, and has
no ``DescribeInstanceInformation``. Here an instance is a managed Linux node while it is
running, unless marked otherwise (``Sandbox.ssm_agent``); commands go only to managed
nodes (``InvalidInstanceId`` otherwise), and the output is cut as Run Command cuts it
(24,000 characters of stdout, 8,000 of stderr). The sandbox listens on loopback, where
any local user may reach it, so it runs only the scripts prism ships (an
``allow_any_command`` sandbox runs anything).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from typing import TYPE_CHECKING, Any

from moto.core.exceptions import JsonRESTError
from moto.core.responses import ActionResult
from moto.ssm.models import SimpleSystemManagerBackend
from moto.ssm.responses import SimpleSystemManagerResponse

if TYPE_CHECKING:  # pragma: no cover
    from .server import Sandbox

STDOUT_LIMIT, STDERR_LIMIT = 24000, 8000
_orig_send_command = SimpleSystemManagerBackend.send_command


#: ``patches.runtime`` (given by :func:`install`; no import back into ``patches``).
_runtime: Any = None


def _sandbox() -> Sandbox | None:
    return _runtime.current if _runtime is not None else None


def _ec2_instance(account_id: str, region: str, instance_id: str) -> Any:
    from moto.ec2.models import ec2_backends

    for reservation in ec2_backends[account_id][region].reservations.values():
        for instance in reservation.instances:
            if instance.id == instance_id:
                return instance
    return None


def managed(sb: Sandbox, instance: Any) -> bool:
    """Whether ``instance`` is an online managed node (agent running, profile attached)."""
    return (
        instance is not None and instance.state == "running" and sb.ssm_agent.get(instance.id, True)
    )


def _platform(instance: Any) -> str:
    return "Windows" if (getattr(instance, "platform", None) or "") == "windows" else "Linux"


def _describe_instance_information(self: SimpleSystemManagerResponse) -> ActionResult:
    sb = _sandbox()
    from moto.ec2.models import ec2_backends

    wanted: set[str] = set()
    filters = (self._get_param("Filters") or []) + (
        self._get_param("InstanceInformationFilterList") or []
    )
    for item in filters:
        if item.get("Key") in ("InstanceIds", "instanceIds"):
            wanted.update(item.get("Values") or item.get("valueSet") or [])
    backend = ec2_backends[self.current_account][self.region]
    found = []
    for reservation in backend.reservations.values():
        for instance in reservation.instances:
            if wanted and instance.id not in wanted:
                continue
            if sb is None or not managed(sb, instance):
                continue
            found.append(
                {
                    "InstanceId": instance.id,
                    "PingStatus": "Online",
                    "PlatformType": _platform(instance),
                    "PlatformName": "Microsoft Windows Server 2022"
                    if _platform(instance) == "Windows"
                    else "Ubuntu",
                    "AgentVersion": "3.3.40.0",
                    "ResourceType": "EC2Instance",
                    "IsLatestVersion": True,
                }
            )
    return ActionResult({"InstanceInformationList": found})


def _patched_send_command(self: SimpleSystemManagerBackend, *args: Any, **kwargs: Any) -> Any:
    sb = _sandbox()
    if sb is None:
        return _orig_send_command(self, *args, **kwargs)
    for instance_id in kwargs.get("instance_ids") or []:
        if not managed(sb, _ec2_instance(self.account_id, self.region_name, instance_id)):
            raise JsonRESTError("InvalidInstanceId", "Instances not in a valid state for account")
    command = _orig_send_command(self, *args, **kwargs)
    if command.document_name != "AWS-RunShellScript":
        return command
    params = command.parameters or {}
    commands = list(params.get("commands") or [])
    timeout = _timeout(params.get("executionTimeout"))
    for invocation in command.invocations:
        _run(sb, invocation, commands, timeout)
    failed = [i for i in command.invocations if i["Status"] != "Success"]
    command.status = "Failed" if failed else "Success"
    command.error_count = len(failed)
    return command


def _timeout(value: Any) -> float:
    try:
        seconds = float((value or ["3600"])[0])
    except (TypeError, ValueError):
        seconds = 3600.0
    return min(max(seconds, 1.0), 600.0)


def shipped(commands: list[str]) -> bool:
    """Whether ``commands`` are prism's inspection, as prism ships it."""
    import re

    from prism_core.inspection import script

    match = re.fullmatch(
        r"export PRISM_INSPECT_PART=(\d+) PRISM_INSPECT_SECONDS=(\d+)",
        commands[0] if commands else "",
    )
    return match is not None and commands == script.commands(
        int(match.group(1)), int(match.group(2))
    )


def _run(sb: Sandbox, invocation: dict[str, Any], commands: list[str], timeout: float) -> None:
    """Run ``commands`` against the invocation's instance tree; record what they printed."""
    if not (sb.allow_any_command or shipped(commands)):
        _finish(invocation, 1, "", "the sandbox runs only the scripts prism ships")
        return
    tree = sb.tree(invocation["InstanceId"])
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "HOME": str(tree / "root"),
        "PRISM_INSPECT_ROOT": str(tree),
    }
    with tempfile.NamedTemporaryFile("w", suffix=".sh", dir=sb.trees, delete=False) as fh:
        fh.write("\n".join(commands) + "\n")
        path = fh.name
    try:
        done = subprocess.run(
            ["sh", path],
            env=env,
            cwd=tree,
            capture_output=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        _finish(
            invocation,
            done.returncode,
            done.stdout.decode("utf-8", "replace"),
            done.stderr.decode("utf-8", "replace"),
        )
    except subprocess.TimeoutExpired:
        _finish(invocation, -1, "", "", status="TimedOut")
    finally:
        os.unlink(path)


def _finish(
    invocation: dict[str, Any], code: int, out: str, err: str, status: str | None = None
) -> None:
    status = status or ("Success" if code == 0 else "Failed")
    invocation.update(
        {
            "ResponseCode": code,
            "Status": status,
            "StatusDetails": status,
            "StandardOutputContent": out[:STDOUT_LIMIT],
            "StandardErrorContent": err[:STDERR_LIMIT],
        }
    )


def install(runtime: Any) -> None:
    """Install the Run Command patches (called once from ``patches.install``)."""
    global _runtime
    _runtime = runtime
    SimpleSystemManagerBackend.send_command = _patched_send_command  # type: ignore[method-assign]
    SimpleSystemManagerResponse.describe_instance_information = (  # type: ignore[attr-defined]
        _describe_instance_information
    )
