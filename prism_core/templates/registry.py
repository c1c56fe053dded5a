"""Reading and pruning the shared template registry in SSM Parameter Store.

Layout under the configured prefix (default ``/prism/``), in every region that has
a copy of the template's image (written by the ``ssm-registry`` plugin)::

    <prefix>templates/<name>/template        the newest template document (JSON)
    <prefix>templates/<name>/versions/<N>    every version's document (JSON)
    <prefix>templates/<name>/ami/<arch>      this region's AMI id of the newest version
    <prefix>locks/<instance-id>              the save lock of one instance (source region)

A version number is claimed before the image is created: ``versions/<N>`` is written
with ``Overwrite=False`` holding a claim (``{"claim": {...}}``, not a template document)
that the ``ssm-registry`` plugin replaces with the document; exactly one save wins each
number. The save lock is taken the same way. Both are :func:`claim` writes.

Documents read back are validated with the one template schema; a malformed entry
is reported, never fatal for other templates.
"""

from __future__ import annotations

import json
from typing import Any

from prism_core.aws.clients import AwsClients, error_code
from prism_core.exceptions import InputError
from prism_core.safe_yaml import load_json_bounded
from prism_core.templates.compat import version_number
from prism_core.templates.document import validate_document

CLAIM_KEY = "claim"


def lock_name(prefix: str, instance_id: str) -> str:
    """``<prefix>locks/<instance-id>``: the parameter that holds one instance's save lock."""
    return f"{prefix}locks/{instance_id}"


def version_name(prefix: str, template: str, version: int) -> str:
    """``<prefix>templates/<template>/versions/<N>``."""
    return f"{parameter_base(prefix, template)}/versions/{version}"


def claim(ssm: Any, name: str, holder: dict[str, Any], description: str) -> dict[str, Any] | None:
    """Write ``{"claim": holder}`` at ``name`` only if nothing is there (``Overwrite=False``).

    Returns ``None`` when this caller won; else the current holder (``{}`` if the value
    there is not a claim, e.g. a registered template document).
    """
    value = json.dumps({CLAIM_KEY: holder}, sort_keys=True)
    try:
        ssm.put_parameter(
            Name=name, Value=value, Type="String", Overwrite=False, Description=description
        )
        return None
    except Exception as exc:
        if error_code(exc) != "ParameterAlreadyExists":
            raise
    return read_claim(ssm, name) or {}


def read_claim(ssm: Any, name: str) -> dict[str, Any] | None:
    """The holder of the claim at ``name``; ``None`` if there is no parameter or no claim."""
    try:
        value = ssm.get_parameter(Name=name)["Parameter"]["Value"]
    except Exception as exc:
        if error_code(exc) == "ParameterNotFound":
            return None
        raise
    holder = claim_holder(value)
    return holder


def claim_holder(value: str) -> dict[str, Any] | None:
    """The holder inside a claim value (bounded: at most 4 KiB of JSON), else ``None``."""
    if len(value) > 4096:
        return None
    try:
        data = json.loads(value)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get(CLAIM_KEY), dict):
        return None
    return {str(k): v for k, v in data[CLAIM_KEY].items() if isinstance(v, str | int | float)}


def release_claim(ssm: Any, name: str, save_id: str) -> bool:
    """Delete the claim at ``name`` if ``save_id`` holds it; return whether it was deleted."""
    holder = read_claim(ssm, name)
    if holder is None or holder.get("save_id") != save_id:
        return False
    try:
        ssm.delete_parameter(Name=name)
    except Exception as exc:
        if error_code(exc) != "ParameterNotFound":
            raise
    return True


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


#: SSM's limit for an advanced parameter value is 8 KiB; anything larger is not ours.
MAX_ENTRY_BYTES = 64 * 1024
MAX_VERSION = 1_000_000


def parse_entry(
    value: str, source: str, name: str | None = None, version: int | None = None
) -> dict[str, Any]:
    """A registry value as a validated template document (``InputError`` if malformed).

    Registry entries are written by anyone with ``ssm:PutParameter`` in the account, so
    they are checked like template files, and more: the document's ``name`` must be
    the template ``name`` of the parameter path, and the ``version`` of a
    ``versions/<N>`` entry must be ``N`` (an integer in 1..1,000,000).
    A claim (a version number taken by a save still running) is not a document.
    """
    holder = claim_holder(value)
    if holder is not None:
        raise InputError(
            f"{source}: version claimed by save {holder.get('save_id', '?')} on "
            f"{holder.get('host', '?')}, not registered yet"
        )
    doc = load_json_bounded(
        value, what=source, max_bytes=MAX_ENTRY_BYTES, hint="fix or delete the registry entry"
    )
    doc = validate_document(doc, source)
    if name is not None and doc.get("name") != name:
        raise InputError(
            f"{source}: names template {str(doc.get('name'))[:64]!r}, not {name!r}",
            "delete the registry entry; it was not written by prism for this template",
        )
    number = entry_version(doc)
    if number is None:
        raise InputError(f"{source}: version must be an integer from 1 to {MAX_VERSION}")
    if version is not None and number != version:
        raise InputError(
            f"{source}: holds version {number}, not {version}", "delete the registry entry"
        )
    return doc


def entry_version(doc: dict[str, Any]) -> int | None:
    """The version number of a registry document: an integer, or a string of digits (as
    saved templates write it for the original tool), from 1 to 1,000,000; else ``None``.

    A document without ``version`` is version 1.
    """
    value = doc.get("version", 1)
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 7:
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_VERSION:
        return None
    return value


def version_of_key(base: str, key: str) -> int | None:
    """``N`` for ``<base>/versions/<N>`` (1..1,000,000), else ``None``."""
    tail = key[len(base) + 1 :] if key.startswith(base + "/") else ""
    head, _, number = tail.partition("/")
    if head != "versions" or not (number.isascii() and number.isdigit()) or len(number) > 7:
        return None
    value = int(number)
    return value if 1 <= value <= MAX_VERSION else None


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
        number = version_of_key(base, key)
        if key != f"{base}/template" and number is None:
            continue
        if claim_holder(value) is not None:
            continue  # a number claimed by a save still running: not a version yet
        try:
            doc = parse_entry(value, f"registry {key}", name, number)
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
            number = version_of_key(base, key)
            if number is not None:
                newest = max(newest, number)
            elif key == f"{base}/template":
                try:
                    newest = max(newest, entry_version(parse_entry(value, key, name)))
                except InputError:
                    newest = max(newest, 1)
    return newest


def newest_document(ssm: Any, prefix: str, name: str) -> tuple[int, dict[str, Any]] | None:
    """The newest registered version of ``name`` in one region and its document."""
    found = versions(ssm, prefix, name)
    if not found:
        return None
    newest = max(found)
    return newest, found[newest]


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
