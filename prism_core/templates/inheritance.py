"""``inherits:`` of the original tool's templates: parents merged before launch.

Parents are other templates, named by display ``name`` or by slug. As in the original
tool, parents are merged first (in order, each resolved recursively), then the
template itself: package lists, users and services are appended; ``package_manager``,
``instance_defaults.type``, costs and tags are overridden by the later template;
ports are merged without duplicates; ``post_install`` scripts run parents first; a
later ``ami_config`` with images replaces an earlier one.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from prism_core.exceptions import InputError

MAX_DEPTH = 8
#: Parents resolved for one template, over its whole tree: a template that lists a
#: parent many times on every level would otherwise take exponential time and memory.
MAX_PARENTS = 64


def _merge(target: dict[str, Any], source: dict[str, Any]) -> None:
    if source.get("package_manager"):
        target["package_manager"] = source["package_manager"]
    packages = target.setdefault("packages", {})
    for kind, names in (source.get("packages") or {}).items():
        packages[kind] = [*packages.get(kind, []), *(names or [])]
    for field in ("users", "services"):
        target[field] = [*target.get(field, []), *(source.get(field) or [])]
    target["tags"] = {**target.get("tags", {}), **(source.get("tags") or {})}
    if (source.get("ami_config") or {}).get("amis"):
        target["ami_config"] = copy.deepcopy(source["ami_config"])
    script = source.get("post_install")
    if script:
        earlier = target.get("post_install")
        target["post_install"] = f"{earlier}\n\n{script}" if earlier else script
    defaults = target.setdefault("instance_defaults", {})
    theirs = source.get("instance_defaults") or {}
    if theirs.get("type"):
        defaults["type"] = theirs["type"]
    ports = list(defaults.get("ports") or [])
    ports += [p for p in theirs.get("ports") or [] if p not in ports]
    if ports:
        defaults["ports"] = ports
    costs = {**(defaults.get("estimated_cost_per_hour") or {})}
    costs.update(theirs.get("estimated_cost_per_hour") or {})
    if costs:
        defaults["estimated_cost_per_hour"] = costs


def resolve(
    doc: dict[str, Any],
    key: str,
    find: Callable[[str], dict[str, Any] | None],
    _chain: tuple[str, ...] = (),
    _budget: list[int] | None = None,
) -> dict[str, Any]:
    """``doc`` with its ``inherits`` merged in (``doc`` itself when it has none).

    ``find(name)`` returns the parent template named ``name`` (display name or slug).
    A parent that cannot be found, a cycle, a tree deeper than :data:`MAX_DEPTH` or with
    more than :data:`MAX_PARENTS` parents in all is a one-line :class:`InputError`.
    """
    parents = doc.get("inherits") or []
    if not parents:
        return doc
    budget = _budget if _budget is not None else [MAX_PARENTS]
    if key in _chain or len(_chain) >= MAX_DEPTH:
        raise InputError(
            f"template {key}: inheritance loops or is deeper than {MAX_DEPTH}: "
            + " -> ".join([*_chain, key]),
            "fix the templates' inherits lists",
        )
    merged: dict[str, Any] = {}
    for name in parents:
        budget[0] -= 1
        if budget[0] < 0:
            raise InputError(
                f"template {(_chain or (key,))[0]}: its inheritance tree has more than "
                f"{MAX_PARENTS} parents",
                "fix the templates' inherits lists",
            )
        parent = find(str(name))
        if parent is None:
            raise InputError(
                f"template {key} inherits from {name!r}, which is not among your templates",
                "add that template to $PRISM_HOME/templates, or remove it from inherits",
            )
        _merge(merged, resolve(parent, str(name), find, (*_chain, key), budget))
    _merge(merged, doc)
    result = dict(doc)
    result.update(merged)
    result.pop("inherits", None)
    return result
