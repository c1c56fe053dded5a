"""What a sandbox cloud starts with, as its caller describes it: a :class:`Seed`.

Like AWS, a sandbox can publish the public SSM parameters that name each distribution's
current image and the official images of distributions that publish none, in every
region, and create workstations for people to try things on. What to publish is the
caller's choice (prism seeds the images its templates resolve, from
``prism_core.cli.sandbox_seed``); this module knows nothing of prism's templates
or settings. ``python -m prism_sandbox --seed FILE`` reads a seed written by
:meth:`Seed.to_json`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from .server import Sandbox

#: Where seeded workstations are created.
INSTANCE_REGION = "us-east-1"


@dataclass
class Workstation:
    """One instance to create in :data:`INSTANCE_REGION`."""

    ports: list[int] = field(default_factory=lambda: [22])
    instance_type: str = "t3.large"
    tags: dict[str, str] = field(default_factory=dict)
    #: The profile of its disk's files (:mod:`prism_sandbox.trees`), ``None``: empty.
    tree: str | None = None


@dataclass
class Seed:
    """Images to publish in every region, and workstations to create."""

    #: Public SSM parameter name -> architecture of the image it names.
    parameters: dict[str, str] = field(default_factory=dict)
    #: ``(owner account, image name, architecture)`` of official images without a parameter.
    owner_images: list[tuple[str, str, str]] = field(default_factory=list)
    #: Workstation name -> what it is.
    workstations: dict[str, Workstation] = field(default_factory=dict)

    def to_json(self) -> str:
        """The seed as JSON (for ``python -m prism_sandbox --seed FILE``)."""
        return json.dumps(asdict(self), indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Seed:
        """A seed written by :meth:`to_json`."""
        data: dict[str, Any] = json.loads(text)
        return cls(
            parameters={str(k): str(v) for k, v in data.get("parameters", {}).items()},
            owner_images=[
                (str(owner), str(name), str(arch))
                for owner, name, arch in data.get("owner_images", [])
            ],
            workstations={
                str(name): Workstation(**values)
                for name, values in data.get("workstations", {}).items()
            },
        )

    def without_workstations(self) -> Seed:
        """The same images, no workstations."""
        return Seed(dict(self.parameters), list(self.owner_images))


def all_regions() -> list[str]:
    """Every commercial EC2 region botocore knows (no AWS call)."""
    import boto3

    return sorted(boto3.session.Session().get_available_regions("ec2"))


def publish_images(sandbox: Sandbox, seed: Seed, regions: Iterable[str] | None = None) -> None:
    """The seed's public parameters and official images in ``regions`` (default: all)."""
    chosen = list(regions) if regions is not None else all_regions()
    if seed.parameters:
        sandbox.publish_base_images(dict(seed.parameters), chosen)
    for region in chosen:
        for owner, name, arch in seed.owner_images:
            sandbox.publish_owner_image(owner, name, arch, region)


def plant(sandbox: Sandbox, seed: Seed) -> dict[str, str]:
    """Publish the seed's images in every region and create its workstations.

    Returns the workstations created, name -> instance id.
    """
    publish_images(sandbox, seed)
    return {
        name: sandbox.create_instance(
            name,
            INSTANCE_REGION,
            instance_type=box.instance_type,
            ports=list(box.ports),
            tags=dict(box.tags),
            tree=box.tree,
        )
        for name, box in seed.workstations.items()
    }
