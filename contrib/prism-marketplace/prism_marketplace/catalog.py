"""The catalog in S3: ``catalog.json`` and ``templates/<name>/v<version>.yaml``."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from prism_core.aws.clients import error_code, error_message
from prism_core.exceptions import InputError, OperationFailed
from prism_marketplace import credentials

FORMAT = 1


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


def s3_client(config: MarketplaceConfig) -> Any:
    """S3 client for the bucket: keyring credentials from ``login`` if any, else AWS config."""
    import boto3

    stored = credentials.lookup(config.bucket)
    if stored:
        session = boto3.session.Session(
            aws_access_key_id=stored.get("aws_access_key_id"),
            aws_secret_access_key=stored.get("aws_secret_access_key"),
            aws_session_token=stored.get("aws_session_token"),
        )
    else:
        session = boto3.session.Session()
    return session.client("s3", region_name=config.region)


class Catalog:
    """Read and change one marketplace bucket."""

    def __init__(self, config: MarketplaceConfig, s3: Any | None = None) -> None:
        self.config = config
        self.s3 = s3 if s3 is not None else s3_client(config)

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
        """The index (an empty one if the bucket has none yet)."""
        try:
            body = self.s3.get_object(Bucket=self.config.bucket, Key=self.index_key)["Body"]
        except Exception as exc:
            if error_code(exc) in ("NoSuchKey", "404"):
                return {"format": FORMAT, "templates": {}}
            message = f"cannot read the marketplace catalog: {error_message(exc)}"
            raise OperationFailed(message) from None
        try:
            index = json.loads(body.read())
        except ValueError:
            raise OperationFailed(f"marketplace catalog {self.index_key} is not JSON") from None
        if not isinstance(index, dict) or not isinstance(index.get("templates"), dict):
            raise OperationFailed(f"marketplace catalog {self.index_key} has no templates map")
        return index

    def entry(self, name: str) -> dict[str, Any]:
        """One catalog entry; one-line error if the name is not published."""
        entry = self.load()["templates"].get(name)
        if entry is None:
            raise InputError(
                f"no template {name!r} in marketplace {self.config.bucket}",
                "see `prism marketplace search TEXT`",
            )
        return dict(entry)

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

    def fetch(self, name: str) -> tuple[dict[str, Any], str]:
        """The entry and the template text; refuses a file whose checksum differs."""
        entry = self.entry(name)
        try:
            data = self.s3.get_object(Bucket=self.config.bucket, Key=entry["key"])["Body"].read()
        except Exception as exc:
            message = f"cannot download {entry['key']}: {error_message(exc)}"
            raise OperationFailed(message) from None
        if sha256(data) != entry.get("sha256"):
            raise InputError(
                f"{name}: the file in the marketplace does not match its sha256 checksum",
                "it was changed after publishing; ask the publisher to publish it again",
            )
        return entry, data.decode("utf-8")

    def search(self, text: str) -> list[dict[str, Any]]:
        """Entries whose name, description, project or tags contain ``text`` (any case)."""
        needle = text.lower()
        found = []
        for entry in self.load()["templates"].values():
            hay = " ".join(
                [
                    str(entry.get("name", "")),
                    str(entry.get("description", "")),
                    str(entry.get("project") or ""),
                    *(f"{k}={v}" for k, v in (entry.get("tags") or {}).items()),
                ]
            ).lower()
            if needle in hay:
                found.append(entry)
        return sorted(found, key=lambda e: e["name"])
