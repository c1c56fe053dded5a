"""What a killed save leaves in the journal folder besides journals, and its removal.

A journal is written to a temp file (``.<save-id>.json.<random>.tmp``) that is renamed
over it; ``kill -9`` during a write leaves the temp file. A watchdog that was killed
leaves its lease file (``.<save-id>.watchdog``), unlocked. ``prism save --resume`` and
``--abort`` remove both, but only files of exactly these names, regular files (never
a symlink, a FIFO or a folder), and only stale ones: a temp file not written to for a
minute (a live write takes milliseconds), a lease no process holds.
"""

from __future__ import annotations

import os
import re
import stat
import time
from pathlib import Path

from prism_core.save import watchdog_lease

#: The names ``tempfile.mkstemp(prefix=".<journal name>.", suffix=".tmp")`` gives.
TEMP_NAME = re.compile(r"^\.[A-Za-z0-9][A-Za-z0-9._-]{0,199}\.json\.[a-z0-9_]{8}\.tmp$")
#: A temp file younger than this may belong to a write under way.
STALE_AFTER_SECONDS = 60.0


def stale_temp_files(journal_dir: Path, now: float | None = None) -> list[Path]:
    """The journal temp files in ``journal_dir`` a killed write left behind."""
    now = time.time() if now is None else now
    try:
        names = os.listdir(journal_dir)
    except OSError:
        return []
    found = []
    for name in sorted(names):
        if not TEMP_NAME.match(name):
            continue
        path = journal_dir / name
        try:
            info = path.lstat()
        except OSError:
            continue
        if stat.S_ISREG(info.st_mode) and now - info.st_mtime >= STALE_AFTER_SECONDS:
            found.append(path)
    return found


def orphan_attachments(journal_dir: Path, now: float | None = None) -> list[Path]:
    """Stale attachments (``<save-id>.<name>.attachment``) of no journal in
    ``journal_dir`` (no ``<save-id>.json`` whose save id starts their name); regular
    files only."""
    now = time.time() if now is None else now
    try:
        names = os.listdir(journal_dir)
    except OSError:
        return []
    journals = [name[: -len(".json")] + "." for name in names if name.endswith(".json")]
    found = []
    for name in sorted(names):
        if not name.endswith(".attachment") or name.startswith("."):
            continue
        if any(name.startswith(stem) for stem in journals):
            continue
        path = journal_dir / name
        try:
            info = path.lstat()
        except OSError:
            continue
        if stat.S_ISREG(info.st_mode) and now - info.st_mtime >= STALE_AFTER_SECONDS:
            found.append(path)
    return found


def _remove_dead_lease(path: Path) -> bool:
    """Remove a lease file no process holds; its lock is taken first, so a watchdog
    starting at this moment cannot lose a file it holds (it is refused instead)."""
    import fcntl

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False  # a live watchdog holds it
        path.unlink()
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def remove_leftovers(journal_dir: Path) -> list[str]:
    """Remove stale temp files and dead leases; the names removed."""
    removed = []
    for path in [*stale_temp_files(journal_dir), *orphan_attachments(journal_dir)]:
        try:
            path.unlink()
        except OSError:
            continue
        removed.append(path.name)
    for _, path in watchdog_lease.lease_files(journal_dir):
        if _remove_dead_lease(path):
            removed.append(path.name)
    return removed
