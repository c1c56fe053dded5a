"""``prism stop`` and ``prism start``: the plan, the call, and the wait for the new state."""

from __future__ import annotations

from typing import Any

from prism_core.aws.ec2 import instance_record
from prism_core.aws.waiting import wait_for
from prism_core.exceptions import InputError, OperationFailed
from prism_core.instances.lookup import Instance
from prism_core.settings import Settings


def stop_refusal(instance: Instance) -> InputError | None:
    """Why ``instance`` cannot be stopped (one-time Spot, instance-store root), if so."""
    if instance.lifecycle == "spot":
        return InputError(
            f"instance {instance.label} is a one-time Spot instance: EC2 cannot stop it",
            "terminate it when you are done, or save it first with `prism save`",
        )
    if instance.root_device_type == "instance-store":
        return InputError(
            f"instance {instance.label} has an instance-store root volume: it cannot be stopped",
            "terminate it when you are done",
        )
    if instance.state not in ("running", "stopping", "stopped"):
        return InputError(
            f"instance {instance.label} is {instance.state}", "wait until it is running"
        )
    return None


def has_elastic_ip(ec2: Any, instance: Instance) -> bool:
    """Whether an Elastic IP is associated with ``instance`` (it keeps its address)."""
    filters = [{"Name": "instance-id", "Values": [instance.instance_id]}]
    return bool(ec2.describe_addresses(Filters=filters).get("Addresses"))


def stop_plan(instance: Instance, elastic_ip: bool) -> list[str]:
    """What stopping ``instance`` does, for the plan shown before the prompt."""
    lines = [f"Stop {instance.label}, a {instance.instance_type}, in {instance.region}"]
    if instance.public_ip and not elastic_ip:
        lines.append(
            f"Its public IP {instance.public_ip} is released; `prism start` prints the new one"
        )
    lines.append("Its EBS volumes are kept (and billed); instance hours stop")
    return lines


def _wait_state(ec2: Any, instance_id: str, wanted: str, settings: Settings,
                timeout_name: str) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        data = instance_record(ec2, instance_id)
        if data is None:
            return None
        state = str(data["State"]["Name"])
        if state in ("terminated", "shutting-down"):
            raise OperationFailed(f"instance {instance_id} is {state}")
        return data if state == wanted else None

    return wait_for(
        check,
        what=f"instance {instance_id} to be {wanted}",
        timeout=settings.timeouts[timeout_name],
        poll=settings.poll_delay,
        hint=f"see it with `prism list`; raise prism.timeouts.{timeout_name} in config",
        steady=True,
    )


def stop(ec2: Any, instance: Instance, settings: Settings) -> dict[str, Any]:
    """Stop ``instance`` and wait until it is ``stopped``; its new record."""
    if instance.state != "stopping":
        ec2.stop_instances(InstanceIds=[instance.instance_id])
    return _wait_state(ec2, instance.instance_id, "stopped", settings, "stop")


def start(ec2: Any, instance: Instance, settings: Settings) -> dict[str, Any]:
    """Start ``instance`` (waiting for a ``stopping`` one to stop first) and wait until it
    runs; its new record (with the new public IP)."""
    if instance.state == "stopping":
        _wait_state(ec2, instance.instance_id, "stopped", settings, "stop")
    ec2.start_instances(InstanceIds=[instance.instance_id])
    return _wait_state(ec2, instance.instance_id, "running", settings, "start")
