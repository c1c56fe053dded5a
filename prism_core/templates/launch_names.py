"""One live instance per ``Name``: a launch that would give a second instance the name of
an existing one is refused in pre-flight.

prism (and the user) find instances by their ``Name`` tag: ``prism save NAME``,
``connect``, ``stop`` and ``start`` refuse a name shared by several live instances, so a
duplicate would make the first instance unreachable by name. ``--allow-duplicate-name``
launches anyway (then use the instance id).
"""

from __future__ import annotations

from typing import Any

from prism_core.aws.clients import error_code, error_message, setup_error
from prism_core.aws.ec2 import LIVE_STATES, instance_records
from prism_core.aws.tags import TEMPLATE_TAG, TEMPLATE_VERSION_TAG, tags_of
from prism_core.exceptions import InputError, OperationFailed, PrismError


def live_instances_named(ec2: Any, name: str) -> list[dict[str, Any]]:
    """``DescribeInstances`` records of the live instances whose ``Name`` is ``name``."""
    filters = [
        {"Name": "tag:Name", "Values": [name]},
        {"Name": "instance-state-name", "Values": list(LIVE_STATES)},
    ]
    return list(instance_records(ec2, filters))


def _describe(data: dict[str, Any]) -> str:
    tags = tags_of(data)
    template = tags.get(TEMPLATE_TAG)
    version = tags.get(TEMPLATE_VERSION_TAG)
    origin = f", from {template}@{version}" if template and version else ""
    return f"{data['InstanceId']} ({data['State']['Name']}{origin})"


def refuse_duplicate_name(ec2: Any, name: str, region: str, allowed: bool) -> str | None:
    """Refuse (exit 2) when a live instance in ``region`` is already named ``name``; with
    ``allowed`` return a warning naming it instead (``None`` when the name is free).
    A lookup EC2 fails is one line saying nothing was created (exit 2 when the
    policy does not allow it; credential and endpoint problems keep their own error)."""
    try:
        existing = live_instances_named(ec2, name)
    except PrismError:
        raise
    except Exception as exc:
        if setup_error(exc) is not None:
            raise  # credentials, profile or endpoint: the command's own one-line error
        message = (
            f"could not check whether an instance named '{name}' exists in {region}: "
            f"{error_message(exc)}; nothing was created"
        )
        if error_code(exc) == "UnauthorizedOperation":
            raise InputError(
                message, "ask your administrator for the policy `prism iam-policy --for "
                "launch` prints"
            ) from None
        raise OperationFailed(f"{message}, try the launch again") from None
    if not existing:
        return None
    which = ", ".join(_describe(d) for d in existing)
    message = f"an instance named '{name}' already exists in {region}: {which}"
    if not allowed:
        raise InputError(
            message,
            "choose another name (prism finds instances by name), or pass "
            "--allow-duplicate-name and use instance ids from then on",
        )
    return f"{message}; launching a second one (--allow-duplicate-name): use instance ids"
