"""What ``prism templates delete`` removes, decided before anything changes.

:func:`plan_delete` turns a template's :class:`~.cleanup.Inventory` into a frozen
:class:`DeletePlan`: its local files, its registry entries in every region and, with
``--purge``, the images the cloud proves its saves made. It refuses a template that is
nowhere, a built-in one, and one with a version that is never deleted
(:func:`kept_for_life`). The decision reads no cloud itself: the ownership proof comes
in as a function, so the rules are unit-tested with plain data. :func:`carry_out`
then removes what the plan lists. ``prune`` shares the rules that hold a version
and the parameter sync (:mod:`.prune_plan`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from prism_core.aws.clients import AwsClients
from prism_core.exceptions import InputError
from prism_core.templates.cleanup import Inventory, Removal, Sbom, remove, sbom_lines, version_sboms

#: The images of some versions that the cloud proves this template's saves made:
#: ``(inventory, versions, images never to remove) -> (region -> image ids, one line
#: per image kept and why)``; :func:`prism_core.templates.cleanup.owned_images` bound to
#: the clients.
OwnedImages = Callable[
    [Inventory, list[int], frozenset[str]], tuple[dict[str, set[str]], list[str]]
]


def kept_for_life(found: Inventory, version: int) -> str | None:
    """Why ``version`` must not be removed (protected, a channel's target, claimed by a
    save), or ``None``."""
    parts = found.versions[version]
    reasons = []
    if parts.protected:
        reasons.append(f"protected ({len(parts.protected)} AMI(s))")
    channels = found.channels_of(version)
    if channels:
        reasons.append(f"channel {', '.join(channels)}")
    for holder in list(parts.claims.values())[:1]:
        save_id = holder.get("save_id", "?")
        reasons.append(
            f"claimed by save {save_id} on {holder.get('host', '?')} (still saving; if it "
            f"died, `prism save --abort {save_id}` there)"
        )
    return ", ".join(reasons) or None


def parameter_regions(found: Inventory) -> tuple[str, ...]:
    """The regions whose AMI parameters of the template follow a removal: every region
    searched and every region a version has an image in."""
    regions = {*found.regions, *(r for p in found.versions.values() for r in p.images)}
    return tuple(sorted(regions))


def sync_parameters(
    aws: AwsClients, prefix: str, name: str, regions: tuple[str, ...], done: Removal
) -> None:
    """After a removal: the template's AMI parameters (``<prefix>images/<name>/...``) in
    ``regions`` follow what is left (deleted with the last version)."""
    from prism_core.templates.image_parameters import sync

    synced = sync(aws, prefix, name, list(regions))
    done.registry.extend([*synced.deleted, *(f"{n} (updated)" for n in synced.written)])
    done.failures.extend(synced.failures)


def entry_count(entries: Mapping[str, tuple[str, ...]]) -> int:
    """How many registry entries ``region -> names`` holds."""
    return sum(len(v) for v in entries.values())


@dataclass(frozen=True)
class DeletePlan:
    """Everything ``prism templates delete NAME`` will remove."""

    name: str
    purge: bool
    files: tuple[Path, ...]
    #: region -> registry entries (every version's, and the template's own)
    registry_entries: Mapping[str, tuple[str, ...]]
    #: region -> AMIs to deregister with their snapshots (``--purge`` only)
    images: Mapping[str, frozenset[str]]
    #: One line per image a version lists that the cloud does not prove ours: left alone.
    kept: tuple[str, ...]
    parameter_regions: tuple[str, ...]
    #: ``(inventory reference, save id)`` of each version's SBOM (``--purge`` only): a
    #: version's document names it, the object's own tags must name that save
    inventories: tuple[Sbom, ...] = ()

    @property
    def summary(self) -> str:
        """``2 file(s), 3 registry entries in us-east-1 and its AMI parameters, ...``."""
        what = (
            f"{len(self.files)} file(s), {entry_count(self.registry_entries)} registry "
            f"entries in {', '.join(sorted(self.registry_entries)) or 'no region'} and its "
            "AMI parameters"
        )
        if self.purge:
            count = sum(len(v) for v in self.images.values())
            what += f", and deregister {count} AMI(s) with their snapshots"
            if self.inventories:
                what += f" and delete {len(self.inventories)} inventory SBOM(s)"
        return what

    @property
    def headline(self) -> str:
        """The plan in one line."""
        return f"Delete template {self.name}: {self.summary}"

    @property
    def question(self) -> str:
        """What the user is asked before anything is removed."""
        if not self.purge:
            return f"Delete template {self.name}?"
        what = "its AMIs and inventory SBOMs" if self.inventories else "its AMIs"
        return f"Delete template {self.name} and {what}?"

    def dry_run_lines(self) -> list[str]:
        """The plan as ``--dry-run`` reports it."""
        return [self.headline, *sbom_lines(self.inventories), *self.kept]


def plan_delete(
    found: Inventory,
    *,
    templates_dir: Path,
    purge: bool,
    owned: OwnedImages,
    builtin: bool = False,
) -> DeletePlan:
    """What deleting ``found`` removes; a one-line :class:`InputError` if it may not.

    ``builtin``: the name is a built-in template (refused when nothing else is found).
    ``owned`` is asked which images are provably ours only with ``purge``. A malformed
    current file (``<name>.yaml`` or ``.yml`` in ``templates_dir``) is deleted too.
    """
    name = found.name
    if found.empty:
        if builtin:
            raise InputError(f"{name} is a built-in template", "built-ins cannot be deleted")
        raise InputError(
            f"no template {name!r} here or in the registry of {', '.join(found.regions)}",
            "run `prism templates list`",
        )
    held = {v: kept_for_life(found, v) for v in found.versions}
    held = {v: why for v, why in held.items() if why}
    if held:
        detail = "; ".join(f"v{v}: {why}" for v, why in sorted(held.items()))
        raise InputError(
            f"template {name} has versions that are never deleted ({detail})",
            f"`prism templates unprotect {name}@N` / `prism templates demote {name} "
            "--channel C` first",
        )
    files = [f for parts in found.versions.values() for f in parts.files]
    for suffix in (".yaml", ".yml"):
        current = templates_dir / f"{name}{suffix}"
        if current.is_file() and current not in files:
            files.append(current)
    entries: dict[str, list[str]] = {}
    for source in [found.shared_registry, *(p.registry for p in found.versions.values())]:
        for region, names in source.items():
            entries.setdefault(region, []).extend(names)
    images: dict[str, set[str]] = {}
    kept: list[str] = []
    inventories: tuple[Sbom, ...] = ()
    if purge:
        images, kept = owned(found, sorted(found.versions), frozenset())
        inventories = version_sboms(found, found.versions)
    return DeletePlan(
        name=name,
        purge=purge,
        files=tuple(files),
        registry_entries={r: tuple(n) for r, n in entries.items()},
        images={r: frozenset(ids) for r, ids in images.items()},
        kept=tuple(kept),
        parameter_regions=parameter_regions(found),
        inventories=inventories,
    )


def carry_out(plan: DeletePlan, aws: AwsClients, prefix: str, templates_dir: Path) -> Removal:
    """Remove what ``plan`` lists (images, registry entries, files), let the AMI
    parameters follow, and drop the template's archive folder if it is empty."""
    from prism_core.templates import archive

    done = remove(
        aws,
        images={r: set(ids) for r, ids in plan.images.items()},
        registry_entries={r: list(n) for r, n in plan.registry_entries.items()},
        files=list(plan.files),
        sboms=plan.inventories,
    )
    done.kept[:0] = plan.kept
    sync_parameters(aws, prefix, plan.name, plan.parameter_regions, done)
    folder = archive.folder(templates_dir, plan.name)
    if folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
    return done
