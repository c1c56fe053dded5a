"""The one bounded reader for every YAML or JSON file and value prism reads.

Everything read from disk, configuration or the shared registry is untrusted input,
so each read takes bounded time and memory:

- the file is opened once, without blocking, and must be a regular file (a symlink to
  ``/dev/zero``, a FIFO or a directory is refused); at most ``max_bytes`` are read;
- the text must be UTF-8;
- YAML is parsed with PyYAML's safe loader only (libyaml's C loader where built),
  with a limit on nesting depth, on aliases, and on the size the document would have
  with every alias expanded, checked on the parser's event stream before anything is
  composed (a "billion laughs" file is refused while it is being read, not after);
- JSON gets the same size and depth limits.

Every refusal is an :class:`~prism_core.exceptions.InputError` (exit 2) whose one-line
message names the file or value and says what to do.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

from prism_core.exceptions import InputError

#: Defaults: 1 MiB of text, 64 levels, 100 aliases, 100,000 nodes once aliases expand.
MAX_BYTES = 1024 * 1024
MAX_DEPTH = 64
MAX_ALIASES = 100
MAX_NODES = 100_000

__all__ = [
    "MAX_ALIASES",
    "MAX_BYTES",
    "MAX_DEPTH",
    "MAX_NODES",
    "load_json_bounded",
    "load_yaml_bounded",
    "read_text_bounded",
]


def read_text_bounded(
    path: str | os.PathLike[str],
    *,
    max_bytes: int = MAX_BYTES,
    what: str | None = None,
    hint: str = "fix or remove the file",
) -> str:
    """The UTF-8 text of the regular file ``path``, at most ``max_bytes`` long.

    The file is opened non-blocking (a FIFO cannot hang prism) and checked with
    ``fstat`` on the opened descriptor, so a symlink swapped in between cannot point
    the read at a device.
    """
    label = what or str(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise InputError(f"{label} cannot be read: {exc.strerror}", hint) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = _kind(info.st_mode)
            raise InputError(f"{label} is {kind}, not a regular file", hint)
        if info.st_size > max_bytes:
            raise InputError(f"{label} is larger than {_size(max_bytes)}", hint)
        chunks: list[bytes] = []
        total = 0
        while total <= max_bytes:
            chunk = os.read(fd, min(65536, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    except OSError as exc:
        raise InputError(f"{label} cannot be read: {exc.strerror}", hint) from None
    finally:
        os.close(fd)
    if total > max_bytes:  # it grew after fstat
        raise InputError(f"{label} is larger than {_size(max_bytes)}", hint)
    try:
        return b"".join(chunks).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{label} is not UTF-8 text (byte {exc.start})", "save it as UTF-8"
        ) from None


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


def _size(limit: int) -> str:
    return f"{limit // 1024} KiB" if limit % 1024 == 0 else f"{limit} bytes"


class _LimitExceeded(Exception):
    """Raised while checking the event stream; turned into an InputError naming the source."""


def _loader_class() -> Any:
    """PyYAML's safe loader: the C version (libyaml) where it is built, else pure Python."""
    import yaml

    return getattr(yaml, "CSafeLoader", None) or yaml.SafeLoader


def _check_events(text: str, max_depth: int, max_aliases: int, max_nodes: int) -> None:
    """Enforce the depth, alias and expanded-size limits on the parser's event stream.

    Nothing is composed or constructed here: each node's weight (itself plus its
    children, an alias weighing what its anchor weighs) is summed as the events go
    by, so a "billion laughs" document is refused after reading its few hundred
    events, in bounded memory, whichever parser (C or Python) produces them.
    """
    import yaml
    from yaml.events import (
        AliasEvent,
        CollectionEndEvent,
        CollectionStartEvent,
        NodeEvent,
    )

    anchors: dict[str, int] = {}
    stack: list[list[Any]] = []  # [anchor, weight so far] per open collection
    aliases = 0
    for event in yaml.parse(text, Loader=_loader_class()):
        if isinstance(event, NodeEvent):
            if len(stack) + 1 > max_depth:
                raise _LimitExceeded(f"nested deeper than {max_depth} levels")
            if isinstance(event, AliasEvent):
                aliases += 1
                if aliases > max_aliases:
                    raise _LimitExceeded(f"more than {max_aliases} aliases")
                weight = anchors.get(event.anchor or "", 1)
            elif isinstance(event, CollectionStartEvent):
                stack.append([event.anchor, 1])
                continue
            else:  # a scalar
                weight = 1
                if event.anchor:
                    anchors[event.anchor] = weight
        elif isinstance(event, CollectionEndEvent):
            anchor, weight = stack.pop()
            if anchor:
                anchors[anchor] = weight
        else:
            continue
        if weight > max_nodes:
            raise _LimitExceeded(f"more than {max_nodes} values once aliases are expanded")
        if stack:
            stack[-1][1] += weight
            if stack[-1][1] > max_nodes:
                raise _LimitExceeded(f"more than {max_nodes} values once aliases are expanded")


def _bounded_text(
    source: str | bytes | os.PathLike[str], what: str | None, kind: str, max_bytes: int, hint: str
) -> tuple[str, str]:
    """(label, UTF-8 text) of a file path or of text/bytes, at most ``max_bytes``."""
    if isinstance(source, os.PathLike):
        label = what or str(source)
        return label, read_text_bounded(Path(source), max_bytes=max_bytes, what=label, hint=hint)
    label = what or f"{kind} text"
    raw = source.encode("utf-8", "surrogatepass") if isinstance(source, str) else source
    if len(raw) > max_bytes:
        raise InputError(f"{label} is larger than {_size(max_bytes)}", hint)
    try:
        text = raw.decode("utf-8") if isinstance(source, bytes) else source
    except UnicodeDecodeError as exc:
        raise InputError(f"{label} is not UTF-8 text (byte {exc.start})", hint) from None
    return label, text


def load_yaml_bounded(
    source: str | bytes | os.PathLike[str],
    *,
    what: str | None = None,
    max_bytes: int = MAX_BYTES,
    max_depth: int = MAX_DEPTH,
    max_aliases: int = MAX_ALIASES,
    max_nodes: int = MAX_NODES,
    hint: str = "fix or remove the file",
) -> Any:
    """Parse YAML (or JSON) from a file path, or from text/bytes, within bounds.

    ``source`` is a :class:`pathlib.Path` (or other path-like) to read a file, or the
    text itself (``str``/``bytes``). ``what`` names it in errors (default: the path).
    Only plain data comes back (PyYAML's safe loader, its C version where built: no
    Python objects). The limits are checked on the event stream before anything is
    composed, then the document is loaded. Raises
    :class:`~prism_core.exceptions.InputError` with a one-line message on anything
    too large, too deep, alias-heavy, not UTF-8, not a regular file, or not YAML.
    """
    import yaml

    label, text = _bounded_text(source, what, "YAML", max_bytes, hint)
    try:
        _check_events(text, max_depth, max_aliases, max_nodes)
        return yaml.load(text, Loader=_loader_class())  # noqa: S506  (a safe loader)
    except _LimitExceeded as exc:
        raise InputError(f"{label}: refused, {exc}", hint) from None
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or type(exc).__name__
        if "nesting depth" in str(problem):  # libyaml's own limit, met before ours
            raise InputError(
                f"{label}: refused, nested deeper than {max_depth} levels", hint
            ) from None
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise InputError(f"{label}: not valid YAML{where}: {problem}", hint) from None
    except RecursionError:
        raise InputError(f"{label}: refused, nested too deeply", hint) from None
    except (ValueError, OverflowError, TypeError) as exc:  # a scalar its tag cannot hold
        raise InputError(f"{label}: not valid YAML: {_value_problem(exc)}", hint) from None


def _value_problem(exc: BaseException) -> str:
    """One short line for a value the loader could not build (a date such as 2024-13-45,
    an integer of thousands of digits)."""
    text = str(exc)
    if "integer string conversion" in text:
        return "a number has thousands of digits"
    shown = "".join(ch if ch.isprintable() else "?" for ch in text)[:120]
    return f"a value cannot be read ({shown})"


def load_json_bounded(
    source: str | bytes | os.PathLike[str],
    *,
    what: str | None = None,
    max_bytes: int = MAX_BYTES,
    max_depth: int = MAX_DEPTH,
    hint: str = "fix or remove it",
) -> Any:
    """Parse JSON from a file path or from text within the same size and depth bounds."""
    label, text = _bounded_text(source, what, "JSON", max_bytes, hint)
    try:
        data = json.loads(text)
    except RecursionError:
        raise InputError(f"{label}: refused, nested too deeply", hint) from None
    except ValueError as exc:
        problem = _value_problem(exc) if "integer string" in str(exc) else str(exc)[:200]
        raise InputError(f"{label}: not valid JSON ({problem})", hint) from None
    if _depth(data) > max_depth:
        raise InputError(f"{label}: refused, nested deeper than {max_depth} levels", hint)
    return data


def _depth(data: Any) -> int:
    """Nesting depth of plain JSON data (iterative, so no recursion limit)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if isinstance(item, dict):
            stack.extend((v, level + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, level + 1) for v in item)
    return deepest
