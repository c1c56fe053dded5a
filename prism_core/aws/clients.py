"""boto3 sessions and clients: one place that sets retries, regions and endpoints.

boto3 is imported only when a client is first needed, so commands that never talk to
AWS start fast. The standard AWS configuration applies unchanged (profiles,
``AWS_PROFILE``, ``AWS_REGION``, credential chain, ``AWS_ENDPOINT_URL``).
"""

from __future__ import annotations

import threading
from typing import Any

from prism_core import __version__
from prism_core.exceptions import InputError


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ``ClientError`` (``""`` for anything else)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def one_line(text: str, limit: int = 400) -> str:
    """``text`` with whitespace runs folded to one space, cut at ``limit`` characters."""
    folded = " ".join(text.split())
    return folded if len(folded) <= limit else folded[: limit - 3] + "..."


def error_message(exc: BaseException) -> str:
    """One line: the AWS error code and message of a ``ClientError``, else ``str(exc)``."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error", {})
        code, message = error.get("Code", ""), error.get("Message", "")
        return one_line(f"{code}: {message}" if code else message or str(exc))
    return one_line(str(exc) or type(exc).__name__)


class AwsClients:
    """Thread-safe cache of boto3 clients per (service, region)."""

    def __init__(self, default_region: str | None = None, max_attempts: int = 8) -> None:
        self._default_region = default_region
        self._max_attempts = max_attempts
        self._session: Any = None
        self._clients: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()
        self._identity: dict[str, str] | None = None

    @property
    def session(self) -> Any:
        """The boto3 session (created on first use)."""
        with self._lock:
            if self._session is None:
                import boto3

                self._session = boto3.session.Session()
            return self._session

    @property
    def region(self) -> str:
        """The region given with ``--region``, else the AWS configuration's."""
        region = self._default_region or self.session.region_name
        if not region:
            raise InputError(
                "no AWS region configured",
                "pass --region REGION or set AWS_REGION (or a region in your AWS profile)",
            )
        return region

    def client(self, service: str, region: str | None = None) -> Any:
        """A client for ``service`` in ``region`` with bounded standard retries."""
        region = region or self.region
        key = (service, region)
        session = self.session
        with self._lock:
            if key not in self._clients:
                from botocore.config import Config

                config = Config(
                    retries={"mode": "standard", "total_max_attempts": self._max_attempts},
                    user_agent_extra=f"prism/{__version__}",
                )
                self._clients[key] = session.client(service, region_name=region, config=config)
            return self._clients[key]

    def ec2(self, region: str | None = None) -> Any:
        """Shorthand for ``client("ec2", region)``."""
        return self.client("ec2", region)

    def identity(self) -> dict[str, str]:
        """The caller's identity (STS GetCallerIdentity, cached)."""
        if self._identity is None:
            answer = self.client("sts").get_caller_identity()
            self._identity = {"Account": answer["Account"], "Arn": answer["Arn"]}
        return self._identity

    def account_id(self) -> str:
        """The caller's AWS account id."""
        return self.identity()["Account"]

    def identity_name(self) -> str:
        """The caller's user or role name, for a template's ``maintainer``."""
        return self.identity()["Arn"].rsplit("/", 1)[-1].rsplit(":", 1)[-1]

    def available_regions(self) -> list[str]:
        """Regions enabled for this account (``DescribeRegions``)."""
        regions = self.ec2().describe_regions()["Regions"]
        return sorted(r["RegionName"] for r in regions)
