"""What another account needs to use an image whose snapshots are encrypted.

A launch permission is enough for an unencrypted image. For an encrypted one, the
accounts it is shared with also need (1) permission to create volumes from each
snapshot (EC2's ``createVolumePermission``; without it they cannot copy the image)
and (2) use of the customer-managed KMS key the snapshots are encrypted with. The
AWS-managed EBS key (``aws/ebs``) can never be used by another account, and an image
with encrypted snapshots can never be public.

prism adds (1) itself, next to the launch permission. For (2) it prints the exact
key-policy statement the key's administrator adds: changing a key policy is not
prism's to do. Organizations and OUs get no snapshot permission (EC2 has none for
them; their launches read the snapshots through the AMI).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

#: What EC2 needs of the key on the target account's behalf (AWS's documented set for
#: launching and copying shared encrypted AMIs).
KEY_USE = ["kms:Decrypt", "kms:DescribeKey", "kms:ReEncrypt*", "kms:GenerateDataKey*"]


def accounts(share_with: Iterable[str]) -> list[str]:
    """The 12-digit account ids among ``--share-with`` targets."""
    return [t for t in share_with if t.isdigit()]


def organization_ids(share_with: Iterable[str]) -> list[str]:
    """The organization ids (``o-...``) of the organization and OU ARNs among the targets."""
    found: list[str] = []
    for target in share_with:
        if target.isdigit():
            continue
        for part in target.split("/"):
            if part.startswith("o-") and part not in found:
                found.append(part)
    return found


def add_volume_permission(ec2: Any, snapshot_ids: Iterable[str], account_ids: list[str]) -> None:
    """Let ``account_ids`` create volumes from each snapshot (ModifySnapshotAttribute)."""
    if not account_ids:
        return
    for snapshot_id in snapshot_ids:
        ec2.modify_snapshot_attribute(
            SnapshotId=snapshot_id,
            Attribute="createVolumePermission",
            OperationType="add",
            UserIds=account_ids,
        )


def key_policy_statements(share_with: Iterable[str]) -> list[dict[str, Any]]:
    """The key-policy statements that let the share's accounts and organizations use
    the key for the image: one to use it, one to let EC2 create grants on their behalf."""
    targets = list(share_with)
    ids = accounts(targets)
    orgs = organization_ids(targets)
    principals: list[tuple[dict[str, Any], dict[str, Any]]] = []
    if ids:
        principal = {"AWS": [f"arn:aws:iam::{a}:root" for a in ids]}
        principals.append((principal, {}))
    if orgs:
        principals.append(({"AWS": "*"}, {"StringEquals": {"aws:PrincipalOrgID": orgs}}))
    statements: list[dict[str, Any]] = []
    for index, (principal, condition) in enumerate(principals):
        suffix = "" if index == 0 else "Org"
        use: dict[str, Any] = {
            "Sid": f"PrismSharedImageUse{suffix}",
            "Effect": "Allow",
            "Principal": principal,
            "Action": KEY_USE,
            "Resource": "*",
        }
        if condition:
            use["Condition"] = condition
        grant_condition = {"Bool": {"kms:GrantIsForAWSResource": "true"}}
        for key, value in condition.items():
            grant_condition[key] = value
        statements.append(use)
        statements.append(
            {
                "Sid": f"PrismSharedImageGrants{suffix}",
                "Effect": "Allow",
                "Principal": principal,
                "Action": "kms:CreateGrant",
                "Resource": "*",
                "Condition": grant_condition,
            }
        )
    return statements


def key_policy_note(region: str, key: str, share_with: Iterable[str]) -> str:
    """One plan line: which key needs which statements, as one line of JSON to paste."""
    statements = json.dumps(key_policy_statements(share_with), separators=(",", ":"))
    return (
        f"the encrypted image in {region} uses KMS key {key}: its key policy must allow the "
        f"accounts it is shared with; add these statements: {statements}"
    )
