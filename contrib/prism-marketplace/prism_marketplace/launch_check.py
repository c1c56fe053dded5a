"""Can this account launch a template's AMIs? (owned, public, or shared with it)."""

from __future__ import annotations

from typing import Any

from prism_core.aws.clients import error_code


def unlaunchable(document: dict[str, Any], client: Any, account: str) -> list[str]:
    """``region/arch ami-id (why)`` for every AMI this account cannot launch."""
    problems: list[str] = []
    amis = document.get("ami_config", {}).get("amis", {})
    for region, by_arch in sorted(amis.items()):
        ec2 = client(region)
        for arch, image_id in sorted(by_arch.items()):
            where = f"{region}/{arch} {image_id}"
            try:
                images = ec2.describe_images(ImageIds=[image_id])["Images"]
            except Exception as exc:
                if error_code(exc).startswith("InvalidAMIID"):
                    images = []
                else:
                    raise
            if not images or images[0].get("State") in ("deregistered", "failed"):
                problems.append(f"{where} (not found)")
                continue
            image = images[0]
            if image.get("OwnerId") == account or image.get("Public"):
                continue
            shared = ec2.describe_images(ImageIds=[image_id], ExecutableUsers=["self"])["Images"]
            if not shared:
                problems.append(f"{where} (not shared with account {account})")
    return problems
