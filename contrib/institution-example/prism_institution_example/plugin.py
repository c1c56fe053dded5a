"""Example University's policy: defaults for everyone, and what a save may not do."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from prism_core.plugin_api import InputError, PluginSettings, hookimpl, load_yaml_bounded

SECTION = "institution-example"


@lru_cache(maxsize=1)
def packaged_defaults() -> dict[str, dict[str, Any]]:
    """The ``defaults.yml`` shipped in this package (read on every prism run: a plain file
    read, not :mod:`importlib.resources`, which costs more than the file at start-up)."""
    path = Path(__file__).with_name("defaults.yml")
    return dict(
        load_yaml_bounded(path, what="institution-example defaults.yml", max_bytes=64 * 1024)
    )


@hookimpl
def prism_config_defaults() -> dict[str, dict[str, Any]]:
    """The institution's defaults: registry prefix, copy regions and its own policy section."""
    return {section: dict(values) for section, values in packaged_defaults().items()}


@hookimpl
def prism_settings() -> PluginSettings:
    """The ``institution-example:`` section (the policy)."""
    return PluginSettings(
        SECTION,
        defaults=packaged_defaults()[SECTION],
        schema={
            "type": "object",
            "required": ["allowed_regions", "contact"],
            "properties": {
                "allowed_regions": {"type": "array", "items": {"type": "string"}},
                "require_project": {"type": "boolean"},
                "allow_public": {"type": "boolean"},
                "contact": {"type": "string", "minLength": 3},
            },
        },
        help="Example University's save policy",
    )


def _refuse(message: str, contact: str) -> InputError:
    return InputError(f"Example University policy: {message}", f"ask {contact} for an exception")


@hookimpl(tryfirst=True)
def prism_pre_stop(ctx: Any) -> str:
    """Refuse public sharing, regions outside the allowed list (an empty list allows none)
    and saves without a project. Also re-run by ``prism save --resume`` on the journaled
    request, so an interrupted or edited save cannot finish outside the policy."""
    policy = ctx.plugin_settings(SECTION)
    contact = policy["contact"]
    request = ctx.request
    if request.public and not policy.get("allow_public", False):
        raise _refuse("public AMIs are not allowed; share with accounts instead", contact)
    allowed = list(policy["allowed_regions"] or [])  # an empty list allows nothing
    outside = [r for r in [request.region, *request.copy_to_regions] if r not in allowed]
    if outside:
        listed = ", ".join(allowed) or "none"
        raise _refuse(
            f"region(s) {', '.join(outside)} are not allowed (allowed: {listed})", contact
        )
    if policy.get("require_project", False) and not request.project_id:
        raise _refuse("every template needs a project: add --project ID", contact)
    return f"Example University policy checked (questions: {contact})"
