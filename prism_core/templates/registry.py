"""Reading and pruning the shared template registry in SSM Parameter Store.

Layout under the configured prefix (default ``/prism/``), in every region that has
a copy of the template's image (written by the ``ssm-registry`` plugin)::

    <prefix>templates/<name>/template        the newest template document (JSON)
    <prefix>templates/<name>/versions/<N>    every version's document (JSON)
    <prefix>templates/<name>/ami/<arch>      this region's AMI id of the newest version

Documents read back are validated with the one template schema; a malformed entry
is reported, never fatal for other templates.
"""

from __future__ import annotations

import json
from typing import Any

from prism_core.aws.clients import AwsClients, error_code
from prism_core.exceptions import InputError
from prism_core.templates.compat import version_number
from prism_core.templates.document import validate_document


def parameter_base(prefix: str, template: str) -> str:
    """``<prefix>templates/<template>``."""
    return f"{prefix}templates/{template}"


def _parameters(ssm: Any, path: str) -> dict[str, str]:
    """Every parameter under ``path`` (recursive): name -> value."""
    found: dict[str, str] = {}
    paginator = ssm.get_paginator("get_parameters_by_path")
    for page in paginator.paginate(Path=path, Recursive=True):
        for parameter in page.get("Parameters", []):
            found[parameter["Name"]] = parameter["Value"]
    return found


def parse_entry(value: str, source: str) -> dict[str, Any]:
    """A registry value as a validated template document (``InputError`` if malformed)."""
    try:
        doc = json.loads(value)
    except ValueError:
        raise InputError(f"{source}: registry entry is not valid JSON") from None
    return validate_document(doc, source)


def entries(ssm: Any, prefix: str, name: str) -> dict[str, str]:
    """Every parameter of template ``name`` in one region."""
    return _parameters(ssm, parameter_base(prefix, name))


def versions(
    ssm: Any, prefix: str, name: str, problems: list[str] | None = None
) -> dict[int, dict[str, Any]]:
    """Every version of ``name`` in one region (the current ``template`` entry included)."""
    base = parameter_base(prefix, name)
    found: dict[int, dict[str, Any]] = {}
    for key, value in sorted(entries(ssm, prefix, name).items()):
        tail = key[len(base) + 1 :]
        if tail != "template" and not (
            tail.startswith("versions/") and tail.split("/", 1)[1].isdigit()
        ):
            continue
        try:
            doc = parse_entry(value, f"registry {key}")
        except InputError as exc:
            if problems is not None:
                problems.append(str(exc))
            continue
        found.setdefault(version_number(doc), doc)
    return found


def newest_version(aws: AwsClients, prefix: str, name: str, regions: list[str]) -> int:
    """The newest version of ``name`` registered in any of ``regions`` (0 if none)."""
    newest = 0
    base = parameter_base(prefix, name)
    for region in regions:
        try:
            names = entries(aws.client("ssm", region), prefix, name)
        except Exception as exc:
            if error_code(exc) in ("AccessDeniedException", "UnrecognizedClientException"):
                continue
            raise
        for key, value in names.items():
            tail = key[len(base) + 1 :]
            if tail.startswith("versions/") and tail.split("/", 1)[1].isdigit():
                newest = max(newest, int(tail.split("/", 1)[1]))
            elif tail == "template":
                try:
                    newest = max(newest, version_number(json.loads(value)))
                except (ValueError, TypeError, AttributeError):
                    newest = max(newest, 1)
    return newest


def current_documents(ssm: Any, prefix: str) -> dict[str, str]:
    """The ``template`` entry of every registered template in one region: name -> JSON."""
    root = f"{prefix}templates/"
    found: dict[str, str] = {}
    for key, value in _parameters(ssm, root.rstrip("/")).items():
        tail = key[len(root) :]
        parts = tail.split("/")
        if len(parts) == 2 and parts[1] == "template":
            found[parts[0]] = value
    return found


def delete_entries(ssm: Any, names: list[str]) -> list[str]:
    """Delete SSM parameters (10 per call); return those deleted."""
    deleted: list[str] = []
    for start in range(0, len(names), 10):
        batch = names[start : start + 10]
        answer = ssm.delete_parameters(Names=batch)
        deleted.extend(answer.get("DeletedParameters", []))
    return deleted
