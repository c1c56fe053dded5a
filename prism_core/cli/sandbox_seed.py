"""What prism asks a sandbox cloud (:mod:`prism_sandbox`) to start with.

The images its built-in templates and the original tool's package-based templates
resolve (the public SSM parameters of each distribution's current image, and the
official images of distributions that publish none), and, for people trying prism, two
workstations. ``prism sandbox start`` hands this to the sandbox server as a
:class:`prism_sandbox.seed.Seed`; ``prism demo`` and the tests plant it in-process.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from prism_sandbox import Sandbox
    from prism_sandbox.seed import Seed

#: Workstations the background sandbox creates: name -> ports (the disk profile of
#: :mod:`prism_sandbox.trees` has the same name).
DEMO_WORKSTATIONS: dict[str, list[int]] = {"my-analysis": [22, 8888], "genomics-box": [22, 8787]}
#: The template the demo workstations say they were launched from.
DEMO_TEMPLATE = "python-ml"


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


def prism_seed(with_workstations: bool = False) -> Seed:
    """The images prism resolves, and the demo workstations when asked."""
    from prism_sandbox.seed import Seed, Workstation

    workstations = {
        name: Workstation(
            ports=list(ports), tags={"prism:template": DEMO_TEMPLATE}, tree=name
        )
        for name, ports in DEMO_WORKSTATIONS.items()
    }
    return Seed(
        public_image_parameters(),
        owner_images(),
        workstations if with_workstations else {},
    )


def publish_public_images(sandbox: Sandbox, regions: Iterable[str] | None = None) -> None:
    """prism's public parameters and official images in ``regions`` (default: all)."""
    from prism_sandbox.seed import publish_images

    publish_images(sandbox, prism_seed(), regions)
