"""The cloud-init user data of a template: packages, users, services and scripts.

Rendered with Jinja2 from ``prism_core/data/userdata.sh.j2``; every value taken from
the template goes through the ``q`` filter (:func:`shlex.quote`), and the template's
own scripts (``post_install``, ``user_data``, ``ami_config.user_data_script``) are
written to files and run with bash, never pasted into the script. The script ends by
printing :data:`READY_MARKER` on the console (or :data:`FAILED_MARKER` on an error),
which ``prism launch --wait-ready`` waits for.
"""

from __future__ import annotations

import gzip
import shlex
from functools import lru_cache
from importlib import resources
from typing import Any

from prism_core.exceptions import InputError
from prism_core.templates import compat
from prism_core.templates.base_images import BaseOS

READY_MARKER = "PRISM-SETUP-COMPLETE"
FAILED_MARKER = "PRISM-SETUP-FAILED"
#: EC2 accepts at most 16 KiB of user data (before base64).
MAX_USER_DATA = 16 * 1024


@lru_cache(maxsize=1)
def _template() -> Any:
    import jinja2

    env = jinja2.Environment(
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["q"] = lambda value: shlex.quote(str(value))
    env.filters["oneline"] = lambda value: " ".join(str(value).split())[:120]
    text = resources.files("prism_core").joinpath("data/userdata.sh.j2").read_text()
    return env.from_string(text)


def _strings(values: Any) -> list[str]:
    return [str(v) for v in values or [] if v is not None and str(v) != ""]


def needs_user_data(doc: dict[str, Any]) -> bool:
    """Whether launching ``doc`` runs a setup script (package-based, or users/services/scripts)."""
    config = doc.get("ami_config") or {}
    return compat.is_package_based(doc) or bool(
        doc.get("users")
        or doc.get("services")
        or doc.get("post_install")
        or doc.get("user_data")
        or config.get("user_data_script")
    )


def context(doc: dict[str, Any], key: str, release: BaseOS | None) -> dict[str, Any]:
    """The values the script is rendered from (what ``--dry-run -o json`` shows)."""
    packages = doc.get("packages") or {}
    manager = doc.get("package_manager") if compat.is_package_based(doc) else "ami"
    users = [
        {
            "name": str(u["name"]),
            "groups": _strings(u.get("groups")),
            "shell": str(u.get("shell") or "/bin/bash"),
        }
        for u in doc.get("users") or []
        if isinstance(u, dict) and u.get("name")
    ]
    services = [
        {
            "name": str(s["name"]),
            "port": s.get("port") or None,
            "config": _strings(s.get("config")),
            # as the original tool: a service is enabled when it says so or has a port
            "enable": bool(s.get("enable")) or bool(s.get("port")),
        }
        for s in doc.get("services") or []
        if isinstance(s, dict) and s.get("name")
    ]
    config = doc.get("ami_config") or {}
    scripts = []
    for what, file, text in (
        ("ami_config.user_data_script", "ami-user-data.sh", config.get("user_data_script")),
        ("user_data", "user-data.sh", doc.get("user_data")),
        ("post_install", "post-install.sh", doc.get("post_install")),
    ):
        if isinstance(text, str) and text.strip():
            scripts.append({"what": f"The template's {what}", "file": file, "text": text})
    return {
        "key": key,
        "title": compat.title(doc),
        "manager": manager,
        "family": release.family if release else "unknown",
        "system": _strings(packages.get("system")),
        "conda": _strings(packages.get("conda")),
        "pip": _strings(packages.get("pip")),
        "spack": _strings(packages.get("spack")),
        "users": users,
        "services": services,
        "scripts": scripts,
        "ssh_user": compat.ssh_user(doc),
        "ready_marker": READY_MARKER,
        "failed_marker": FAILED_MARKER,
    }


def check_manager(doc: dict[str, Any], key: str, release: BaseOS) -> None:
    """Refuse a system package manager that the base OS does not have (apt on Rocky...)."""
    manager = doc.get("package_manager")
    if manager in ("apt", "dnf") and manager != release.family:
        raise InputError(
            f"template {key} installs with {manager}, but its base {doc.get('base')} "
            f"({release.label}) uses {release.family}",
            f"set package_manager: {release.family}, or a base that uses {manager}",
        )


def render(doc: dict[str, Any], key: str, release: BaseOS | None) -> str:
    """The bash script cloud-init runs on first boot."""
    if release is not None:
        check_manager(doc, key, release)
    return str(_template().render(**context(doc, key, release)))


def encode(script: str, key: str) -> bytes:
    """The bytes passed as ``UserData``: the script, gzip-compressed if it is over 16 KiB
    (cloud-init reads both); a one-line error if even that is too large."""
    raw = script.encode("utf-8")
    if len(raw) <= MAX_USER_DATA:
        return raw
    packed = gzip.compress(raw, mtime=0)
    if len(packed) > MAX_USER_DATA:
        raise InputError(
            f"template {key}: its setup script is {len(raw) // 1024} KiB, more than the "
            f"{MAX_USER_DATA // 1024} KiB EC2 allows even compressed",
            "move long post_install steps into a script the template downloads",
        )
    return packed
