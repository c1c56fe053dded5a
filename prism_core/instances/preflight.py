"""What a launch can learn before it creates anything: the instance profile exists, and
EC2 would accept the RunInstances call (``DryRun``). Subnet and key pair are checked
while the plan is made (:mod:`prism_core.templates.launch_access`)."""

from __future__ import annotations

from typing import Any

from prism_core.aws.clients import error_code, error_message
from prism_core.exceptions import InputError

#: Error codes that mean the request itself was wrong (the user's input), not the cloud.
_INPUT_PREFIXES = ("Invalid", "Unsupported", "MissingParameter")
_INPUT_CODES = frozenset({"UnauthorizedOperation", "OptInRequired", "NoSuchEntity"})


def is_input_error(exc: BaseException) -> bool:
    """Whether an AWS error was caused by what the user asked for (exit 2 after rollback)."""
    code = error_code(exc)
    return code.startswith(_INPUT_PREFIXES) or code in _INPUT_CODES


def check_instance_profile(iam: Any, name: str) -> None:
    """Refuse an ``--instance-profile`` that does not exist in the account."""
    try:
        iam.get_instance_profile(InstanceProfileName=name)
    except Exception as exc:
        code = error_code(exc)
        if code == "NoSuchEntity":
            raise InputError(
                f"instance profile {name!r} does not exist in this account; nothing was created",
                "list them with `aws iam list-instance-profiles`, or leave out --instance-profile",
            ) from None
        if code not in ("AccessDenied", "AccessDeniedException"):
            raise
        # not allowed to read IAM: RunInstances' dry run below still checks the profile


def dry_run(ec2: Any, kwargs: dict[str, Any]) -> None:
    """RunInstances with ``DryRun=True``: refuse now what EC2 would refuse later.

    ``kwargs`` are the launch's arguments without what does not exist yet (the new
    security group, a key pair still to import).
    """
    try:
        ec2.run_instances(DryRun=True, **kwargs)
    except Exception as exc:
        code = error_code(exc)
        if code == "DryRunOperation":
            return
        if code == "UnauthorizedOperation":
            raise InputError(
                f"EC2 would refuse this launch: {error_message(exc)}; nothing was created",
                "ask your administrator for the policy `prism iam-policy --for launch` prints",
            ) from None
        if is_input_error(exc):
            raise InputError(
                f"EC2 would refuse this launch: {error_message(exc)}; nothing was created",
                "fix the option it names and try again",
            ) from None
        raise
