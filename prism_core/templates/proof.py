"""Whether the cloud proves a template version real: an image of it exists in this account
and its own tags name the template, the version and the save id its document recorded.

Registry entries are written by anyone with ``ssm:PutParameter`` in the account, so a
version number or a document is only a claim. Before one steers a decision (which
version is the newest, which versions ``templates prune`` keeps) the images it names
must be proven by EC2's own tags; a forged ``versions/<N>`` pointing at a stranger's
image, or at one that does not exist, proves nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from prism_core.aws.clients import AwsClients
from prism_core.aws.tags import SAVE_ID_TAG, TEMPLATE_TAG, VERSION_TAG, tags_of

#: Image states that are not (or no longer) an image of the version.
GONE_STATES = ("deregistered", "failed", "error", "invalid")
#: Regions of a document looked at (a forged one may list hundreds).
MAX_REGIONS_CHECKED = 4
_AMI = re.compile(r"ami-[0-9a-f]{8,17}")
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d{1,2}")


def image_proves(image: Mapping[str, Any], name: str, version: int, save_ids: set[str]) -> bool:
    """Whether one DescribeImages record is version ``version`` of template ``name`` made
    by one of ``save_ids``, and still an image."""
    tags = tags_of(dict(image))
    return (
        image.get("State") not in GONE_STATES
        and tags.get(TEMPLATE_TAG) == name
        and tags.get(VERSION_TAG) == str(version)
        and tags.get(SAVE_ID_TAG) in save_ids
    )


def document_proven(aws: AwsClients, name: str, version: int, doc: Mapping[str, Any]) -> bool:
    """Whether a version's document is proven by the cloud: one of the images it lists,
    in one of its first regions, is this account's and tagged as that version by the save
    the document names. One DescribeImages per region looked at; a region that cannot
    be asked proves nothing (the version is then not taken as real)."""
    save_id = doc.get("save_id")
    amis = (doc.get("ami_config") or {}).get("amis") or {}
    if not isinstance(save_id, str) or not save_id or not isinstance(amis, Mapping):
        return False
    looked = 0
    for region, by_arch in amis.items():
        if looked >= MAX_REGIONS_CHECKED:
            break
        if not isinstance(region, str) or not _REGION.fullmatch(region):
            continue
        if not isinstance(by_arch, Mapping):
            continue
        listed = {str(i) for i in by_arch.values() if _AMI.fullmatch(str(i))}
        if not listed:
            continue
        looked += 1
        try:
            images = aws.ec2(region).describe_images(
                Owners=["self"],
                Filters=[
                    {"Name": f"tag:{TEMPLATE_TAG}", "Values": [name]},
                    {"Name": f"tag:{VERSION_TAG}", "Values": [str(version)]},
                ],
            )["Images"]
        except Exception:  # noqa: BLE001  (unreadable: not proven, never an error here)
            continue
        if any(
            i.get("ImageId") in listed and image_proves(i, name, version, {save_id})
            for i in images
        ):
            return True
    return False
