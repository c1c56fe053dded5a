"""The AWS options every command that talks to AWS shares: ``--profile`` (and the
clients built from it)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prism_core.aws.clients import AwsClients

PROFILE_ARGUMENT = (
    ["--profile"],
    {
        "metavar": "NAME",
        "help": "AWS profile from your AWS config/credentials files (default: AWS_PROFILE, "
        "else 'default')",
    },
)


def aws_clients(app: Any, region: str | None = None) -> AwsClients:
    """:class:`AwsClients` for this command's ``--profile`` and ``region``, with prism's
    retry settings (plugin commands declared with ``aws=True`` use it too).

    ``region`` (``--region``) is checked offline first; without it the AWS
    configuration's region is used (see :class:`AwsClients.region`).
    """
    from prism_core.aws.clients import AwsClients
    from prism_core.validation import region_name

    if region:
        region_name(region)
    profile = getattr(app.pargs, "profile", None)
    clients = AwsClients(region, app.settings.max_attempts, profile=profile)
    if profile:
        _ = clients.session  # an unknown --profile is refused here, before any work
    return clients


def command_clients(app: Any) -> tuple[Any, str]:
    """The clients of a command with ``--region``/``--profile`` and the region they resolve
    to (``--region``, else the AWS configuration's)."""
    aws = aws_clients(app, app.pargs.region)
    return aws, aws.region
