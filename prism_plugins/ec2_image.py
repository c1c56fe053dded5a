"""Built-in ``prism_image`` and ``prism_post_image``: create the AMI in the source region.

The image gets prism's tags and the user's on the AMI and on its snapshots at
creation. In the default image mode (``reboot``) CreateImage is sent without
``NoReboot``: EC2 shuts the OS down, snapshots the volumes at rest and boots the
instance again itself. ``--stop`` (prism stopped the instance) and ``--no-reboot`` set
``NoReboot``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from prism_core import plugin_api as api

if TYPE_CHECKING:
    from prism_core.plugin_api import RegionImage, SaveContext


def adopt_existing(ctx: SaveContext, ec2: Any) -> str | None:
    """The id of this save's image if EC2 already has it (a killed run, a lost response)."""
    from prism_core import toolkit

    found = toolkit.image_named(ec2, ctx.state.image_name, ctx.state.save_id)
    if found is None:
        return None
    if not found.ours:
        raise api.OperationFailed(
            f"an AMI named {ctx.state.image_name} that this save did not create appeared "
            f"({found.image_id})",
            "run the save again; it will pick a new name",
        )
    return found.image_id


def no_reboot(ctx: SaveContext) -> bool:
    """``NoReboot`` for CreateImage: False only in the default mode (EC2 reboots)."""
    return ctx.request.image_mode != "reboot"


def _create(ctx: SaveContext, ec2: Any, retry: bool) -> str:
    """CreateImage once per save. It has no idempotency token, so a retried request whose
    first attempt succeeded answers InvalidAMIName.Duplicate: adopt that image."""
    from prism_core import toolkit

    if retry:  # an earlier run asked for this image: it may exist already
        adopted = adopt_existing(ctx, ec2)
        if adopted is not None:
            return adopted
    tags = api.tag_list(toolkit.image_tags(ctx))
    try:
        response = ec2.create_image(
            InstanceId=ctx.request.instance_id,
            Name=ctx.state.image_name,
            Description=ctx.request.description,
            NoReboot=no_reboot(ctx),
            TagSpecifications=[
                {"ResourceType": "image", "Tags": tags},
                {"ResourceType": "snapshot", "Tags": tags},
            ],
        )
    except Exception as exc:
        if api.error_code(exc) == "InvalidAMIName.Duplicate":
            adopted = adopt_existing(ctx, ec2)
            if adopted is not None:
                return adopted
        raise
    return str(response["ImageId"])


@api.hookimpl(trylast=True)
def prism_image(ctx: SaveContext) -> RegionImage:
    """Create the AMI and return once every EBS mapping lists a snapshot."""
    from prism_core import toolkit

    region = ctx.source_region
    ec2 = ctx.aws.ec2(region)
    image = ctx.state.images.get(region)
    if image is None or image.image_id is None:
        retry = image is not None
        architecture = ctx.instance.architecture
        image = api.RegionImage(region, state=toolkit.REQUESTED, architecture=architecture)
        ctx.record_image(image)
        ctx.progress.line("image", "Creating AMI...")
        image.image_id = _create(ctx, ec2, retry)
        ctx.mark_requested(image.image_id)
        image.state = toolkit.PENDING
        ctx.record_image(image)
    ctx.progress.line("ok", f"AMI creation started: {image.image_id}", since="image")
    image_id = image.image_id
    if getattr(ctx, "engine_restarts", False):
        return image  # --detach --stop: the save engine waits for the snapshots

    def snapshots_listed() -> list[str] | None:
        data = toolkit.describe_image(ec2, image_id)
        if data is None:
            return None
        if data.get("State") == toolkit.FAILED:
            image.state, image.error = toolkit.FAILED, toolkit.state_reason(data)
            ctx.record_image(image)
            raise api.OperationFailed(f"image {image_id} failed in {region}: {image.error}")
        return toolkit.image_snapshot_ids(data)

    image.snapshot_ids = ctx.wait(
        snapshots_listed,
        what=f"the snapshots of {image_id} in {region}",
        limit="snapshots",
        critical=ctx.state.stopped_by_prism or ctx.state.rebooted_by_ec2,
        down=ctx.state.stopped_by_prism and not ctx.state.instance_restarted,
        steady=True,
        resource=image_id,
        region=region,
        phase="image",
    )
    ctx.record_image(image)
    return image


@api.hookimpl(tryfirst=True)
def prism_post_image(ctx: SaveContext) -> None:
    """Wait until the source image is available, then share it as requested."""
    from prism_core import toolkit

    image = ctx.source_image()
    if image is None or image.image_id is None:
        raise api.OperationFailed("no source image was recorded for this save")
    ec2 = ctx.aws.ec2(image.region)
    if image.state != toolkit.AVAILABLE:
        ctx.progress.line(
            "wait", "Waiting for the AMI to be available (this may take several minutes)..."
        )
        image_id = image.image_id
        listed = image.snapshot_ids
        not_yet, expected_at = toolkit.completion_estimate(
            ec2,
            image_id,
            lambda: listed,
            poll=ctx.settings.poll_delay,
            longest=ctx.settings.timeouts["image"],
            report=toolkit.progress_report(
                ctx, f"Image {image_id} in {image.region}",
                phase="image", region=image.region, image_id=image_id,
            ),
            since=ctx.requested_at(image_id),
        )

        def available() -> dict[str, Any] | None:
            data = toolkit.settled_image(ec2, image_id)
            if data is None:
                not_yet()
            return data

        # once per poll delay, landing on the completion the snapshots' progress predicts
        data = ctx.wait(
            available,
            what=f"image {image_id} in {image.region}",
            limit="image",
            steady=True,
            expected_at=expected_at,
            resource=image_id,
            region=image.region,
            phase="image",
        )
        if data["State"] == toolkit.FAILED:
            image.state, image.error = toolkit.FAILED, toolkit.state_reason(data)
            ctx.record_image(image)
            raise api.OperationFailed(f"image {image_id} failed in {image.region}: {image.error}")
        image.state = toolkit.AVAILABLE
        image.snapshot_ids = toolkit.image_snapshot_ids(data) or image.snapshot_ids
        # how long the image took: from this process's own request when it made it (EC2's
        # CreationDate has whole seconds), the copies' first check is scheduled from it
        requested = ctx.requested_at(image_id)
        took = time.time() - requested if requested else None
        ctx.record(image_seconds=took or _seconds_since(data.get("CreationDate")))
        ctx.record_image(image)
        toolkit.progress_finished(ctx.progress, image_id, f"Image {image_id} in {image.region}: "
                              "available", phase="image", region=image.region)
        ctx.progress.line("ok", f"AMI {image_id} is available", since="wait")
    toolkit.require_imds_v2(ctx, image)
    toolkit.share_in_region(ctx, image)
    toolkit.deprecate_in_region(ctx, image)


def _seconds_since(stamp: Any) -> float | None:
    """Seconds from EC2's ISO 8601 ``CreationDate`` until now (``None`` if unreadable)."""
    from datetime import UTC, datetime

    try:
        created = datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
    except ValueError:
        return None
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    seconds = (datetime.now(UTC) - created).total_seconds()
    return seconds if 0 <= seconds < 7 * 24 * 3600 else None
