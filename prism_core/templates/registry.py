"""The shared template registry in SSM Parameter Store: the only owner of its layout.

Layout under the configured prefix (default ``/prism/``), in every region that has
a copy of the template's image (written by the ``ssm-registry`` plugin)::

    <prefix>current/<name>                   the newest version's document (JSON); the
                                             parameter's Description is the listing summary
    <prefix>templates/<name>/versions/<N>    every version's document (JSON), kept
    <prefix>templates/<name>/channels/<C>    channel C: {"version": N, "promoted_at", "promoted_by"}
    <prefix>templates/<name>/revoked/<N>     version N revoked: {"revoked_at", "revoked_by",
                                             "reason", "deprecation": {ami: previous time}}
    <prefix>locks/<instance-id>              the save lock of one instance (source region)

A version number is claimed before the image is created: ``versions/<N>`` is written
with ``Overwrite=False`` holding a claim (``{"claim": {...}}``, not a template document)
that the ``ssm-registry`` plugin replaces with the document; exactly one save wins each
number. The save lock is taken the same way. Both are :func:`claim` writes. Readers
skip claims (a listing or launch never sees them; ``versions`` does not count them).

Channels and revocations are written by ``prism templates promote|revoke`` in every
region that has the version, so a teammate in any of them sees the same thing. Only
entries under a template's own ``<prefix>templates/<name>/`` path are ever read as, or
deleted as, that template's records.

Two writes per region and save. ``prism templates list`` reads only the
``current`` level, non-recursively, with ``DescribeParameters`` (50 summaries per
call): 500 templates in 10 calls. ``prism launch NAME`` reads ``current/<name>``
and the versions.

Entries of the older layout are still read (never written)::

    <prefix>templates/<name>/template        the newest document (old layout)
    <prefix>templates/<name>/ami/<arch>      this region's AMI id (old layout, unused)

so templates registered by an older prism launch, show, prune and delete as before;
``prism templates list --legacy`` also scans for them.

Every value read back is untrusted: documents are validated with the one template
schema, summaries are checked for shape and size; a malformed entry is reported,
never fatal for other templates.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from prism_core.aws.clients import AwsClients, error_code
from prism_core.exceptions import InputError
from prism_core.safe_yaml import load_json_bounded
from prism_core.templates.compat import version_number
from prism_core.templates.document import MAX_TEMPLATE_BYTES, validate_document
from prism_core.validation import CHANNEL

#: SSM's limits: GetParametersByPath pages hold at most 10, DescribeParameters 50;
#: a parameter description at most 1024 characters; DeleteParameters 10 names.
PAGE_BY_PATH, PAGE_DESCRIBE, MAX_DESCRIPTION, DELETE_BATCH = 10, 50, 1024, 10
#: What prism writes to a registry parameter (Advanced tier: 8 KB).
MAX_VALUE_BYTES = min(8 * 1024, MAX_TEMPLATE_BYTES)
#: What prism reads back: SSM's limit is 8 KiB; anything larger is not ours.
MAX_ENTRY_BYTES = 64 * 1024
#: Version numbers prism accepts (in parameter names and documents).
MAX_VERSION = 1_000_000

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
        data = load_json_bounded(value, what="claim", max_bytes=4096, max_depth=MAX_RECORD_DEPTH)
    except InputError:
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


# -- names ---------------------------------------------------------------------------
def parameter_base(prefix: str, template: str) -> str:
    """``<prefix>templates/<template>``: the template's versions (and old-layout entries)."""
    return f"{prefix}templates/{template}"


def version_parameter(prefix: str, template: str, version: int) -> str:
    """``<prefix>templates/<template>/versions/<version>``."""
    return f"{parameter_base(prefix, template)}/versions/{int(version)}"


def current_root(prefix: str) -> str:
    """``<prefix>current``: one parameter per template, read non-recursively to list."""
    return f"{prefix}current"


def current_parameter(prefix: str, template: str) -> str:
    """``<prefix>current/<template>``: the newest version's document."""
    return f"{current_root(prefix)}/{template}"


def legacy_current_parameter(prefix: str, template: str) -> str:
    """``<prefix>templates/<template>/template``: the old layout's current document."""
    return f"{parameter_base(prefix, template)}/template"


def classify(prefix: str, template: str, key: str) -> tuple[str, int | None]:
    """What parameter ``key`` of ``template`` is: ``("version", N)``, ``("current", None)``
    (new or old layout) or ``("other", None)`` (old-layout AMI ids, unknown names)."""
    if key in (current_parameter(prefix, template), legacy_current_parameter(prefix, template)):
        return "current", None
    tail = key[len(parameter_base(prefix, template)) + 1 :]
    head, _, number = tail.partition("/")
    if key.startswith(parameter_base(prefix, template) + "/") and head == "versions":
        if number.isdigit() and len(number) <= 7 and 1 <= int(number) <= MAX_VERSION:
            return "version", int(number)
    return "other", None


# -- values --------------------------------------------------------------------------
def encode(doc: dict[str, Any]) -> str:
    """A document as the registry stores it (compact, keys sorted)."""
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if len(text.encode("utf-8")) > MAX_VALUE_BYTES:
        raise InputError(
            f"template {doc.get('name')} is {len(text.encode('utf-8'))} bytes as JSON; "
            f"the registry holds at most {MAX_VALUE_BYTES}",
            "shorten the description or the fields plugins add",
        )
    return text


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


def summary(doc: dict[str, Any]) -> str:
    """The listing summary kept in the ``current`` parameter's Description (≤ 1024 chars)."""
    description = str(doc.get("description") or "")
    while True:
        text = json.dumps(
            {"version": int(doc.get("version") or 1), "description": description},
            ensure_ascii=False,
            separators=(",", ":"),
        )
        if len(text) <= MAX_DESCRIPTION:
            return text
        description = description[: len(description) // 2]


def parse_summary(text: str | None, source: str) -> dict[str, Any]:
    """A ``current`` parameter's Description as ``{"version": N, "description": S}``."""
    try:
        data = (
            load_json_bounded(text or "", what=source, max_bytes=4 * MAX_DESCRIPTION, max_depth=2)
            if len(text or "") <= MAX_DESCRIPTION
            else None
        )
    except InputError:
        data = None
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("version"), int)
        or isinstance(data.get("version"), bool)
        or not 1 <= data["version"] < 10**9
        or not isinstance(data.get("description", ""), str)
        or len(text or "") > MAX_DESCRIPTION
    ):
        raise InputError(f"{source}: registry summary is malformed")
    return {"version": data["version"], "description": data.get("description", "")}


# -- reading -------------------------------------------------------------------------
def _parameters(ssm: Any, path: str, recursive: bool = True) -> dict[str, str]:
    """Every parameter under ``path``: name -> value (pages of the maximum size)."""
    found: dict[str, str] = {}
    paginator = ssm.get_paginator("get_parameters_by_path")
    pages = paginator.paginate(
        Path=path, Recursive=recursive, PaginationConfig={"PageSize": PAGE_BY_PATH}
    )
    for page in pages:
        for parameter in page.get("Parameters", []):
            found[parameter["Name"]] = parameter["Value"]
    return found


def _get(ssm: Any, name: str) -> str | None:
    """One parameter's value, ``None`` if it does not exist."""
    try:
        return str(ssm.get_parameter(Name=name)["Parameter"]["Value"])
    except Exception as exc:
        if error_code(exc) == "ParameterNotFound":
            return None
        raise


def entries(ssm: Any, prefix: str, name: str) -> dict[str, str]:
    """Every parameter of template ``name`` in one region (both layouts): name -> value."""
    found = _parameters(ssm, parameter_base(prefix, name))
    current = _get(ssm, current_parameter(prefix, name))
    if current is not None:
        found[current_parameter(prefix, name)] = current
    return found


def versions(
    ssm: Any, prefix: str, name: str, problems: list[str] | None = None
) -> dict[int, dict[str, Any]]:
    """Every version of ``name`` in one region (the current ``template`` entry included)."""
    return read_template(ssm, prefix, name, problems).versions


#: Registered versions checked against the cloud, newest first, before giving up.
MAX_VERSIONS_PROVEN = 5


def newest_version(
    aws: AwsClients,
    prefix: str,
    name: str,
    regions: list[str],
    proven: Callable[[int, dict[str, Any]], bool] | None = None,
) -> int:
    """The newest version of ``name`` registered in any of ``regions`` (0 if none).

    Every region at once, one call each: every current entry is written after its
    version entry, so the versions (and the old layout's entries, under the same
    path) suffice. A region whose registry may not be read counts as empty.

    With ``proven`` (``(number, document) -> bool``, see :mod:`.proof`) only a version
    whose document it accepts counts, newest first, at most :data:`MAX_VERSIONS_PROVEN`
    tried: a forged ``versions/1000000`` never becomes the newest. Claims of saves still
    running are not versions; the claim itself (``Overwrite=False``) skips their numbers.
    """
    from concurrent.futures import ThreadPoolExecutor

    def documents_in(region: str) -> dict[int, dict[str, Any] | None]:
        try:
            names = _parameters(aws.client("ssm", region), parameter_base(prefix, name))
        except Exception as exc:
            if error_code(exc) in ("AccessDeniedException", "UnrecognizedClientException"):
                return {}
            raise
        found: dict[int, dict[str, Any] | None] = {}
        for key, value in names.items():
            kind, number = classify(prefix, name, key)
            try:
                if kind == "version" and number is not None:
                    if proven is None or claim_holder(value) is None:
                        found[number] = parse_entry(value, key, name, number)
                elif kind == "current":
                    doc = parse_entry(value, key, name)
                    found.setdefault(entry_version(doc) or 1, doc)
            except InputError:
                if proven is None:  # counted as before: a number taken is a number taken
                    found.setdefault(number or 1, None)
        return found

    for region in regions:  # clients are built one after another (CPU), used at once
        aws.client("ssm", region)
    merged: dict[int, dict[str, Any] | None] = {}
    with ThreadPoolExecutor(max_workers=min(16, max(1, len(regions)))) as pool:
        for found in pool.map(documents_in, regions):
            for number, doc in found.items():
                merged[number] = merged.get(number) or doc
    if proven is None:
        return max([0, *merged])
    tried = 0
    for number in sorted(merged, reverse=True):
        doc = merged[number]
        if doc is None:
            continue
        if proven(number, doc):
            return number
        tried += 1
        if tried >= MAX_VERSIONS_PROVEN:
            break
    return 0


def newest_document(ssm: Any, prefix: str, name: str) -> tuple[int, dict[str, Any]] | None:
    """The newest registered version of ``name`` in one region and its document."""
    found = versions(ssm, prefix, name)
    if not found:
        return None
    newest = max(found)
    return newest, found[newest]


def newest_registered(ssm: Any, prefix: str, name: str) -> tuple[int, dict[str, Any]] | None:
    """The newest valid ``versions/<N>`` document of ``name`` in one region (claims and
    malformed entries skipped), read with one call per 10 versions."""
    numbered: list[tuple[int, str, str]] = []
    for key, value in _parameters(ssm, parameter_base(prefix, name)).items():
        kind, number = classify(prefix, name, key)
        if kind == "version" and number is not None and claim_holder(value) is None:
            numbered.append((number, key, value))
    for number, key, value in sorted(numbered, reverse=True):
        try:
            return number, parse_entry(value, f"registry {key}", name, number)
        except InputError:
            continue
    return None


def current_summaries(ssm: Any, prefix: str) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """The listing summary of every template registered in one region, and the problems.

    One ``DescribeParameters`` call per 50 templates (only the ``current`` level).
    """
    root = current_root(prefix)
    found: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    paginator = ssm.get_paginator("describe_parameters")
    pages = paginator.paginate(
        ParameterFilters=[{"Key": "Path", "Option": "OneLevel", "Values": [root]}],
        PaginationConfig={"PageSize": PAGE_DESCRIBE},
    )
    for page in pages:
        for parameter in page.get("Parameters", []):
            key = str(parameter.get("Name", ""))
            name = key[len(root) + 1 :]
            if not key.startswith(root + "/") or "/" in name:
                continue
            try:
                found[name] = parse_summary(parameter.get("Description"), f"registry {key}")
            except InputError as exc:
                problems.append(str(exc))
    return found, problems


def legacy_current_documents(ssm: Any, prefix: str) -> dict[str, str]:
    """The old layout's ``template`` entries in one region: name -> JSON (a full scan)."""
    root = f"{prefix}templates/"
    found: dict[str, str] = {}
    for key, value in _parameters(ssm, root.rstrip("/")).items():
        parts = key[len(root) :].split("/")
        if len(parts) == 2 and parts[1] == "template":
            found[parts[0]] = value
    return found


# -- writing -------------------------------------------------------------------------
def _put(ssm: Any, name: str, value: str, description: str) -> None:
    ssm.put_parameter(
        Name=name,
        Value=value,
        Type="String",
        Overwrite=True,
        Tier="Intelligent-Tiering",
        Description=description,
    )


def write_version(ssm: Any, prefix: str, doc: dict[str, Any]) -> str:
    """Store ``doc`` as its version's entry; return the parameter name."""
    name = version_parameter(prefix, doc["name"], version_number(doc))
    _put(ssm, name, encode(doc), f"prism template {doc['name']} version {doc.get('version')}")
    return name


def write_current(ssm: Any, prefix: str, doc: dict[str, Any]) -> str:
    """Make ``doc`` the template's current document (with its listing summary)."""
    name = current_parameter(prefix, doc["name"])
    _put(ssm, name, encode(doc), summary(doc))
    return name


def publish(ssm: Any, prefix: str, doc: dict[str, Any]) -> Iterator[str]:
    """Register ``doc`` in one region; yield each parameter name once it is written.

    First the version's entry (replacing the save's claim on ``versions/<N>``), then the
    current entry. The current entry follows the newest registered version, ours or that
    of a concurrent save: read the newest while ours is written (three calls in a row,
    not four), write, then look again; a newer version registered meanwhile is written
    over ours (its own writer may have read the registry before ours did).
    """
    from concurrent.futures import ThreadPoolExecutor

    version = version_number(doc)
    reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="prism-registry-read")
    try:
        newest_before = reader.submit(newest_registered, ssm, prefix, doc["name"])
        written = write_version(ssm, prefix, doc)
        yield written
        newest = newest_before.result()
    finally:
        reader.shutdown(wait=False)
    for _ in range(3):
        number, value = newest if newest and newest[0] > version else (version, doc)
        name = write_current(ssm, prefix, value)
        if name != written:
            written = name
            yield name
        newest = newest_registered(ssm, prefix, doc["name"])
        if newest is None or newest[0] <= number:
            return


def delete_entries(ssm: Any, names: list[str]) -> list[str]:
    """Delete SSM parameters (10 per call); return those deleted."""
    deleted: list[str] = []
    for start in range(0, len(names), DELETE_BATCH):
        batch = names[start : start + DELETE_BATCH]
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


#: Nesting a channel or revocation record may have (``deprecation: {ami: time}`` is 2).
MAX_RECORD_DEPTH = 4


def _record(value: str, source: str) -> dict[str, Any]:
    """A channel or revocation record: a JSON object read by the bounded loader (size and
    depth limits; ``InputError`` if not)."""
    if len(value.encode("utf-8", "replace")) > MAX_RECORD_BYTES:
        raise InputError(f"{source}: registry entry is larger than {MAX_RECORD_BYTES} bytes")
    record = load_json_bounded(
        value,
        what=source,
        max_bytes=MAX_RECORD_BYTES,
        max_depth=MAX_RECORD_DEPTH,
        hint="fix or delete the registry entry",
    )
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
            if kind == "revoked" and record_version(base, key) is not None:
                # fail closed: a revocation that cannot be read still revokes
                found.revoked[int(rest)] = unreadable_revocation(str(exc))
    return found


def unreadable_revocation(why: str) -> dict[str, Any]:
    """The record that stands for a ``revoked/<N>`` entry that cannot be read: the
    version counts as revoked (``templates restore`` removes the entry)."""
    return {
        "revoked_at": None,
        "revoked_by": None,
        "reason": f"its revocation record cannot be read ({why[:200]})",
        "unreadable": True,
    }


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
