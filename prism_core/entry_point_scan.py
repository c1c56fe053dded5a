"""The installed distributions' entry points, read the way :mod:`importlib.metadata` finds
them but without importing it (it costs ~30 ms at start-up: email, zipfile, csv...).

Every folder on ``sys.path`` is listed once; each ``*.dist-info`` / ``*.egg-info`` folder
is a distribution, the first of each (normalized) name wins, as with
``importlib.metadata.entry_points()``; its ``entry_points.txt`` gives the entry points and
its ``METADATA`` (``PKG-INFO``) headers the name and version. Where that is not enough to
match :mod:`importlib.metadata` (a zip file on ``sys.path``, or an import finder that
provides distributions of its own), :func:`entry_points` uses :mod:`importlib.metadata`.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable, Iterator
from typing import NamedTuple

_SUFFIXES = (".dist-info", ".egg-info")
#: Metadata files are small; only their headers are read.
_MAX_HEADER_LINES = 200


class Found(NamedTuple):
    """One entry point: its group, name and value, and its distribution's name and version."""

    group: str
    name: str
    value: str
    dist_name: str | None
    dist_version: str | None


def _normalized(name: str) -> str:
    """A distribution name as :mod:`importlib.metadata` compares them (PEP 503, ``_``)."""
    return re.sub(r"[-_.]+", "_", name).lower()


def _needs_importlib() -> bool:
    """Whether a folder scan could miss what :mod:`importlib.metadata` finds."""
    from importlib.machinery import PathFinder

    custom = any(
        hasattr(finder, "find_distributions") and finder is not PathFinder
        for finder in sys.meta_path
    )
    return custom or any(os.path.isfile(entry) for entry in sys.path if entry)


def _metadata_folders() -> Iterator[str]:
    """Each distribution's metadata folder, first of each name along ``sys.path``."""
    seen: set[str] = set()
    for entry in sys.path:
        folder = entry or "."
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in names:
            if not name.endswith(_SUFFIXES):
                continue
            key = _normalized(name.rsplit(".", 1)[0].split("-", 1)[0])
            path = os.path.join(folder, name)
            if key in seen or not os.path.isdir(path):
                continue
            seen.add(key)
            yield path


def _headers(folder: str) -> dict[str, str]:
    """``Name`` and ``Version`` from the distribution's METADATA (or PKG-INFO) headers."""
    for file in ("METADATA", "PKG-INFO"):
        try:
            with open(os.path.join(folder, file), encoding="utf-8", errors="replace") as handle:
                headers: dict[str, str] = {}
                for _, line in zip(range(_MAX_HEADER_LINES), handle, strict=False):
                    if not line.strip():
                        break
                    key, sep, value = line.partition(":")
                    if sep and key in ("Name", "Version"):
                        headers.setdefault(key, value.strip())
                return headers
        except OSError:
            continue
    return {}


def _sections(text: str) -> Iterator[tuple[str, str, str]]:
    """``(group, name, value)`` of an ``entry_points.txt`` (INI: ``[group]``, ``name = value``)."""
    group = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            group = line[1:-1].strip()
            continue
        name, sep, value = line.partition("=")
        if sep and group:
            yield group, name.strip(), value.strip()


def _scan_folders(groups: frozenset[str]) -> list[Found]:
    found = []
    for folder in _metadata_folders():
        try:
            with open(os.path.join(folder, "entry_points.txt"), encoding="utf-8") as handle:
                text = handle.read(1024 * 1024)
        except (OSError, UnicodeDecodeError):
            continue
        rows = [row for row in _sections(text) if row[0] in groups]
        if rows:
            headers = _headers(folder)
            name, version = headers.get("Name"), headers.get("Version")
            found += [Found(group, ep, value, name, version) for group, ep, value in rows]
    return found


def _scan_importlib(groups: frozenset[str]) -> list[Found]:
    from importlib.metadata import entry_points as installed

    found = []
    for group in sorted(groups):
        for ep in installed(group=group):
            dist = getattr(ep, "dist", None)
            found.append(
                Found(
                    group,
                    ep.name,
                    ep.value,
                    dist.metadata["Name"] if dist is not None else None,
                    dist.version if dist is not None else None,
                )
            )
    return found


def entry_points(groups: Iterable[str]) -> list[Found]:
    """The entry points of ``groups`` of every installed distribution."""
    wanted = frozenset(groups)
    return _scan_importlib(wanted) if _needs_importlib() else _scan_folders(wanted)
