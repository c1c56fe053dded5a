"""prism's own EC2 tags (the ``prism:`` prefix) and EC2's tag-list <-> dict conversion.

Every ``prism:`` tag name is defined here once. Images and snapshots of a save carry
``prism:template``, ``prism:version``, ``prism:save-id`` (the ownership proof deletes
use) and where they came from; instances ``prism launch`` starts carry
``prism:template``, ``prism:template-version``, ``prism:launched-by`` and
``prism:launch-id`` (the ownership proof ``prism terminate`` and ``prism cleanup`` use; the
security group made for the instance carries the same id and ``prism:instance``); an
instance being saved carries ``prism:save-lock`` while the save runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: Tags whose key starts with this are prism's own; ``--tag`` refuses it.
TAG_PREFIX = "prism:"

#: The template an image was saved as, or an instance / security group launched from.
TEMPLATE_TAG = "prism:template"
#: The template version an image belongs to.
VERSION_TAG = "prism:version"
#: The save that created an image or snapshot (proves ownership before a delete).
SAVE_ID_TAG = "prism:save-id"
SOURCE_INSTANCE_TAG = "prism:source-instance"
SOURCE_NAME_TAG = "prism:source-name"
SAVED_DATE_TAG = "prism:saved-date"
PROJECT_TAG = "prism:project"
#: On an instance ``prism launch`` started: the version it was launched from, and by whom.
TEMPLATE_VERSION_TAG = "prism:template-version"
LAUNCHED_BY_TAG = "prism:launched-by"
#: On the instance being saved, while the save runs: ``<save-id>@<host>``.
LOCK_TAG = "prism:save-lock"
#: On a ``--validate`` boot-check instance: the image it checks.
BOOT_CHECK_TAG = "prism:boot-check"
#: On an instance ``prism launch`` started and on the security group made for it: one id
#: per launch (the ownership proof of ``prism terminate`` and ``prism cleanup``).
LAUNCH_ID_TAG = "prism:launch-id"
#: On a security group ``prism launch`` made: the ``Name`` of the instance it was made for.
INSTANCE_TAG = "prism:instance"
#: On a key pair ``prism launch`` imported: the local user it belongs to.
KEY_OF_TAG = "prism:key-of"
#: On a helper instance prism starts for its own work (e.g. scrubbing a new image): what for.
HELPER_TAG = "prism:helper"
#: On a scrubbed derivative image (``prism save --scrub``): the team image it was made from.
SCRUBBED_FROM_TAG = "prism:scrubbed-from"
#: On an image of a revoked version: the deprecation time it had before the revocation
#: (``none``: it had none), which ``templates restore`` gives back. Kept on the image
#: itself, not in the registry, which anyone who may write parameters could forge.
DEPRECATED_BEFORE_REVOKE_TAG = "prism:deprecation-before-revoke"

#: The tags that prove prism made a resource; ``prism iam-policy`` lets prism change or
#: delete an existing resource only where one of them is (``aws:ResourceTag/...``).
OWNERSHIP_TAGS = (
    SAVE_ID_TAG,
    TEMPLATE_TAG,
    LAUNCHED_BY_TAG,
    BOOT_CHECK_TAG,
    KEY_OF_TAG,
    HELPER_TAG,
)


def tags_of(record: Mapping[str, Any] | None) -> dict[str, str]:
    """A Describe* record's ``Tags`` list as a dict (``{}`` for ``None`` or no tags)."""
    return {t["Key"]: t["Value"] for t in (record or {}).get("Tags") or []}


def tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    """EC2's ``[{"Key": k, "Value": v}]`` form of a dict (keys are unique by construction)."""
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def lock_value(save_id: str, host: str) -> str:
    """The value of :data:`LOCK_TAG`: ``<save-id>@<host>`` within EC2's 256 characters."""
    return f"{save_id}@{host}"[:256]


def locked_by(tags: Mapping[str, str], save_id: str) -> bool:
    """Whether an instance's :data:`LOCK_TAG` tag names save ``save_id``."""
    return tags.get(LOCK_TAG, "").startswith(f"{save_id}@")
