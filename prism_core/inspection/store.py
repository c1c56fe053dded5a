"""Where each template version's SBOM lives: an S3 bucket of the account, per region.

``prism-inventory-<account>-<region>``, created on first use with every public access
blocked, default encryption (SSE-S3) and the tag ``prism:managed=inventory``; every call
passes ``ExpectedBucketOwner`` (a bucket of that name in another account is never
written to or read). Objects: ``inventory/<template>/<version>.cdx.json``, tagged with
the template, version and save id (a delete proves ownership from these tags). The
registry entry (the template document) holds only the reference and the counts, so it
stays within SSM's size limit however many packages there are.
"""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import urlencode

from prism_core.aws.clients import AwsClients, error_code, error_message
from prism_core.exceptions import InputError, OperationFailed
from prism_core.inspection.sbom import MEDIA_TYPE

MAX_SBOM_BYTES = 32 * 1024 * 1024
MANAGED_TAG = {"Key": "prism:managed", "Value": "inventory"}


def bucket_name(account: str, region: str) -> str:
    return f"prism-inventory-{account}-{region}"


def object_key(template: str, version: int) -> str:
    return f"inventory/{template}/{version}.cdx.json"


class InventoryStore:
    """The SBOM store of one account in one region."""

    def __init__(self, aws: AwsClients, region: str) -> None:
        self.aws = aws
        self.region = region
        self.account = aws.account_id()
        self.bucket = bucket_name(self.account, region)

    @property
    def s3(self) -> Any:
        return self.aws.client("s3", self.region)

    def location(self, template: str, version: int) -> dict[str, str]:
        """Where :meth:`put` stores a version's SBOM (journaled before the upload)."""
        return {"sbom": f"s3://{self.bucket}/{object_key(template, version)}",
                "region": self.region}

    def put(self, template: str, version: int, save_id: str, body: str) -> dict[str, Any]:
        """Store one version's SBOM; returns the reference the template records."""
        self._ensure_bucket()
        data = body.encode()
        key = object_key(template, version)
        self.s3.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=data,
            ContentType=MEDIA_TYPE,
            ServerSideEncryption="AES256",
            ExpectedBucketOwner=self.account,
            Tagging=urlencode(
                {
                    "prism:template": template,
                    "prism:version": str(version),
                    "prism:save-id": save_id,
                }
            ),
        )
        return {
            "sbom": f"s3://{self.bucket}/{key}",
            "region": self.region,
            "sha256": hashlib.sha256(data).hexdigest(),
            "bytes": len(data),
        }

    def _ensure_bucket(self) -> None:
        s3 = self.s3
        try:
            s3.head_bucket(Bucket=self.bucket, ExpectedBucketOwner=self.account)
            return
        except Exception as exc:
            if error_code(exc) in ("403", "AccessDenied", "Forbidden"):
                raise OperationFailed(
                    f"the inventory bucket {self.bucket} exists but is not readable as this "
                    "account's; the inventory is not stored"
                ) from None
            if error_code(exc) not in ("404", "NoSuchBucket", "NotFound"):
                raise
        config = (
            {}
            if self.region == "us-east-1"
            else {"CreateBucketConfiguration": {"LocationConstraint": self.region}}
        )
        try:
            s3.create_bucket(Bucket=self.bucket, ObjectOwnership="BucketOwnerEnforced", **config)
        except Exception as exc:
            if error_code(exc) != "BucketAlreadyOwnedByYou":
                raise
        owner = {"ExpectedBucketOwner": self.account}
        s3.put_public_access_block(
            Bucket=self.bucket,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            },
            **owner,
        )
        s3.put_bucket_encryption(
            Bucket=self.bucket,
            ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
            },
            **owner,
        )
        s3.put_bucket_tagging(Bucket=self.bucket, Tagging={"TagSet": [MANAGED_TAG]}, **owner)

    def get(self, ref: dict[str, Any]) -> str:
        """The SBOM a template's ``inventory`` reference points at (checked)."""
        bucket, key = _split(ref)
        if bucket != self.bucket:
            raise InputError(
                f"the inventory is in {bucket}, not in this account's store {self.bucket}",
                "read it with the profile of the account that saved the template",
            )
        try:
            answer = self.s3.get_object(Bucket=bucket, Key=key, ExpectedBucketOwner=self.account)
        except Exception as exc:
            if error_code(exc) in ("NoSuchKey", "404", "NoSuchBucket"):
                raise InputError(f"the inventory s3://{bucket}/{key} is gone") from None
            raise
        data = answer["Body"].read(MAX_SBOM_BYTES + 1)
        if len(data) > MAX_SBOM_BYTES:
            raise OperationFailed("the stored inventory is larger than prism reads")
        if ref.get("sha256") and hashlib.sha256(data).hexdigest() != ref["sha256"]:
            raise OperationFailed(
                f"the inventory s3://{bucket}/{key} does not match its checksum in the registry"
            )
        return data.decode("utf-8", "replace")

    def delete(self, ref: dict[str, Any], save_id: str) -> bool | None:
        """Delete a version's SBOM if its own tags name ``save_id``: True when deleted,
        ``None`` when there is no such object, False when it is not this save's (kept)."""
        bucket, key = _split(ref)
        if bucket != self.bucket:
            return False  # another account's store: never this save's to delete
        try:
            tags = self.s3.get_object_tagging(
                Bucket=bucket, Key=key, ExpectedBucketOwner=self.account
            )["TagSet"]
        except Exception as exc:
            if error_code(exc) in ("NoSuchKey", "404", "NoSuchBucket"):
                return None
            raise
        if {t["Key"]: t["Value"] for t in tags}.get("prism:save-id") != save_id:
            return False
        self.s3.delete_object(Bucket=bucket, Key=key, ExpectedBucketOwner=self.account)
        return True


def remove_saved(
    aws: AwsClients, inventory: dict[str, Any] | None, save_id: str, region: str
) -> tuple[list[str], list[str]]:
    """Delete the SBOM a save's ``inventory`` record names (the stored one, or an upload
    journaled ``pending`` or ``attempted`` that may have reached the store), if its own
    tags name ``save_id``; ``region``: where it is when the record does not say.
    ``(removed, problems)`` as lines for the abort's report."""
    inventory = inventory or {}
    location = inventory.get("sbom") or inventory.get("attempted")
    if not location:
        return [], []
    try:
        store = InventoryStore(aws, str(inventory.get("region") or region))
        deleted = store.delete({"sbom": location}, save_id)
    except Exception as exc:  # noqa: BLE001 - reported; the rest of the abort goes on
        return [], [f"inventory {location}: could not remove it: {error_message(exc)}"]
    if deleted:
        return [f"inventory {location}"], []
    if deleted is False:
        return [], [f"inventory {location}: not this save's (its tags), kept"]
    return [], []


def _split(ref: dict[str, Any]) -> tuple[str, str]:
    location = str(ref.get("sbom") or "")
    if not location.startswith("s3://") or "/" not in location[5:]:
        raise InputError("the template's inventory reference is not an s3:// location")
    bucket, _, key = location[5:].partition("/")
    return bucket, key
