"""Launching instances from templates, and the boot check of a new image.

Pure helpers (sizes, type and AMI choice) need no AWS; the rest takes boto3 clients
made by :class:`prism_core.aws.clients.AwsClients`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
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
from prism_core.exceptions import InputError, OperationFailed, ValidationFailed
from prism_core.reporting import ProgressReporter
from prism_core.safe_yaml import load_yaml_bounded
from prism_core.settings import Settings
from prism_core.templates.compat import SIZES, at_least, below_minimum
from prism_core.templates.document import instance_types
from prism_core.templates.launch_access import LaunchAccess
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
    # decided by prism_core.instances.launcher.prepare (reads only, before confirmation)
    launch_id: str = ""
    vpc_id: str | None = None
    group_name: str = ""
    rules: list[Any] = field(default_factory=list)  # security_groups.IngressRule
    imds_v1: bool = False
    kms_key: str | None = None
    block_devices: list[dict[str, Any]] = field(default_factory=list)
    #: ``--init-rate``: MiB/s each volume restored from a snapshot is initialized at.
    init_rate: int | None = None


def boot_check(
    ec2: Any,
    image_id: str,
    arch: str,
    settings: Settings,
    progress: ProgressReporter,
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
    from prism_core.instances import hardening

    instance_type = smallest_type(arch)
    progress.line("start", f"Boot check: launching a throwaway {instance_type} from {image_id}...")
    try:
        # hardened as every launch: IMDSv2 required, every volume encrypted
        images = ec2.describe_images(ImageIds=[image_id]).get("Images") or [{}]
        region = ec2.meta.region_name
        answer = ec2.run_instances(
            ImageId=image_id,
            InstanceType=instance_type,
            MinCount=1,
            MaxCount=1,
            MetadataOptions=hardening.metadata_options(settings.imds_v1),
            BlockDeviceMappings=hardening.encrypted_mappings(
                images[0], None, settings.kms_keys.get(region)
            ),
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
