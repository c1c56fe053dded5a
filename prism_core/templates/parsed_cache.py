"""A cache of validated local template files, keyed by path, size and modification time.

``prism templates list`` reads every ``$PRISM_HOME/templates/*.yaml``; parsing and
validating hundreds of files dominates its time. A file whose size and mtime
(nanoseconds) match its entry is taken from ``$PRISM_HOME/cache/templates.json``
without being read; any other file is parsed and validated as usual and its entry
replaced. Entries are tied to prism's version and the schema, so an upgrade
re-validates everything. The cache is untrusted input: it is used only if it is
ours (owner, not writable by others) and bounded in size; otherwise it is ignored.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from prism_core import __version__
from prism_core.files import read_own_json

#: Bigger than this (far above 10,000 templates) and the cache is ignored.
MAX_CACHE_BYTES = 64 * 1024 * 1024


def _tag() -> str:
    from importlib import resources

    schema = resources.files("prism_core").joinpath("data/template.schema.json").read_bytes()
    return f"{__version__}:{hashlib.sha256(schema).hexdigest()[:16]}"


class ParsedCache:
    """Validated documents by file path; :meth:`save` writes it back if anything changed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tag = _tag()
        self.entries: dict[str, Any] = {}
        self.changed = False
        data = read_own_json(path, MAX_CACHE_BYTES)
        if isinstance(data, dict) and data.get("tag") == self.tag:
            entries = data.get("entries")
            self.entries = entries if isinstance(entries, dict) else {}

    def get(self, file: Path, info: os.stat_result) -> dict[str, Any] | None:
        """The cached document of ``file`` if its size and mtime are unchanged."""
        entry = self.entries.get(str(file))
        if (
            isinstance(entry, list)
            and len(entry) == 3
            and entry[0] == info.st_size
            and entry[1] == info.st_mtime_ns
            and isinstance(entry[2], dict)
        ):
            return entry[2]
        return None

    def put(self, file: Path, info: os.stat_result, doc: dict[str, Any]) -> None:
        """Remember ``doc`` as the validated content of ``file``."""
        self.entries[str(file)] = [info.st_size, info.st_mtime_ns, doc]
        self.changed = True

    def keep_only(self, files: set[str]) -> None:
        """Forget entries of files that are gone."""
        for key in [k for k in self.entries if k not in files]:
            del self.entries[key]
            self.changed = True

    def save(self) -> None:
        """Write the cache (atomically, private) if anything changed; errors are ignored."""
        if not self.changed:
            return
        from prism_core.files import write_private_atomic

        try:
            text = json.dumps({"tag": self.tag, "entries": self.entries}, default=str)
            write_private_atomic(self.path, text)
        except (OSError, TypeError, ValueError):
            pass
