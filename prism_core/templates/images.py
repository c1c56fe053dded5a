"""Which image a template launches from in a region, and whether it exists there.

AMI-based templates list their images (``ami_config.amis`` region -> architecture ->
AMI, the original tool's ``ami_config.ami_mappings`` region -> AMI, or public SSM
parameters); package-based templates start from their base OS's image
(:mod:`prism_core.templates.base_images`). Either way the chosen image is checked with
``DescribeImages`` before ``RunInstances`` (``launch_access.check_image``), so a missing
image is a one-line error.
"""

from __future__ import annotations

from typing import Any

from prism_core.aws.clients import error_code
from prism_core.exceptions import InputError
from prism_core.templates import base_images, compat
from prism_core.templates.base_images import BaseOS


def _mapped(doc: dict[str, Any], region: str, ec2: Any) -> dict[str, str]:
    """``ami_config.ami_mappings[region]``, by the architecture EC2 reports for it."""
    image_id = ((doc.get("ami_config") or {}).get("ami_mappings") or {}).get(region)
    if not image_id:
        return {}
    try:
        images = ec2.describe_images(ImageIds=[image_id])["Images"]
    except Exception as exc:
        if error_code(exc).startswith("InvalidAMIID"):
            return {"x86_64": str(image_id)}  # reported as missing by require_image
        raise
    arch = str(images[0].get("Architecture") or "x86_64") if images else "x86_64"
    return {arch: str(image_id)}


def template_images(
    doc: dict[str, Any], key: str, region: str, aws: Any
) -> tuple[dict[str, str], BaseOS | None]:
    """Architecture -> AMI id of ``doc`` in ``region``, and its base OS when known.

    Raises a one-line :class:`InputError` when the template has no image there.
    """
    from prism_core.templates import launch as launching

    base = doc.get("base")
    release = base_images.known_base(base) if isinstance(base, str) else None
    if compat.is_package_based(doc):
        release = base_images.require_base(base, key)
        amis = base_images.resolve(release, region, aws.client("ssm", region), aws.ec2(region))
        if not amis:
            raise InputError(
                f"template {key}: no {release.label} image found in {region} "
                f"(looked for {base_images.where(release)})",
                "pass --region for a region where the distribution publishes images",
            )
        return amis, release
    config = doc.get("ami_config") or {}
    ssm = aws.client("ssm", region) if config.get("ssm_parameters") else None
    amis = launching.resolve_amis(doc, region, ssm)
    if not amis:
        amis = _mapped(doc, region, aws.ec2(region))
    if not amis:
        raise launching.no_copy_error(doc, region)
    return amis, release
