"""What a sandbox cloud starts with for people trying prism: base images and workstations."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from .server import Sandbox

#: Regions where the built-in templates' base images are published.
DEMO_REGIONS = ("us-east-1", "us-east-2", "us-west-1", "us-west-2", "eu-west-1")

#: Workstations the background sandbox creates (``--with-instances``): name -> ports.
DEMO_INSTANCES = {"my-analysis": [22, 8888], "genomics-box": [22, 8787]}


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


def seed(sandbox: Sandbox, with_instances: bool = False) -> dict[str, str]:
    """Publish base images for the built-in templates; optionally create demo workstations.

    Returns the workstations created in us-east-1, name -> instance id.
    """
    sandbox.publish_base_images(builtin_image_parameters(), DEMO_REGIONS)
    if not with_instances:
        return {}
    return {
        name: sandbox.create_instance(
            name, instance_type="t3.large", ports=ports, tags={"prism:template": "python-ml"}
        )
        for name, ports in DEMO_INSTANCES.items()
    }
