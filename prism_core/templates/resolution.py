"""What ``NAME`` means: the newest version in the shared registry, for everyone.

The registry is per region and a version is registered only where it has an image, so
the launch region's registry alone may not know the newest version (v2 saved in one
region, v1 copied to three). :func:`newest_elsewhere` also asks the registries of the
regions the newest known version names (a few parallel reads, repeated while a newer
version turns up), so the author (whose local file is v2) and a teammate with an empty
``PRISM_HOME`` resolve ``NAME`` to the same version. :func:`refuse_missing_region` then
refuses a region where that version has no image, naming the newest version that has
one there and how to copy.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from prism_core.exceptions import InputError
from prism_core.templates import compat, registry

if TYPE_CHECKING:
    from prism_core.aws.clients import AwsClients

#: Rounds of asking further regions (each round: the regions of the newest version).
MAX_ROUNDS = 3
#: Regions asked per round.
MAX_REGIONS = 16


def image_regions(doc: dict[str, Any]) -> list[str]:
    """Regions where an AMI-based document lists an image."""
    return sorted(str(r) for r in ((doc.get("ami_config") or {}).get("amis") or {}))


def has_image_in(doc: dict[str, Any], region: str) -> bool:
    """Whether ``doc`` can launch in ``region`` without a copy (package-based templates and
    those resolved through SSM parameters can launch anywhere)."""
    config = doc.get("ami_config") or {}
    if compat.is_package_based(doc) or config.get("ssm_parameters"):
        return True
    if not config.get("amis"):
        return True  # not an image template (the launch reports what is missing)
    return bool((config.get("amis") or {}).get(region))


def newest_elsewhere(
    aws: AwsClients,
    prefix: str,
    name: str,
    region: str,
    known: dict[int, dict[str, Any]],
    problems: list[str],
) -> dict[int, tuple[str, dict[str, Any], bool]]:
    """Versions of ``name`` registered in other regions than ``region`` and newer than
    every version in ``known``: version -> (region, document, revoked there)."""
    found: dict[int, tuple[str, dict[str, Any], bool]] = {}
    asked = {region}
    newest = dict(known)
    for _round in range(MAX_ROUNDS):
        if not newest:
            return found
        top = max(newest)
        regions = [r for r in image_regions(newest[top]) if r not in asked][:MAX_REGIONS]
        if not regions:
            return found
        asked.update(regions)

        def read(other: str) -> tuple[str, registry.TemplateEntries | None]:
            try:
                return other, registry.read_template(aws.client("ssm", other), prefix, name)
            except Exception as exc:  # noqa: BLE001
                from prism_core.aws.clients import problem_text

                problems.append(f"registry in {other} not readable: {problem_text(exc)}")
                return other, None

        with ThreadPoolExecutor(len(regions), thread_name_prefix="prism-newest") as pool:
            answers = list(pool.map(read, regions))
        grew = False
        for other, entries in answers:
            if entries is None:
                continue
            for version, doc in entries.versions.items():
                if version > top and version not in found:
                    found[version] = (other, doc, version in entries.revoked)
                    newest[version] = doc
                    grew = True
        if not grew:
            return found
    return found


def refuse_missing_region(
    name: str, chosen: int, docs: dict[int, dict[str, Any]], revoked: set[int], region: str
) -> None:
    """Refuse launching ``name`` v``chosen`` in ``region`` when it has no image there,
    naming the newest version that has one and how to copy the chosen one."""
    doc = docs[chosen]
    if has_image_in(doc, region):
        return
    there = [v for v, d in docs.items() if v not in revoked and has_image_in(d, region)]
    copy = f"prism templates copy {name}@{chosen} --to-regions {region}"
    have = ", ".join(image_regions(doc)) or "none"
    if there:
        older = max(there)
        raise InputError(
            f"template {name} v{chosen} (the newest) has no image in {region} (it has one in "
            f"{have}); the newest version there is v{older}",
            f"launch that with `prism launch {name}@{older} ...`, copy v{chosen} with "
            f"`{copy}`, or add --copy to copy it before launching",
        )
    raise InputError(
        f"template {name} v{chosen} (the newest) has no image in {region}; it has one in {have}",
        f"copy it with `{copy}`, add --copy to copy it before launching, or pass "
        f"--region {image_regions(doc)[0] if image_regions(doc) else 'REGION'}",
    )
