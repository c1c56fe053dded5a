"""Running a launch plan: pre-flight, then its steps in order (key pair, security group,
its ingress, the instance, its Spot request), each recorded with its cleanup so that a
failure or an interrupt removes everything the launch created, newest first."""

from __future__ import annotations

import secrets
import shlex
from collections.abc import Callable
from typing import Any

from prism_core.aws.clients import error_message
from prism_core.aws.ec2 import instance_record, instance_state
from prism_core.aws.tags import LAUNCH_ID_TAG, LAUNCHED_BY_TAG, tag_list
from prism_core.aws.waiting import wait_for
from prism_core.exceptions import InputError, OperationFailed, PrismError
from prism_core.instances import hardening, preflight
from prism_core.instances import security_groups as groups
from prism_core.instances.rollback import Rollback
from prism_core.reporting import ProgressReporter
from prism_core.settings import Settings

#: AWS's charge for a public IPv4 address, in USD per hour (since February 2024).
PUBLIC_IPV4_USD_PER_HOUR = 0.005


def new_launch_id() -> str:
    """A fresh id for one launch (tagged on everything it creates)."""
    return secrets.token_hex(6)


def default_vpc(ec2: Any) -> str | None:
    """The region's default VPC id, if it has one."""
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"]
    return str(vpcs[0]["VpcId"]) if vpcs else None


def prepare(
    plan: Any, ec2: Any, image: dict[str, Any], settings: Settings, *, imds_v1: bool
) -> None:
    """Decide what the launch will create (reads only): its id, its security group's name
    and rules, IMDS, encrypted volumes, the public address and what it costs."""
    access = plan.access
    plan.launch_id = new_launch_id()
    plan.tags[LAUNCH_ID_TAG] = plan.launch_id
    plan.vpc_id = access.vpc_id or default_vpc(ec2)
    plan.group_name = groups.choose_name(ec2, plan.name, plan.launch_id, plan.vpc_id)
    plan.rules = groups.plan_rules(plan.ports, access.cidrs, access.web_cidrs)
    plan.imds_v1 = imds_v1
    plan.kms_key = settings.kms_keys.get(plan.region)
    plan.block_devices = hardening.encrypted_mappings(
        image, plan.root_volume_gb, plan.kms_key, plan.init_rate
    )
    if plan.init_rate and not any(
        "VolumeInitializationRate" in m["Ebs"] for m in plan.block_devices
    ):
        raise InputError(
            f"--init-rate: image {plan.image_id} has no volume restored from a snapshot",
            "launch without --init-rate",
        )


def hourly_cost(plan: Any, public_ip: bool) -> float | None:
    """The instance's price per hour plus the public IPv4 charge when it has one."""
    if plan.usd_per_hour is None:
        return None
    extra = PUBLIC_IPV4_USD_PER_HOUR if public_ip else 0.0
    return round(float(plan.usd_per_hour) + extra, 4)


def plan_lines(plan: Any) -> list[str]:
    """What the plan says about the group, IMDS, volumes and address (before confirming)."""
    access = plan.access
    lines = [
        f"Security group {plan.group_name} (new, for this instance only): "
        + "; ".join(groups.rule_lines(plan.rules, plan.ports))
    ]
    lines.append(
        "Instance metadata: IMDSv1 allowed (asked for)"
        if plan.imds_v1
        else f"Instance metadata: IMDSv2 required (hop limit {hardening.IMDS_HOP_LIMIT})"
    )
    key = f"KMS key {plan.kms_key}" if plan.kms_key else "the account's default EBS key"
    lines.append(f"Volumes: encrypted with {key}")
    if plan.init_rate:
        count = sum("VolumeInitializationRate" in m["Ebs"] for m in plan.block_devices)
        lines.append(
            f"Volume initialization: {plan.init_rate} MiB/s provisioned for {count} volume(s) "
            "restored from the image's snapshots (EBS charges for the provisioned rate)"
        )
    if access.public_ip:
        lines.append(
            f"Public IPv4 address: yes (${PUBLIC_IPV4_USD_PER_HOUR}/hour, in the estimate)"
        )
    return lines


def run_arguments(plan: Any, group_id: str | None, *, with_key: bool) -> dict[str, Any]:
    """RunInstances' arguments. ``group_id`` ``None`` and ``with_key`` false for the
    pre-flight dry run (neither the group nor an imported key exists yet)."""
    access = plan.access
    kwargs: dict[str, Any] = access.run_kwargs()
    if not with_key:
        kwargs.pop("KeyName", None)
    kwargs["MetadataOptions"] = hardening.metadata_options(plan.imds_v1)
    if plan.block_devices:
        kwargs["BlockDeviceMappings"] = plan.block_devices
    if plan.user_data:
        kwargs["UserData"] = plan.user_data
    group_ids = [group_id] if group_id else []
    if not access.no_public_ip:
        if group_ids:
            kwargs["SecurityGroupIds"] = group_ids
    else:
        interface: dict[str, Any] = {
            "DeviceIndex": 0,
            "SubnetId": access.subnet_id,
            "AssociatePublicIpAddress": False,
            "DeleteOnTermination": True,
        }
        if group_ids:
            interface["Groups"] = group_ids
        kwargs["NetworkInterfaces"] = [interface]
    tagged = ["instance", "volume"]
    if "InstanceMarketOptions" in kwargs:
        # the Spot request carries prism's tags too: the IAM policy lets a rollback
        # cancel only a request they prove prism's (PrismOwnSpotRequests)
        tagged.append("spot-instances-request")
    return dict(
        ImageId=plan.image_id,
        InstanceType=plan.instance_type,
        MinCount=1,
        MaxCount=1,
        TagSpecifications=[{"ResourceType": kind, "Tags": tag_list(plan.tags)} for kind in tagged],
        **kwargs,
    )


def preflight_checks(plan: Any, ec2: Any, iam: Any) -> None:
    """Refuse before anything is created: unknown instance profile, a call EC2 refuses."""
    if plan.access.instance_profile:
        preflight.check_instance_profile(iam, plan.access.instance_profile)
    preflight.dry_run(ec2, run_arguments(plan, None, with_key=plan.access.import_key_from is None))


def wait_running(ec2: Any, instance_id: str, settings: Settings) -> dict[str, Any]:
    """Poll until the instance runs; one that ends terminated or stopped is a failure."""

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
    )


def terminate_and_wait(ec2: Any, instance_id: str, settings: Settings) -> None:
    """Terminate an instance and wait until EC2 says it is gone."""
    ec2.terminate_instances(InstanceIds=[instance_id])

    def gone() -> bool | None:
        data = instance_record(ec2, instance_id)
        return True if data is None or instance_state(data) == "terminated" else None

    wait_for(
        gone,
        what=f"instance {instance_id} to terminate",
        timeout=settings.timeouts["stop"],
        poll=settings.poll_delay,
    )


def _failure(exc: Exception, name: str, removed: bool) -> PrismError:
    """The one-line error of a failed launch (exit 2 when the user's input caused it)."""
    after = "; everything it created was removed" if removed else "; nothing was created"
    if isinstance(exc, InputError):
        return InputError(f"{exc}{after}" if removed else str(exc))
    if isinstance(exc, PrismError):
        return OperationFailed(f"launch of {name} failed: {exc}{after}")
    if preflight.is_input_error(exc):
        return InputError(
            f"EC2 refused the launch of {name}: {error_message(exc)}{after}",
            "fix the option it names and try again",
        )
    return OperationFailed(f"launch of {name} failed: {error_message(exc)}{after}")


def launch(
    plan: Any,
    ec2: Any,
    settings: Settings,
    progress: ProgressReporter,
    done: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Create the launch's resources in order; on any failure remove them newest first.

    ``done(text)`` is told what exists so far (for an interrupted launch's last line).
    """
    report = done or (lambda text: None)
    rollback = Rollback()
    try:
        data = _steps(plan, ec2, settings, progress, rollback, report)
    except BaseException as exc:
        created = bool(rollback.steps)
        if created:
            progress.line("warn", f"Launch failed ({error_message(exc)}); removing what it made")
            left = rollback.undo(progress.line)
            if left:
                report(f"the launch failed; left behind: {'; '.join(left)}")
                raise OperationFailed(
                    f"launch of {plan.name} failed ({error_message(exc)}) and could not "
                    f"remove: {'; '.join(left)}",
                    "remove them with `prism cleanup`",
                ) from None
            report("the launch was interrupted; everything it created was removed")
        if not isinstance(exc, Exception):
            raise
        raise _failure(exc, plan.name, removed=created) from None
    return instance_document(data, plan)


def _steps(
    plan: Any,
    ec2: Any,
    settings: Settings,
    progress: ProgressReporter,
    rollback: Rollback,
    report: Callable[[str], None],
) -> dict[str, Any]:
    """The steps of :func:`launch`, each recorded in ``rollback`` once it exists."""
    from prism_core.instances.key_pairs import ensure_key_pair

    access = plan.access
    wait = {"timeout": settings.timeouts["stop"], "poll": settings.poll_delay}
    if access.import_key_from is not None:
        progress.line(
            "start", f"Importing {access.import_key_from} as key pair {access.key_name}..."
        )
        if ensure_key_pair(ec2, access.key_name, access.import_key_from):
            key = access.key_name
            rollback.add(f"key pair {key}", lambda: ec2.delete_key_pair(KeyName=key))
    launched_by = plan.tags.get(LAUNCHED_BY_TAG, "")
    tags = groups.group_tags(plan.name, plan.template, plan.launch_id, launched_by)
    description = groups.ec2_text(f"prism: instance {plan.name} ({plan.template})")
    progress.line("start", f"Creating security group {plan.group_name}...")
    group_id = groups.create_group(ec2, plan.group_name, plan.vpc_id, tags, description)
    rollback.add(
        f"security group {group_id}",
        lambda: groups.delete_group(ec2, group_id, plan.launch_id, **wait),
    )
    rule_text = groups.ec2_text("prism " + plan.name)
    groups.authorize(ec2, group_id, plan.rules, rule_text)
    rollback.add(
        f"the ingress rules of {group_id}",
        lambda: groups.revoke(ec2, group_id, plan.rules, rule_text),
    )
    report(f"security group {group_id} was created; no instance was launched")
    progress.line("start", f"Launching {plan.instance_type} from {plan.image_id}...")
    answer = ec2.run_instances(**run_arguments(plan, group_id, with_key=True))
    created = answer["Instances"][0]
    instance_id = created["InstanceId"]
    rollback.add(
        f"instance {instance_id}", lambda: terminate_and_wait(ec2, instance_id, settings)
    )
    request = created.get("SpotInstanceRequestId")
    if request:
        rollback.add(
            f"spot request {request}",
            lambda: ec2.cancel_spot_instance_requests(SpotInstanceRequestIds=[request]),
        )
    report(
        f"instance {plan.name} ({instance_id}) was launched in {plan.region} and is starting; "
        f"see it with `prism list`, or remove it with `prism terminate {instance_id} "
        f"--region {plan.region}`"
    )
    progress.line("wait", f"Waiting for {instance_id} to run...")
    data = wait_running(ec2, instance_id, settings)
    progress.line("ok", f"Instance {plan.name} ({instance_id}) is running")
    data["_group_id"] = group_id
    return data


def tunnel_commands(plan: Any, instance_id: str, address: str | None) -> list[str]:
    """A port-forward command per web port that needs no open port: SSH when the
    instance has a key pair and an address, else SSM Session Manager."""
    access = plan.access
    web = [p for p in plan.ports if p != groups.SSH_PORT]
    commands = []
    for port in web:
        if access.key_name and address and access.public_ip:
            identity = f"-i {shlex.quote(access.private_key)} " if access.private_key else ""
            commands.append(
                f"ssh {identity}-N -L {port}:localhost:{port} {plan.ssh_user}@{address}"
            )
        else:
            commands.append(
                f"aws ssm start-session --target {instance_id} --region {plan.region} "
                "--document-name AWS-StartPortForwardingSession "
                f"--parameters portNumber={port},localPortNumber={port}"
            )
    return commands


def instance_document(data: dict[str, Any], plan: Any) -> dict[str, Any]:
    """The ``-o json`` document of a launched instance."""
    access = plan.access
    group_id = data.pop("_group_id")
    public_ip = data.get("PublicIpAddress")
    private_ip = data.get("PrivateIpAddress")
    address = public_ip or private_ip
    identity = (
        f"-i {shlex.quote(access.private_key)} " if access.key_name and access.private_key else ""
    )
    instance_id = data["InstanceId"]
    return {
        "id": instance_id,
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
        "security_group_name": plan.group_name,
        "ingress": [{"port": r.port, "cidr": r.cidr, "kind": r.kind} for r in plan.rules],
        "ports": plan.ports,
        "ssh": f"ssh {identity}{plan.ssh_user}@{address}" if address else None,
        "tunnels": tunnel_commands(plan, instance_id, public_ip),
        "launched": str(data.get("LaunchTime")) if data.get("LaunchTime") else None,
        "estimated_cost_per_hour": hourly_cost(plan, bool(public_ip)),
        "public_ipv4_cost_per_hour": PUBLIC_IPV4_USD_PER_HOUR if public_ip else 0.0,
        "imds": "v1-allowed" if plan.imds_v1 else "v2-required",
        "volumes_encrypted": True,
        "kms_key": plan.kms_key,
        "launch_id": plan.launch_id,
        "tags": plan.tags,
        "user_data": plan.user_data_script,
        "allowed_from": access.cidrs,
        "web_allowed_from": access.web_cidrs,
        "key_name": access.key_name,
        "private_key": access.private_key if access.key_name else None,
        "ssm": f"aws ssm start-session --target {instance_id} --region {plan.region}",
        "spot": access.spot,
        "subnet": access.subnet_id,
        "instance_profile": access.instance_profile,
    }
