"""Template lineage: which version was saved from an instance launched from which.

Every saved version records ``parent: {template, version}`` (from the launch tags of
the instance it was saved from). :func:`family` gathers the versions known locally and
in one region's registry (with their channels and revocations), so that the family
tree, descendants and "parent revoked" marks can be computed without any other store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prism_core.exceptions import InputError
from prism_core.templates import compat, store

if TYPE_CHECKING:
    from prism_core.aws.clients import AwsClients

Key = tuple[str, int]


@dataclass
class Node:
    """One version in the family."""

    name: str
    version: int
    document: dict[str, Any] | None = None
    source: str = ""
    channels: list[str] = field(default_factory=list)
    revoked: dict[str, Any] | None = None

    @property
    def key(self) -> Key:
        """``(name, version)``."""
        return (self.name, self.version)

    @property
    def parent(self) -> Key | None:
        """The version this one was saved from an instance of, if recorded."""
        parent = (self.document or {}).get("parent")
        if not isinstance(parent, dict):
            return None
        name, version = parent.get("template"), parent.get("version")
        if not isinstance(name, str) or not str(version).isdigit():
            return None
        return (name, int(str(version)))


@dataclass
class Family:
    """Every version found, by key, and the problems met reading them."""

    nodes: dict[Key, Node] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def children(self, key: Key) -> list[Node]:
        """Versions saved from instances launched from ``key``, sorted."""
        return sorted((n for n in self.nodes.values() if n.parent == key), key=lambda n: n.key)

    def descendants(self, key: Key) -> list[Node]:
        """Every version descending from ``key`` (children, their children, ...)."""
        found: list[Node] = []
        todo = self.children(key)
        seen: set[Key] = {key}
        while todo:
            node = todo.pop(0)
            if node.key in seen:
                continue
            seen.add(node.key)
            found.append(node)
            todo.extend(self.children(node.key))
        return found

    def revoked_ancestor(self, key: Key) -> Key | None:
        """The nearest revoked ancestor of ``key`` (the "parent revoked" mark), if any."""
        seen: set[Key] = {key}
        node = self.nodes.get(key)
        parent = node.parent if node else None
        while parent is not None and parent not in seen:
            seen.add(parent)
            above = self.nodes.get(parent)
            if above is None:
                return None
            if above.revoked is not None:
                return parent
            parent = above.parent
        return None

    def add(self, name: str, version: int, doc: dict[str, Any] | None, source: str) -> Node:
        """Add a version (the first source seen keeps its document)."""
        node = self.nodes.setdefault((name, version), Node(name, version))
        if node.document is None and doc is not None:
            node.document, node.source = doc, source
        return node


def family(
    templates_dir: Path, aws: AwsClients | None, prefix: str, regions: str | list[str] | None
) -> Family:
    """Every local and registered version (in the registries of ``regions``), with
    built-in parents. Revocations and channels of any of those regions count."""
    from prism_core.aws.clients import error_message

    found = Family()
    if templates_dir.is_dir():
        listing = store.Listing()  # found by slug, else file stem (as launch finds them)
        store.local_templates(templates_dir, listing)
        found.problems.extend(listing.problems)
        for current in listing.templates:
            name = current.name
            try:
                versions = store.local_versions(templates_dir, name, found.problems)
            except InputError as exc:
                found.problems.append(str(exc))
                continue
            versions.setdefault(current.version, current)
            for version, item in versions.items():
                found.add(name, version, item.document, store.LOCAL)
    if isinstance(regions, str):
        regions = [regions]
    for region in regions or []:
        if aws is None:
            break
        from prism_core.templates import registry

        try:
            shared = registry.read_all(aws.client("ssm", region), prefix, found.problems)
        except Exception as exc:
            found.problems.append(f"registry in {region} not readable: {error_message(exc)}")
            shared = {}
        for name, entries in shared.items():
            for version, doc in entries.versions.items():
                found.add(name, version, doc, store.REGISTRY)
            for version, record in entries.revoked.items():
                node = found.add(name, version, None, store.REGISTRY)
                node.revoked = node.revoked or record
            for channel, record in entries.channels.items():
                node = found.add(name, int(record["version"]), None, store.REGISTRY)
                if channel not in node.channels:
                    node.channels.append(channel)
    for node in list(found.nodes.values()):
        parent = node.parent
        if parent is not None and parent not in found.nodes:
            shipped = store.builtin(parent[0])
            if shipped is not None:
                found.add(parent[0], parent[1], shipped.document, store.BUILT_IN)
    return found


def label(node: Node, family_: Family) -> str:
    """``name vN`` with its date, channels and marks, for the tree."""
    doc = node.document or {}
    shown = compat.version_label(doc) if doc else str(node.version)  # "1.0.0" as launch says
    parts = [f"{node.name} v{shown}"]
    if node.source == store.BUILT_IN:
        parts.append("(built-in)")
    elif doc.get("saved_date"):
        parts.append(str(doc["saved_date"])[:10])
    if node.channels:
        parts.append("[" + ", ".join(sorted(node.channels)) + "]")
    if node.revoked is not None:
        parts.append("REVOKED")
    elif family_.revoked_ancestor(node.key) is not None:
        parts.append("(parent revoked)")
    return " ".join(parts)


def tree_rows(family_: Family, name: str | None) -> list[tuple[str, str, str]]:
    """The family tree (parents above children) as ``(lead, hang, label)`` rows: ``lead``
    draws the branch before the label, ``hang`` continues the guides on the label's
    continuation lines (for a caller that wraps it).

    With ``name``, only the trees that contain one of its versions.
    """
    roots = sorted(
        (n for n in family_.nodes.values() if n.parent is None or n.parent not in family_.nodes),
        key=lambda n: n.key,
    )
    if name is not None:

        def contains(node: Node) -> bool:
            return node.name == name or any(d.name == name for d in family_.descendants(node.key))

        roots = [r for r in roots if contains(r)]
    rows: list[tuple[str, str, str]] = []

    def walk(node: Node, prefix: str, last: bool, top: bool, seen: set[Key]) -> None:
        branch = "" if top else ("└── " if last else "├── ")
        below = prefix if top else prefix + ("    " if last else "│   ")
        kids = [] if node.key in seen else family_.children(node.key)
        rows.append((prefix + branch, below + ("│ " if kids else "  "), label(node, family_)))
        if node.key in seen:
            return
        seen = seen | {node.key}
        for index, child in enumerate(kids):
            walk(child, below, index == len(kids) - 1, False, seen)

    for root in roots:
        walk(root, "", True, True, set())
    return rows
