"""Launching instances from templates, and the boot check of a new image.

Pure helpers (sizes, type and AMI choice) need no AWS; the rest takes boto3 clients
made by :class:`prism_core.aws.clients.AwsClients`.
"""

from __future__ import annotations

import shlex
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from prism_core.aws.clients import error_code, error_message
from prism_core.aws.ec2 import instance_record, instance_state
from prism_core.aws.tags import (
    BOOT_CHECK_TAG,
    LAUNCHED_BY_TAG,
    TEMPLATE_TAG,
    TEMPLATE_VERSION_TAG,
    tag_list,
)
from prism_core.aws.waiting import wait_for
from prism_core.cli.progress import Progress
from prism_core.exceptions import InputError, OperationFailed, ValidationFailed
from prism_core.safe_yaml import load_yaml_bounded
from prism_core.settings import Settings
from prism_core.templates.compat import SIZES, at_least, below_minimum
from prism_core.templates.document import instance_types
from prism_core.templates.launch_access import LaunchAccess, ensure_key_pair
from prism_core.validation import reserved_tag_key

DEFAULT_PORTS = [22]


@lru_cache(maxsize=1)
def size_table() -> dict[str, Any]:
    """``data/sizes.yaml``: instance type per architecture and size."""
    text = resources.files("prism_core").joinpath("data/sizes.yaml").read_text()
    return dict(load_yaml_bounded(text, what="prism data/sizes.yaml"))


def smallest_type(arch: str) -> str:
    """The smallest instance type of ``arch`` (used by the boot check)."""
    smallest = size_table()["smallest"]
    if arch not in smallest:
        raise InputError(f"prism has no instance type for architecture {arch}")
    return str(smallest[arch])


def type_architecture(instance_type: str) -> str | None:
    """The architecture of a known instance type (``None`` if prism does not know it)."""
    facts = instance_types().get(instance_type)
    if facts is None:
        family = instance_type.split(".", 1)[0]
        # Graviton families carry a 'g' after the generation digit (t4g, m6g, c7gn, ...).
        digits = [i for i, c in enumerate(family) if c.isdigit()]
        if digits and family[digits[-1] + 1 : digits[-1] + 2] == "g":
            return "arm64"
        return None
    return str(facts["arch"])


def choose_type(doc: dict[str, Any], size: str | None, archs: list[str]) -> tuple[str, str]:
    """The instance type and architecture for ``--size`` (or the template's default).

    ``archs`` are the architectures the template has an image for in the region.
    Without ``size``: the template's ``ami_config.instance_types`` (per architecture,
    as the original tool), else ``instance_defaults.type``, else the default size
    raised to the template's ``minimum_size``. A ``size`` below ``minimum_size`` is refused.
    """
    table = size_table()
    defaults = doc.get("instance_defaults") or {}
    default_type = defaults.get("type")
    preferred = type_architecture(default_type) if default_type else None
    minimum = doc.get("minimum_size")
    if size is not None and below_minimum(size, minimum):
        raise InputError(
            f"template {doc.get('slug') or doc.get('name')} needs at least size {minimum}",
            f"pass --size {minimum} or larger",
        )
    per_arch = {
        a: t
        for a, t in ((doc.get("ami_config") or {}).get("instance_types") or {}).items()
        if a in archs
    }
    if size is None and per_arch:
        arch = "x86_64" if "x86_64" in per_arch else sorted(per_arch)[0]
        return str(per_arch[arch]), arch
    if size is None and default_type:
        arch = preferred or (archs[0] if len(archs) == 1 else "x86_64")
        return str(default_type), arch
    size = size or at_least(str(table.get("default_size", "S")), minimum)
    if size not in SIZES:
        raise InputError(f"unknown size {size!r}", f"use one of {', '.join(SIZES)}")
    usable = [a for a in archs if size in table.get(a, {})]
    if not usable:
        if size.startswith("GPU"):
            raise InputError(
                f"size {size} needs an x86_64 image, and this template has only {', '.join(archs)}",
                "pick a size without GPU (XS, S, M, L, XL)",
            )
        raise InputError(f"no size {size} for architecture(s) {', '.join(archs)}")
    arch = preferred if preferred in usable else ("x86_64" if "x86_64" in usable else usable[0])
    return str(table[arch][size]), arch


def regions_with_images(doc: dict[str, Any]) -> list[str]:
    """Regions where the template lists an AMI (every region for SSM-resolved templates)."""
    return sorted((doc.get("ami_config") or {}).get("amis", {}))


def resolve_amis(doc: dict[str, Any], region: str, ssm: Any | None) -> dict[str, str]:
    """Architecture -> AMI id in ``region``, from ``amis`` or public SSM parameters."""
    config = doc.get("ami_config") or {}
    amis = dict((config.get("amis") or {}).get(region, {}))
    parameters = config.get("ssm_parameters") or {}
    if parameters and ssm is not None:
        for arch, name in parameters.items():
            if arch in amis:
                continue
            try:
                amis[arch] = ssm.get_parameter(Name=name)["Parameter"]["Value"]
            except Exception as exc:
                if error_code(exc) != "ParameterNotFound":
                    raise
    return amis


def no_copy_error(doc: dict[str, Any], region: str) -> InputError:
    """The one-line error for a region without a copy of the template's image."""
    have = regions_with_images(doc)
    name = doc.get("name")
    if have:
        return InputError(
            f"template {name} has no image in {region}; it has one in {', '.join(have)}",
            f"pass --region {have[0]}, or save it again with --copy-to-regions {region}",
        )
    return InputError(
        f"template {name} has no image in {region}", "check its ami_config.ssm_parameters"
    )


def default_vpc(ec2: Any) -> str | None:
    """The region's default VPC id, if it has one."""
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"]
    return str(vpcs[0]["VpcId"]) if vpcs else None


def ensure_security_group(
    ec2: Any,
    template: str,
    ports: list[int],
    vpc_id: str | None,
    cidrs: list[str] | None = None,
) -> str:
    """The security group prism keeps for ``template`` in the VPC, ``ports`` open to ``cidrs``.

    Created on first launch (``prism-<template>``), reused later. Only the missing
    (port, CIDR) rules are added: an existing group is updated, never widened beyond
    what this launch asks for, and rules it already has are left alone.
    """
    cidrs = list(cidrs or [])
    name = f"prism-{template}"
    filters = [{"Name": "group-name", "Values": [name]}]
    if vpc_id:
        filters.append({"Name": "vpc-id", "Values": [vpc_id]})
    groups = ec2.describe_security_groups(Filters=filters)["SecurityGroups"]
    if groups:
        group = groups[0]
    else:
        kwargs: dict[str, Any] = {
            "GroupName": name,
            "Description": f"prism template {template}: ports {', '.join(map(str, ports))}",
            "TagSpecifications": [
                {
                    "ResourceType": "security-group",
                    "Tags": tag_list({TEMPLATE_TAG: template}),
                }
            ],
        }
        if vpc_id:
            kwargs["VpcId"] = vpc_id
        group_id = ec2.create_security_group(**kwargs)["GroupId"]
        group = {"GroupId": group_id, "IpPermissions": []}
    present: set[tuple[int, str]] = set()
    for rule in group.get("IpPermissions", []):
        if rule.get("IpProtocol") != "tcp" or rule.get("FromPort") != rule.get("ToPort"):
            continue
        port = int(rule.get("FromPort") or 0)
        present.update((port, r.get("CidrIp", "")) for r in rule.get("IpRanges", []))
        present.update((port, r.get("CidrIpv6", "")) for r in rule.get("Ipv6Ranges", []))
    permissions = []
    for port in ports:
        missing = [c for c in cidrs if (port, c) not in present]
        if not missing:
            continue
        v4 = [c for c in missing if ":" not in c]
        v6 = [c for c in missing if ":" in c]
        rule: dict[str, Any] = {"IpProtocol": "tcp", "FromPort": port, "ToPort": port}
        if v4:
            rule["IpRanges"] = [{"CidrIp": c, "Description": f"prism {template}"} for c in v4]
        if v6:
            rule["Ipv6Ranges"] = [{"CidrIpv6": c, "Description": f"prism {template}"} for c in v6]
        permissions.append(rule)
    if permissions:
        ec2.authorize_security_group_ingress(GroupId=group["GroupId"], IpPermissions=permissions)
    return str(group["GroupId"])


def world_open_rules(ec2: Any, template: str, vpc_id: str | None) -> list[int]:
    """Ports the template's existing security group opens to the whole internet."""
    filters = [{"Name": "group-name", "Values": [f"prism-{template}"]}]
    if vpc_id:
        filters.append({"Name": "vpc-id", "Values": [vpc_id]})
    ports = set()
    for group in ec2.describe_security_groups(Filters=filters)["SecurityGroups"]:
        for rule in group.get("IpPermissions", []):
            ranges = [r.get("CidrIp") for r in rule.get("IpRanges", [])]
            ranges += [r.get("CidrIpv6") for r in rule.get("Ipv6Ranges", [])]
            if "0.0.0.0/0" in ranges or "::/0" in ranges:
                ports.add(int(rule.get("FromPort") or 0))
    return sorted(ports)


def launch_tags(
    doc: dict[str, Any], name: str, version: int | str, launched_by: str, key: str | None = None
) -> dict[str, str]:
    """The template's tags (but ``aws:`` and ``prism:`` keys), then prism's (which win):
    Name and the ``prism:`` tags.

    ``key`` is the name the template was found by (its slug); ``version`` as written.
    """
    tags = {  # prism's own namespace is never taken from a template (any case or form)
        k: str(v)
        for k, v in (doc.get("tags") or {}).items()
        if not (reserved_tag_key(str(k), "aws:") or reserved_tag_key(str(k), "prism:"))
    }
    tags.update(
        {
            "Name": name,
            TEMPLATE_TAG: key or str(doc["name"]),
            TEMPLATE_VERSION_TAG: str(version),
            LAUNCHED_BY_TAG: launched_by,
        }
    )
    return tags


def wait_running(
    ec2: Any, instance_id: str, settings: Settings, cancel: threading.Event | None = None
) -> dict[str, Any]:
    """Poll until the instance runs; one that ends terminated is a failure."""

    def running() -> dict[str, Any] | None:
        data = instance_record(ec2, instance_id)
        if data is None:
            return None
        state = instance_state(data)
        if state in ("terminated", "shutting-down", "stopped"):
            reason = (data.get("StateReason") or {}).get("Message") or "no reason given"
            raise OperationFailed(f"instance {instance_id} is {state}: {reason}")
        return data if state == "running" else None

    return wait_for(
        running,
        what=f"instance {instance_id} to run",
        timeout=settings.timeouts["start"],
        poll=settings.poll_delay,
        hint="see it with `prism list`; raise prism.timeouts.start in config",
        cancel=cancel,
    )


def root_mapping(ec2: Any, image_id: str, size_gb: int | None) -> list[dict[str, Any]]:
    """A block-device mapping that grows the root volume to ``size_gb`` (else none)."""
    if not size_gb:
        return []
    try:
        image = ec2.describe_images(ImageIds=[image_id])["Images"]
    except Exception:
        return []
    if not image:
        return []
    root = image[0].get("RootDeviceName")
    for mapping in image[0].get("BlockDeviceMappings", []):
        ebs = mapping.get("Ebs")
        if mapping.get("DeviceName") == root and ebs:
            current = int(ebs.get("VolumeSize") or 0)
            if size_gb > current:
                return [
                    {
                        "DeviceName": root,
                        "Ebs": {"VolumeSize": size_gb, "DeleteOnTermination": True},
                    }
                ]
    return []


@dataclass
class LaunchPlan:
    """Everything ``prism launch`` decided before anything changes."""

    template: str
    version: int
    source: str
    name: str
    region: str
    instance_type: str
    architecture: str
    image_id: str
    ports: list[int]
    root_volume_gb: int | None
    tags: dict[str, str]
    ssh_user: str
    usd_per_hour: float | None
    #: Key pair, allowed CIDRs, subnet, Spot, instance profile (``launch_access``).
    access: LaunchAccess | None = None
    channel: str | None = None
    user_data: bytes | None = None  # what RunInstances gets (the script, maybe gzipped)
    user_data_script: str | None = None  # the setup script, as shown to the user


def instance_document(data: dict[str, Any], plan: LaunchPlan, group_id: str) -> dict[str, Any]:
    """The ``-o json`` document of a launched instance."""
    public_ip = data.get("PublicIpAddress")
    private_ip = data.get("PrivateIpAddress")
    address = public_ip or private_ip
    access = plan.access
    identity = (
        f"-i {shlex.quote(access.private_key)} "
        if access and access.key_name and access.private_key
        else ""
    )
    document = {
        "id": data["InstanceId"],
        "name": plan.name,
        "state": instance_state(data),
        "template": plan.template,
        "template_version": plan.version,
        "template_source": plan.source,
        "channel": plan.channel,
        "region": plan.region,
        "type": data.get("InstanceType", plan.instance_type),
        "architecture": plan.architecture,
        "image_id": plan.image_id,
        "public_ip": public_ip,
        "private_ip": private_ip,
        "security_group": group_id,
        "ports": plan.ports,
        "ssh": f"ssh {identity}{plan.ssh_user}@{address}" if address else None,
        "launched": str(data.get("LaunchTime")) if data.get("LaunchTime") else None,
        "estimated_cost_per_hour": plan.usd_per_hour,
        "tags": plan.tags,
        "user_data": plan.user_data_script,
    }
    if access is not None:
        document.update(access_document(access, data["InstanceId"], plan.region))
    return document


def access_document(access: LaunchAccess, instance_id: str, region: str) -> dict[str, Any]:
    """The access fields of a launched instance's document."""
    return {
        "allowed_from": access.cidrs,
        "key_name": access.key_name,
        "private_key": access.private_key if access.key_name else None,
        "ssm": f"aws ssm start-session --target {instance_id} --region {region}",
        "spot": access.spot,
        "subnet": access.subnet_id,
        "instance_profile": access.instance_profile,
    }


def launch(
    plan: LaunchPlan,
    ec2: Any,
    settings: Settings,
    progress: Progress,
    done: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Create or reuse the security group, run the instance, wait until it runs.

    ``done(text)`` is told what has been created so far (for an interrupted launch).
    """
    report = done or (lambda text: None)
    access = plan.access
    cidrs = access.cidrs if access else []
    vpc_id = access.vpc_id if access and access.vpc_id else default_vpc(ec2)
    kwargs: dict[str, Any] = access.run_kwargs() if access else {}
    if access is not None and access.import_key_from is not None:
        progress.line(
            "start", f"Importing {access.import_key_from} as key pair {access.key_name}..."
        )
        ensure_key_pair(ec2, access)
    progress.line(
        "start", f"Opening ports {', '.join(map(str, plan.ports))} to {', '.join(cidrs)}..."
    )
    group_id = ensure_security_group(ec2, plan.template, plan.ports, vpc_id, cidrs)
    report(f"security group {group_id} is ready; no instance was launched")
    progress.line("start", f"Launching {plan.instance_type} from {plan.image_id}...")
    mapping = root_mapping(ec2, plan.image_id, plan.root_volume_gb)
    if mapping:
        kwargs["BlockDeviceMappings"] = mapping
    if plan.user_data:
        kwargs["UserData"] = plan.user_data
    answer = ec2.run_instances(
        ImageId=plan.image_id,
        InstanceType=plan.instance_type,
        MinCount=1,
        MaxCount=1,
        SecurityGroupIds=[group_id],
        TagSpecifications=[
            {"ResourceType": "instance", "Tags": tag_list(plan.tags)},
            {"ResourceType": "volume", "Tags": tag_list(plan.tags)},
        ],
        **kwargs,
    )
    instance_id = answer["Instances"][0]["InstanceId"]
    report(
        f"instance {plan.name} ({instance_id}) was launched in {plan.region} and is starting; "
        f"see it with `prism list`, or terminate it with `aws ec2 terminate-instances "
        f"--region {plan.region} --instance-ids {instance_id}`"
    )
    progress.line("wait", f"Waiting for {instance_id} to run...")
    data = wait_running(ec2, instance_id, settings)
    progress.line("ok", f"Instance {plan.name} ({instance_id}) is running")
    return instance_document(data, plan, group_id)


def boot_check(
    ec2: Any,
    image_id: str,
    arch: str,
    settings: Settings,
    progress: Progress,
    label: str,
    cancel: threading.Event | None = None,
    on_launched: Callable[[str], None] | None = None,
    on_terminated: Callable[[str], None] | None = None,
) -> None:
    """Boot a throwaway instance of ``image_id``; raise unless it runs and passes checks.

    Uses the smallest type of ``arch``, waits for ``running`` and for both status
    checks (``DescribeInstanceStatus``) to be ``ok``, and always terminates it.
    ``on_launched(instance_id)`` is called the moment RunInstances answers (a save
    journals it there, so ``--resume``/``--abort`` terminate it after a ``kill -9``);
    ``on_terminated(instance_id)`` once it is terminated.
    """
    instance_type = smallest_type(arch)
    progress.line("start", f"Boot check: launching a throwaway {instance_type} from {image_id}...")
    try:
        answer = ec2.run_instances(
            ImageId=image_id,
            InstanceType=instance_type,
            MinCount=1,
            MaxCount=1,
            TagSpecifications=[
                {
                    "ResourceType": "instance",
                    "Tags": tag_list(
                        {"Name": f"prism-boot-check-{label}"[:255], BOOT_CHECK_TAG: image_id}
                    ),
                }
            ],
        )
    except Exception as exc:
        raise ValidationFailed(
            f"boot check of {image_id}: the test instance could not be launched: "
            f"{error_message(exc)}"
        ) from None
    instance_id = answer["Instances"][0]["InstanceId"]
    try:
        if on_launched is not None:
            on_launched(instance_id)
        wait_running(ec2, instance_id, settings, cancel)

        def checks_passed() -> bool | None:
            statuses = ec2.describe_instance_status(
                InstanceIds=[instance_id], IncludeAllInstances=True
            )["InstanceStatuses"]
            if not statuses:
                return None
            status = statuses[0]
            system = status.get("SystemStatus", {}).get("Status")
            instance = status.get("InstanceStatus", {}).get("Status")
            if "impaired" in (system, instance):
                raise ValidationFailed(
                    f"boot check of {image_id}: instance {instance_id} failed its status "
                    f"checks (system {system}, instance {instance}); the image may not boot"
                )
            return True if system == "ok" and instance == "ok" else None

        wait_for(
            checks_passed,
            what=f"the status checks of boot-check instance {instance_id}",
            timeout=settings.timeouts["start"],
            poll=settings.poll_delay,
            cancel=cancel,
        )
        progress.line("ok", f"Boot check passed: {image_id} boots and passes its status checks")
    except ValidationFailed:
        raise
    except OperationFailed as exc:
        raise ValidationFailed(f"boot check of {image_id}: {exc}") from None
    finally:
        try:
            ec2.terminate_instances(InstanceIds=[instance_id])
            progress.line("info", f"Boot-check instance {instance_id} terminated")
            if on_terminated is not None:
                on_terminated(instance_id)
        except Exception as exc:
            progress.line(
                "warn",
                f"Could not terminate boot-check instance {instance_id}: "
                f"{error_message(exc)}; terminate it yourself",
            )
