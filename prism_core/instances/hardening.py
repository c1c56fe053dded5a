"""What every launched instance gets whatever its image: IMDSv2 required and encrypted
EBS volumes (the account's default EBS key, or ``prism.kms_keys`` for the region)."""

from __future__ import annotations

from typing import Any

#: Containers on the instance reach IMDSv2 through one more network hop.
IMDS_HOP_LIMIT = 2


def wants_imds_v1(doc: dict[str, Any], flag: bool) -> bool:
    """Whether this launch allows IMDSv1: ``--imds-v1``, or the template's
    ``instance_defaults.imds_v1: true``."""
    defaults = doc.get("instance_defaults") or {}
    return bool(flag) or defaults.get("imds_v1") is True


def metadata_options(imds_v1: bool) -> dict[str, Any]:
    """RunInstances' ``MetadataOptions``: session tokens required unless ``imds_v1``."""
    return {
        "HttpEndpoint": "enabled",
        "HttpTokens": "optional" if imds_v1 else "required",
        "HttpPutResponseHopLimit": IMDS_HOP_LIMIT,
    }


def encrypted_mappings(
    image: dict[str, Any],
    root_gb: int | None,
    kms_key: str | None,
    init_rate: int | None = None,
) -> list[dict[str, Any]]:
    """A block-device mapping per EBS volume of ``image``, each ``Encrypted`` (with
    ``kms_key`` if given, else the account's default EBS key), the root grown to
    ``root_gb`` when that is larger. EC2 encrypts a copy of an unencrypted snapshot.
    ``init_rate`` (MiB/s, ``--init-rate``): the provisioned initialization rate of each
    volume restored from one of the image's snapshots."""
    root = image.get("RootDeviceName")
    mappings = []
    for mapping in image.get("BlockDeviceMappings") or []:
        ebs = mapping.get("Ebs")
        if not ebs or "NoDevice" in mapping:
            continue
        size = int(ebs.get("VolumeSize") or 0)
        if mapping.get("DeviceName") == root and root_gb and root_gb > size:
            size = int(root_gb)
        entry: dict[str, Any] = {
            "DeleteOnTermination": bool(ebs.get("DeleteOnTermination", True)),
            "Encrypted": True,
        }
        if size:
            entry["VolumeSize"] = size
        for key in ("VolumeType", "Iops", "Throughput"):
            if ebs.get(key):
                entry[key] = ebs[key]
        if kms_key:
            entry["KmsKeyId"] = kms_key
        if init_rate and ebs.get("SnapshotId"):
            entry["VolumeInitializationRate"] = int(init_rate)
        mappings.append({"DeviceName": mapping["DeviceName"], "Ebs": entry})
    return mappings
