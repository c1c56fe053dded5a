"""What every region's image of a save gets: prism's tags, sharing and deprecation, and
its removal once the cloud shows the save made it.

The source image (``ec2_image``) and every copy (``ec2_copy``) use the same functions,
so an image's tags and its sharing do not depend on the region it is in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prism_core.aws import encrypted_sharing
from prism_core.aws.clients import error_message
from prism_core.aws.ec2 import describe_image, discard_image, made_by_save, share_image
from prism_core.aws.tags import (
    PROJECT_TAG,
    SAVE_ID_TAG,
    SAVED_DATE_TAG,
    SOURCE_INSTANCE_TAG,
    SOURCE_NAME_TAG,
    TEMPLATE_TAG,
    VERSION_TAG,
)
from prism_core.exceptions import InputError

if TYPE_CHECKING:
    from prism_core.save.context import SaveContext
    from prism_core.save.state import RegionImage


def image_tags(ctx: SaveContext) -> dict[str, str]:
    """Tags for the image, its snapshots and every copy (user tags win over prism's)."""
    request, state = ctx.request, ctx.state
    tags = {
        "Name": request.template_name,
        TEMPLATE_TAG: request.template_name,
        SOURCE_INSTANCE_TAG: request.instance_id,
        SOURCE_NAME_TAG: request.instance_name,
        SAVED_DATE_TAG: state.started_at,
        SAVE_ID_TAG: state.save_id,
    }
    if state.template_version is not None:
        tags[VERSION_TAG] = str(state.template_version)
    if request.project_id:
        tags[PROJECT_TAG] = request.project_id
    tags.update(request.tags)
    return tags


def share_in_region(ctx: SaveContext, image: RegionImage, derivative: bool = False) -> None:
    """Apply ``--public`` / ``--share-with`` to one region's image; a failure is recorded.

    With ``--scrub`` only the scrubbed derivative (``derivative=True``) is shared: the
    team's image stays private."""
    request = ctx.request
    if not request.shares_anything or image.shared or image.image_id is None:
        return
    if getattr(request, "secrets_policy", "") == "scrub" and not derivative:
        return
    try:
        ec2 = ctx.aws.ec2(image.region)
        share_image(ec2, image.image_id, public=request.public, share_with=request.share_with)
        if _encrypted(ctx):  # the accounts must also read the snapshots to copy the image
            encrypted_sharing.add_volume_permission(
                ec2, image.snapshot_ids or [], encrypted_sharing.accounts(request.share_with)
            )
    except Exception as exc:
        _failed(ctx, "Sharing", image, exc)
        return
    image.shared = True
    if not derivative:
        ctx.record_image(image)
    who = "everyone (public)" if request.public else ", ".join(request.share_with)
    if request.public and request.share_with:
        who += ", " + ", ".join(request.share_with)
    ctx.progress.line("share", f"Shared {image.image_id} in {image.region} with {who}")


def _encrypted(ctx: SaveContext) -> bool:
    return any(volume.get("Encrypted") for volume in ctx.volumes())


def encrypted_sharing_notes(ctx: SaveContext) -> list[str]:
    """Pre-flight of a save that shares an encrypted image beyond the account.

    Refuses (one line, before anything changes) a public encrypted image and copies
    that would be encrypted with a region's AWS-managed key (no ``prism.kms_keys`` for
    that region), which the accounts shared with could never use; returns, for each
    key, the plan note with the key-policy statements its administrator must add.
    """
    request = ctx.request
    others = [*request.share_with, *(t.split(":")[0] for t in request.copy_to_accounts)]
    if not (request.public or others) or not _encrypted(ctx):
        return []
    if request.public:
        raise InputError(
            "an image whose snapshots are encrypted cannot be made public",
            "save it without --public, or share it with accounts (--share-with)",
        )
    missing = [r for r in request.copy_to_regions if r not in ctx.settings.kms_keys]
    if missing:
        raise InputError(
            f"the copies in {', '.join(missing)} would be encrypted with that region's "
            "AWS-managed key, which the accounts it goes to cannot use",
            f"set prism.kms_keys.{missing[0]} to a customer-managed key, or save without "
            "--share-with and --copy-to-accounts",
        )
    keys = sorted({str(v["KmsKeyId"]) for v in ctx.volumes() if v.get("KmsKeyId")})
    notes = [encrypted_sharing.key_policy_note(ctx.source_region, k, others) for k in keys]
    notes += [
        encrypted_sharing.key_policy_note(r, ctx.settings.kms_keys[r], others)
        for r in request.copy_to_regions
    ]
    return notes
def require_imds_v2(ctx: SaveContext, image: RegionImage) -> None:
    """Mark one region's image ``ImdsSupport=v2.0`` (every instance launched from it
    requires IMDSv2) unless config ``prism.imds_v1: true``; a failure is recorded.
    EC2 cannot undo the mark, and setting it again changes nothing."""
    if ctx.settings.imds_v1 or image.image_id is None:
        return
    try:
        ctx.aws.ec2(image.region).modify_image_attribute(
            ImageId=image.image_id, ImdsSupport={"Value": "v2.0"}
        )
    except Exception as exc:
        _failed(ctx, "Requiring IMDSv2 on", image, exc)


def deprecate_in_region(ctx: SaveContext, image: RegionImage) -> None:
    """Apply ``--deprecate-after DAYS`` to one region's image; a failure is recorded.

    The image is kept whatever happens: a failed deprecation makes the save partial
    and ``prism save --resume`` tries again.
    """
    days = ctx.request.deprecate_after_days
    if not days or image.deprecated or image.image_id is None:
        return
    # loaded when used: the built-in plugins that import this module load at every start
    from prism_core.templates.lifecycle import deprecate_image

    try:
        when = deprecate_image(ctx.aws.ec2(image.region), image.image_id, days)
    except Exception as exc:
        _failed(ctx, "Deprecating", image, exc)
        return
    image.deprecated = when
    ctx.record_image(image)
    ctx.progress.line("info", f"{image.image_id} in {image.region} deprecates at {when}")


def _failed(ctx: SaveContext, doing: str, image: RegionImage, exc: Exception) -> None:
    """Record and show that ``doing`` (``Sharing``, ...) one region's image failed; the
    save goes on and ends partial."""
    where = f"{image.image_id} in {image.region}"
    ctx.record_failure(f"{doing.lower()} {where} failed: {error_message(exc)}")
    ctx.progress.line("fail", f"{doing} {where} failed")


def discard_own_image(
    ctx: SaveContext, region: str, image_id: str, ec2: Any = None
) -> list[str] | None:
    """Deregister ``image_id`` in ``region`` and delete its snapshots, only if the cloud's
    tags show this save made it; the ids removed (``[]`` if EC2 has no such image any
    more), or ``None`` when the image is not this save's (kept). AWS errors propagate.
    ``ec2`` is another account's client for ``--copy-to-accounts`` copies."""
    ec2 = ec2 or ctx.aws.ec2(region)
    data = describe_image(ec2, image_id)
    if data is None or data.get("State") == "deregistered":
        return []
    if not made_by_save(data, ctx.state.save_id, ctx.state.image_name):
        return None
    return discard_image(
        ec2,
        data,
        image_id,
        snapshot_timeout=ctx.wait_schedule.limits["snapshots"],
        poll=ctx.wait_schedule.poll,
    )
