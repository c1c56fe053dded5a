"""Can this account launch a template's AMIs, and does it trust who owns them?"""

from __future__ import annotations

from typing import Any


def owners(aws: Any, document: dict[str, Any], trusted: list[str], extra: list[str]) -> list:
    """Every AMI of ``document`` with its owner; refuses (one line) an untrusted owner or an
    image this account cannot see."""
    from prism_core.toolkit import check_owners, describe_owners, trusted_owners

    amis = (document.get("ami_config") or {}).get("amis") or {}
    found = describe_owners(aws, amis)
    return check_owners(
        found, trusted_owners(aws, trusted, extra), f"marketplace template {document['name']}"
    )


def unlaunchable(aws: Any, images: list) -> list[str]:
    """``region/arch ami-id (why)`` for every image neither owned, public nor shared with us."""
    account = aws.account_id()
    problems: list[str] = []
    for image in images:
        if image.owner_id == account or image.public:
            continue
        ec2 = aws.ec2(image.region)
        shared = ec2.describe_images(ImageIds=[image.image_id], ExecutableUsers=["self"])["Images"]
        if not shared:
            problems.append(
                f"{image.region}/{image.architecture} {image.image_id} "
                f"(not shared with account {account})"
            )
    return problems
