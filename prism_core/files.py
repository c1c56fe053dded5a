"""Files only this user may read: private folders, atomic private writes, and reading
back the JSON prism wrote itself (still untrusted: bounded, and only if it is ours)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from prism_core.exceptions import InputError


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) readable by the user only; return it."""
    missing = []
    current = path
    while not current.exists():
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        directory.mkdir(mode=0o700, exist_ok=True)
    return path


def write_private_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (temp file, fsync, rename), mode 0600."""
    ensure_private_dir(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read_own_json(path: Path, max_bytes: int) -> Any:
    """The JSON in ``path`` if the file is ours: owned by this user, not writable by
    group or others, at most ``max_bytes``; else ``None`` (also when it is missing or
    not JSON). For caches prism wrote itself, which are still untrusted input: read
    with the bounded reader, so a FIFO or a device there never hangs prism."""
    from prism_core.safe_yaml import read_text_bounded

    try:
        info = path.stat()
        if (
            info.st_size > max_bytes
            or info.st_mode & 0o022
            or (hasattr(os, "getuid") and info.st_uid != os.getuid())
        ):
            return None
        return json.loads(read_text_bounded(path, max_bytes=max_bytes))
    except (OSError, ValueError, RecursionError, InputError):
        return None
