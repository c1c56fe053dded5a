"""What ``prism templates prune NAME --keep K`` removes, decided before anything changes.

The rules (:func:`plan_prune`): a version number claimed by a running save is neither
counted nor removed; only versions the cloud proves real (:meth:`Inventory.proven`)
count among the K kept, an unproven one is pruned like an old one; an old version is
held when it is protected, a channel's target or claimed (:func:`kept_for_life`), or
when instances run from its images (unless ``--force``). The cloud is read through two
functions passed in (which instances use which images, which images are provably
ours), so the decision is unit-tested with plain data; :func:`carry_out` removes what
the frozen :class:`PrunePlan` lists.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prism_core.aws.clients import AwsClients
from prism_core.exceptions import InputError
from prism_core.templates.cleanup import (
    Inventory,
    Removal,
    Sbom,
    remove,
    sbom_lines,
    version_sboms,
)
from prism_core.templates.delete_plan import (
    OwnedImages,
    kept_for_life,
    parameter_regions,
    sync_parameters,
)

#: ``(inventory, versions) -> version -> why instances run from it`` (only the versions
#: that have users); :func:`instances_using` bound to the clients.
InstancesUsing = Callable[[Inventory, list[int]], dict[int, str]]


def check_keep(keep: int) -> None:
    """``--keep`` keeps at least one version (``delete`` removes them all)."""
    if keep < 1:
        raise InputError("--keep must be at least 1", "use `prism templates delete` for all")


def instances_using(aws: AwsClients, found: Inventory, versions: list[int]) -> dict[int, str]:
    """Versions among ``versions`` whose images live instances run from: version -> why."""
    from prism_core.templates.usage import users_of_images

    images: dict[str, set[str]] = {}
    for version in versions:
        for region, ids in found.versions[version].images.items():
            images.setdefault(region, set()).update(ids)
    if not images:
        return {}
    users = users_of_images(aws, images)
    used: dict[int, str] = {}
    for version in versions:
        running = [
            i
            for region, amis in found.versions[version].images.items()
            for ami in amis
            for i in users.get(f"{region}:{ami}", [])
        ]
        if running:
            used[version] = (
                f"{len(running)} instance(s) run from it ({', '.join(sorted(running)[:3])})"
            )
    return used


def _csv(versions: tuple[int, ...]) -> str:
    return ", ".join(map(str, versions))


@dataclass(frozen=True)
class PrunePlan:
    """Which versions of a template stay, which go and why, and what goes with them."""

    name: str
    #: Versions that stay, newest first: the K newest proven ones and every held one.
    kept: tuple[int, ...]
    #: Versions removed, newest first (empty: nothing to prune).
    removed: tuple[int, ...]
    #: version -> why it stays although it is not among the K newest (or is claimed).
    held: Mapping[int, str]
    #: One line each on what was held or not counted, and why.
    notes: tuple[str, ...]
    #: How many versions the cloud proves (the ones counted against K).
    proven: int
    #: region -> AMIs of the removed versions the cloud proves ours.
    images: Mapping[str, frozenset[str]]
    #: One line per image a removed version lists that is not provably ours: left alone.
    not_ours: tuple[str, ...]
    registry_entries: Mapping[str, tuple[str, ...]]
    files: tuple[Path, ...]
    parameter_regions: tuple[str, ...]
    #: The removed versions' SBOMs (``(inventory reference, save id)``), deleted when the
    #: object's own tags name that save, as ``delete --purge`` does.
    inventories: tuple[Sbom, ...] = ()

    @property
    def nothing_to_do(self) -> bool:
        """No version is removed."""
        return not self.removed

    @property
    def held_document(self) -> dict[str, str]:
        """``held`` as ``-o json`` writes it."""
        return {str(v): why for v, why in self.held.items()}

    @property
    def nothing_text(self) -> str:
        """The result when nothing is removed."""
        notes = f" ({'; '.join(self.notes)})." if self.notes else "."
        return f"Nothing to prune: {self.name} has {self.proven} version(s){notes}"

    @property
    def headline(self) -> str:
        """The plan in one line."""
        count = sum(len(v) for v in self.images.values())
        sboms = f" and {len(self.inventories)} inventory SBOM(s)" if self.inventories else ""
        return (
            f"Prune {self.name}: keep version(s) {_csv(self.kept)}; remove "
            f"{_csv(self.removed)} with {count} AMI(s){sboms}"
        )

    @property
    def question(self) -> str:
        """What the user is asked before anything is removed."""
        what = "their AMIs and inventory SBOMs" if self.inventories else "their AMIs"
        return f"Remove {len(self.removed)} old version(s) of {self.name} and {what}?"

    @property
    def done_headline(self) -> str:
        """The first line of the result."""
        return f"Pruned {self.name}: kept {_csv(self.kept)}, removed {_csv(self.removed)}"

    def dry_run_lines(self) -> list[str]:
        """The plan as ``--dry-run`` reports it."""
        return [self.headline, *sbom_lines(self.inventories), *self.notes, *self.not_ours]


def _unproven_note(version: int) -> str:
    return (
        f"v{version} is not proven by the cloud (no image of it in this account "
        "is tagged as this version by the save it records): not counted among "
        "the versions kept"
    )


def plan_prune(
    found: Inventory,
    *,
    keep: int,
    force: bool,
    users: InstancesUsing,
    owned: OwnedImages,
) -> PrunePlan:
    """Which versions of ``found`` a prune keeping ``keep`` removes; a one-line
    :class:`InputError` when the template is nowhere or no version is proven.

    ``users`` is asked only about old versions not held otherwise; ``owned`` only when
    some version is removed, with the kept versions' images as never to remove.
    """
    check_keep(keep)
    name = found.name
    if found.empty:
        raise InputError(f"no template {name!r}", "run `prism templates list`")
    ordered = sorted(found.versions, reverse=True)
    # A number claimed by a running save is not one of the K versions kept, and stays.
    held: dict[int, str] = {
        v: kept_for_life(found, v) or "claimed"
        for v in ordered
        if found.versions[v].claims and found.versions[v].document is None
    }
    ordered = [v for v in ordered if v not in held]
    # Only versions the cloud proves real count among the K kept: an entry whose
    # images are not this template's by their tags (a stranger's image, or none) is
    # never kept in place of a real version; it is pruned like an old one (its images
    # stay unless proven ours, as for every version).
    unproven = [v for v in ordered if not found.proven(v)]
    ordered = [v for v in ordered if v not in unproven]
    if not ordered:
        raise InputError(
            f"no version of {name} is proven by the cloud (no image of it in this "
            "account carries the template, version and save id its entries record); "
            "nothing was pruned",
            f"check with `prism templates show {name}`; `prism templates delete` "
            "removes it all",
        )
    newest, old = ordered[:keep], ordered[keep:]
    old = sorted([*old, *unproven], reverse=True)
    for version in old:
        why = kept_for_life(found, version)
        if why:
            held[version] = why
    used = users(found, [v for v in old if v not in held])
    if not force:
        held.update(used)
    old = [v for v in old if v not in held]
    kept = sorted([*newest, *held], reverse=True)
    notes = [f"v{v} kept: {why}" for v, why in sorted(held.items())]
    notes += [_unproven_note(v) for v in unproven if v not in held]
    if used and not force:
        notes.append("pass --force to remove versions that instances run from")
    images: dict[str, set[str]] = {}
    not_ours: list[str] = []
    entries: dict[str, list[str]] = {}
    files: list[Path] = []
    if old:
        protected = {i for v in kept for ids in found.versions[v].images.values() for i in ids}
        images, not_ours = owned(found, old, frozenset(protected))
        for version in old:
            parts = found.versions[version]
            for region, names in parts.registry.items():
                entries.setdefault(region, []).extend(names)
            files.extend(parts.files)
    return PrunePlan(
        name=name,
        kept=tuple(kept),
        removed=tuple(old),
        held=dict(held),
        notes=tuple(notes),
        proven=len(ordered),
        images={r: frozenset(ids) for r, ids in images.items()},
        not_ours=tuple(not_ours),
        registry_entries={r: tuple(n) for r, n in entries.items()},
        files=tuple(files),
        parameter_regions=parameter_regions(found),
        inventories=version_sboms(found, old),
    )


def carry_out(plan: PrunePlan, aws: AwsClients, prefix: str) -> Removal:
    """Remove the old versions ``plan`` lists, then let the AMI parameters follow."""
    done = remove(
        aws,
        images={r: set(ids) for r, ids in plan.images.items()},
        registry_entries={r: list(n) for r, n in plan.registry_entries.items()},
        files=list(plan.files),
        sboms=plan.inventories,
    )
    done.kept[:0] = plan.not_ours
    sync_parameters(aws, prefix, plan.name, plan.parameter_regions, done)
    return done


def result_document(plan: PrunePlan, done: Removal | None = None) -> dict[str, Any]:
    """The ``-o json`` document of a prune (``done`` is ``None`` when nothing was removed)."""
    if done is None:
        return {
            "template": plan.name,
            "kept": list(plan.kept),
            "held": plan.held_document,
            "removed_versions": [],
            "removed": {},
        }
    return {
        "template": plan.name,
        "removed": done.to_dict(),
        "kept": list(plan.kept),
        "removed_versions": list(plan.removed),
        "held": plan.held_document,
    }
