"""Who made an image: the owner of every AMI a template names, and whether it is trusted.

A template is only as trustworthy as the account that owns its AMIs. ``DescribeImages``
gives each image's ``OwnerId`` (and ``ImageOwnerAlias`` ``amazon`` / ``aws-marketplace``
for Amazon's own). Trusted owners are: this account, the accounts of its AWS
Organization (when the caller may list them), Amazon, the ids in config
``prism.trusted_image_owners`` (an institution ships its list) and, for one command,
``--trust-owner ID``. Everything else is refused before anything is written or launched.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from prism_core.aws.clients import error_code, error_message
from prism_core.exceptions import InputError
from prism_core.validation import AMAZON_ALIASES, owner_ids, printable

if TYPE_CHECKING:
    from prism_core.aws.clients import AwsClients

#: SSM public parameters AWS itself publishes (e.g. Canonical's and Amazon's images).
AWS_PUBLIC_PARAMETERS = "/aws/service/"


@dataclass
class ImageOwner:
    """One AMI of a template: where, whose, and whether that owner is trusted."""

    region: str
    architecture: str
    image_id: str
    owner_id: str | None = None
    owner_alias: str | None = None
    public: bool = False
    state: str | None = None
    trusted_as: str | None = None  # "this account", "organization", "Amazon", "config", ...
    problem: str | None = None  # not found, deregistered, cannot be read
    #: EC2's ``DeprecationTime`` of the image, if one is set (past or future).
    deprecation_time: str | None = None

    @property
    def deprecated(self) -> bool:
        """Whether EC2 has deprecated the image (its deprecation time has passed; a time
        that cannot be read counts as passed)."""
        if not self.deprecation_time:
            return False
        from datetime import UTC, datetime

        try:
            when = datetime.fromisoformat(self.deprecation_time.replace("Z", "+00:00"))
        except ValueError:
            return True
        when = when if when.tzinfo else when.replace(tzinfo=UTC)
        return when <= datetime.now(UTC)

    @property
    def owner(self) -> str:
        """``OwnerId`` with its alias, as shown to the user."""
        if self.owner_alias and self.owner_id:
            return f"{self.owner_id} ({self.owner_alias})"
        return self.owner_id or "unknown"

    def to_dict(self) -> dict[str, Any]:
        """For ``-o json``."""
        return {
            "region": self.region,
            "architecture": self.architecture,
            "image_id": self.image_id,
            "owner_id": self.owner_id,
            "owner_alias": self.owner_alias,
            "public": self.public,
            "trusted_as": self.trusted_as,
            "problem": self.problem,
            "deprecation_time": self.deprecation_time,
        }


@dataclass
class TrustedOwners:
    """The owners a user trusts; the organization's accounts are asked for once, lazily."""

    account: str
    configured: frozenset[str] = frozenset()
    extra: frozenset[str] = frozenset()
    aws: AwsClients | None = None
    _organization: frozenset[str] | None = field(default=None, repr=False)
    organization_note: str | None = None

    def organization(self) -> frozenset[str]:
        """Account ids of this account's AWS Organization (empty if none or not listable)."""
        if self._organization is not None or self.aws is None:
            return self._organization or frozenset()
        accounts: set[str] = set()
        try:
            client = self.aws.client("organizations", "us-east-1")
            for page in client.get_paginator("list_accounts").paginate():
                accounts.update(str(a["Id"]) for a in page.get("Accounts", []))
        except Exception as exc:
            code = error_code(exc)
            if code != "AWSOrganizationsNotInUseException":
                self.organization_note = (
                    f"the organization's accounts cannot be listed ({error_message(exc)}); "
                    "list them in prism.trusted_image_owners"
                )
        self._organization = frozenset(accounts)
        return self._organization

    def why(self, image: ImageOwner) -> str | None:
        """Why ``image``'s owner is trusted, or ``None``."""
        owner = image.owner_id or ""
        if owner == self.account:
            return "this account"
        if image.owner_alias in AMAZON_ALIASES:
            return "Amazon"
        if owner in self.extra or (image.owner_alias or "") in self.extra:
            return "--trust-owner"
        if owner in self.configured or (image.owner_alias or "") in self.configured:
            return "prism.trusted_image_owners"
        if owner and owner in self.organization():
            return "organization"
        return None


def trusted_owners(
    aws: AwsClients, configured: Iterable[str], extra: Iterable[str] = ()
) -> TrustedOwners:
    """The owners trusted by the caller of ``aws``, plus config and ``--trust-owner``."""
    return TrustedOwners(
        account=aws.account_id(),
        configured=frozenset(configured),
        extra=frozenset(owner_ids(extra, "--trust-owner")),
        aws=aws,
    )


def describe_owners(aws: AwsClients, amis: Mapping[str, Mapping[str, str]]) -> list[ImageOwner]:
    """Owner, visibility and state of every ``region -> arch -> AMI`` (one call per region)."""
    found: list[ImageOwner] = []
    for region, by_arch in sorted(amis.items()):
        ids = sorted({str(i) for i in by_arch.values()})
        records: dict[str, dict[str, Any]] = {}
        error: str | None = None
        try:
            answer = aws.ec2(region).describe_images(ImageIds=ids)["Images"]
            records = {str(i["ImageId"]): i for i in answer}
        except Exception as exc:
            if not error_code(exc).startswith("InvalidAMIID"):
                error = f"cannot be read ({error_message(exc)})"
            else:  # one bad id fails the whole call: ask one by one
                for image_id in ids:
                    try:
                        one = aws.ec2(region).describe_images(ImageIds=[image_id])["Images"]
                        records.update({str(i["ImageId"]): i for i in one})
                    except Exception:
                        continue
        for arch, image_id in sorted(by_arch.items()):
            item = ImageOwner(region, str(arch), str(image_id))
            record = records.get(str(image_id))
            if error:
                item.problem = error
            elif record is None or record.get("State") in ("deregistered", "failed"):
                item.problem = "not found"
            else:
                item.owner_id = record.get("OwnerId")
                item.owner_alias = record.get("ImageOwnerAlias")
                item.public = bool(record.get("Public"))
                item.state = record.get("State")
                deprecation = record.get("DeprecationTime")
                item.deprecation_time = str(deprecation)[:64] if deprecation else None
            found.append(item)
    return found


def check(
    owners: list[ImageOwner], trust: TrustedOwners, what: str, *, allow_missing: bool = False
) -> list[ImageOwner]:
    """Mark each image's trust; refuse (one line, naming the owner) any untrusted one."""
    untrusted: list[ImageOwner] = []
    missing: list[ImageOwner] = []
    for image in owners:
        if image.problem:
            missing.append(image)
            continue
        image.trusted_as = trust.why(image)
        if image.trusted_as is None:
            untrusted.append(image)
    if missing and not allow_missing:
        listed = "; ".join(
            f"{i.region}/{i.architecture} {i.image_id} ({i.problem})" for i in missing
        )
        raise InputError(
            f"{what}: this account cannot launch {listed}",
            "ask the publisher to share the images with you",
        )
    if untrusted:
        first = untrusted[0]
        others = sorted({i.owner_id or "?" for i in untrusted})
        visibility = "public" if first.public else "shared"
        note = f"; {trust.organization_note}" if trust.organization_note else ""
        raise InputError(
            f"{what}: {first.region}/{first.architecture} {first.image_id} is a {visibility} "
            f"image owned by account {printable(first.owner, 60)}, which you do not trust "
            f"(trusted: this account {trust.account}, its organization, Amazon, "
            f"prism.trusted_image_owners){note}",
            f"if you trust it, pass --trust-owner {others[0]} or add it to "
            "prism.trusted_image_owners",
        )
    return owners
