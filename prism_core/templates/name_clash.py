"""Template names that differ only in letter case (``My-Env`` and ``my-env``).

On a case-insensitive disk (macOS, Windows) both are one file, so a save to a name whose
only difference from an existing template is its case is refused before anything
changes, naming the existing template.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from prism_core.exceptions import InputError
from prism_core.templates import compat

if TYPE_CHECKING:
    from prism_core.aws.clients import AwsClients


def case_twin(name: str, existing: Iterable[str]) -> str | None:
    """The first of ``existing`` that equals ``name`` but for letter case (not ``name``)."""
    folded = name.casefold()
    return next((e for e in existing if e != name and e.casefold() == folded), None)


def local_names(templates_dir: Path) -> list[str]:
    """The stems of the template files at the top of ``templates_dir``."""
    try:
        entries = sorted(templates_dir.iterdir())
    except OSError:
        return []
    return [p.stem for p in entries if p.suffix in compat.TEMPLATE_SUFFIXES]


def registry_names(aws: AwsClients, prefix: str, region: str) -> list[str]:
    """The templates registered in ``region`` (none if the registry cannot be read: the
    save's own registry checks report that)."""
    from prism_core.templates import registry

    try:
        summaries, _problems = registry.current_summaries(aws.client("ssm", region), prefix)
    except Exception:  # noqa: BLE001
        return []
    return sorted(summaries)


def refuse_case_twin(name: str, templates_dir: Path, aws: AwsClients, prefix: str,
                     region: str) -> None:
    """Refuse ``name`` if a local or registered template differs from it only in case."""
    twin = case_twin(name, local_names(templates_dir))
    where = f"in {templates_dir}"
    if twin is None:
        twin = case_twin(name, registry_names(aws, prefix, region))
        where = f"in the registry in {region}"
    if twin is not None:
        raise InputError(
            f"template {name} differs from the existing template {twin} ({where}) only in "
            "letter case (one file on a case-insensitive disk)",
            f"save a new version of {twin}, or choose another name",
        )
