"""What a saved template owns, everywhere, and removing it: ``delete`` and ``prune``.

A template's versions live in local files, in the registry of every region that had
a copy, and as AMIs (with snapshots) in those regions. :func:`inventory` collects all
of it; :func:`remove` deregisters images, deletes their snapshots (EC2 does not do it
for us, and moto ignores ``DeleteAssociatedSnapshots``), deletes registry entries and
local files, and reports each failure instead of stopping at the first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prism_core.aws.clients import AwsClients, error_message
from prism_core.aws.ec2 import describe_image, discard_image
from prism_core.aws.tags import SAVE_ID_TAG, TEMPLATE_TAG, VERSION_TAG, tags_of
from prism_core.settings import Settings
from prism_core.templates import registry
from prism_core.templates.compat import version_number
from prism_core.templates.store import local_versions
from prism_core.validation import is_number


@dataclass
class VersionParts:
    """One version of a template: its files, registry entries and images."""

    files: list[Path] = field(default_factory=list)
    registry: dict[str, list[str]] = field(default_factory=dict)  # region -> parameter names
    images: dict[str, set[str]] = field(default_factory=dict)  # region -> AMI ids
    saved_date: str | None = None
    #: Save ids the registry or the local files recorded for this version.
    save_ids: set[str] = field(default_factory=set)
    #: region -> holder of a claim on this number by a save still running (issue 11)
    claims: dict[str, dict[str, Any]] = field(default_factory=dict)
    document: dict[str, Any] | None = None
    #: AMI id -> DescribeImages record (protection, deprecation), for images EC2 listed.
    image_records: dict[str, dict[str, Any]] = field(default_factory=dict)
    revoked: dict[str, Any] | None = None  # the revocation record, if any region has one

    @property
    def protected(self) -> list[str]:
        """``region:ami`` of every image with deregistration protection on (or cooling down)."""
        return sorted(
            f"{region}:{image_id}"
            for region, ids in self.images.items()
            for image_id in ids
            if str(
                (self.image_records.get(image_id) or {}).get("DeregistrationProtection") or ""
            ).startswith(("enabled", "disabled-until"))
        )

    def add_images(self, doc: dict[str, Any]) -> None:
        """Add the AMIs a template document lists, if prism saved it.

        A template written by hand or by the original tool lists images prism did
        not create (public ones, or images built elsewhere): they are never purged.
        """
        if doc.get("source") != "saved-from-instance":
            return
        for region, by_arch in ((doc.get("ami_config") or {}).get("amis") or {}).items():
            self.images.setdefault(region, set()).update(by_arch.values())
        self.saved_date = self.saved_date or doc.get("saved_date")
        if doc.get("save_id"):
            self.save_ids.add(str(doc["save_id"]))
        self.document = self.document or doc


@dataclass
class Inventory:
    """Everything a template owns, by version; plus entries that belong to no version."""

    name: str
    versions: dict[int, VersionParts] = field(default_factory=dict)
    shared_registry: dict[str, list[str]] = field(default_factory=dict)  # current entries
    regions: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    #: channel -> region -> version it points at there (normally the same everywhere)
    channels: dict[str, dict[str, int]] = field(default_factory=dict)

    def channels_of(self, version: int) -> list[str]:
        """The channels pointing at ``version`` in any region."""
        return sorted(c for c, where in self.channels.items() if version in where.values())

    def version(self, number: int) -> VersionParts:
        """The parts of version ``number`` (created empty on first use)."""
        return self.versions.setdefault(number, VersionParts())

    def proven(self, number: int) -> bool:
        """Whether the cloud proves version ``number`` real: one of its images exists in
        this account tagged with this template, the version and a save id its document
        or local file recorded (see :mod:`.proof`). A forged registry entry, pointing at
        a stranger's image or at none, is not."""
        from prism_core.templates.proof import image_proves

        parts = self.versions.get(number)
        if parts is None or not parts.save_ids:
            return False
        return any(
            image_proves(record, self.name, number, parts.save_ids)
            for record in parts.image_records.values()
        )

    @property
    def empty(self) -> bool:
        """Nothing was found anywhere."""
        return not self.versions and not any(self.shared_registry.values())


def _tagged_images(ec2: Any, name: str) -> list[dict[str, Any]]:
    """Images this account owns tagged ``prism:template=<name>``."""
    answer = ec2.describe_images(
        Owners=["self"], Filters=[{"Name": f"tag:{TEMPLATE_TAG}", "Values": [name]}]
    )
    return [i for i in answer["Images"] if i.get("State") != "deregistered"]


def inventory(name: str, settings: Settings, aws: AwsClients, region: str) -> Inventory:
    """Collect the local files, registry entries and AMIs of ``name`` in every region.

    Regions searched: ``region`` and every region any known version has an image in.
    """
    found = Inventory(name)
    base = registry.parameter_base(settings.registry_prefix, name)
    docs: list[dict[str, Any]] = []
    for number, local in local_versions(settings.templates_dir, name, found.problems).items():
        found.version(number).files.append(Path(local.location))
        docs.append(local.document)
    regions = {region}
    for doc in docs:
        regions.update((doc.get("ami_config") or {}).get("amis") or {})
    seen: set[str] = set()
    while regions - seen:
        current = sorted(regions - seen)[0]
        seen.add(current)
        ssm = aws.client("ssm", current)
        try:
            params = registry.entries(ssm, settings.registry_prefix, name)
        except Exception as exc:
            found.problems.append(f"registry in {current} not readable: {error_message(exc)}")
            params = {}
        parsed = registry.parse_entries(base, params, found.problems)
        for channel, record in parsed.channels.items():
            found.channels.setdefault(channel, {})[current] = int(record["version"])
        for number, record in parsed.revoked.items():
            found.version(number).revoked = found.version(number).revoked or record
        for number, holder in parsed.claims.items():
            found.version(number).claims[current] = holder
            found.problems.append(
                f"registry {current}: version {number} claimed by save "
                f"{holder.get('save_id', '?')} on {holder.get('host', '?')}, not registered yet"
            )
        for key in params:
            number = registry.version_of_key(base, key)
            revoked = registry.record_version(base, key)
            if revoked is not None:
                found.version(revoked).registry.setdefault(current, []).append(key)
            elif number is not None:
                parts = found.version(number)
                parts.registry.setdefault(current, []).append(key)
                doc = parsed.versions.get(number)
                if doc is None:
                    continue  # a claim of a running save, or malformed (reported above)
                parts.add_images(doc)
                regions.update((doc.get("ami_config") or {}).get("amis") or {})
            else:
                found.shared_registry.setdefault(current, []).append(key)
    for doc in docs:
        found.version(version_number(doc)).add_images(doc)
    for current in sorted(seen):
        try:
            images = _tagged_images(aws.ec2(current), name)
        except Exception as exc:
            found.problems.append(f"images in {current} not listed: {error_message(exc)}")
            continue
        for image in images:
            version = tags_of(image).get(VERSION_TAG, "")
            if is_number(version):
                parts = found.version(int(version))
                parts.images.setdefault(current, set()).add(image["ImageId"])
                parts.image_records[image["ImageId"]] = image
    found.regions = sorted(seen)
    return found


def owned_images(
    aws: AwsClients,
    found: Inventory,
    versions: list[int],
    protected: set[str] | frozenset[str] = frozenset(),
) -> tuple[dict[str, set[str]], list[str]]:
    """The images of ``versions`` the cloud proves this template's saves made.

    An image qualifies only if its own tags name this template (``prism:template``),
    the version (``prism:version``) and a save id (``prism:save-id``) that the registry
    or a local file recorded for that version. Returns ``(region -> image ids to
    remove, one line per image kept and why)``. A registry document that points at
    someone else's image therefore never leads to deleting it.
    """
    owned: dict[str, set[str]] = {}
    kept: list[str] = []
    for version in versions:
        parts = found.versions.get(version)
        if parts is None:
            continue
        for region, image_ids in sorted(parts.images.items()):
            for image_id in sorted(image_ids - set(protected)):
                try:
                    image = describe_image(aws.ec2(region), image_id)
                except Exception as exc:
                    kept.append(f"{region}:{image_id} (not checked, kept: {error_message(exc)})")
                    continue
                if image is None or image.get("State") == "deregistered":
                    continue
                reason = _not_ours(image, found.name, version, parts.save_ids)
                if reason:
                    kept.append(f"{region}:{image_id} (not ours, kept: {reason})")
                else:
                    owned.setdefault(region, set()).add(image_id)
    return owned, kept


def _not_ours(image: dict[str, Any], name: str, version: int, save_ids: set[str]) -> str | None:
    """Why ``image`` is not provably version ``version`` of template ``name``, or None."""
    tags = tags_of(image)
    if tags.get(TEMPLATE_TAG) != name:
        other = tags.get(TEMPLATE_TAG)
        return f"tagged for template {other!r}" if other else f"it has no {TEMPLATE_TAG} tag"
    if tags.get(VERSION_TAG) != str(version):
        return f"tagged as version {tags.get(VERSION_TAG)!r}, not {version}"
    if tags.get(SAVE_ID_TAG) not in save_ids:
        return f"its save id is not one recorded for version {version}"
    return None


@dataclass
class Removal:
    """What :func:`remove` did."""

    images: list[str] = field(default_factory=list)
    snapshots: list[str] = field(default_factory=list)
    registry: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    #: Images listed by a document or tag that the cloud does not prove are ours.
    kept: list[str] = field(default_factory=list)
    #: SBOMs of the versions removed (``delete --purge``, ``prune``, a policy's or a
    #: schedule's deletion), proven by their tags.
    inventories: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, list[str]]:
        """The ``-o json`` form."""
        return {
            "kept": self.kept,
            "images": self.images,
            "snapshots": self.snapshots,
            "registry": self.registry,
            "files": self.files,
            "inventories": self.inventories,
            "failures": self.failures,
        }


#: A version's SBOM: ``(the inventory reference its document holds, its save id)``; the
#: stored object's own tags must name that save for it to be deleted.
Sbom = tuple[Mapping[str, Any], str]


def version_sboms(found: Inventory, versions: Iterable[int]) -> tuple[Sbom, ...]:
    """The SBOMs the documents of ``versions`` name, each once, for removal with them;
    one that a version not removed also names (the same location) is left out."""
    removed = set(versions)
    refs = {number: _sbom_of(parts.document) for number, parts in found.versions.items()}
    staying = {ref[0]["sbom"] for number, ref in refs.items() if ref and number not in removed}
    chosen: dict[tuple[str, str], Sbom] = {}
    for number, ref in sorted(refs.items()):
        if ref and number in removed and ref[0]["sbom"] not in staying:
            chosen.setdefault((str(ref[0]["sbom"]), ref[1]), ref)
    return tuple(chosen.values())


def _sbom_of(document: Mapping[str, Any] | None) -> Sbom | None:
    document = document or {}
    inventory = document.get("inventory")
    if isinstance(inventory, dict) and inventory.get("sbom") and document.get("save_id"):
        return dict(inventory), str(document["save_id"])
    return None


def sbom_lines(sboms: Iterable[Sbom]) -> list[str]:
    """One line per SBOM a plan will delete (``--dry-run``)."""
    return [f"inventory SBOM {ref['sbom']} (save {save_id})" for ref, save_id in sboms]


def remove_sboms(aws: AwsClients, sboms: Iterable[Sbom], done: Removal) -> None:
    """Delete each SBOM whose object's own tags name its save (into ``done.inventories``);
    one whose tags name another save, or that cannot be removed, is kept and reported
    (``done.kept``)."""
    from prism_core.inspection.store import remove_saved

    for ref, save_id in sboms:
        gone, kept = remove_saved(aws, dict(ref), save_id, aws.region)
        done.inventories.extend(gone)
        done.kept.extend(kept)


def remove(
    aws: AwsClients,
    *,
    images: dict[str, set[str]] | None = None,
    registry_entries: dict[str, list[str]] | None = None,
    files: list[Path] | None = None,
    sboms: Iterable[Sbom] = (),
) -> Removal:
    """Deregister ``images`` and delete their snapshots, then registry entries, then files,
    then the versions' SBOMs (:func:`remove_sboms`)."""
    done = Removal()
    for region, image_ids in sorted((images or {}).items()):
        ec2 = aws.ec2(region)
        for image_id in sorted(image_ids):
            try:
                removed = discard_image(ec2, describe_image(ec2, image_id), image_id)
            except Exception as exc:
                done.failures.append(f"{region}: {image_id}: {error_message(exc)}")
                continue
            for item in removed:
                (done.images if item.startswith("ami-") else done.snapshots).append(
                    f"{region}:{item}"
                )
    for region, names in sorted((registry_entries or {}).items()):
        if not names:
            continue
        try:
            deleted = registry.delete_entries(aws.client("ssm", region), sorted(names))
        except Exception as exc:
            done.failures.append(f"registry in {region}: {error_message(exc)}")
            continue
        done.registry.extend(f"{region}:{name}" for name in deleted)
    for path in files or []:
        try:
            path.unlink()
            done.files.append(str(path))
        except FileNotFoundError:
            continue
        except OSError as exc:
            done.failures.append(f"{path}: {exc.strerror}")
    remove_sboms(aws, sboms, done)
    return done
