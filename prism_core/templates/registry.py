"""Reading and pruning the shared template registry in SSM Parameter Store.

Layout under the configured prefix (default ``/prism/``), in every region that has
a copy of the template's image (written by the ``ssm-registry`` plugin)::

    <prefix>templates/<name>/template        the newest template document (JSON)
    <prefix>templates/<name>/versions/<N>    every version's document (JSON)
    <prefix>templates/<name>/ami/<arch>      this region's AMI id of the newest version
    <prefix>templates/<name>/channels/<C>    channel C: {"version": N, "promoted_at", "promoted_by"}
    <prefix>templates/<name>/revoked/<N>     version N revoked: {"revoked_at", "revoked_by",
                                             "reason", "deprecation": {ami: previous time}}

Channels and revocations are written by ``prism templates promote|revoke`` in every
region that has the version, so a teammate in any of them sees the same thing.

Documents read back are validated with the one template schema; a malformed entry
is reported, never fatal for other templates.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from prism_core.aws.clients import AwsClients, error_code
from prism_core.exceptions import InputError
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
    return read_template(ssm, prefix, name, problems).versions


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
                    newest = max(newest, int(json.loads(value).get("version", 1)))
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


#: Largest channel or revocation record read back (SSM's own limit is 8 KiB).
MAX_RECORD_BYTES = 8 * 1024
MAX_REASON = 500


@dataclass
class TemplateEntries:
    """One template's registry entries in one region, parsed."""

    versions: dict[int, dict[str, Any]] = field(default_factory=dict)
    channels: dict[str, dict[str, Any]] = field(default_factory=dict)  # channel -> record
    revoked: dict[int, dict[str, Any]] = field(default_factory=dict)  # version -> record

    def channels_of(self, version: int) -> list[str]:
        """The channels pointing at ``version``."""
        return sorted(c for c, r in self.channels.items() if r["version"] == version)


def _record(value: str, source: str) -> dict[str, Any]:
    """A channel or revocation record: a bounded JSON object (``InputError`` if not)."""
    if len(value.encode("utf-8", "replace")) > MAX_RECORD_BYTES:
        raise InputError(f"{source}: registry entry is larger than {MAX_RECORD_BYTES} bytes")
    try:
        record = json.loads(value)
    except ValueError:
        raise InputError(f"{source}: registry entry is not valid JSON") from None
    if not isinstance(record, dict):
        raise InputError(f"{source}: registry entry is not a JSON object")
    for key in ("promoted_at", "promoted_by", "revoked_at", "revoked_by", "reason"):
        if key in record and not isinstance(record[key], str | type(None)):
            raise InputError(f"{source}: field {key} must be text")
        if isinstance(record.get(key), str):
            record[key] = record[key][:MAX_REASON]
    return record


def _channel_record(value: str, source: str) -> dict[str, Any]:
    record = _record(value, source)
    version = record.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise InputError(f"{source}: field version must be an integer >= 1")
    return record


def parse_entries(
    base: str, params: dict[str, str], problems: list[str] | None = None
) -> TemplateEntries:
    """Sort one template's parameters (name -> value) into versions, channels, revocations.

    A malformed entry is appended to ``problems`` and skipped.
    """
    found = TemplateEntries()
    for key, value in sorted(params.items()):
        tail = key[len(base) + 1 :]
        kind, _, rest = tail.partition("/")
        try:
            if tail == "template" or (kind == "versions" and rest.isdigit()):
                doc = parse_entry(value, f"registry {key}")
                found.versions.setdefault(int(doc.get("version", 1)), doc)
            elif kind == "channels" and rest and "/" not in rest:
                found.channels[rest] = _channel_record(value, f"registry {key}")
            elif kind == "revoked" and rest.isdigit():
                found.revoked[int(rest)] = _record(value, f"registry {key}")
        except InputError as exc:
            if problems is not None:
                problems.append(str(exc))
    return found


def read_template(
    ssm: Any, prefix: str, name: str, problems: list[str] | None = None
) -> TemplateEntries:
    """Versions, channels and revocations of ``name`` in one region (one listing)."""
    return parse_entries(parameter_base(prefix, name), entries(ssm, prefix, name), problems)


def read_all(
    ssm: Any, prefix: str, problems: list[str] | None = None
) -> dict[str, TemplateEntries]:
    """Every registered template of one region, parsed: name -> entries."""
    root = f"{prefix}templates/"
    grouped: dict[str, dict[str, str]] = {}
    for key, value in _parameters(ssm, root.rstrip("/")).items():
        name = key[len(root) :].split("/", 1)[0]
        grouped.setdefault(name, {})[key] = value
    return {
        name: parse_entries(parameter_base(prefix, name), params, problems)
        for name, params in sorted(grouped.items())
    }


def channel_key(prefix: str, name: str, channel: str) -> str:
    """The parameter of channel ``channel`` of template ``name``."""
    return f"{parameter_base(prefix, name)}/channels/{channel}"


def revocation_key(prefix: str, name: str, version: int) -> str:
    """The parameter that marks version ``version`` of ``name`` revoked."""
    return f"{parameter_base(prefix, name)}/revoked/{version}"


def put_record(ssm: Any, key: str, record: dict[str, Any], template: str) -> None:
    """Write (or overwrite) a channel or revocation record."""
    ssm.put_parameter(
        Name=key,
        Value=json.dumps(record, sort_keys=True),
        Type="String",
        Overwrite=True,
        Tier="Intelligent-Tiering",
        Description=f"prism template {template}",
    )


def delete_record(ssm: Any, key: str) -> bool:
    """Delete one record; False if it was not there."""
    try:
        ssm.delete_parameter(Name=key)
    except Exception as exc:
        if error_code(exc) == "ParameterNotFound":
            return False
        raise
    return True
