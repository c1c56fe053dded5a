"""The shape of a journal, checked on every load before any of it is used.

A journal edited by hand (or damaged) must be refused in one line naming the field,
not fail later as ``template 'None'`` or an unexpected ``TypeError``. Each field has a
type and a bound; unknown fields are ignored (a newer prism may add some).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from prism_core.save.image_mode import MODES

SAVE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
STATUSES = ("running", "partial", "failed", "interrupted", "done", "aborting", "aborted")
INSTANCE_STATES = ("pending", "running", "stopping", "stopped", "shutting-down", "terminated")
IMAGE_MODES = MODES
MAX_TEXT = 8192
MAX_ITEMS = 10_000

Check = Callable[[Any], str | None]  # what is wrong with a value, or None


class JournalShapeError(ValueError):
    """A field of the journal is missing or of the wrong type."""


def _text(limit: int = MAX_TEXT, choices: tuple[str, ...] = ()) -> Check:
    def check(value: Any) -> str | None:
        if not isinstance(value, str):
            return "not a string"
        if len(value) > limit:
            return f"longer than {limit} characters"
        if choices and value not in choices:
            return "not one of " + ", ".join(choices)
        return None

    return check


def _whole(low: int, high: int) -> Check:
    def check(value: Any) -> str | None:
        if not isinstance(value, int) or isinstance(value, bool):
            return "not a whole number"
        return None if low <= value <= high else f"not between {low} and {high}"

    return check


def _number(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "not a number"
    return None if math.isfinite(value) and value >= 0 else "not a finite positive number"


def _flag(value: Any) -> str | None:
    return None if isinstance(value, bool) else "not true or false"


def _optional(check: Check) -> Check:
    return lambda value: None if value is None else check(value)


def _listed(check: Check) -> Check:
    def listed(value: Any) -> str | None:
        if not isinstance(value, list):
            return "not a list"
        if len(value) > MAX_ITEMS:
            return f"longer than {MAX_ITEMS} items"
        for item in value:
            problem = check(item)
            if problem:
                return f"holds an item that is {problem}"
        return None

    return listed


def _mapping(key: Check, value: Check) -> Check:
    def mapping(data: Any) -> str | None:
        if not isinstance(data, dict):
            return "not a mapping"
        if len(data) > MAX_ITEMS:
            return f"larger than {MAX_ITEMS} entries"
        for k, v in data.items():
            problem = key(k)
            if problem:
                return f"keyed by something {problem}"
            problem = value(v)
            if problem:
                return f"wrong at {str(k)[:40]!r}: {problem}"
        return None

    return mapping


def _anything(value: Any) -> str | None:
    return None


def _record(fields: dict[str, tuple[Check, bool]]) -> Check:
    """A mapping with these fields (``(check, required)``); other keys are ignored."""

    def record(data: Any) -> str | None:
        try:
            check_fields(data, fields, "")
        except JournalShapeError as exc:
            return str(exc)
        return None

    return record


def check_fields(data: Any, fields: dict[str, tuple[Check, bool]], where: str) -> None:
    """Raise :class:`JournalShapeError` naming the first field that is wrong."""
    if not isinstance(data, dict):
        what = f"field {where.rstrip('.')!r}" if where else "the journal"
        raise JournalShapeError(f"{what} is not a JSON object")
    for name, (check, required) in fields.items():
        label = f"{where}{name}"
        if name not in data:
            if required:
                raise JournalShapeError(f"field {label!r} is missing")
            continue
        problem = check(data[name])
        if problem:
            raise JournalShapeError(f"field {label!r} is {problem}")


TEXT = _text()
NAME = _text(256)
REQUEST: dict[str, tuple[Check, bool]] = {
    "instance_id": (_text(64), True),
    "instance_name": (NAME, True),
    "template_name": (NAME, True),
    "region": (_text(64), True),
    "description": (TEXT, False),
    "copy_to_regions": (_listed(_text(64)), False),
    "tags": (_mapping(NAME, TEXT), False),
    "project_id": (_optional(NAME), False),
    "public": (_flag, False),
    "share_with": (_listed(NAME), False),
    "copy_to_accounts": (_listed(_text(128)), False),
    "fast_restore": (_listed(_text(64)), False),
    "no_reboot": (_flag, False),
    "image_mode": (_text(16, IMAGE_MODES), False),
    "allow_instance_store_loss": (_flag, False),
    "validate": (_flag, False),
    "deprecate_after_days": (_optional(_whole(0, 100_000)), False),
    "secrets_policy": (_text(16, ("", "allow-secrets", "no-inspect", "scrub")), False),
    "options": (_mapping(NAME, _anything), False),
}
IMAGE: dict[str, tuple[Check, bool]] = {
    "region": (_text(64), True),
    "image_id": (_optional(_text(64)), False),
    "state": (_text(32), False),
    "snapshot_ids": (_listed(_text(64)), False),
    "architecture": (_optional(_text(32)), False),
    "shared": (_flag, False),
    "client_token": (_optional(_text(128)), False),
    "error": (_optional(TEXT), False),
    "deprecated": (_optional(_text(64)), False),
    "account": (_optional(_text(12)), False),
}
#: ``--scrub``: the helper's steps (``prism_core.save.scrub``).
SCRUB: dict[str, tuple[Check, bool]] = {
    "stage": (_text(16), True),
    "region": (_text(64), True),
    "image_name": (_text(140), True),
    "group_name": (_optional(_text(255)), False),
    "group_id": (_optional(_text(64)), False),
    "client_token": (_optional(_text(64)), False),
    "helper_id": (_optional(_text(64)), False),
    "attempt": (_whole(1, 1000), False),
}
PID = _optional(_whole(0, 2**62))
STATE: dict[str, tuple[Check, bool]] = {
    "save_id": (lambda v: _text(200)(v) or (None if SAVE_ID.match(v) else "not a save id"), True),
    "request": (_anything, True),  # checked field by field below
    "started_at": (_text(64), True),
    "image_name": (_text(128), True),
    "instance_original_state": (_text(32, INSTANCE_STATES), True),
    "status": (_text(16, STATUSES), False),
    "pid": (PID, False),
    "pid_started": (PID, False),
    "stopped_by_prism": (_flag, False),
    "instance_restarted": (_flag, False),
    "rebooted_by_ec2": (_flag, False),
    "lock": (_optional(TEXT), False),
    "claims": (_listed(TEXT), False),
    "downtime_started": (_optional(_number), False),
    "downtime_ended": (_optional(_number), False),
    "phases_done": (_listed(_text(32)), False),
    "images": (_mapping(_text(64), _record(IMAGE)), False),
    "account_images": (_mapping(_text(80), _record(IMAGE)), False),
    "registry": (_listed(TEXT), False),
    "fast_restores": (_listed(_text(200)), False),
    "template_path": (_optional(_text(4096)), False),
    "boot_instances": (_listed(_text(128)), False),
    "template_version": (_optional(_whole(1, 1_000_000)), False),
    "image_seconds": (_optional(_number), False),
    "document": (_optional(_mapping(_text(256), _anything)), False),
    "document_images": (_mapping(_text(80), _text(64)), False),
    "failures": (_listed(TEXT), False),
    "scrub": (_optional(_record(SCRUB)), False),
    "scrub_images": (_mapping(_text(64), _record(IMAGE)), False),
    "notes": (_listed(TEXT), False),
    "summary": (_listed(TEXT), False),
    "engine_execution": (_optional(_text(2048)), False),
    "restart_duty": (_text(16, ("local", "engine")), False),
}


def check_journal(data: Any) -> None:
    """Raise :class:`JournalShapeError` if ``data`` is not a journal prism can use."""
    check_fields(data, STATE, "")
    check_fields(data["request"], REQUEST, "request.")
