"""Template versions a detached save (``prism save --detach``) of this machine is making.

The registry is the source of truth: ``--detach`` writes no template file, only a marker
``$PRISM_HOME/detached/<save-id>.json`` naming the save, its template and version, the
engine's execution and the key order of the document it handed over. The first command
of this machine that reads local templates (``Settings.templates_dir``, wired by the app
to :func:`settle`) asks the engine about each marker:

- the execution succeeded: the version's registry entry is read and checked as the
  registry read path checks it (:func:`prism_core.templates.registry.parse_entry`, the
  save's id, the images proven by their tags), then written as the template file an
  attached save would have written (same document, same key order, archived older
  version, atomic), and the marker goes;
- still running: one line says so, the marker stays, what exists locally is used;
- failed or aborted (or unknown to the engine): one line says so and the marker goes.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from prism_core.exceptions import InputError

FOLDER = "detached"
MAX_MARKER_BYTES = 64 * 1024
_SAVE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")


@dataclass
class Pending:
    """One detached save whose template version this machine has not written yet."""

    save_id: str
    template: str
    version: int
    region: str
    execution: str
    prefix: str
    #: The document's key order as the laptop built it (nested: ``[key, child order]``).
    order: list[Any] = field(default_factory=list)


def folder(home: Path) -> Path:
    """``$PRISM_HOME/detached`` (outside ``templates/``: the Go tool scans that one)."""
    return home / FOLDER


def key_order(doc: Any) -> list[Any]:
    """``[[key, order of its value], ...]`` of a document's mappings, recursively."""
    if not isinstance(doc, dict):
        return []
    return [[str(k), key_order(v)] for k, v in doc.items()]


def document_order(document: dict[str, Any], regions: list[str]) -> list[Any]:
    """The key order of a detached save's document, its images' regions in the order an
    attached save lists them (the source region, then the copy regions)."""
    order = key_order(document)
    for item in order:
        if item[0] == "ami_config":
            for child in item[1]:
                if child[0] == "amis":
                    child[1] = [[region, []] for region in regions]
    return order


def reorder(doc: Any, order: list[Any]) -> Any:
    """``doc`` with its keys in ``order`` (keys not in it follow, as they come)."""
    if not isinstance(doc, dict):
        return doc
    spec = {item[0]: item[1] for item in order
            if isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)}
    keys = [k for k in spec if k in doc] + [k for k in doc if k not in spec]
    return {k: reorder(doc[k], spec.get(k) or []) for k in keys}


def write(home: Path, pending: Pending) -> Path:
    """Write the marker of ``pending`` (atomically, private)."""
    from prism_core.files import write_private_atomic

    path = folder(home) / f"{pending.save_id}.json"
    write_private_atomic(path, json.dumps(asdict(pending), sort_keys=True))
    return path


def remove(home: Path, save_id: str) -> None:
    """Forget the marker of ``save_id``."""
    (folder(home) / f"{save_id}.json").unlink(missing_ok=True)


def read_all(home: Path) -> tuple[list[Pending], list[str]]:
    """The markers, and a line for each that is not one (it is removed)."""
    from prism_core.safe_yaml import load_json_bounded
    from prism_core.validation import region_name, template_name

    where = folder(home)
    if not where.is_dir():
        return [], []
    found, problems = [], []
    for path in sorted(where.glob("*.json")):
        try:
            data = load_json_bounded(path, what=str(path), max_bytes=MAX_MARKER_BYTES)
            if not isinstance(data, dict):
                raise InputError(f"{path}: not a JSON object")
            pending = Pending(
                save_id=str(data["save_id"]), template=template_name(str(data["template"])),
                version=int(data["version"]), region=region_name(str(data["region"])),
                execution=str(data["execution"]), prefix=str(data["prefix"]),
                order=list(data.get("order") or []),
            )
            if (not _SAVE_ID.match(pending.save_id) or path.stem != pending.save_id
                    or not pending.execution.startswith("arn:")
                    or not 1 <= pending.version <= 1_000_000):
                raise InputError(f"{path}: not a marker of a detached save")
        except (InputError, KeyError, TypeError, ValueError, OSError) as exc:
            problems.append(f"ignored {path.name} ({str(exc)[:200]}); it was removed")
            path.unlink(missing_ok=True)
            continue
        found.append(pending)
    return found, problems


def settle(home: Path, templates_dir: Path, clients: Callable[[str], Any]) -> list[str]:
    """Settle every marker (see the module's description); a line for each, to show.

    ``clients(region)`` gives the AWS clients for a region. Nothing here raises: a marker
    that cannot be settled now says why and stays."""
    from prism_core.aws.clients import problem_text

    markers, lines = read_all(home)
    for pending in markers:
        try:
            lines.append(_settle_one(home, templates_dir, clients(pending.region), pending))
        except Exception as exc:  # noqa: BLE001 - said in one line; tried again next time
            lines.append(
                f"template {pending.template}: could not settle version {pending.version} of "
                f"detached save {pending.save_id} ({problem_text(exc)[:300]}); using what "
                "exists here"
            )
    return lines


def _settle_one(home: Path, templates_dir: Path, aws: Any, pending: Pending) -> str:
    name, version, save_id = pending.template, pending.version, pending.save_id
    sfn = aws.client("stepfunctions", pending.region)
    try:
        described = sfn.describe_execution(executionArn=pending.execution)
    except Exception as exc:
        if "ExecutionDoesNotExist" not in str(exc) and "does not exist" not in str(exc).lower():
            raise
        remove(home, save_id)
        return (f"template {name}: the save engine has no record of detached save {save_id}; "
                f"version {version} was not made, using what exists here")
    status = described.get("status")
    output = json.loads(described.get("output") or "null") or {}
    show = f"`prism saves show {save_id}`"
    if status == "RUNNING":
        return (f"template {name}: version {version} is still being saved by the save engine "
                f"({show}); using what exists here")
    if status != "SUCCEEDED" or not isinstance(output, dict) or output.get("status") not in (
            "done", "partial"):
        why = f"{described.get('error', '')}: {described.get('cause', '')}".strip(": ")
        remove(home, save_id)
        return (f"template {name}: detached save {save_id} {str(status).lower()}"
                f"{f' ({why[:200]})' if why else ''}; version {version} was not made, using "
                f"what exists here ({show})")
    try:
        document = _verified(aws, pending)
    except InputError as exc:  # not what this save made: never written, said once
        remove(home, save_id)
        return f"template {name}: version {version} was not written here: {exc}"
    from prism_core.templates import document as templates

    path = templates.write(templates_dir, reorder(document, pending.order))
    remove(home, save_id)
    return (f"template {name}: version {version}, saved by detached save {save_id}, "
            f"written to {path}")


def _verified(aws: Any, pending: Pending) -> dict[str, Any]:
    """The version's registry document, checked as the registry read path checks it,
    made by this save, its images proven by their tags."""
    from prism_core.templates import registry
    from prism_core.templates.proof import document_proven

    name, version = pending.template, pending.version
    parameter = registry.version_parameter(pending.prefix, name, version)
    value = aws.client("ssm", pending.region).get_parameter(Name=parameter)["Parameter"]["Value"]
    source = f"registry {pending.region}:{parameter}"
    doc = registry.parse_entry(value, source, name, version)
    if doc.get("save_id") != pending.save_id:
        raise InputError(f"{source} holds another save's version, not {pending.save_id}'s")
    if not document_proven(aws, name, version, doc):
        raise InputError(f"{source}: its images are not this account's images of that version")
    return doc


def pending_count(home: Path) -> int:
    """How many markers there are (no parsing): 0 means :func:`settle` has nothing to do."""
    try:
        return sum(1 for entry in os.scandir(folder(home)) if entry.name.endswith(".json"))
    except OSError:
        return 0
