"""What ``prism launch`` will do with a template, decided before anything is created.

:func:`refuse_revoked` applies the revocation rule to the version found;
:func:`plan_launch` then merges the template's parents (``inherits``), fills in its
parameters, picks the instance type and architecture (``--size``), finds the image
and who owns it (refusing an owner not trusted), renders the setup script and sizes
the root volume. The result is a frozen :class:`LaunchDecision` the command shows and
turns into the :class:`~prism_core.templates.launch.LaunchPlan` the launcher fills in
and carries out. The cloud is read through :class:`LaunchReads` (images of the
template, their owners, the owners trusted), and the user is asked through a
function passed in, so the rules are unit-tested with plain data.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from prism_core.exceptions import InputError
from prism_core.templates import base_images, compat, inheritance, parameters, provenance
from prism_core.templates.base_images import BaseOS
from prism_core.templates.provenance import ImageOwner, TrustedOwners
from prism_core.templates.store import FoundTemplate
from prism_core.validation import printable

if TYPE_CHECKING:
    from prism_core.aws.clients import AwsClients
    from prism_core.templates.launch import LaunchPlan

#: Root volume of package-based templates that do not set one (the original's default).
PACKAGE_ROOT_GB = 20

#: ``find(name)``: a parent template's document by display name or slug, or ``None``.
Finder = Callable[[str], "dict[str, Any] | None"]


def refuse_revoked(found: FoundTemplate, allow_revoked: bool) -> str | None:
    """Refuse (one line, exit 2) a revoked version unless ``allow_revoked``; with it,
    the warning to print (``None`` when the version is not revoked)."""
    record = found.revoked
    if record is None:
        return None
    via = f" (channel {found.channel})" if found.channel else ""
    message = (
        f"template {found.name} version {found.version}{via} was revoked "
        f"{record.get('revoked_at') or ''} by {record.get('revoked_by') or 'unknown'}: "
        f"{record.get('reason') or 'no reason given'}"
    )
    if not allow_revoked:
        raise InputError(
            message, "launch another version, or pass --allow-revoked to launch it anyway"
        )
    return f"{message}; launching it anyway (--allow-revoked)"


def local_finder(templates_dir: Path) -> Finder:
    """``find(name)`` over local and built-in templates, by display name or slug (the
    templates are read on the first call)."""
    from prism_core.templates import store

    by_name: dict[str, dict[str, Any]] = {}
    read: list[bool] = []

    def find(name: str) -> dict[str, Any] | None:
        if not read:
            listing = store.Listing()
            store.local_templates(templates_dir, listing)
            store.builtin_templates(listing)
            for item in listing.templates:
                by_name.setdefault(item.name, item.document)
                by_name.setdefault(item.title, item.document)
            read.append(True)
        return by_name.get(name)

    return find


def fill_parameters(
    doc: dict[str, Any], key: str, assignments: list[str], ask: parameters.Ask | None
) -> tuple[dict[str, Any], dict[str, str]]:
    """``doc`` with its ``{{.name}}`` placeholders filled from ``--param`` values and
    defaults; a parameter with no default is asked with ``ask`` (refused when it
    answers ``None``)."""
    from prism_core.templates.document import validate_document

    given = parameters.parse_assignments(assignments)
    filled, chosen = parameters.apply(doc, key, given, ask)
    if filled != doc:
        validate_document(filled, f"template {key} with its parameters filled in")
    return filled, chosen


class LaunchReads(Protocol):
    """What :func:`plan_launch` reads from the cloud."""

    def images(
        self, doc: dict[str, Any], key: str, region: str
    ) -> tuple[dict[str, str], BaseOS | None]:
        """Architecture -> AMI id of ``doc`` in ``region``, and its base OS when known."""
        ...

    def owners(self, region: str, arch: str, image_id: str) -> list[ImageOwner]:
        """Owner, visibility and state of the image."""
        ...

    def trusted(self) -> TrustedOwners:
        """The image owners the caller trusts."""
        ...


@dataclass(frozen=True)
class CloudReads:
    """:class:`LaunchReads` from AWS through ``aws``."""

    aws: AwsClients
    #: ``prism.trusted_image_owners``
    configured: tuple[str, ...] = ()
    #: ``--trust-owner``
    extra: tuple[str, ...] = ()

    def images(
        self, doc: dict[str, Any], key: str, region: str
    ) -> tuple[dict[str, str], BaseOS | None]:
        """See :func:`prism_core.templates.images.template_images`."""
        from prism_core.templates.images import template_images

        return template_images(doc, key, region, self.aws)

    def owners(self, region: str, arch: str, image_id: str) -> list[ImageOwner]:
        """See :func:`prism_core.templates.provenance.describe_owners`."""
        return provenance.describe_owners(self.aws, {region: {arch: image_id}})

    def trusted(self) -> TrustedOwners:
        """See :func:`prism_core.templates.provenance.trusted_owners`."""
        return provenance.trusted_owners(self.aws, self.configured, self.extra)


@dataclass(frozen=True)
class LaunchRequest:
    """What the command line asks of the launch."""

    name: str  # the new instance's Name tag
    region: str
    size: str | None = None
    params: tuple[str, ...] = ()  # ``--param KEY=VALUE``
    init_rate: int | None = None


@dataclass(frozen=True)
class LaunchDecision:
    """What ``prism launch`` will launch, from which image, and why that image."""

    found: FoundTemplate
    request: LaunchRequest
    #: The template with its parents merged and its parameters filled in.
    document: dict[str, Any]
    #: The parameter values used (``--param``, defaults and answers).
    parameters: Mapping[str, str]
    instance_type: str
    architecture: str
    image_id: str
    #: Where the image comes from: its owner and why it is trusted, or its source.
    owner_line: str
    release: BaseOS | None = None
    #: Warnings to print before the plan (a deprecated image).
    warnings: tuple[str, ...] = ()
    user_data_script: str | None = None
    root_volume_gb: int | None = None
    usd_per_hour: float | None = None
    ports: tuple[int, ...] = field(default=())

    def lines(self) -> list[str]:
        """The plan as shown before the access checks: template, type and image; the
        image's owner; the parameters chosen."""
        found, request = self.found, self.request
        cost = f", about ${self.usd_per_hour}/hour" if self.usd_per_hour is not None else ""
        kind = (
            f", {self.release.label} + {self.document.get('package_manager')}"
            if self.release and self.user_data_script
            else ""
        )
        lines = [
            f"Template {found.title} v{found.label} ({found.source}{kind}): "
            f"{self.instance_type} ({self.architecture}) from {self.image_id} in "
            f"{request.region}{cost}",
            self.owner_line,
        ]
        if self.parameters:
            shown = ", ".join(f"{k}={printable(v, 64)}" for k, v in self.parameters.items())
            lines.append(f"Parameters: {shown}")
        return lines

    def launch_plan(self, launched_by: str) -> LaunchPlan:
        """The launcher's plan (access, security group and volumes are decided on it
        next); ``launched_by`` is the caller's ARN, for the instance's tags."""
        from prism_core.templates import launch as launching
        from prism_core.templates import userdata

        found, request = self.found, self.request
        doc = self.document
        script = self.user_data_script
        return launching.LaunchPlan(
            template=found.name,
            version=found.version,
            channel=found.channel,
            source=found.source,
            name=request.name,
            region=request.region,
            instance_type=self.instance_type,
            architecture=self.architecture,
            image_id=self.image_id,
            ports=list(self.ports),
            root_volume_gb=self.root_volume_gb,
            tags=launching.launch_tags(doc, request.name, found.label, launched_by,
                                       key=found.name),
            ssh_user=compat.ssh_user(doc),
            usd_per_hour=self.usd_per_hour,
            user_data=userdata.encode(script, found.name) if script else None,
            user_data_script=script,
            init_rate=request.init_rate,
        )


def _provenance(
    found: FoundTemplate,
    doc: dict[str, Any],
    region: str,
    arch: str,
    image_id: str,
    release: BaseOS | None,
    reads: LaunchReads,
) -> tuple[str, tuple[str, ...]]:
    """Where the image comes from (one line), and warnings; refuses an untrusted owner."""
    config = doc.get("ami_config") or {}
    listed = (config.get("amis") or {}).get(region, {})
    parameter = str((config.get("ssm_parameters") or {}).get(arch, ""))
    if release is not None and compat.is_package_based(doc):
        # the base OS image prism itself resolved from the distribution's documented source
        return f"Image: {release.label} base image ({base_images.where(release)})", ()
    if arch not in listed and parameter.startswith(provenance.AWS_PUBLIC_PARAMETERS):
        # AWS publishes these parameters (its own and its partners' images, e.g. Canonical's)
        return f"Image: from AWS public parameter {parameter}", ()
    images = reads.owners(region, arch, image_id)
    provenance.check(  # a missing image is refused later, with what to do
        images,
        reads.trusted(),
        f"template {found.name} v{found.version} ({found.source})",
        allow_missing=True,
    )
    warnings = tuple(
        f"{image.image_id} in {image.region} was deprecated by EC2 at "
        f"{printable(image.deprecation_time, 64)} (its owner marked it out of date); "
        "launching it anyway"
        for image in images
        if image.deprecated
    )
    return f"Image owner: {images[0].owner} (trusted: {images[0].trusted_as})", warnings


def plan_launch(
    found: FoundTemplate,
    request: LaunchRequest,
    reads: LaunchReads,
    *,
    finder: Finder,
    ask: parameters.Ask | None = None,
) -> LaunchDecision:
    """What launching ``found`` as ``request`` asks will launch; a one-line
    :class:`InputError` when it cannot (a parent missing, a parameter refused, no
    image or no image of the size's architecture in the region, an untrusted owner,
    a setup script for the wrong package manager)."""
    from prism_core.templates import launch as launching
    from prism_core.templates import userdata
    from prism_core.templates.document import instance_types

    doc = found.document
    if doc.get("inherits"):
        doc = inheritance.resolve(doc, found.name, finder)
    doc, chosen = fill_parameters(doc, found.name, list(request.params), ask)
    region = request.region
    amis, release = reads.images(doc, found.name, region)
    instance_type, arch = launching.choose_type(doc, request.size, sorted(amis))
    if arch not in amis:
        raise InputError(
            f"template {found.name} has no {arch} image in {region} for {instance_type} "
            f"(it has {', '.join(sorted(amis))})",
            "pick a --size for that architecture",
        )
    owner_line, warnings = _provenance(found, doc, region, arch, amis[arch], release, reads)
    script = userdata.render(doc, found.name, release) if userdata.needs_user_data(doc) else None
    defaults = doc.get("instance_defaults") or {}
    root_gb = defaults.get("root_volume_gb") or (
        PACKAGE_ROOT_GB if compat.is_package_based(doc) else None
    )
    return LaunchDecision(
        found=found,
        request=request,
        document=doc,
        parameters=chosen,
        instance_type=instance_type,
        architecture=arch,
        image_id=amis[arch],
        owner_line=owner_line,
        release=release,
        warnings=warnings,
        user_data_script=script,
        root_volume_gb=root_gb,
        usd_per_hour=instance_types().get(instance_type, {}).get("usd_per_hour"),
        ports=tuple(compat.ports(doc)),
    )
