"""One security group per launched instance: named after it, tagged as prism's, holding
exactly the ingress rules the launch plan showed, and deleted with the instance.

A group is never shared between instances and never changed by a later launch, so one
launch's ``--allow-from`` cannot open another instance.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from prism_core.aws.clients import error_code
from prism_core.aws.tags import (
    INSTANCE_TAG,
    LAUNCH_ID_TAG,
    LAUNCHED_BY_TAG,
    TEMPLATE_TAG,
    tag_list,
    tags_of,
)

#: The port that opens to ``--allow-from``; every other template port is a web port
#: (Jupyter, RStudio, ...) and opens to the caller's own address only.
SSH_PORT = 22
#: Characters EC2 allows in a VPC security group's name and description and in a rule's
#: description (the rest become '-'; rule descriptions do not take '&').
_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9 ._\-:/()#,@\[\]+=;{}!$*]")
MAX_GROUP_NAME = 255


@dataclass(frozen=True)
class IngressRule:
    """One TCP port open to one CIDR, and why (``ssh`` or ``web``)."""

    port: int
    cidr: str
    kind: str

    def permission(self, description: str) -> dict[str, Any]:
        """The ``IpPermissions`` entry of this rule."""
        ranges = (
            {"Ipv6Ranges": [{"CidrIpv6": self.cidr, "Description": description}]}
            if ":" in self.cidr
            else {"IpRanges": [{"CidrIp": self.cidr, "Description": description}]}
        )
        return {"IpProtocol": "tcp", "FromPort": self.port, "ToPort": self.port, **ranges}


def plan_rules(ports: list[int], ssh_cidrs: list[str], web_cidrs: list[str]) -> list[IngressRule]:
    """The ingress of a launch: port 22 to ``ssh_cidrs``, every other port to ``web_cidrs``."""
    rules: list[IngressRule] = []
    for port in ports:
        kind = "ssh" if port == SSH_PORT else "web"
        for cidr in ssh_cidrs if kind == "ssh" else web_cidrs:
            rule = IngressRule(int(port), cidr, kind)
            if rule not in rules:
                rules.append(rule)
    return rules


def rule_lines(rules: list[IngressRule], ports: list[int]) -> list[str]:
    """``port 22 (ssh): 10.0.0.0/16, 203.0.113.7/32`` per port, as the plan and summary say."""
    lines = []
    for port in ports:
        cidrs = [r.cidr for r in rules if r.port == port]
        kind = "ssh" if port == SSH_PORT else "web"
        lines.append(f"port {port} ({kind}): {', '.join(cidrs) if cidrs else 'closed'}")
    return lines


def ec2_text(text: str) -> str:
    """``text`` within the characters and length EC2 allows in group names, group
    descriptions and rule descriptions (the rest become '-')."""
    return _NOT_ALLOWED.sub("-", text)[:MAX_GROUP_NAME]


def base_name(instance_name: str) -> str:
    """``prism-<instance name>`` within EC2's rules for group names."""
    return ec2_text("prism-" + instance_name)


def _name_taken(ec2: Any, name: str, vpc_id: str | None) -> bool:
    filters = [{"Name": "group-name", "Values": [name]}]
    if vpc_id:
        filters.append({"Name": "vpc-id", "Values": [vpc_id]})
    return bool(ec2.describe_security_groups(Filters=filters)["SecurityGroups"])


def unique_name(base: str, launch_id: str) -> str:
    """``base`` with the launch id appended (the name when ``base`` is taken)."""
    suffix = f"-{launch_id}"
    return base[: MAX_GROUP_NAME - len(suffix)] + suffix


def choose_name(ec2: Any, instance_name: str, launch_id: str, vpc_id: str | None) -> str:
    """The group's name: ``prism-<instance>``, or with the launch id if that is taken
    (another instance of that name, or a group prism does not own)."""
    name = base_name(instance_name)
    return unique_name(name, launch_id) if _name_taken(ec2, name, vpc_id) else name


def group_tags(
    instance_name: str, template: str, launch_id: str, launched_by: str
) -> dict[str, str]:
    """The tags of the group made for one launch (prism's ownership proof)."""
    return {
        "Name": base_name(instance_name),
        TEMPLATE_TAG: template,
        INSTANCE_TAG: instance_name[:256],
        LAUNCH_ID_TAG: launch_id,
        LAUNCHED_BY_TAG: launched_by[:256],
    }


def create_group(
    ec2: Any,
    name: str,
    vpc_id: str | None,
    tags: dict[str, str],
    description: str,
) -> str:
    """Create the group (tagged at creation); its id. A name taken meanwhile (another
    launch raced us) is retried once with the launch id appended."""
    kwargs: dict[str, Any] = {
        "GroupName": name,
        "Description": description[:255],
        "TagSpecifications": [{"ResourceType": "security-group", "Tags": tag_list(tags)}],
    }
    if vpc_id:
        kwargs["VpcId"] = vpc_id
    try:
        return str(ec2.create_security_group(**kwargs)["GroupId"])
    except Exception as exc:
        launch_id = tags.get(LAUNCH_ID_TAG, "")
        if error_code(exc) != "InvalidGroup.Duplicate" or name.endswith(f"-{launch_id}"):
            raise
    kwargs["GroupName"] = unique_name(name, tags[LAUNCH_ID_TAG])
    return str(ec2.create_security_group(**kwargs)["GroupId"])


def authorize(ec2: Any, group_id: str, rules: list[IngressRule], description: str) -> None:
    """Add exactly ``rules`` to the new group (nothing else is ever added to it)."""
    if rules:
        ec2.authorize_security_group_ingress(
            GroupId=group_id, IpPermissions=[r.permission(description) for r in rules]
        )


def revoke(ec2: Any, group_id: str, rules: list[IngressRule], description: str) -> None:
    """Remove ``rules`` from the group again (a launch's rollback)."""
    if rules:
        ec2.revoke_security_group_ingress(
            GroupId=group_id, IpPermissions=[r.permission(description) for r in rules]
        )


def owned_by_launch(group: dict[str, Any], launch_id: str | None = None) -> bool:
    """Whether the cloud's own tags say prism made ``group`` (for ``launch_id``, if given)."""
    tags = tags_of(group)
    made = tags.get(LAUNCH_ID_TAG)
    return bool(made) and TEMPLATE_TAG in tags and (launch_id is None or made == launch_id)


def describe_group(ec2: Any, group_id: str) -> dict[str, Any] | None:
    """The group's record, ``None`` once it is gone."""
    try:
        groups = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"]
    except Exception as exc:
        if error_code(exc) == "InvalidGroup.NotFound":
            return None
        raise
    return dict(groups[0]) if groups else None


def delete_group(
    ec2: Any, group_id: str, launch_id: str | None, *, timeout: float, poll: float
) -> bool:
    """Delete the group if its tags prove prism made it (for ``launch_id``); ``False`` when
    they do not (it is left alone). EC2 refuses while a terminating instance still holds
    it (``DependencyViolation``): retried until ``timeout``."""
    group = describe_group(ec2, group_id)
    if group is None:
        return True
    if not owned_by_launch(group, launch_id):
        return False
    deadline = time.monotonic() + timeout
    while True:
        try:
            ec2.delete_security_group(GroupId=group_id)
            return True
        except Exception as exc:
            code = error_code(exc)
            if code == "InvalidGroup.NotFound":
                return True
            if code != "DependencyViolation" or time.monotonic() >= deadline:
                raise
        time.sleep(poll)
