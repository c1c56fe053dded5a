"""Base OS images for package-based templates, resolved in the launch region.

Where AWS publishes public SSM parameters for a distribution, the image comes from
there (one ``GetParameters`` call for every candidate name); otherwise it is the
newest image of the distribution's official owner account whose name matches the
distribution's documented pattern (``DescribeImages``). Never a hard-coded AMI id.

A ``base`` is named as in the original tool: ``ubuntu-22.04``, ``ubuntu`` (24.04),
``amazonlinux`` (2023), ``debian`` (12), ``rocky`` (10), ``rhel`` (9), and also
``<distro>-<version>`` for every version below.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prism_core.aws.clients import error_code
from prism_core.exceptions import InputError

ARCHITECTURES = ("x86_64", "arm64")
_DEB_ARCH = {"x86_64": "amd64", "arm64": "arm64"}
_RPM_ARCH = {"x86_64": "x86_64", "arm64": "aarch64"}


@dataclass(frozen=True)
class BaseOS:
    """One distribution release: how to find its image and how to configure it."""

    distro: str
    version: str
    family: str  # apt | dnf: the native package manager
    user: str  # default login user of its official images
    parameters: tuple[tuple[str, ...], ...] = ()  # per architecture, candidate SSM names
    owner: str | None = None  # official owner account (DescribeImages)
    name_pattern: str | None = None  # image name pattern; ``{arch}``/``{rpm}`` filled in

    def parameter_names(self, arch: str) -> list[str]:
        """Public SSM parameter names for ``arch``, most preferred first."""
        return [name.format(arch=arch, deb=_DEB_ARCH[arch]) for name in self._templates()]

    def _templates(self) -> tuple[str, ...]:
        return self.parameters[0] if self.parameters else ()

    def image_name(self, arch: str) -> str:
        """The owner's image name pattern for ``arch``."""
        return (self.name_pattern or "").format(arch=arch, rpm=_RPM_ARCH[arch])

    @property
    def label(self) -> str:
        """``ubuntu 22.04``."""
        return f"{self.distro} {self.version}"


_CANONICAL = "/aws/service/canonical/ubuntu/server/{ver}/stable/current/{{deb}}/hvm/{vol}/ami-id"


def _ubuntu(version: str, volumes: tuple[str, ...]) -> BaseOS:
    names = tuple(_CANONICAL.format(ver=version, vol=vol) for vol in volumes)
    return BaseOS("ubuntu", version, "apt", "ubuntu", (names,))


def _debian(version: str) -> BaseOS:
    return BaseOS(
        "debian",
        version,
        "apt",
        "admin",
        ((f"/aws/service/debian/release/{version}/latest/{{deb}}",),),
    )


RELEASES: dict[str, BaseOS] = {
    "ubuntu-20.04": _ubuntu("20.04", ("ebs-gp2",)),
    "ubuntu-22.04": _ubuntu("22.04", ("ebs-gp2", "ebs-gp3")),
    "ubuntu-24.04": _ubuntu("24.04", ("ebs-gp3", "ebs-gp2")),
    "amazonlinux-2023": BaseOS(
        "amazonlinux",
        "2023",
        "dnf",
        "ec2-user",
        (("/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-{arch}",),),
    ),
    "amazonlinux-2": BaseOS(
        "amazonlinux",
        "2",
        "dnf",
        "ec2-user",
        (("/aws/service/ami-amazon-linux-latest/amzn2-ami-hvm-{arch}-gp2",),),
    ),
    "debian-11": _debian("11"),
    "debian-12": _debian("12"),
    "debian-13": _debian("13"),
    # No public parameters: the official owner account and its documented image names.
    "rocky-8": BaseOS(
        "rocky", "8", "dnf", "rocky", (), "792107900819", "Rocky-8-EC2-Base-8.*.{rpm}"
    ),
    "rocky-9": BaseOS(
        "rocky", "9", "dnf", "rocky", (), "792107900819", "Rocky-9-EC2-Base-9.*.{rpm}"
    ),
    "rocky-10": BaseOS(
        "rocky", "10", "dnf", "rocky", (), "792107900819", "Rocky-10-EC2-Base-10.*.{rpm}"
    ),
    "rhel-8": BaseOS("rhel", "8", "dnf", "ec2-user", (), "309956199498", "RHEL-8.*_HVM-*-{arch}-*"),
    "rhel-9": BaseOS("rhel", "9", "dnf", "ec2-user", (), "309956199498", "RHEL-9.*_HVM-*-{arch}-*"),
}

#: A bare distribution name means the release the original tool defaults to.
ALIASES = {
    "ubuntu": "ubuntu-24.04",
    "amazonlinux": "amazonlinux-2023",
    "amazon-linux-2023": "amazonlinux-2023",
    "al2023": "amazonlinux-2023",
    "debian": "debian-12",
    "rocky": "rocky-10",
    "rhel": "rhel-9",
}


def known_base(base: str) -> BaseOS | None:
    """The release a template's ``base`` names (``None`` if prism cannot build on it)."""
    return RELEASES.get(ALIASES.get(base, base))


def require_base(base: Any, template: str) -> BaseOS:
    """:func:`known_base`, or a one-line error listing the bases prism can build on."""
    found = known_base(base) if isinstance(base, str) else None
    if found is None:
        supported = ", ".join(sorted([*RELEASES, *ALIASES]))
        raise InputError(
            f"template {template}: prism cannot build on base {base!r}",
            f"use one of {supported}, or an AMI-based template",
        )
    return found


def default_user(base: str) -> str:
    """The default login user of ``base``'s official images (``ec2-user`` if unknown)."""
    found = known_base(base)
    return found.user if found else "ec2-user"


def _from_parameters(ssm: Any, release: BaseOS) -> dict[str, str]:
    names = {arch: release.parameter_names(arch) for arch in ARCHITECTURES}
    wanted = [name for candidates in names.values() for name in candidates]
    values: dict[str, str] = {}
    for start in range(0, len(wanted), 10):
        answer = ssm.get_parameters(Names=wanted[start : start + 10])
        values.update({p["Name"]: p["Value"] for p in answer.get("Parameters", [])})
    found: dict[str, str] = {}
    for arch, candidates in names.items():
        for name in candidates:
            if values.get(name, "").startswith("ami-"):
                found[arch] = values[name]
                break
    return found


def _from_owner(ec2: Any, release: BaseOS) -> dict[str, str]:
    found: dict[str, str] = {}
    assert release.owner and release.name_pattern
    for arch in ARCHITECTURES:
        images = ec2.describe_images(
            Owners=[release.owner],
            Filters=[
                {"Name": "name", "Values": [release.image_name(arch)]},
                {"Name": "architecture", "Values": [arch]},
                {"Name": "state", "Values": ["available"]},
            ],
        )["Images"]
        if images:
            newest = max(images, key=lambda i: (i.get("CreationDate") or "", i["ImageId"]))
            found[arch] = str(newest["ImageId"])
    return found


def resolve(release: BaseOS, region: str, ssm: Any, ec2: Any) -> dict[str, str]:
    """Architecture -> base image id of ``release`` in ``region`` (may be empty).

    AWS errors other than a missing parameter propagate; the caller reports them.
    """
    if release.parameters:
        try:
            return _from_parameters(ssm, release)
        except Exception as exc:
            if error_code(exc) != "ParameterNotFound":
                raise
            return {}
    return _from_owner(ec2, release)


def where(release: BaseOS) -> str:
    """Where :func:`resolve` looked, for an error message."""
    if release.parameters:
        return "AWS public parameters " + ", ".join(release.parameter_names("x86_64"))
    return f"images of account {release.owner} named {release.name_pattern}"
