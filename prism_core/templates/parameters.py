"""The original tool's parameterised templates: ``parameters:``, ``variables:`` and
``{{.name}}`` placeholders, filled in at launch.

A template declares ``parameters`` (name -> ``type`` string|int|bool|choice,
``default``, ``choices``, ``min``/``max``, ``pattern``, ``required``, ``description``,
``display_name``) and ``variables`` (name -> fixed text). ``prism launch TEMPLATE NAME
--param key=value`` sets parameters; the rest take their defaults; a parameter with no
default is asked for on a terminal and otherwise refused.

The values (variables, then parameters, then prism's built-ins such as
``WebInterfaceBindIP``) are substituted where the original substitutes them
(``description``, ``long_description``, every package list, each service's name and
config lines, ``post_install``) and also in ``users[].name``, ``user_data`` and
``ami_config.user_data_script``, which the original's validator already expects to
hold placeholders. Values end up in the instance's setup script, so each is bounded
and single-line.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from prism_core.exceptions import InputError
from prism_core.templates import gotext
from prism_core.validation import printable

TYPES = ("string", "int", "bool", "choice")
MAX_PARAMETERS = 50
MAX_VALUE = 256
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
#: prism's built-in variables. Web services bind on every interface: prism opens their
#: ports to the caller's address only (the original's choice when it knows that address).
BUILTINS: dict[str, str] = {"WebInterfaceBindIP": "0.0.0.0"}
#: Built-ins the original fills in from ``idle_detection`` (field -> name).
IDLE_BUILTINS = (
    ("idle_threshold_minutes", "IDLE_THRESHOLD_MINUTES"),
    ("hibernate_threshold_minutes", "HIBERNATE_THRESHOLD_MINUTES"),
    ("check_interval_minutes", "CHECK_INTERVAL_MINUTES"),
)

Ask = Callable[["Parameter"], "str | None"]


@dataclass(frozen=True)
class Parameter:
    """One declared parameter of a template."""

    name: str
    type: str
    default: Any = None
    choices: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    pattern: str | None = None
    required: bool = False
    description: str = ""
    display_name: str = ""

    @property
    def label(self) -> str:
        """How the parameter is shown in a prompt or a message."""
        return self.display_name or self.name


def _text(value: Any) -> str:
    """A scalar as Go's ``fmt.Sprintf("%v")`` prints it (true/false for booleans)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _bound(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?\d{1,18}", value):
        return int(value)
    return None


def declared(doc: Mapping[str, Any], key: str) -> dict[str, Parameter]:
    """The template's parameters, checked as the original's validator checks them
    (a known type, choices for a choice, a default of the right type)."""
    raw = doc.get("parameters")
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InputError(f"template {key}: parameters must be a mapping", "fix the template")
    if len(raw) > MAX_PARAMETERS:
        raise InputError(
            f"template {key} declares {len(raw)} parameters; prism takes at most {MAX_PARAMETERS}",
            "declare fewer parameters",
        )
    found: dict[str, Parameter] = {}
    for name, spec in raw.items():
        where = f"template {key}: parameter {printable(name, 64)}"
        if not isinstance(name, str) or not NAME.match(name):
            raise InputError(f"{where} is not a valid name", "use letters, digits and _")
        if not isinstance(spec, dict):
            raise InputError(f"{where} must be a mapping", "fix the template")
        kind = spec.get("type") or "string"
        if kind not in TYPES:
            raise InputError(
                f"{where} has type {printable(kind, 32)}", f"use one of {', '.join(TYPES)}"
            )
        choices = tuple(_text(c) for c in spec.get("choices") or [] if c is not None)
        if kind == "choice" and not choices:
            raise InputError(f"{where} is a choice with no choices", "list its choices")
        pattern = spec.get("pattern")
        if pattern is not None:
            try:
                re.compile(str(pattern))
            except re.error:
                raise InputError(f"{where} has an invalid pattern", "fix its pattern") from None
        parameter = Parameter(
            name=name,
            type=kind,
            default=spec.get("default"),
            choices=choices,
            minimum=_bound(spec.get("min")),
            maximum=_bound(spec.get("max")),
            pattern=str(pattern) if pattern is not None else None,
            required=bool(spec.get("required")),
            description=str(spec.get("description") or ""),
            display_name=str(spec.get("display_name") or ""),
        )
        if parameter.default is not None:
            check(parameter, _text(parameter.default), f"{where}: its default")
        found[name] = parameter
    return found


def check(parameter: Parameter, value: str, where: str) -> str:
    """``value`` (text) validated against ``parameter``; returns it as substituted."""
    if len(value) > MAX_VALUE or any(ch in value for ch in "\r\n\x00") or "{{" in value:
        raise InputError(
            f"{where}: the value is longer than {MAX_VALUE} characters, spans lines or holds {{{{",
            "give a shorter, single-line value without placeholders",
        )
    shown = printable(value, 64)
    if parameter.type == "int":
        number = _bound(value)
        if number is None:
            raise InputError(f"{where}: {shown} is not a whole number", "give a whole number")
        if parameter.minimum is not None and number < parameter.minimum:
            raise InputError(f"{where}: {number} is below {parameter.minimum}", "give more")
        if parameter.maximum is not None and number > parameter.maximum:
            raise InputError(f"{where}: {number} is above {parameter.maximum}", "give less")
        return str(number)
    if parameter.type == "bool":
        if value not in ("true", "false"):
            raise InputError(f"{where}: {shown} is not true or false", "give true or false")
        return value
    if parameter.type == "choice" and value not in parameter.choices:
        raise InputError(
            f"{where}: {shown} is not one of {', '.join(parameter.choices)}",
            "give one of the listed choices",
        )
    if parameter.pattern is not None and value and not re.search(parameter.pattern, value):
        raise InputError(
            f"{where}: {shown} does not match {printable(parameter.pattern, 64)}",
            "give a value of that form",
        )
    return value


def parse_assignments(items: Iterable[str]) -> dict[str, str]:
    """``--param key=value`` arguments -> {key: value}; a key given twice is refused."""
    found: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not NAME.match(name):
            raise InputError(f"invalid --param {printable(item, 64)}", "write --param NAME=VALUE")
        if name in found:
            raise InputError(f"--param {name} is given twice", "give each parameter once")
        found[name] = value.strip()
    return found


def variables(doc: Mapping[str, Any], key: str) -> dict[str, str]:
    """The template's ``variables`` (name -> text)."""
    raw = doc.get("variables") or {}
    if not isinstance(raw, dict) or len(raw) > MAX_PARAMETERS:
        raise InputError(
            f"template {key}: variables must be a mapping of at most {MAX_PARAMETERS} names",
            "fix the template",
        )
    found: dict[str, str] = {}
    for name, value in raw.items():
        if not isinstance(name, str) or not NAME.match(name) or isinstance(value, dict | list):
            raise InputError(
                f"template {key}: variable {printable(name, 64)} must be a name with a "
                "single value",
                "fix the template",
            )
        found[name] = _text(value) if value is not None else ""
    return found


def values(
    doc: Mapping[str, Any], key: str, given: Mapping[str, str], ask: Ask | None = None
) -> dict[str, str]:
    """Every name a placeholder may use: built-ins, variables, then parameters (given,
    else default, else asked through ``ask``, else refused)."""
    declared_here = declared(doc, key)
    unknown = sorted(set(given) - set(declared_here))
    if unknown:
        have = ", ".join(sorted(declared_here)) or "none"
        raise InputError(
            f"template {key} has no parameter {unknown[0]} (parameters: {have})",
            f"run `prism templates show {key}` for its parameters",
        )
    found = {**builtins(doc), **variables(doc, key)}
    for name, parameter in declared_here.items():
        where = f"--param {name}"
        if name in given:
            found[name] = check(parameter, given[name], where)
        elif parameter.default is not None:
            found[name] = check(parameter, _text(parameter.default), where)
        else:
            answer = ask(parameter) if ask is not None else None
            if answer is None:
                about = printable(parameter.description or "it has no default", 80)
                raise InputError(
                    f"template {key} needs parameter {name} ({about})",
                    f"pass --param {name}=VALUE",
                )
            found[name] = check(parameter, answer, where)
    return found


def builtins(doc: Mapping[str, Any]) -> dict[str, str]:
    """prism's built-in names for ``doc``: :data:`BUILTINS` and its idle-detection values."""
    found = dict(BUILTINS)
    idle = doc.get("idle_detection")
    if isinstance(idle, dict):
        for field, name in IDLE_BUILTINS:
            number = _bound(idle.get(field))
            if number is not None:
                found[name] = str(number)
    return found


def _fill(value: Any, names: Mapping[str, str], key: str, where: str) -> Any:
    if not isinstance(value, str):
        return value
    if isinstance(names, _Literal):
        return gotext.SIMPLE.sub(lambda m: names.get(m.group(1), m.group(0)), value)
    try:
        return gotext.render(value, names)
    except gotext.UnknownName as exc:
        raise InputError(
            f"template {key}: {where} uses {{{{.{exc.name}}}}}, which is neither a parameter, "
            "a variable nor a built-in",
            "declare it under parameters or variables",
        ) from None


def substitute(doc: Mapping[str, Any], key: str, names: Mapping[str, str]) -> dict[str, Any]:
    """A copy of ``doc`` with every placeholder filled in from ``names``."""
    out = copy.deepcopy(dict(doc))
    for field in ("description", "long_description", "post_install", "user_data"):
        out[field] = _fill(out.get(field), names, key, field)
        if out[field] is None:
            del out[field]
    packages = out.get("packages")
    if isinstance(packages, dict):
        for kind, items in packages.items():
            if isinstance(items, list):
                packages[kind] = [_fill(i, names, key, f"packages.{kind}") for i in items]
    for index, service in enumerate(out.get("services") or []):
        if isinstance(service, dict):
            service["name"] = _fill(service.get("name"), names, key, f"services[{index}].name")
            if isinstance(service.get("config"), list):
                service["config"] = [
                    _fill(line, names, key, f"services[{index}].config")
                    for line in service["config"]
                ]
    for index, user in enumerate(out.get("users") or []):
        if isinstance(user, dict):
            user["name"] = _fill(user.get("name"), names, key, f"users[{index}].name")
    config = out.get("ami_config")
    if isinstance(config, dict) and "user_data_script" in config:
        config["user_data_script"] = _fill(
            config["user_data_script"], names, key, "ami_config.user_data_script"
        )
    return out


class _Literal(dict[str, str]):
    """Names replaced literally (``{{.X}}``/``{{X}}``), other braces left as they are."""


def uses_placeholders(doc: Mapping[str, Any]) -> bool:
    """Whether ``doc`` declares parameters or variables (it is filled in at launch)."""
    return bool(doc.get("parameters") or doc.get("variables"))


def apply(
    doc: Mapping[str, Any], key: str, given: Mapping[str, str], ask: Ask | None = None
) -> tuple[dict[str, Any], dict[str, str]]:
    """``doc`` filled in for a launch, and the parameter values used (for the plan).

    A template without ``parameters`` or ``variables`` only has prism's built-ins
    replaced, literally: other double braces in its scripts (a ``docker --format``
    string) stay as written, as in the original.
    """
    if not uses_placeholders(doc):
        if given:
            raise InputError(f"template {key} has no parameters", "launch it without --param")
        return substitute(doc, key, _Literal(builtins(doc))), {}
    names = values(doc, key, given, ask)
    chosen = {n: names[n] for n in declared(doc, key)}
    return substitute(doc, key, names), chosen


def summary(doc: Mapping[str, Any], key: str) -> list[str]:
    """One line per declared parameter (``name=default (choices)``), for ``templates show``;
    a declaration the launch would refuse is shown as such."""
    try:
        found = declared(doc, key)
    except InputError as exc:
        return [f"invalid: {exc}"]
    lines = []
    for name, parameter in found.items():
        if parameter.default is not None:
            text = f"{name}={printable(_text(parameter.default), 40)}"
        else:
            text = f"{name} (required)"
        if parameter.choices:
            text += f" [{'|'.join(parameter.choices)}]"
        lines.append(text)
    return lines


def _texts(doc: Mapping[str, Any]) -> list[str]:
    """Every text of ``doc`` that placeholders are filled into."""
    texts = [doc.get(f) for f in ("description", "long_description", "post_install", "user_data")]
    packages = doc.get("packages")
    for items in packages.values() if isinstance(packages, dict) else []:
        texts += items if isinstance(items, list) else []
    for service in doc.get("services") or []:
        if isinstance(service, dict):
            texts += [service.get("name"), *(service.get("config") or [])]
    texts += [u.get("name") for u in doc.get("users") or [] if isinstance(u, dict)]
    config = doc.get("ami_config")
    if isinstance(config, dict):
        texts.append(config.get("user_data_script"))
    return [t for t in texts if isinstance(t, str)]


def problems(doc: Mapping[str, Any], key: str) -> list[str]:
    """Why a launch would refuse ``doc``'s parameters: an invalid declaration, or a
    placeholder naming nothing declared (``templates validate``)."""
    if not uses_placeholders(doc):
        return []
    try:
        known = set(declared(doc, key)) | set(variables(doc, key)) | set(builtins(doc))
    except InputError as exc:
        return [str(exc)]
    used = set().union(*(gotext.names(t) for t in _texts(doc)))
    return [
        f"template {key} uses {{{{.{name}}}}}, which is neither a parameter, a variable "
        "nor a built-in"
        for name in sorted(used - known)
    ]
