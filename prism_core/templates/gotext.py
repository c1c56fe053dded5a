"""The subset of Go's ``text/template`` that the original tool's templates use.

The original Go tool substitutes a template's parameters and variables with Go's
``text/template`` over a map of strings: ``{{.name}}``, ``{{if eq .a "x"}}`` ...
``{{else if ...}}`` ... ``{{else}}`` ... ``{{end}}``, ``ne``, ``not``, ``and``, ``or``,
comments and the ``{{-``/``-}}`` trim markers. When a text does not parse as a Go
template it falls back to replacing ``{{.name}}`` and ``{{name}}`` literally; so does
:func:`render`.

Unlike the original (which prints ``<no value>`` for a name it does not know), a name
that is neither a parameter, a variable nor a built-in is an :class:`UnknownName`
error, so a template never launches with a placeholder left in its scripts.

Pure and bounded: no recursion on user input deeper than :data:`MAX_DEPTH` blocks, at
most :data:`MAX_ACTIONS` actions per text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

MAX_ACTIONS = 2000
MAX_DEPTH = 32
#: ``{{.name}}`` or ``{{name}}``: what the original's fallback replaces.
SIMPLE = re.compile(r"\{\{\.?(\w+)\}\}")
_ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.DOTALL)
_TOKEN = re.compile(r'\s*(?:(\()|(\))|"((?:[^"\\]|\\.)*)"|(\.\w+)|([A-Za-z_]\w*)|(-?\d+))')
_FUNCTIONS = frozenset({"eq", "ne", "not", "and", "or"})
_KEYWORDS = _FUNCTIONS | {"if", "else", "end", "true", "false"}


class NotGoTemplate(ValueError):
    """The text does not parse as the supported subset (the caller falls back)."""


class UnknownName(ValueError):
    """A placeholder names something the template does not define."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


@dataclass
class _Block:
    """An ``if`` chain: (condition, body) branches and an optional else body."""

    branches: list[tuple[list[str], list[object]]] = field(default_factory=list)
    otherwise: list[object] | None = None


def _tokens(action: str) -> list[str]:
    """The words of one action: ``.field``, identifiers, quoted strings, numbers, parens."""
    found: list[str] = []
    position = 0
    text = action.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise NotGoTemplate(f"cannot read {text[position : position + 20]!r}")
        found.append(match.group(0).strip())
        position = match.end()
    return found


def _parse(text: str) -> list[object]:
    """Text and actions -> a tree of strings, ``("value", tokens)`` and :class:`_Block`."""
    root: list[object] = []
    stack: list[tuple[list[object], _Block | None]] = [(root, None)]
    position = 0
    actions = 0
    trim_next = False
    for match in _ACTION.finditer(text):
        actions += 1
        if actions > MAX_ACTIONS:
            raise NotGoTemplate("too many actions")
        literal = text[position : match.start()]
        if trim_next:
            literal = literal.lstrip()
        if match.group(1):
            literal = literal.rstrip()
        if literal:
            stack[-1][0].append(literal)
        trim_next = bool(match.group(3))
        position = match.end()
        body = match.group(2).strip()
        if body.startswith("/*") and body.endswith("*/"):
            continue
        words = _tokens(body)
        if not words:
            raise NotGoTemplate("empty action")
        head, rest = words[0], words[1:]
        if head == "if":
            if len(stack) > MAX_DEPTH:
                raise NotGoTemplate("blocks nested too deeply")
            block = _Block()
            branch: list[object] = []
            block.branches.append((_condition(rest), branch))
            stack[-1][0].append(block)
            stack.append((branch, block))
        elif head == "else":
            block_or_none = stack[-1][1]
            if block_or_none is None or block_or_none.otherwise is not None:
                raise NotGoTemplate("else without if")
            stack.pop()
            branch = []
            if rest[:1] == ["if"]:
                block_or_none.branches.append((_condition(rest[1:]), branch))
            elif rest:
                raise NotGoTemplate("unexpected words after else")
            else:
                block_or_none.otherwise = branch
            stack.append((branch, block_or_none))
        elif head == "end":
            if stack[-1][1] is None or rest:
                raise NotGoTemplate("end without if")
            stack.pop()
        else:
            stack[-1][0].append(("value", _condition(words)))
    if len(stack) != 1:
        raise NotGoTemplate("if without end")
    tail = text[position:]
    if trim_next:
        tail = tail.lstrip()
    if tail:
        root.append(tail)
    return root


def _condition(words: list[str]) -> list[str]:
    if not words:
        raise NotGoTemplate("missing condition")
    for word in words:
        if word[:1].isalpha() and word not in _FUNCTIONS and word not in ("true", "false"):
            raise NotGoTemplate(f"function {word!r} not defined")
    return words


def _evaluate(words: list[str], values: Mapping[str, str]) -> str | bool:
    """One pipeline: a field, a literal, or a function applied to its arguments."""
    arguments, end = _arguments(words, 0, values)
    if end != len(words):
        raise NotGoTemplate("unbalanced parentheses")
    if len(arguments) == 1 and not isinstance(arguments[0], _Function):
        return arguments[0]
    if not arguments or not isinstance(arguments[0], _Function):
        raise NotGoTemplate("cannot call a value")
    return arguments[0].call(arguments[1:])


class _Function:
    def __init__(self, name: str) -> None:
        self.name = name

    def call(self, args: list[object]) -> bool:
        if any(isinstance(a, _Function) for a in args):
            raise NotGoTemplate("a function is not an argument")
        if self.name in ("eq", "ne"):
            if len(args) < 2:
                raise NotGoTemplate(f"{self.name} needs two arguments")
            same = any(args[0] == other for other in args[1:])
            return same if self.name == "eq" else not same
        if self.name == "not":
            if len(args) != 1:
                raise NotGoTemplate("not takes one argument")
            return not _truth(args[0])
        if not args:
            raise NotGoTemplate(f"{self.name} needs arguments")
        truths = [_truth(a) for a in args]
        return all(truths) if self.name == "and" else any(truths)


def _truth(value: object) -> bool:
    """Go's truth: the empty string and false are false (the string "false" is true)."""
    return bool(value)


def _arguments(words: list[str], start: int, values: Mapping[str, str]) -> tuple[list[object], int]:
    found: list[object] = []
    index = start
    while index < len(words):
        word = words[index]
        if word == ")":
            return found, index
        if word == "(":
            inner, end = _arguments(words, index + 1, values)
            if end >= len(words) or words[end] != ")":
                raise NotGoTemplate("unbalanced parentheses")
            found.append(_call_or_value(inner))
            index = end + 1
            continue
        if word.startswith("."):
            name = word[1:]
            if name not in values:
                raise UnknownName(name)
            found.append(values[name])
        elif word.startswith('"'):
            found.append(word[1:-1].replace('\\"', '"').replace("\\\\", "\\"))
        elif word in _FUNCTIONS:
            found.append(_Function(word))
        elif word in ("true", "false"):
            found.append(word == "true")
        else:
            found.append(word)  # a number, compared as written
        index += 1
    return found, index


def _call_or_value(inner: list[object]) -> object:
    if inner and isinstance(inner[0], _Function):
        return inner[0].call(inner[1:])
    if len(inner) != 1:
        raise NotGoTemplate("cannot call a value")
    return inner[0]


def _write(nodes: list[object], values: Mapping[str, str], out: list[str]) -> None:
    for node in nodes:
        if isinstance(node, str):
            out.append(node)
        elif isinstance(node, _Block):
            chosen = node.otherwise
            for condition, body in node.branches:
                if _truth(_evaluate(condition, values)):
                    chosen = body
                    break
            if chosen:
                _write(chosen, values, out)
        else:
            _kind, words = node  # type: ignore[misc]
            value = _evaluate(words, values)
            out.append(("true" if value else "false") if isinstance(value, bool) else value)


def names(text: str) -> set[str]:
    """Every ``.name`` a text refers to (its placeholders and conditions)."""
    found = {m.group(1) for m in SIMPLE.finditer(text)} - _KEYWORDS
    for match in _ACTION.finditer(text):
        found.update(m.group(4)[1:] for m in _TOKEN.finditer(match.group(2)) if m.group(4))
    return found


def render(text: str, values: Mapping[str, str]) -> str:
    """``text`` with its actions executed over ``values``, as the original does.

    Raises :class:`UnknownName` for a name missing from ``values``.
    """
    if "{{" not in text:
        return text
    try:
        tree = _parse(text)
        out: list[str] = []
        _write(tree, values, out)
        return "".join(out)
    except NotGoTemplate:
        pass

    def simple(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in _KEYWORDS:
            return match.group(0)
        if name not in values:
            raise UnknownName(name)
        return values[name]

    return SIMPLE.sub(simple, text)
