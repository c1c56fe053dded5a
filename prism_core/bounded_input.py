"""Untrusted YAML and JSON, loaded with bounded size, depth and expanded node count.

Every file, registry entry or download prism parses goes through here: text that is
too big, not UTF-8, nested too deeply, or that expands (YAML aliases) into too many
nodes is refused with a one-line :class:`InputError` before it can use memory or time.
A YAML "billion laughs" of a few hundred bytes is refused as soon as it is composed,
without building or printing the expanded structure.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from prism_core.exceptions import InputError

MAX_DEPTH = 64
MAX_NODES = 100_000


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, counting depth while composing and expanded nodes after."""

    max_depth = MAX_DEPTH

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        if self._depth > self.max_depth:
            raise _TooDeep(self._depth)
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


class _TooDeep(Exception):
    pass


class _TooBig(Exception):
    pass


def _expanded_size(root: Any, limit: int) -> int:
    """Nodes ``root`` stands for once every alias is expanded; stops past ``limit``."""
    sizes: dict[int, int] = {}
    # post-order without recursion: (node, children done?)
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        if id(node) in sizes:
            continue
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [item for pair in node.value for item in pair]
        else:
            sizes[id(node)] = 1
            continue
        if not done:
            stack.append((node, True))
            stack.extend((child, False) for child in children if id(child) not in sizes)
            continue
        total = 1 + sum(sizes.get(id(child), 0) for child in children)
        if total > limit:
            raise _TooBig(total)
        sizes[id(node)] = total
    return sizes.get(id(root), 0)


def _text(data: str | bytes, source: str, max_bytes: int) -> str:
    size = len(data) if isinstance(data, bytes) else len(data.encode("utf-8", "replace"))
    if size > max_bytes:
        raise InputError(f"{source}: {size} bytes is more than the {max_bytes} allowed")
    if isinstance(data, bytes):
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise InputError(f"{source}: not UTF-8 text") from None
    return data


def load_yaml(
    data: str | bytes,
    source: str,
    *,
    max_bytes: int,
    max_depth: int = MAX_DEPTH,
    max_nodes: int = MAX_NODES,
) -> Any:
    """Parse one YAML document safely within the given bounds; one-line error otherwise."""
    text = _text(data, source, max_bytes)
    loader = _BoundedLoader(text)
    loader.max_depth = max_depth
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _expanded_size(node, max_nodes)
        return loader.construct_document(node)
    except _TooDeep:
        raise InputError(f"{source}: nested more than {max_depth} levels deep") from None
    except _TooBig:
        raise InputError(
            f"{source}: expands to more than {max_nodes} values (YAML aliases)"
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise InputError(f"{source}: not valid YAML{where}: {problem}") from None
    finally:
        loader.dispose()


def load_json(data: str | bytes, source: str, *, max_bytes: int, max_depth: int = MAX_DEPTH) -> Any:
    """Parse JSON within ``max_bytes`` and ``max_depth``; one-line error otherwise."""
    text = _text(data, source, max_bytes)
    depth = deepest = 0
    in_string = escaped = False
    for char in text:  # nesting depth, before json builds anything
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    if deepest > max_depth:
        raise InputError(f"{source}: nested more than {max_depth} levels deep")
    try:
        return json.loads(text)
    except ValueError as exc:
        raise InputError(f"{source}: not valid JSON ({exc})") from None
