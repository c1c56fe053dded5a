"""Reading and pruning the shared template registry in SSM Parameter Store.

Layout under the configured prefix (default ``/prism/``), in every region that has
a copy of the template's image (written by the ``ssm-registry`` plugin)::

    <prefix>templates/<name>/template        the newest template document (JSON)
    <prefix>templates/<name>/versions/<N>    every version's document (JSON)
    <prefix>templates/<name>/ami/<arch>      this region's AMI id of the newest version
    <prefix>templates/<name>/channels/<C>    channel C: {"version": N, "promoted_at", "promoted_by"}
    <prefix>templates/<name>/revoked/<N>     version N revoked: {"revoked_at", "revoked_by",
                                             "reason", "deprecation": {ami: previous time}}
    <prefix>locks/<instance-id>              the save lock of one instance (source region)

A version number is claimed before the image is created: ``versions/<N>`` is written
with ``Overwrite=False`` holding a claim (``{"claim": {...}}``, not a template document)
that the ``ssm-registry`` plugin replaces with the document; exactly one save wins each
number. The save lock is taken the same way. Both are :func:`claim` writes; a claim
is never a version (readers skip it and list it in :attr:`TemplateEntries.claims`).

Channels and revocations are written by ``prism templates promote|revoke`` in every
region that has the version, so a teammate in any of them sees the same thing. Only
entries under a template's own ``<prefix>templates/<name>/`` path are ever read as, or
deleted as, that template's records.

Documents read back are validated with the one template schema; a malformed entry
is reported, never fatal for other templates.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from prism_core.aws.clients import AwsClients, error_code
from prism_core.exceptions import InputError
from prism_core.safe_yaml import load_json_bounded
from prism_core.templates.document import validate_document
from prism_core.validation import CHANNEL

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
    except ValueError:
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
    number = doc.get("version", 1)
    if not isinstance(number, int) or isinstance(number, bool) or not 1 <= number <= MAX_VERSION:
        raise InputError(f"{source}: version must be an integer from 1 to {MAX_VERSION}")
    if version is not None and number != version:
        raise InputError(
            f"{source}: holds version {number}, not {version}", "delete the registry entry"
        )
    return doc


def version_of_key(base: str, key: str) -> int | None:
    """``N`` for ``<base>/versions/<N>`` (1..1,000,000), else ``None``."""
    tail = key[len(base) + 1 :] if key.startswith(base + "/") else ""
    head, _, number = tail.partition("/")
    if head != "versions" or not number.isdigit() or len(number) > 7:
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
            number = version_of_key(base, key)
            if number is not None:
                newest = max(newest, number)
            elif key == f"{base}/template":
                try:
                    newest = max(newest, int(parse_entry(value, key, name)["version"] or 1))
                except (InputError, KeyError):
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


#: Largest channel or revocation record read back (SSM's own limit is 8 KiB).
MAX_RECORD_BYTES = 8 * 1024
MAX_REASON = 500


@dataclass
class TemplateEntries:
    """One template's registry entries in one region, parsed."""

    versions: dict[int, dict[str, Any]] = field(default_factory=dict)
    channels: dict[str, dict[str, Any]] = field(default_factory=dict)  # channel -> record
    revoked: dict[int, dict[str, Any]] = field(default_factory=dict)  # version -> record
    #: version -> holder of a number claimed by a save still running (not a version yet)
    claims: dict[int, dict[str, Any]] = field(default_factory=dict)

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
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= MAX_VERSION:
        raise InputError(f"{source}: field version must be an integer from 1 to {MAX_VERSION}")
    return record


def parse_entries(
    base: str, params: dict[str, str], problems: list[str] | None = None
) -> TemplateEntries:
    """Sort one template's parameters (name -> value) into versions, channels, revocations.

    ``base`` is ``<prefix>templates/<name>``; parameters outside it are ignored. Version
    documents must name the template and the ``N`` of their ``versions/<N>`` path. A
    number claimed by a save still running is no version: it goes to ``claims``. A
    malformed entry is appended to ``problems`` and skipped.
    """
    name = base.rsplit("/", 1)[-1]
    found = TemplateEntries()
    for key, value in sorted(params.items()):
        if not key.startswith(base + "/"):
            continue
        tail = key[len(base) + 1 :]
        kind, _, rest = tail.partition("/")
        number = version_of_key(base, key)
        try:
            if tail == "template" or number is not None:
                holder = claim_holder(value)
                if holder is not None:
                    if number is not None:
                        found.claims[number] = holder
                    continue
                doc = parse_entry(value, f"registry {key}", name, number)
                if number is not None:
                    found.versions[number] = doc  # its own versions/<N> entry wins
                else:
                    found.versions.setdefault(int(doc.get("version", 1)), doc)
            elif kind == "channels" and CHANNEL.fullmatch(rest):
                found.channels[rest] = _channel_record(value, f"registry {key}")
            elif kind == "revoked" and record_version(base, key) is not None:
                found.revoked[int(rest)] = _record(value, f"registry {key}")
        except InputError as exc:
            if problems is not None:
                problems.append(str(exc))
    return found


def record_version(base: str, key: str) -> int | None:
    """``N`` for ``<base>/revoked/<N>`` (1..1,000,000), else ``None``."""
    tail = key[len(base) + 1 :] if key.startswith(base + "/") else ""
    head, _, number = tail.partition("/")
    if head != "revoked" or not number.isdigit() or len(number) > 7:
        return None
    value = int(number)
    return value if 1 <= value <= MAX_VERSION else None


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
