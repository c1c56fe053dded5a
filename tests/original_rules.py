"""The original Go tool's rules for a template file, restated for the tests.

Written from what ``pkg/templates/parser.go`` (ParseTemplate and its validators) and
``pkg/templates/validator.go`` (the error-level rules) of ``scttfrdmn/prism`` check,
not from their code. :func:`violations` returns every rule a document breaks; an
empty list means the original tool's scan would load the file.
"""

from __future__ import annotations

import re
from typing import Any

#: ``base`` values the original accepts: its base-image table, plus ``ami-based``.
ALLOWED_BASES = {
    "ami-based",
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
PACKAGE_MANAGERS = {"apt", "dnf", "conda", "spack", "ami", "pip"}
USERNAME = re.compile(r"^[a-z][a-z0-9_-]*$")


def _strings_map(value: Any) -> bool:
    return isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    )


def violations(doc: Any) -> list[str]:
    """Every rule of the original tool that ``doc`` (a parsed YAML mapping) breaks."""
    if not isinstance(doc, dict):
        return ["not a mapping"]
    found: list[str] = []
    # Types the Go struct decodes into (a mismatch fails yaml.Unmarshal).
    for field in (
        "name",
        "slug",
        "description",
        "base",
        "package_manager",
        "version",
        "maintainer",
        "post_install",
        "user_data",
        "long_description",
    ):
        if field in doc and not isinstance(doc[field], str):
            found.append(f"{field} must be a string, is {type(doc[field]).__name__}")
    if "tags" in doc and not _strings_map(doc["tags"]):
        found.append("tags must map strings to strings")
    config = doc.get("ami_config") or {}
    if not isinstance(config, dict):
        found.append("ami_config must be a mapping")
        config = {}
    amis = config.get("amis")
    if amis is not None and not (
        isinstance(amis, dict) and all(_strings_map(v) for v in amis.values())
    ):
        found.append("ami_config.amis must map region -> architecture -> AMI id")
    if "instance_types" in config and not _strings_map(config["instance_types"]):
        found.append("ami_config.instance_types must map architecture -> type")
    if "ssh_user" in config and not isinstance(config["ssh_user"], str):
        found.append("ami_config.ssh_user must be a string")
    defaults = doc.get("instance_defaults") or {}
    ports = defaults.get("ports") or []
    if not all(isinstance(p, int) and 1 <= p <= 65535 for p in ports):
        found.append("instance_defaults.ports must be integers 1-65535")
    costs = defaults.get("estimated_cost_per_hour") or {}
    if not all(isinstance(v, (int, float)) for v in costs.values()):
        found.append("instance_defaults.estimated_cost_per_hour must be numbers")
    if "root_volume_gb" in defaults and not isinstance(defaults["root_volume_gb"], int):
        found.append("instance_defaults.root_volume_gb must be an integer")
    # Required fields.
    for field in ("name", "description", "base"):
        if not doc.get(field):
            found.append(f"{field} is required and may not be empty")
    base = doc.get("base")
    if isinstance(base, str) and base and base not in ALLOWED_BASES:
        found.append(f"unsupported base OS: {base}")
    manager = doc.get("package_manager")
    if manager not in (None, "") and manager not in PACKAGE_MANAGERS:
        found.append(f"invalid package manager: {manager}")
    packages = doc.get("packages") or {}
    if manager == "ami" and any(packages.get(k) for k in ("system", "conda", "spack")):
        found.append("AMI-based templates may not define packages")
    if manager in ("apt", "dnf") and any(packages.get(k) for k in ("conda", "spack")):
        found.append(f"{manager} templates may not define conda/spack packages")
    # An AMI-based template is launched from its listed images.
    if (base == "ami-based" or manager == "ami") and not amis:
        found.append("an ami-based template needs ami_config.amis")
    for i, user in enumerate(doc.get("users") or []):
        name = user.get("name") if isinstance(user, dict) else None
        if not name:
            found.append(f"users[{i}].name is required")
        elif not USERNAME.fullmatch(name) or len(name) > 32:
            found.append(f"users[{i}].name {name!r} is not a valid user name")
    for i, service in enumerate(doc.get("services") or []):
        if not isinstance(service, dict) or not service.get("name"):
            found.append(f"services[{i}].name is required")
        elif not 0 <= int(service.get("port") or 0) <= 65535:
            found.append(f"services[{i}].port out of range")
    for i, parent in enumerate(doc.get("inherits") or []):
        if not str(parent).strip() or parent == doc.get("name"):
            found.append(f"inherits[{i}] is empty or the template itself")
    return found
