"""The catalog in S3: ``catalog.json`` and ``templates/<name>/v<version>.yaml``."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from prism_core.plugin_api import (
    InputError,
    OperationFailed,
    error_code,
    error_message,
    load_json_bounded,
    printable,
)
from prism_marketplace import credentials

FORMAT = 1
#: The index is read whole: bigger than this is refused before it is parsed.
MAX_INDEX_BYTES = 2 * 1024 * 1024
#: Most entries an index may hold.
MAX_ENTRIES = 5000
SHA256 = re.compile(r"^[0-9a-f]{64}$")


def _read_capped(body: Any, limit: int, what: str) -> bytes:
    """At most ``limit`` bytes of an S3 body; refuses (without reading on) anything bigger."""
    data = body.read(limit + 1)
    body.close()
    if len(data) > limit:
        raise InputError(
            f"{what} is larger than {limit // 1024} KiB; refused",
            "the marketplace bucket holds something that is not a prism catalog",
        )
    return bytes(data)


def check_entry(name: Any, entry: Any, prefix: str) -> dict[str, Any]:
    """One index entry, checked: its key is its name, a sha256, a key under its folder."""
    from prism_core.toolkit import template_name  # the toolkit loads prism's engine: here

    where = f"marketplace entry {printable(name, 70)!r}"
    if not isinstance(entry, dict):
        raise InputError(f"{where} is not a mapping", "ask the publisher to publish it again")
    try:
        template_name(str(name))
    except InputError:
        raise InputError(f"{where}: not a template name", "ask the catalog's owner") from None
    if entry.get("name") != name:
        raise InputError(
            f"{where} describes template {printable(entry.get('name'), 70)!r}: an entry's "
            "key must be its name",
            "ask the catalog's owner to fix the catalog",
        )
    if not SHA256.fullmatch(str(entry.get("sha256", ""))):
        raise InputError(f"{where} has no valid sha256", "ask the publisher to publish it again")
    if entry.get("key") != f"{prefix}templates/{name}/v{entry.get('version')}.yaml":
        raise InputError(
            f"{where} points at {printable(entry.get('key'), 80)!r}, not its own file",
            "ask the catalog's owner to fix the catalog",
        )
    return entry


@dataclass(frozen=True)
class MarketplaceConfig:
    """The ``marketplace:`` config section."""

    bucket: str
    region: str = "us-east-1"
    prefix: str = ""

    @classmethod
    def from_section(cls, section: dict[str, Any]) -> MarketplaceConfig:
        """Read the section; one-line error if no bucket is configured."""
        bucket = section.get("bucket")
        if not bucket:
            raise InputError(
                "no marketplace bucket configured",
                "add `marketplace: {bucket: NAME}` to $PRISM_HOME/config.yml",
            )
        prefix = str(section.get("prefix") or "")
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        return cls(str(bucket), str(section.get("region") or "us-east-1"), prefix)


def sha256(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def s3_client(config: MarketplaceConfig, profile: str | None = None) -> Any:
    """S3 client for the bucket: keyring credentials from ``login`` if any, else the AWS
    configuration (``profile``, else AWS_PROFILE / default)."""
    import boto3

    stored = credentials.lookup(config.bucket)
    if stored:
        session = boto3.session.Session(
            aws_access_key_id=stored.get("aws_access_key_id"),
            aws_secret_access_key=stored.get("aws_secret_access_key"),
            aws_session_token=stored.get("aws_session_token"),
        )
    else:
        session = boto3.session.Session(profile_name=profile or None)
    from botocore.config import Config

    from prism_core.plugin_api import user_agent

    agent = Config(user_agent_extra=user_agent("prism-marketplace"))
    return session.client("s3", region_name=config.region, config=agent)


class Catalog:
    """Read and change one marketplace bucket."""

    def __init__(
        self, config: MarketplaceConfig, s3: Any | None = None, profile: str | None = None
    ) -> None:
        self.config = config
        self.s3 = s3 if s3 is not None else s3_client(config, profile)

    @property
    def index_key(self) -> str:
        """Key of the JSON index."""
        return f"{self.config.prefix}catalog.json"

    def check_reachable(self) -> None:
        """HeadBucket; a one-line refusal if the bucket cannot be reached."""
        try:
            self.s3.head_bucket(Bucket=self.config.bucket)
        except Exception as exc:
            raise InputError(
                f"marketplace bucket {self.config.bucket} cannot be reached: {error_message(exc)}",
                "check marketplace.bucket in prism.yml, or `prism marketplace login`",
            ) from None

    def load(self) -> dict[str, Any]:
        """The index (an empty one if the bucket has none yet); bounded, untrusted input."""
        try:
            body = self.s3.get_object(Bucket=self.config.bucket, Key=self.index_key)["Body"]
        except Exception as exc:
            if error_code(exc) in ("NoSuchKey", "404"):
                return {"format": FORMAT, "templates": {}}
            message = f"cannot read the marketplace catalog: {error_message(exc)}"
            raise OperationFailed(message) from None
        what = f"marketplace catalog {self.index_key}"
        index = load_json_bounded(
            _read_capped(body, MAX_INDEX_BYTES, what),
            what=what,
            max_bytes=MAX_INDEX_BYTES,
            hint="ask the catalog's owner",
        )
        if not isinstance(index, dict) or not isinstance(index.get("templates"), dict):
            raise InputError(f"{what} has no templates map", "ask the catalog's owner")
        if len(index["templates"]) > MAX_ENTRIES:
            raise InputError(f"{what} has more than {MAX_ENTRIES} entries", "ask its owner")
        return index

    def entry(self, name: str) -> dict[str, Any]:
        """One catalog entry, checked; one-line error if the name is not published."""
        entry = self.load()["templates"].get(name)
        if entry is None:
            raise InputError(
                f"no template {name!r} in marketplace {self.config.bucket}",
                "see `prism marketplace search TEXT`",
            )
        return dict(check_entry(name, entry, self.config.prefix))

    def publish(self, document: dict[str, Any], text: str, publisher: str) -> dict[str, Any]:
        """Upload ``text`` (the rendered template) and add it to the index."""
        data = text.encode("utf-8")
        name, version = document["name"], int(document.get("version") or 1)
        digest = sha256(data)
        index = self.load()
        old = index["templates"].get(name)
        if old and int(old.get("version", 0)) == version and old.get("sha256") == digest:
            return dict(old)
        if old and int(old.get("version", 0)) >= version and old.get("sha256") != digest:
            raise InputError(
                f"version {old.get('version')} of {name} is already in the marketplace",
                "save a new version (prism save ... again) and publish that",
            )
        key = f"{self.config.prefix}templates/{name}/v{version}.yaml"
        self.s3.put_object(
            Bucket=self.config.bucket,
            Key=key,
            Body=data,
            ContentType="application/yaml",
            Metadata={"sha256": digest},
        )
        amis = document.get("ami_config", {}).get("amis", {})
        entry = {
            "name": name,
            "description": document.get("description", ""),
            "version": version,
            "sha256": digest,
            "key": key,
            "publisher": publisher,
            "published": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "regions": sorted(amis),
            "project": document.get("project"),
            "tags": dict(document.get("tags") or {}),
        }
        index["templates"][name] = entry
        index["format"] = FORMAT
        self.s3.put_object(
            Bucket=self.config.bucket,
            Key=self.index_key,
            Body=json.dumps(index, indent=2, sort_keys=True).encode("utf-8"),
            ContentType="application/json",
        )
        return entry

    def fetch(self, name: str) -> tuple[dict[str, Any], bytes]:
        """The entry and the template's bytes (capped); refuses a file whose checksum differs."""
        from prism_core.toolkit import MAX_TEMPLATE_BYTES

        entry = self.entry(name)
        try:
            body = self.s3.get_object(Bucket=self.config.bucket, Key=entry["key"])["Body"]
        except Exception as exc:
            message = f"cannot download {entry['key']}: {error_message(exc)}"
            raise OperationFailed(message) from None
        data = _read_capped(body, MAX_TEMPLATE_BYTES, f"marketplace template {name}")
        if sha256(data) != entry.get("sha256"):
            raise InputError(
                f"{name}: the file in the marketplace does not match its sha256 checksum",
                "it was changed after publishing; ask the publisher to publish it again",
            )
        return entry, data

    def search(self, text: str) -> tuple[list[dict[str, Any]], list[str]]:
        """Entries whose name, description, project or tags contain ``text`` (any case),
        and one line per malformed entry (left out)."""
        needle = text.lower()
        found, problems = [], []
        for name, entry in self.load()["templates"].items():
            try:
                check_entry(name, entry, self.config.prefix)
            except InputError as exc:
                problems.append(str(exc))
                continue
            tags = entry.get("tags") if isinstance(entry.get("tags"), dict) else {}
            hay = " ".join(
                [
                    str(entry.get("name", "")),
                    str(entry.get("description", "")),
                    str(entry.get("project") or ""),
                    *(f"{k}={v}" for k, v in tags.items()),
                ]
            ).lower()
            if needle in hay:
                found.append(entry)
        return sorted(found, key=lambda e: e["name"]), problems
