"""The original Go tool's rules for a template file, restated for the tests (the oracle).

Restated from what ``scttfrdmn/prism`` checks when it loads a template, not from its
code and never from prism's own implementation (``prism_core.templates.compat``): this
module imports nothing from prism, so a mistake in prism cannot hide in the oracle too.

The original loads a file in three steps, mirrored below:

1. ``yaml.Unmarshal`` into its ``Template`` struct (``pkg/templates/types.go``): a value of
   the wrong type fails the whole file.
2. ``ParseTemplate``'s validators (``pkg/templates/parser.go``), in this order: required
   fields and a known base OS, package manager, services, users, instance ports,
   inheritance, packages consistent with the package manager.
3. The error-level rules of its comprehensive validator (``pkg/templates/validator.go``):
   unique user names in its username format, no two services on one port, parameters
   of a known type whose defaults fit it.

:func:`violations` returns every rule a document breaks (the original stops at the
first); an empty list means the original's template scan would load the file.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

#: The top-level keys of the original's base AMI table (``getDefaultBaseAMIs``); any
#: other ``base`` is refused unless it is ``ami-based``.
BASE_TABLE_KEYS = frozenset(
    "ubuntu ubuntu-20.04 ubuntu-22.04 ubuntu-24.04 rocky amazonlinux alpine rhel debian".split()
)
AMI_BASED = "ami-based"
#: The package managers both of its validators accept.
KNOWN_MANAGERS = ("apt", "dnf", "conda", "spack", "ami", "pip")
#: ``isValidUsername``: lower case, starting with a letter, at most 32 characters.
USERNAME_FORMAT = re.compile(r"[a-z][a-z0-9_-]{0,31}")

Rule = Callable[[dict[str, Any]], Iterator[str]]

# -- 1. what the YAML decoder needs ----------------------------------------------------
#: Fields the struct declares as Go strings.
STRING_FIELDS = (
    "name slug description long_description base package_manager version maintainer "
    "post_install user_data"
).split()


def _is_scalar(value: Any) -> bool:
    """yaml.v3 decodes any scalar (a number, a boolean, a date) into a Go string field
    as it is written; only a sequence or a mapping fails."""
    return not isinstance(value, dict | list)


def _is_string_map(value: Any) -> bool:
    if not isinstance(value, dict):
        return False
    return not [k for k, v in value.items() if not _is_scalar(k) or not _is_scalar(v)]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def decodable(doc: dict[str, Any]) -> Iterator[str]:
    """Type mismatches that make ``yaml.Unmarshal`` fail."""
    yield from (
        f"{name} must be a single value, is {type(doc[name]).__name__}"
        for name in STRING_FIELDS
        if name in doc and not _is_scalar(doc[name])
    )
    if "tags" in doc and not _is_string_map(doc["tags"]):
        yield "tags must map strings to strings"
    config = doc.get("ami_config")
    if config is None:
        config = {}
    if not isinstance(config, dict):
        yield "ami_config must be a mapping"
        return
    amis = config.get("amis")
    if amis is not None and not (
        isinstance(amis, dict) and not [r for r in amis.values() if not _is_string_map(r)]
    ):
        yield "ami_config.amis must map region -> architecture -> AMI id"
    if "instance_types" in config and not _is_string_map(config["instance_types"]):
        yield "ami_config.instance_types must map architecture -> type"
    if "ssh_user" in config and not isinstance(config["ssh_user"], str):
        yield "ami_config.ssh_user must be a string"
    defaults = doc.get("instance_defaults") or {}
    if "root_volume_gb" in defaults and not _is_int(defaults["root_volume_gb"]):
        yield "instance_defaults.root_volume_gb must be an integer"
    prices = defaults.get("estimated_cost_per_hour") or {}
    if [p for p in prices.values() if not isinstance(p, int | float) or isinstance(p, bool)]:
        yield "instance_defaults.estimated_cost_per_hour must be numbers"


# -- 2. ParseTemplate's validators ------------------------------------------------------
def required_fields(doc: dict[str, Any]) -> Iterator[str]:
    """Name, description and base are required; the base must be in its table."""
    for name in ("name", "description", "base"):
        if doc.get(name) in (None, ""):
            yield f"{name} is required and may not be empty"
    base = doc.get("base")
    if isinstance(base, str) and base != "" and base != AMI_BASED:
        if base not in BASE_TABLE_KEYS:
            yield f"unsupported base OS: {base}"


def package_manager(doc: dict[str, Any]) -> Iterator[str]:
    manager = doc.get("package_manager")
    if manager not in (None, "") and manager not in KNOWN_MANAGERS:
        yield f"invalid package manager: {manager}"


def services(doc: dict[str, Any]) -> Iterator[str]:
    for index, service in enumerate(doc.get("services") or []):
        name = service.get("name") if isinstance(service, dict) else None
        if not name:
            yield f"services[{index}].name is required"
            continue
        port = service.get("port") or 0
        if not (_is_int(port) and 0 <= port <= 65535):
            yield f"services[{index}].port out of range"


def users(doc: dict[str, Any]) -> Iterator[str]:
    for index, user in enumerate(doc.get("users") or []):
        name = user.get("name") if isinstance(user, dict) else None
        if not name:
            yield f"users[{index}].name is required"
        elif " " in name or ":" in name:
            yield f"users[{index}].name may not hold spaces or colons"


def instance_ports(doc: dict[str, Any]) -> Iterator[str]:
    ports = (doc.get("instance_defaults") or {}).get("ports") or []
    for index, port in enumerate(ports):
        if not (_is_int(port) and 1 <= port <= 65535):
            yield f"instance_defaults.ports[{index}] must be 1-65535"


def inheritance(doc: dict[str, Any]) -> Iterator[str]:
    for index, parent in enumerate(doc.get("inherits") or []):
        if parent == doc.get("name"):
            yield f"inherits[{index}] is the template itself"
        elif str(parent).strip() == "":
            yield f"inherits[{index}] is empty"


def package_consistency(doc: dict[str, Any]) -> Iterator[str]:
    """An ``ami`` template lists no packages; ``apt``/``dnf`` ones no conda or spack."""
    manager = doc.get("package_manager")
    listed = {kind for kind, names in (doc.get("packages") or {}).items() if names}
    if manager == "ami" and listed & {"system", "conda", "spack"}:
        yield "AMI-based templates may not define packages"
    if manager in ("apt", "dnf") and listed & {"conda", "spack"}:
        yield f"{manager} templates may not define conda/spack packages"


def ami_images(doc: dict[str, Any]) -> Iterator[str]:
    """An AMI-based template launches from its listed images: without any it cannot."""
    config = doc.get("ami_config") if isinstance(doc.get("ami_config"), dict) else {}
    is_ami = doc.get("base") == AMI_BASED or doc.get("package_manager") == "ami"
    if is_ami and not config.get("amis"):
        yield "an ami-based template needs ami_config.amis"


# -- 3. the comprehensive validator's error-level rules ----------------------------------
def user_names(doc: dict[str, Any]) -> Iterator[str]:
    seen: set[str] = set()
    for user in doc.get("users") or []:
        name = user.get("name") if isinstance(user, dict) else None
        if not isinstance(name, str) or not name:
            continue
        if name in seen:
            yield f"duplicate user: {name}"
        elif "{{" not in name and not USERNAME_FORMAT.fullmatch(name):
            yield f"user name {name!r} is not a valid user name"
        seen.add(name)


def service_ports(doc: dict[str, Any]) -> Iterator[str]:
    owner: dict[int, str] = {}
    for service in doc.get("services") or []:
        if not isinstance(service, dict):
            continue
        port = service.get("port")
        if _is_int(port) and port > 0:
            name = str(service.get("name"))
            if port in owner:
                yield f"port {port} conflict between services {owner[port]} and {name}"
            owner.setdefault(port, name)


#: ``ParameterRule``'s types (its ``list`` type constant is not among them).
PARAMETER_TYPES = ("string", "int", "bool", "choice")


def _fits(kind: Any, value: Any, choices: list[Any]) -> bool:
    """``validateParameterValue``: a Go string, a whole number, a bool, one of the choices
    (compared as ``%v`` prints them)."""

    def go(v: Any) -> str:
        return ("true" if v else "false") if isinstance(v, bool) else str(v)

    if kind == "string":
        return isinstance(value, str)
    if kind == "int":
        return _is_int(value) or (isinstance(value, float) and value == int(value))
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "choice" and choices:
        return go(value) in {go(c) for c in choices}
    return True


def parameters(doc: dict[str, Any]) -> Iterator[str]:
    """A known type, choices for a choice parameter, a default its type accepts."""
    declared = doc.get("parameters")
    for name, spec in (declared if isinstance(declared, dict) else {}).items():
        spec = spec if isinstance(spec, dict) else {}
        if spec.get("type") not in PARAMETER_TYPES:
            yield f"parameters.{name}: invalid parameter type {spec.get('type')}"
        if spec.get("type") == "choice" and not spec.get("choices"):
            yield f"parameters.{name}: choice parameter must have choices"
        if spec.get("default") is not None and not _fits(
            spec.get("type"), spec["default"], spec.get("choices") or []
        ):
            yield f"parameters.{name}: default does not fit the type"


RULES: tuple[Rule, ...] = (
    required_fields,
    package_manager,
    services,
    users,
    instance_ports,
    inheritance,
    package_consistency,
    ami_images,
    user_names,
    service_ports,
    parameters,
)


def violations(doc: Any) -> list[str]:
    """Every rule of the original tool that ``doc`` (a parsed YAML mapping) breaks."""
    if not isinstance(doc, dict):
        return ["not a mapping"]
    found = list(decodable(doc))
    if found:  # the original never gets past a file it cannot decode
        return found
    return [problem for rule in RULES for problem in rule(doc)]
