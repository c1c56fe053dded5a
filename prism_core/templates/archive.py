"""Older versions of local templates: ``$PRISM_HOME/archive/<name>/<N>.yaml``.

The archive lives next to the templates folder, not inside it: the original Go tool
scans ``~/.prism/templates`` recursively and stops at the first file it cannot parse,
so nothing but current templates may be there. Archives written by earlier prism
releases (``templates/versions/<name>/<N>.yaml``) are moved here on first use.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from prism_core.validation import is_number

#: The folder earlier prism releases kept old versions in, under ``templates/``.
LEGACY = "versions"


def root(templates_dir: Path) -> Path:
    """``$PRISM_HOME/archive`` for ``$PRISM_HOME/templates``."""
    return templates_dir.parent / "archive"


def folder(templates_dir: Path, name: str) -> Path:
    """The archive folder of template ``name`` (after migrating a legacy archive)."""
    migrate(templates_dir)
    return root(templates_dir) / name


def versions(templates_dir: Path, name: str) -> dict[int, Path]:
    """Archived versions of ``name``: number -> file."""
    where = folder(templates_dir, name)
    if not where.is_dir():
        return {}
    return {int(p.stem): p for p in where.glob("*.yaml") if is_number(p.stem) and p.is_file()}


def migrate(templates_dir: Path) -> list[str]:
    """Move ``templates/versions/<name>/<N>.yaml`` to the archive; return what moved.

    Only files with that exact shape move (never following symlinks); anything else
    found there is left in place and reported on stderr, and the legacy folders are
    removed only once empty. Idempotent and cheap when there is nothing to move.
    """
    legacy = templates_dir / LEGACY
    if not legacy.is_dir() or legacy.is_symlink():
        return []
    moved: list[str] = []
    left: list[str] = []
    for name_dir in sorted(legacy.iterdir()):
        if not name_dir.is_dir() or name_dir.is_symlink():
            left.append(str(name_dir))
            continue
        for item in sorted(name_dir.iterdir()):
            if item.suffix != ".yaml" or not is_number(item.stem) or item.is_symlink():
                left.append(str(item))
                continue
            target = root(templates_dir) / name_dir.name / item.name
            if target.exists():
                left.append(str(item))
                continue
            target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.replace(item, target)
            moved.append(str(target))
        _remove_if_empty(name_dir)
    _remove_if_empty(legacy)
    if left:
        print(
            f"prism: warning: {len(left)} file(s) left in {legacy} (not prism archives, or "
            f"already archived): move them out, the original tool's scan cannot read them",
            file=sys.stderr,
        )
    return moved


def _remove_if_empty(path: Path) -> None:
    try:
        path.rmdir()
    except OSError:
        pass
