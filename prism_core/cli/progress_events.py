"""``--progress text|json|none``: how progress reaches stderr (docs/progress-events.md).

``text`` (the default) is :class:`~prism_core.cli.progress.Progress`'s lines. ``json``
makes stderr a stream of JSON Lines events (:class:`ProgressStream`): progress becomes
structured events (:class:`EventWriter`), and any other text written to stderr (a
warning, a plugin's message, the error line) becomes an event too, so every line is one
JSON object that ``prism_core/data/progress_event.schema.json`` validates. ``none`` keeps
stderr for warnings and errors only. Standard output is not touched: with ``-o json`` it
still holds exactly one document.

The mode comes from ``--progress`` (every command that takes ``--debug``), else the
environment variable ``PRISM_PROGRESS``, else ``text``. It is a choice of whoever runs
prism (a terminal, a script, a GUI wrapper), not of the installation, so it is not a
config key and cannot be locked.
"""

from __future__ import annotations

import io
import json
import os
import threading
from datetime import UTC, datetime
from typing import Any, TextIO

from prism_core.exceptions import InputError

MODES = ("text", "json", "none")
ENVIRONMENT = "PRISM_PROGRESS"
#: Every kind of event (the schema's ``event`` enum).
EVENTS = ("phase", "wait", "progress", "warning", "message", "error", "done")
#: A wait still going is reported again this often (seconds) in ``json`` mode.
WAIT_EVERY_SECONDS = 5.0
#: The longest message an event carries (characters).
MAX_MESSAGE = 2000

PROGRESS_ARGUMENT = (
    ["--progress"],
    {
        "choices": MODES,
        "default": None,
        "metavar": "text|json|none",
        "help": "progress on stderr: text (default), json (JSON Lines events, see "
        "docs/progress-events.md) or none; default from PRISM_PROGRESS",
    },
)


def progress_mode(flag: str | None) -> str:
    """The mode: ``flag`` (``--progress``), else ``$PRISM_PROGRESS``, else ``text``.
    A bad ``PRISM_PROGRESS`` is refused in one line (argparse refuses a bad flag)."""
    if flag:
        return flag
    value = os.environ.get(ENVIRONMENT, "").strip()
    if not value:
        return "text"
    if value.lower() not in MODES:
        raise InputError(
            f"{ENVIRONMENT}={value[:40]!r} is not a progress mode",
            f"set it to one of {', '.join(MODES)}, or unset it",
        )
    return value.lower()


def now_iso() -> str:
    """The current UTC time, ISO 8601 with milliseconds and ``Z``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class EventWriter:
    """Writes events, one JSON object per line, to ``stream``; thread-safe. A write that
    fails (closed pipe, full disk) turns the writer off instead of raising."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.lock = threading.RLock()
        self.broken: str | None = None

    def emit(self, event: str, **fields: Any) -> None:
        """One event: ``event`` and ``time``, then ``fields`` (``None`` values dropped,
        except ``percent`` and ``eta_seconds``, which say "not known yet")."""
        record: dict[str, Any] = {"event": event, "time": now_iso()}
        for key, value in fields.items():
            if value is None and key not in ("percent", "eta_seconds"):
                continue
            if key == "message":
                from prism_core.validation import printable

                value = printable(str(value), MAX_MESSAGE)
            record[key] = value
        line = json.dumps(record, default=str, ensure_ascii=False) + "\n"
        with self.lock:
            if self.broken:
                return
            try:
                self.stream.write(line)
                self.stream.flush()
            except (OSError, ValueError) as exc:
                self.broken = type(exc).__name__


class ProgressStream(io.TextIOBase):
    """What ``sys.stderr`` is while a command runs with ``--progress json`` or ``none``.

    ``json``: text written here is cut into lines and each becomes an event
    (``prism: warning: X`` a ``warning``, ``prism: error: X`` an ``error``, anything else a
    ``message``); :class:`~prism_core.cli.progress.Progress` writes its events through
    :attr:`writer` directly. ``none``: text passes through unchanged (warnings and
    errors), and ``Progress`` on this stream prints nothing but warnings and failures.
    ``raw`` is the real stream (prompts draw on it).
    """

    def __init__(self, raw: TextIO, mode: str) -> None:
        super().__init__()
        self.raw = raw
        self.progress_mode = mode
        self.writer = EventWriter(raw)
        self._pending = ""

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False if self.progress_mode == "json" else _isatty(self.raw)

    def write(self, text: str) -> int:  # type: ignore[override]
        if self.progress_mode != "json":
            return self.raw.write(text)
        with self.writer.lock:
            self._pending += text
            *lines, self._pending = self._pending.split("\n")
        for line in lines:
            self._event(line)
        return len(text)

    def flush(self) -> None:
        if self.progress_mode != "json":
            self.raw.flush()

    def close_lines(self) -> None:
        """Send a last unfinished line as an event (before the ``done`` event)."""
        with self.writer.lock:
            rest, self._pending = self._pending, ""
        if rest.strip():
            self._event(rest)

    def _event(self, line: str) -> None:
        text = line.rstrip("\r")
        if not text.strip():
            return
        for prefix, event in (("prism: warning: ", "warning"), ("prism: error: ", "error")):
            if text.startswith(prefix):
                self.writer.emit(event, message=text[len(prefix):])
                return
        self.writer.emit("message", message=text)


def _isatty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def install(mode: str) -> ProgressStream | None:
    """Make ``sys.stderr`` a :class:`ProgressStream` for ``json``/``none`` (never over
    another one: a command run inside another keeps the outer choice); the stream
    installed, or ``None``."""
    import sys

    if mode == "text" or isinstance(sys.stderr, ProgressStream):
        return None
    stream = ProgressStream(sys.stderr, mode)
    sys.stderr = stream
    return stream


def uninstall(stream: ProgressStream | None, exit_code: int) -> None:
    """End ``stream``: in ``json`` mode the ``done`` event, then the real stderr back."""
    import sys

    if stream is None:
        return
    if stream.progress_mode == "json":
        stream.close_lines()
        stream.writer.emit("done", exit_code=exit_code)
    if sys.stderr is stream:
        sys.stderr = stream.raw
