"""The original Go tool's template format, as prism reads it.

That tool (public repository ``scttfrdmn/prism``) names a template with a display
``name`` plus a ``slug``, writes semver ``version`` strings, and has two kinds of
templates: AMI-based (``base: ami-based``, ``package_manager: ami``,
``ami_config.amis``) and package-based (``base: ubuntu-22.04`` etc.,
``package_manager: apt|dnf|conda|pip|spack``, ``packages``, ``users``, ``services``,
``post_install``). Templates prism saved before it wrote that format used ``base``
for their lineage and a top-level ``ssh_user``; both are still read here.

Everything in this module is pure: no AWS, no files.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from prism_core.exceptions import InputError
from prism_core.validation import TEMPLATE_NAME, is_number, printable

AMI_BASED = "ami-based"
PACKAGE_MANAGERS = ("apt", "dnf", "conda", "pip", "spack")
#: Size order for ``minimum_size`` (GPU sizes form their own ladder).
SIZE_ORDER = ("XS", "S", "M", "L", "XL")
GPU_ORDER = ("GPU-S", "GPU-M", "GPU-L", "GPU-XL")
#: Every size ``prism launch --size`` takes (prism_core/data/sizes.yaml maps them to types).
SIZES = SIZE_ORDER + GPU_ORDER
TEMPLATE_SUFFIXES = (".yaml", ".yml")


def key_of(doc: dict[str, Any], path: Path | None = None) -> str | None:
    """The name a template is found by: its ``slug``, else its file stem, else its ``name``.

    ``None`` when none of them is a usable template name (a display name such as
    "Deep Learning GPU" in a file without a usable stem).
    """
    candidates = [doc.get("slug")]
    if path is not None:
        candidates.append(path.stem)
    candidates.append(doc.get("name"))
    for candidate in candidates:
        if (
            isinstance(candidate, str)
            and TEMPLATE_NAME.fullmatch(candidate)
            and ".." not in (candidate)
        ):
            return candidate
    return None


def title(doc: dict[str, Any]) -> str:
    """The template's display name (the original's ``name``)."""
    return str(doc.get("name") or doc.get("slug") or "")


def version_number(doc: dict[str, Any]) -> int:
    """prism's version number: an integer, or a string of digits; other versions count as 1.

    Semver strings of the original tool ("1.0.0") are kept as labels (:func:`version_label`);
    such templates have one version.
    """
    value = doc.get("version")
    if isinstance(value, bool):
        return 1
    if isinstance(value, int):
        return max(value, 1)
    if isinstance(value, str) and is_number(value) and int(value) >= 1:
        return int(value)
    return 1


def version_label(doc: dict[str, Any]) -> str:
    """The version as written in the template ("1.0.0", "3"); "1" when it has none."""
    value = doc.get("version")
    if value is None or isinstance(value, bool):
        return "1"
    return str(value)


def is_package_based(doc: dict[str, Any]) -> bool:
    """A template whose instance is built at launch from a base OS and packages."""
    manager = doc.get("package_manager")
    return manager in PACKAGE_MANAGERS and doc.get("base") != AMI_BASED


def lineage(doc: dict[str, Any]) -> dict[str, Any] | None:
    """``{template, version}`` this template was saved from, if known.

    New templates say so in ``parent``; prism's older layout kept the parent's name
    in ``base`` (anything that is neither ``ami-based``, an OS nor ``saved-instance``).
    """
    parent = doc.get("parent")
    if isinstance(parent, dict) and parent.get("template"):
        return {"template": str(parent["template"]), "version": parent.get("version")}
    from prism_core.templates.base_images import known_base

    base = doc.get("base")
    if (
        isinstance(base, str)
        and doc.get("source") == "saved-from-instance"
        and base not in (AMI_BASED, "saved-instance")
        and not known_base(base)
    ):
        return {"template": base, "version": None}
    return None


def ssh_user(doc: dict[str, Any]) -> str:
    """The login user: ``ami_config.ssh_user``, the old top-level ``ssh_user``, the base
    OS's default user, else ``ec2-user``."""
    config = doc.get("ami_config") or {}
    for value in (config.get("ssh_user"), doc.get("ssh_user")):
        if isinstance(value, str) and value:
            return value
    from prism_core.templates.base_images import default_user

    base = doc.get("base")
    return default_user(base) if isinstance(base, str) else "ec2-user"


#: Ports one launch may open (one security-group rule each; EC2 allows 60 per group).
MAX_PORTS = 50


def ports(doc: dict[str, Any]) -> list[int]:
    """Ports to open, as the original computes them: 22, each service's port, the
    template's ``instance_defaults.ports`` and top-level ``ports``; no duplicates."""
    found: list[int] = [22]
    defaults = doc.get("instance_defaults") or {}
    service_ports = [s.get("port") for s in doc.get("services") or [] if isinstance(s, dict)]
    for port in [*service_ports, *(defaults.get("ports") or []), *(doc.get("ports") or [])]:
        if isinstance(port, int) and 0 < port <= 65535 and port not in found:
            found.append(port)
    if len(found) > MAX_PORTS:
        raise InputError(
            f"template {printable(doc.get('name'), 64)} opens {len(found)} ports; prism opens at "
            f"most {MAX_PORTS} (a security group holds 60 inbound rules)",
            "list fewer ports in the template",
        )
    return found


def below_minimum(size: str, minimum: str | None) -> bool:
    """Whether ``size`` is smaller than the template's ``minimum_size``."""
    if not minimum or minimum == size:
        return False
    if minimum in GPU_ORDER:
        return size not in GPU_ORDER or GPU_ORDER.index(size) < GPU_ORDER.index(minimum)
    if size in GPU_ORDER:
        return False
    if size in SIZE_ORDER and minimum in SIZE_ORDER:
        return SIZE_ORDER.index(size) < SIZE_ORDER.index(minimum)
    return False


def at_least(size: str, minimum: str | None) -> str:
    """``size``, raised to ``minimum`` when it is smaller."""
    return minimum if minimum and below_minimum(size, minimum) else size


#: ``base`` values the original tool's parser accepts besides ``ami-based``.
ORIGINAL_BASES = frozenset(
    {
        "ubuntu",
        "ubuntu-20.04",
        "ubuntu-22.04",
        "ubuntu-24.04",
        "rocky",
        "amazonlinux",
        "alpine",
        "rhel",
        "debian",
    }
)


def original_refusals(doc: dict[str, Any]) -> list[str]:
    """Why the original tool's parser would refuse ``doc`` (empty: it loads it).

    Its required fields, its ``base`` and ``package_manager`` values, an AMI-based
    template's images, its package and user rules, and the types its YAML decoder
    needs (a string ``version``, string tags).
    """
    found: list[str] = []
    for field in ("name", "description", "base"):
        if not doc.get(field):
            found.append(f"{field} is empty or missing")
    base = doc.get("base")
    if isinstance(base, str) and base and base != AMI_BASED and base not in ORIGINAL_BASES:
        found.append(f"base {base!r} is not an OS it knows (nor ami-based)")
    manager = doc.get("package_manager")
    if manager not in (None, "", "ami", *PACKAGE_MANAGERS):
        found.append(f"package_manager {manager!r} is unknown to it")
    amis = (doc.get("ami_config") or {}).get("amis")
    if (base == AMI_BASED or manager == "ami") and not amis:
        found.append("an ami-based template needs ami_config.amis")
    packages = doc.get("packages") or {}
    if manager == "ami" and any(packages.get(k) for k in ("system", "conda", "spack")):
        found.append("an ami template may not list packages")
    if manager in ("apt", "dnf") and any(packages.get(k) for k in ("conda", "spack")):
        found.append(f"a {manager} template may not list conda or spack packages")
    # its YAML decoder reads any single value into a text field (version: 3, a numeric
    # tag), but not a list or a mapping
    if isinstance(doc.get("version"), dict | list):
        found.append("version must be a single value")
    tags = doc.get("tags")
    if isinstance(tags, dict) and any(isinstance(v, dict | list) for v in tags.values()):
        found.append("tag values must be single values")
    found += _user_refusals(doc) + _service_port_refusals(doc) + _parameter_refusals(doc)
    return found


#: The original's user name format: lower case, starting with a letter, at most 32.
ORIGINAL_USER_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")


def _user_refusals(doc: dict[str, Any]) -> list[str]:
    """Its user rules: unique names in its format (names with placeholders excepted)."""
    found: list[str] = []
    seen: set[str] = set()
    for user in doc.get("users") or []:
        name = user.get("name") if isinstance(user, dict) else None
        if not isinstance(name, str) or not name:
            continue
        if name in seen:
            found.append(f"user {printable(name, 32)} is listed twice")
        elif "{{" not in name and not ORIGINAL_USER_NAME.fullmatch(name):
            found.append(
                f"user name {printable(name, 32)} must be lower case and start with a letter"
            )
        seen.add(name)
    return found


def _service_port_refusals(doc: dict[str, Any]) -> list[str]:
    """Its service rule: no two services on one port."""
    found: list[str] = []
    owner: dict[int, str] = {}
    for service in doc.get("services") or []:
        port = service.get("port") if isinstance(service, dict) else None
        if isinstance(port, int) and not isinstance(port, bool) and port > 0:
            name = printable(service.get("name"), 32)
            if port in owner:
                found.append(f"services {owner[port]} and {name} both use port {port}")
            owner.setdefault(port, name)
    return found


def _parameter_refusals(doc: dict[str, Any]) -> list[str]:
    """Its parameter rules: a known type, choices for a choice, a default of that type."""
    found: list[str] = []
    declared = doc.get("parameters")
    if not isinstance(declared, dict):
        return found
    for name, spec in declared.items():
        spec = spec if isinstance(spec, dict) else {}
        kind = spec.get("type")
        where = f"parameter {printable(name, 32)}"
        if kind not in ("string", "int", "bool", "choice"):
            found.append(f"{where} has type {printable(kind, 16)} (string, int, bool or choice)")
        if kind == "choice" and not spec.get("choices"):
            found.append(f"{where} is a choice with no choices")
        default = spec.get("default")
        if default is None:
            continue
        if not _default_fits(str(kind), default, spec.get("choices") or []):
            found.append(f"{where}: its default does not fit its type {kind}")
    return found


def _go_text(value: Any) -> str:
    """A value as Go's ``%v`` prints it (booleans in lower case)."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def _default_fits(kind: str, default: Any, choices: list[Any]) -> bool:
    """Whether the original's check of a parameter value accepts ``default``."""
    if kind == "string":
        return isinstance(default, str)
    if kind == "int":
        whole = isinstance(default, float) and default.is_integer()
        return not isinstance(default, bool) and (isinstance(default, int) or whole)
    if kind == "bool":
        return isinstance(default, bool)
    if kind == "choice" and choices:
        return _go_text(default) in [_go_text(c) for c in choices]
    return True
