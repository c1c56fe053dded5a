"""``prism terminate NAME``: end an instance prism launched, then delete the security group
made for it. Ownership is proven by the cloud's own tags (the launch id on the instance
and on its group) before anything is changed; anything else is refused or left alone."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from prism_core.aws.ec2 import InstanceInfo, instance_records
from prism_core.aws.tags import LAUNCH_ID_TAG, TEMPLATE_TAG
from prism_core.exceptions import InputError
from prism_core.instances import security_groups as groups
from prism_core.instances.launcher import terminate_and_wait
from prism_core.settings import Settings

#: States of an instance that can still be terminated.
NOT_GONE = ("pending", "running", "stopping", "stopped", "shutting-down")


@dataclass
class TerminatePlan:
    """The instance to terminate and the groups deleted once it is gone."""

    instance: InstanceInfo
    launch_id: str
    groups: list[dict[str, str]] = field(default_factory=list)  # id, name: proven prism's
    kept: list[dict[str, str]] = field(default_factory=list)  # id, name: not this launch's

    def lines(self) -> list[str]:
        """The plan, as printed before the confirmation."""
        info = self.instance
        template = info.tags.get(TEMPLATE_TAG, "?")
        lines = [
            f"Terminate {info.name} ({info.instance_id}, {info.state}, template {template}, "
            f"{info.region}): its volumes set to be deleted with it go too"
        ]
        lines += [f"Then delete security group {g['id']} ({g['name']})" for g in self.groups]
        lines += [
            f"Keep security group {g['id']} ({g['name']}): not made by this launch"
            for g in self.kept
        ]
        return lines

    def document(self) -> dict[str, Any]:
        """The ``-o json`` form of the plan."""
        info = self.instance
        return {
            "id": info.instance_id,
            "name": info.name,
            "state": info.state,
            "region": info.region,
            "launch_id": self.launch_id,
            "security_groups": [g["id"] for g in self.groups],
            "kept_security_groups": [g["id"] for g in self.kept],
        }


def _not_prism(ref: str, region: str) -> InputError:
    return InputError(
        f"instance {ref} in {region} was not launched by prism (no prism:launch-id tag); "
        "prism terminates only instances it launched",
        f"terminate it yourself with `aws ec2 terminate-instances --region {region} "
        "--instance-ids ID` if you mean to",
    )


def find_launched(ec2: Any, ref: str, region: str) -> InstanceInfo:
    """The one prism-launched instance ``ref`` (id or ``Name``) that is not terminated."""
    filters = [{"Name": "instance-state-name", "Values": list(NOT_GONE)}]
    if ref.startswith("i-"):
        filters.append({"Name": "instance-id", "Values": [ref]})
    else:
        filters.append({"Name": "tag:Name", "Values": [ref]})
    found = [InstanceInfo.from_api(d, region) for d in instance_records(ec2, filters)]
    if not found:
        raise InputError(
            f"no instance {ref!r} that is not terminated in {region}",
            "run `prism list`, or pass --region for the region it runs in",
        )
    ours = [i for i in found if i.tags.get(LAUNCH_ID_TAG) and i.tags.get(TEMPLATE_TAG)]
    if not ours:
        raise _not_prism(ref, region)
    if len(ours) > 1:
        listing = ", ".join(f"{i.instance_id} ({i.state})" for i in ours)
        raise InputError(
            f"{len(ours)} prism instances are named {ref!r} in {region}: {listing}",
            "pass the instance id instead of the name",
        )
    return ours[0]


def plan_terminate(ec2: Any, ref: str, region: str) -> TerminatePlan:
    """Find the instance and sort its groups into prism's own (same launch id) and others."""
    info = find_launched(ec2, ref, region)
    launch_id = info.tags[LAUNCH_ID_TAG]
    plan = TerminatePlan(info, launch_id)
    if info.security_group_ids:
        records = ec2.describe_security_groups(GroupIds=info.security_group_ids)
        for group in records["SecurityGroups"]:
            entry = {"id": group["GroupId"], "name": group.get("GroupName", "")}
            owned = groups.owned_by_launch(group, launch_id)
            (plan.groups if owned else plan.kept).append(entry)
    return plan


def run_terminate(ec2: Any, plan: TerminatePlan, settings: Settings, progress: Any) -> list[str]:
    """Terminate, wait until it is gone, delete its groups; the group ids deleted."""
    info = plan.instance
    progress.line("start", f"Terminating {info.name} ({info.instance_id})...")
    terminate_and_wait(ec2, info.instance_id, settings)
    progress.line("ok", f"Instance {info.instance_id} is terminated")
    deleted = []
    for group in plan.groups:
        if groups.delete_group(
            ec2,
            group["id"],
            plan.launch_id,
            timeout=settings.timeouts["stop"],
            poll=settings.poll_delay,
        ):
            progress.line("ok", f"Security group {group['id']} ({group['name']}) deleted")
            deleted.append(group["id"])
    return deleted

