"""Config sections checked against JSON Schemas: prism's own ``prism:`` section
(:data:`PRISM_SCHEMA`) and every section a plugin declares (``PluginSettings.schema``),
through one function, :func:`validate_section`, with the same one-line errors.

The schema checks the shape of a section: its keys (a typo is an unknown key, with the
nearest valid one), types, ranges and choices. What a value means (a KMS key, a region,
an SSM path) is checked where it is read (:meth:`prism_core.settings.Settings.load`).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from prism_core.exceptions import InputError

#: ``minimum``/``maximum`` of :data:`PRISM_SCHEMA`, shared with the code that reads them.
POLL_DELAY_RANGE = (0.001, 3600.0)
TIMEOUT_RANGE = (0.01, 7 * 24 * 3600.0)
COPY_CONCURRENCY_RANGE = (1, 64)
MAX_ATTEMPTS_RANGE = (1, 20)
BATCH_CONCURRENCY_RANGE = (1, 20)
#: The waits of ``prism.timeouts`` (defaults: :data:`prism_core.settings.DEFAULT_TIMEOUTS`).
TIMEOUT_NAMES = ("stop", "start", "snapshots", "image", "copy", "setup", "fast_restore")
IMAGE_MODES = ("reboot", "stop", "no-reboot")


def _number(bounds: tuple[float, float], description: str) -> dict[str, Any]:
    low, high = bounds
    return {"type": "number", "minimum": low, "maximum": high, "description": description}


def _whole(bounds: tuple[int, int], description: str) -> dict[str, Any]:
    low, high = bounds
    return {"type": "integer", "minimum": low, "maximum": high, "description": description}


def _names(description: str) -> dict[str, Any]:
    """A list of names, or one comma-separated string of them."""
    return {
        "type": ["array", "string", "null"],
        "items": {"type": "string"},
        "description": description,
    }


#: The ``prism:`` section of prism.yml (keys are compared in lower case, as stored).
PRISM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "poll_delay_seconds": _number(POLL_DELAY_RANGE, "seconds between state polls"),
        "timeouts": {
            "type": ["object", "null"],
            "additionalProperties": False,
            "properties": {
                name: _number(TIMEOUT_RANGE, f"seconds prism waits for {name}")
                for name in TIMEOUT_NAMES
            },
            "description": "wait limits in seconds, by wait: " + ", ".join(TIMEOUT_NAMES),
        },
        "registry_prefix": {"type": "string", "description": "an SSM path such as /prism/"},
        "copy_concurrency": {
            "anyOf": [
                {"type": "integer", "minimum": 1, "maximum": COPY_CONCURRENCY_RANGE[1]},
                {"const": "unlimited"},
                {"type": "null"},
            ],
            "description": "regions copied at once: a whole number from "
            f"{COPY_CONCURRENCY_RANGE[0]} to {COPY_CONCURRENCY_RANGE[1]}, or unlimited",
        },
        "max_attempts": _whole(MAX_ATTEMPTS_RANGE, "attempts per AWS call"),
        "kms_keys": {
            "type": ["object", "null"],
            "additionalProperties": {"type": "string"},
            "description": "region names mapped to KMS key ids, aliases or ARNs",
        },
        "default_copy_regions": _names("region names, e.g. [eu-west-1, eu-west-2]"),
        "checkip_url": {"type": "string", "description": "an http(s) URL"},
        "image_mode": {"enum": list(IMAGE_MODES), "description": "how prism save images"},
        "trusted_image_owners": {
            "type": ["array", "string", "integer", "null"],
            "items": {"type": ["string", "integer"]},
            "description": "12-digit AWS account ids",
        },
        "required_plugins": _names("plugin names"),
        "locked": _names("names of keys of this section"),
        "deprecate_after_days": {
            "type": ["integer", "string", "null"],
            "description": "a whole number of days, 1 to 3650",
        },
        "batch_concurrency": _whole(BATCH_CONCURRENCY_RANGE, "saves --batch runs at once"),
        "account_role": {"type": "string", "description": "an IAM role name"},
        "account_kms_keys": {
            "type": ["object", "null"],
            "additionalProperties": {
                "type": "object",
                "additionalProperties": {"type": "string"},
            },
            "description": "12-digit account ids mapping region names to KMS keys",
        },
        "instance_profiles": _names("IAM role names or paths such as /research/"),
        "imds_v1": {"type": ["boolean", "null"], "description": "true or false"},
    },
}

#: The keys of the ``prism:`` section.
PRISM_KEYS: tuple[str, ...] = tuple(PRISM_SCHEMA["properties"])

_TYPE_WORDS = {
    "object": "a mapping",
    "array": "a list",
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "null": "empty",
}


def _shown(value: Any) -> str:
    from prism_core.validation import printable

    return printable(repr(value) if isinstance(value, str) else str(value), 60)


def _message(error: Any, where: str) -> tuple[str, str | None]:
    """One line (and a hint, or ``None``) for a jsonschema error at ``where``."""
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    kind, value = error.validator, error.instance
    if kind == "additionalProperties" and isinstance(value, Mapping):
        known = sorted(schema.get("properties") or {})
        unknown = [k for k in value if k not in known]
        name = str(unknown[0]) if unknown else "?"
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
        hint = f"did you mean {close[0]}?" if close else f"valid keys: {', '.join(known)}"
        return f"unknown key {_shown(name)} in config {where}", hint
    if kind == "type":
        wanted = error.validator_value
        types = [wanted] if isinstance(wanted, str) else list(wanted)
        # "null" is leaving the key empty: not worth naming as a choice
        words = [_TYPE_WORDS.get(t, t) for t in types if t != "null" or len(types) == 1]
        return f"config {where} must be {' or '.join(words)}, not {_shown(value)}", None
    if kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        low, high = schema.get("minimum"), schema.get("maximum")
        if low is not None and high is not None:
            return f"config {where} must be from {low:g} to {high:g}, not {_shown(value)}", None
    if kind == "enum":
        choices = ", ".join(str(c) for c in error.validator_value)
        return f"config {where} is {_shown(value)}", f"use one of {choices}"
    if kind in ("anyOf", "oneOf"):
        return f"config {where} cannot be {_shown(value)}", None
    return f"config {where}: {error.message}", None


def validate_section(
    section: str, values: Mapping[str, Any], schema: Mapping[str, Any], plugin: str | None = None
) -> None:
    """Check a config section against its JSON schema: a one-line :class:`InputError`
    naming the first wrong key (and what to write there) if it does not match.

    ``plugin`` names the plugin that declared the section (``None``: prism's own)."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(dict(schema))
    errors = sorted(validator.iter_errors(dict(values)), key=lambda e: list(e.absolute_path))
    if not errors:
        return
    error = errors[0]
    where = ".".join([section, *(str(p) for p in error.absolute_path)])
    message, hint = _message(error, where)
    description = error.schema.get("description") if isinstance(error.schema, Mapping) else None
    owner = f" (settings of plugin {plugin})" if plugin else ""
    fix = f"fix the {section}: section of prism.yml{owner}"
    if description and error.absolute_path:
        fix += f"; {error.absolute_path[-1]}: {description}"
    raise InputError(message, f"{hint}{owner}" if hint else fix)
