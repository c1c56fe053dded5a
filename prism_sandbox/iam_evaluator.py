"""A small IAM policy evaluator: is one (action, resource, condition keys) request allowed
by an identity policy of Allow statements?

Covers what ``prism iam-policy`` writes: ``Action``/``Resource`` with ``*``/``?``
wildcards, and the condition operators String(Not)Equals, String(Not)Like,
Arn(Not)Like/Equals, Bool, Null, each with ``IfExists`` and the ``ForAllValues:`` /
``ForAnyValue:`` set prefixes, with IAM's rules for missing keys. An operator it does not
know denies (so a policy using one is never reported allowed by mistake).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from fnmatch import fnmatchcase
from typing import Any

_STRING_OPS = {
    "StringEquals": lambda value, pattern: value == pattern,
    "StringNotEquals": lambda value, pattern: value != pattern,
    "StringEqualsIgnoreCase": lambda value, pattern: value.lower() == pattern.lower(),
    "StringLike": fnmatchcase,
    "StringNotLike": lambda value, pattern: not fnmatchcase(value, pattern),
    "ArnEquals": lambda value, pattern: value == pattern,
    "ArnLike": fnmatchcase,
    "ArnNotLike": lambda value, pattern: not fnmatchcase(value, pattern),
    "Bool": lambda value, pattern: value.lower() == pattern.lower(),
}
#: Operators whose result is negated ("not equal to any" rather than "equal to one").
_NEGATED = {"StringNotEquals", "StringNotLike", "ArnNotLike"}


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def _text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _lookup(context: Mapping[str, Any], key: str) -> Any:
    """Condition keys are case-insensitive (tag keys in them are matched as written)."""
    wanted = key.lower()
    for name, value in context.items():
        if name.lower() == wanted:
            return value
    return None


def _single(op: str, values: list[str], patterns: list[str]) -> bool:
    test = _STRING_OPS[op]
    if op in _NEGATED:  # true when the value matches none of the patterns
        return all(all(test(v, p) for p in patterns) for v in values)
    return any(test(v, p) for v in values for p in patterns)


def condition_holds(operator: str, key: str, expected: Any, context: Mapping[str, Any]) -> bool:
    """One ``{operator: {key: expected}}`` entry against the request's condition keys."""
    actual = _lookup(context, key)
    patterns = [_text(p) for p in _as_list(expected)]
    prefix, _, op = operator.rpartition(":")
    if_exists = op.endswith("IfExists")
    op = op.removesuffix("IfExists")
    if op == "Null":
        wanted_absent = patterns[0].lower() == "true"
        present = actual is not None and actual != []
        return present != wanted_absent
    if op not in _STRING_OPS:
        return False
    if prefix == "ForAllValues":
        values = [_text(v) for v in _as_list(actual)] if actual is not None else []
        return all(_single(op, [v], patterns) for v in values)
    if prefix == "ForAnyValue":
        values = [_text(v) for v in _as_list(actual)] if actual is not None else []
        return any(_single(op, [v], patterns) for v in values)
    if prefix:
        return False
    if actual is None:  # a negated operator is true for a missing key, IAM says
        return if_exists or op in _NEGATED
    return _single(op, [_text(v) for v in _as_list(actual)], patterns)


def _matches(patterns: Any, value: str, *, fold: bool) -> bool:
    for pattern in _as_list(patterns):
        if fold and fnmatchcase(value.lower(), str(pattern).lower()):
            return True
        if not fold and fnmatchcase(value, str(pattern)):
            return True
    return False


def failed_conditions(
    statement: Mapping[str, Any], context: Mapping[str, Any], waived: Iterable[str] = ()
) -> list[str]:
    """The condition keys of ``statement`` that ``context`` does not satisfy (keys in
    ``waived`` count as satisfied)."""
    waived_keys = {k.lower() for k in waived}
    failed = []
    for operator, entries in (statement.get("Condition") or {}).items():
        for key, expected in entries.items():
            if key.lower() in waived_keys:
                continue
            if not condition_holds(operator, key, expected, context):
                failed.append(key)
    return failed


def _applies(
    statement: Mapping[str, Any],
    action: str,
    resource: str,
    context: Mapping[str, Any],
    waived: Iterable[str],
) -> bool:
    return (
        _matches(statement.get("Action", []), action, fold=True)
        and _matches(statement.get("Resource", []), resource, fold=False)
        and not failed_conditions(statement, context, waived)
    )


def allowing_statement(
    policy: Mapping[str, Any],
    action: str,
    resource: str,
    context: Mapping[str, Any],
    waived: Iterable[str] = (),
) -> Mapping[str, Any] | None:
    """The first Allow statement that grants the request, or ``None`` (implicit deny, or
    an explicit Deny statement applies)."""
    waived = list(waived)
    allowing = None
    for statement in _as_list(policy.get("Statement") or []):
        if not _applies(statement, action, resource, context, waived):
            continue
        if statement.get("Effect") == "Deny":
            return None
        if allowing is None and statement.get("Effect") == "Allow":
            allowing = statement
    return allowing


def explain_denial(
    policy: Mapping[str, Any], action: str, resource: str, context: Mapping[str, Any]
) -> str:
    """Why no statement allows the request: the nearest statements and their failed keys."""
    near: list[str] = []
    for statement in _as_list(policy.get("Statement") or []):
        if not _matches(statement.get("Action", []), action, fold=True):
            continue
        if not _matches(statement.get("Resource", []), resource, fold=False):
            near.append(f"{statement.get('Sid')}: resource not matched")
            continue
        near.append(f"{statement.get('Sid')}: condition {failed_conditions(statement, context)}")
    return "; ".join(near) or "no statement grants the action"


def denied(
    policy: Mapping[str, Any], requests: Sequence[Any], waived: Iterable[str] = ()
) -> list[str]:
    """A line for each request (objects with ``call``, ``action``, ``resource``,
    ``context``) the policy does not allow."""
    waived = list(waived)
    lines = []
    seen = set()
    checked: set[tuple[str, str, str, str]] = set()  # a test repeats many requests
    for request in requests:
        key = (request.call, request.action, request.resource,
               repr(sorted(request.context.items())))
        if key in checked:
            continue
        checked.add(key)
        if allowing_statement(policy, request.action, request.resource, request.context, waived):
            continue
        line = (
            f"{request.call}: {request.action} on {request.resource} "
            f"({explain_denial(policy, request.action, request.resource, request.context)}; "
            f"context {dict(sorted(request.context.items()))})"
        )
        if line not in seen:
            seen.add(line)
            lines.append(line)
    return lines
