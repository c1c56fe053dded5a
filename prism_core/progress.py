"""Progress lines on stderr: each phase with its outcome and elapsed time.

On a terminal that can show them, lines carry the seed workflow's emoji; elsewhere
(pipes, ``NO_COLOR``, ``TERM=dumb``, non-UTF-8 encodings) they are plain text with no
control codes. Standard output stays free for the result document.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

ICONS = {
    "save": ("💾", "*"),
    "info": ("📍", "-"),
    "warn": ("⚠️ ", "!"),
    "stop": ("🛑", ">"),
    "image": ("📸", ">"),
    "start": ("🔄", ">"),
    "wait": ("⏳", ">"),
    "copy": ("🌍", ">"),
    "share": ("🔗", ">"),
    "register": ("📝", ">"),
    "template": ("📄", ">"),
    "ok": ("✅", "ok"),
    "fail": ("❌", "FAILED"),
    "done": ("🎉", "*"),
    "time": ("🕒", "-"),
    "next": ("✨", "-"),
}


def format_duration(seconds: float) -> str:
    """``8m 32s`` style, ``0.4s`` under ten seconds."""
    if seconds < 10:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h {minutes}m {secs}s"
    return f"{minutes}m {secs}s" if minutes else f"{secs}s"


def wants_emoji(stream: TextIO) -> bool:
    """Whether ``stream`` is a terminal that can show emoji."""
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "")
    isatty = getattr(stream, "isatty", lambda: False)
    return bool(isatty()) and encoding == "utf8"


class Progress:
    """Writes progress to a stream; thread-safe (region copies report concurrently)."""

    def __init__(self, stream: TextIO | None = None, *, quiet: bool = False) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.quiet = quiet
        self.emoji = wants_emoji(self.stream)
        self._lock = threading.Lock()

    def line(self, kind: str, text: str, indent: int = 0) -> None:
        """One line with the icon for ``kind``."""
        if self.quiet:
            return
        fancy, plain = ICONS.get(kind, ("", ""))
        icon = fancy if self.emoji else plain
        prefix = " " * indent + (f"{icon} " if icon else "")
        with self._lock:
            self.stream.write(prefix + text + "\n")
            self.stream.flush()

    def blank(self) -> None:
        """An empty separator line."""
        if not self.quiet:
            with self._lock:
                self.stream.write("\n")

    @contextmanager
    def phase(self, kind: str, doing: str, done: str) -> Iterator[None]:
        """Announce ``doing``; on success print ``done`` with the elapsed time."""
        self.line(kind, doing)
        started = time.monotonic()
        yield
        self.line("ok", f"{done} ({format_duration(time.monotonic() - started)})")
