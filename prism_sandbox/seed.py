"""What a sandbox cloud starts with for people trying prism: base images and workstations.

Like AWS, the sandbox publishes the public SSM parameters that name each
distribution's current image (Canonical Ubuntu, Amazon Linux, Debian) and the
images of distributions that publish none but own an official account (Rocky Linux,
Red Hat), in every region, so built-in templates and the original tool's
package-based templates launch anywhere.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from .server import Sandbox

#: Regions the demo works in first (kept for callers that want a short list).
DEMO_REGIONS = ("us-east-1", "us-east-2", "us-west-1", "us-west-2", "eu-west-1")

#: Workstations the background sandbox creates (``--with-instances``): name -> ports.
DEMO_INSTANCES = {"my-analysis": [22, 8888], "genomics-box": [22, 8787]}


def all_regions() -> list[str]:
    """Every commercial EC2 region botocore knows (no AWS call)."""
    import boto3

    return sorted(boto3.session.Session().get_available_regions("ec2"))


def builtin_image_parameters() -> dict[str, str]:
    """Public SSM parameter name -> architecture, for every built-in template."""
    from prism_core.templates import store as template_store

    listing = template_store.Listing()
    template_store.builtin_templates(listing)
    parameters: dict[str, str] = {}
    for item in listing.templates:
        ssm = (item.document.get("ami_config") or {}).get("ssm_parameters") or {}
        for architecture, name in ssm.items():
            parameters[str(name)] = str(architecture)
    return parameters


def public_image_parameters() -> dict[str, str]:
    """Every public parameter prism resolves a base image from -> architecture."""
    from prism_core.templates.base_images import ARCHITECTURES, RELEASES

    parameters = builtin_image_parameters()
    for release in RELEASES.values():
        for arch in ARCHITECTURES:
            for name in release.parameter_names(arch):
                parameters[name] = arch
    return parameters


def owner_images() -> list[tuple[str, str, str]]:
    """(owner account, image name, architecture) of distributions without parameters."""
    from prism_core.templates.base_images import ARCHITECTURES, RELEASES

    return [
        (release.owner, release.image_name(arch).replace("*", "0-sandbox"), arch)
        for release in RELEASES.values()
        if release.owner
        for arch in ARCHITECTURES
    ]


def publish_public_images(sandbox: Sandbox, regions: Iterable[str] | None = None) -> None:
    """Public parameters and official distribution images in ``regions`` (default: all)."""
    chosen = list(regions) if regions is not None else all_regions()
    sandbox.publish_base_images(public_image_parameters(), chosen)
    for region in chosen:
        for owner, name, arch in owner_images():
            sandbox.publish_owner_image(owner, name, arch, region)


def seed(sandbox: Sandbox, with_instances: bool = False) -> dict[str, str]:
    """Publish base images in every region; optionally create demo workstations.

    Returns the workstations created in us-east-1, name -> instance id.
    """
    publish_public_images(sandbox)
    if not with_instances:
        return {}
    return {
        name: sandbox.create_instance(
            name,
            instance_type="t3.large",
            ports=ports,
            tags={"prism:template": "python-ml"},
            tree=name,
        )
        for name, ports in DEMO_INSTANCES.items()
    }
