"""What a new version of a template takes from the previous one.

A save to an existing template name inherits the previous version's description,
project, tags, sharing and copy regions unless the command gives them (``--description``,
``--project``, ``--tag KEY=...`` per key, ``--public``/``--share-with``,
``--copy-to-regions``); ``--no-inherit`` starts from the command alone. The previous
version is the newest in the registry of the source region (the shared source of
truth), else the newest local file. The plan lists what is inherited and what changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prism_core.aws.clients import AwsClients
    from prism_core.settings import Settings

#: Tags prism itself writes into a template's ``tags`` (not the user's own).
OWN_TEMPLATE_TAGS = ("Name", "Type", "Source", "Project")


@dataclass
class Previous:
    """The previous version's values that a new version may inherit."""

    version: int
    description: str | None = None
    project: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    public: bool = False
    share_with: list[str] = field(default_factory=list)
    copy_regions: list[str] = field(default_factory=list)

    @classmethod
    def from_document(cls, doc: dict[str, Any], version: int, source_region: str) -> Previous:
        """Read them from a template document (its ``sharing`` only if prism wrote one)."""
        tags = {
            str(k): str(v)
            for k, v in (doc.get("tags") or {}).items()
            if str(k) not in OWN_TEMPLATE_TAGS
        }
        sharing = doc.get("sharing") if isinstance(doc.get("sharing"), dict) else {}
        amis = (doc.get("ami_config") or {}).get("amis") or {}
        description = doc.get("description")
        return cls(
            version=version,
            description=str(description) if description else None,
            project=str(doc["project"]) if doc.get("project") else None,
            tags=tags,
            public=bool(sharing.get("public", False)),
            share_with=[str(s) for s in sharing.get("share_with") or []],
            copy_regions=sorted(str(r) for r in amis if str(r) != source_region),
        )


def previous_version(
    settings: Settings, aws: AwsClients, name: str, region: str
) -> Previous | None:
    """The newest version of ``name``: in the registry of ``region``, else local."""
    from prism_core.templates import registry, store

    versions: dict[int, dict[str, Any]] = {}
    try:
        entries = registry.read_template(aws.client("ssm", region), settings.registry_prefix,
                                         name, [])
        versions = {v: d for v, d in entries.versions.items() if v not in entries.revoked}
    except Exception:  # noqa: BLE001  (an unreadable registry: the local file decides)
        versions = {}
    if not versions:
        try:
            versions = {v: t.document for v, t in
                        store.local_versions(settings.templates_dir, name).items()}
        except Exception:  # noqa: BLE001
            versions = {}
    if not versions:
        return None
    newest = max(versions)
    return Previous.from_document(versions[newest], newest, region)


@dataclass
class Inherited:
    """The values a save uses, and which of them came from the previous version."""

    description: str | None
    project: str | None
    tags: dict[str, str]
    public: bool
    share_with: list[str]
    copy_regions: list[str] | None
    inherited: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)


def _shown(values: list[str]) -> str:
    return ", ".join(values) if values else "none"


def merge(
    previous: Previous | None,
    *,
    description: str | None,
    project: str | None,
    tags: dict[str, str],
    public: bool,
    share_with: list[str] | None,
    copy_regions: list[str] | None,
) -> Inherited:
    """The command's values, completed from ``previous`` where the command is silent;
    ``inherited`` and ``changed`` say so in words for the plan."""
    if previous is None:
        return Inherited(description, project, dict(tags), public, list(share_with or []),
                         copy_regions)
    out = Inherited(description, project, {**previous.tags, **tags}, public,
                    list(share_with or []), copy_regions)
    if description is None and previous.description:
        out.description = previous.description
        out.inherited.append("description")
    elif description is not None and description != previous.description:
        out.changed.append("description")
    if project is None and previous.project:
        out.project = previous.project
        out.inherited.append(f"project {previous.project}")
    elif project is not None and project != previous.project:
        out.changed.append(f"project {previous.project or 'none'} -> {project}")
    kept = {k: val for k, val in previous.tags.items() if k not in tags}
    if kept:
        out.inherited.append("tags " + ", ".join(f"{k}={val}" for k, val in kept.items()))
    replaced = [f"{k}={previous.tags[k]} -> {val}" for k, val in tags.items()
                if k in previous.tags and previous.tags[k] != val]
    added = [f"{k}={val}" for k, val in tags.items() if k not in previous.tags]
    if replaced or added:
        out.changed.append("tags " + ", ".join(replaced + [f"+{a}" for a in added]))
    if not public and share_with is None:
        out.public, out.share_with = previous.public, list(previous.share_with)
        if previous.public or previous.share_with:
            what = ["public"] if previous.public else []
            out.inherited.append("sharing " + _shown(what + previous.share_with))
    else:
        before = (["public"] if previous.public else []) + previous.share_with
        after = (["public"] if public else []) + list(share_with or [])
        if sorted(before) != sorted(after):
            out.changed.append(f"sharing {_shown(before)} -> {_shown(after)}")
    if copy_regions is None:
        out.copy_regions = list(previous.copy_regions)
        if previous.copy_regions:
            out.inherited.append("copy regions " + _shown(previous.copy_regions))
    elif sorted(copy_regions) != sorted(previous.copy_regions):
        out.changed.append(
            f"copy regions {_shown(previous.copy_regions)} -> {_shown(copy_regions)}"
        )
    return out
