"""Built-in ``prism_copy``: copy the AMI to every requested region, concurrently.

Each region runs in its own worker, every region at once (``prism.copy_concurrency``
caps it if set): CopyImage in the destination region with a ``ClientToken`` and the
tags of the copy and its snapshots in ``TagSpecifications``, wait until available
(the first poll when the copy is expected to be done: after three quarters of the
time the source image took), share it. A region that fails is reported with its
reason and does not affect the others. Then ``--copy-to-accounts``: each account gets a
copy in every region that has an image (``toolkit.copy_to_accounts``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prism_core import plugin_api as api

if TYPE_CHECKING:
    from prism_core.plugin_api import RegionImage, SaveContext


@api.hookimpl(trylast=True)
def prism_copy(ctx: SaveContext) -> dict[str, RegionImage]:
    """Copy to each region of ``ctx.request.copy_to_regions``, then into each account of
    ``--copy-to-accounts`` (in every region with an image); failures stay per region."""
    from prism_core import toolkit

    regions = ctx.request.copy_to_regions
    if not regions:
        toolkit.copy_to_accounts(ctx)
        return {}
    source = ctx.source_image()
    if source is None or not source.ok:
        raise RuntimeError("the source image is not available, nothing to copy")
    ctx.progress.line("copy", f"Copying AMI to {len(regions)} region(s): {', '.join(regions)}...")
    results: dict[str, RegionImage] = {}
    cap = ctx.settings.copy_concurrency or len(regions)
    workers = max(1, min(cap, len(regions)))
    from concurrent.futures import ThreadPoolExecutor, as_completed

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="prism-copy")
    try:
        futures = {pool.submit(copy_to_region, ctx, source, r): r for r in regions}
        for future in as_completed(futures):
            region = futures[future]
            results[region] = future.result()
    except BaseException:
        ctx.cancel.set()  # Ctrl-C or a bug: stop the other regions' waits promptly
        raise
    finally:
        pool.shutdown(wait=True)
    toolkit.copy_to_accounts(ctx)
    return {r: results[r] for r in regions if r in results}


def copy_to_region(ctx: SaveContext, source: RegionImage, region: str) -> RegionImage:
    """Copy, wait, tag and share in one region; never raises for AWS errors."""
    from prism_core import toolkit

    previous = ctx.state.images.get(region)
    if previous is not None and previous.ok:
        toolkit.require_imds_v2(ctx, previous)
        toolkit.share_in_region(ctx, previous)
        toolkit.deprecate_in_region(ctx, previous)
        return previous
    try:
        image = _copy(ctx, source, region, previous)
    except api.WaitCancelled:
        raise
    except Exception as exc:
        image = ctx.state.images.get(region) or api.RegionImage(region)
        image.error = api.error_message(exc)
        ctx.record_image(image)
    if image.error:
        ctx.progress.line("fail", f"Copy to {region} failed: {image.error}", since="copy")
        return image
    ctx.progress.line("ok", f"AMI copied to region {region}: {image.image_id}", since="copy")
    toolkit.require_imds_v2(ctx, image)
    toolkit.share_in_region(ctx, image)
    toolkit.deprecate_in_region(ctx, image)
    return image


def _copy(
    ctx: SaveContext, source: RegionImage, region: str, previous: RegionImage | None
) -> RegionImage:
    from prism_core import toolkit

    ec2 = ctx.aws.ec2(region)
    requested_now = False
    if previous is not None and previous.image_id and previous.error is None:
        image = previous  # resume: the copy was requested before the process stopped
    else:
        requested_now = True
        stale = previous.image_id if previous is not None else None
        if stale:  # a failed earlier attempt: remove it (if it is ours) so the name is free
            toolkit.discard_own_image(ctx, region, stale)
        image = api.RegionImage(
            region,
            state=toolkit.REQUESTED,
            architecture=source.architecture,
            client_token=_client_token(ctx, region, previous),
        )
        ctx.record_image(image)
        image.image_id = _request_copy(ctx, ec2, source, image)
        ctx.mark_requested(image.image_id)
        image.state = toolkit.PENDING
        ctx.record_image(image)
    image_id = image.image_id
    assert image_id is not None

    listed: list[list[str] | None] = [None]
    not_yet, expected_at = toolkit.completion_estimate(
        ec2,
        image_id,
        lambda: listed[0],
        poll=ctx.settings.poll_delay,
        longest=ctx.settings.timeouts["copy"],
        report=toolkit.progress_report(
            ctx, f"Copy {image_id} to {region}", phase="copy", region=region, image_id=image_id
        ),
        since=ctx.requested_at(image_id),
    )

    def settled() -> dict[str, Any] | None:
        data = toolkit.describe_image(ec2, image_id)
        if data is None or data.get("State") not in (toolkit.AVAILABLE, toolkit.FAILED):
            listed[0] = toolkit.image_snapshot_ids(data) if data is not None else None
            not_yet()
            return None
        return data

    # first checked at three quarters of the source image's time, then landing on the
    # completion the copy's snapshots' progress predicts
    expected = ctx.state.image_seconds if requested_now else None
    data = ctx.wait(
        settled,
        what=f"the copy {image_id} in {region}",
        limit="copy",
        first_check_after=0.75 * expected if expected else None,
        expected_at=expected_at,
        resource=image_id,
        region=region,
        phase="copy",
    )
    if data["State"] == toolkit.FAILED:
        reason = toolkit.state_reason(data)
        image.state, image.error = toolkit.FAILED, f"copy {image_id} failed: {reason}"
        ctx.record_image(image)
        return image
    image.snapshot_ids = toolkit.image_snapshot_ids(data) or []
    image.state = toolkit.AVAILABLE
    ctx.record_image(image)
    toolkit.progress_finished(ctx.progress, image_id, f"Copy {image_id} to {region}: available",
                          phase="copy", region=region)
    return image


def _client_token(ctx: SaveContext, region: str, previous: RegionImage | None) -> str:
    """CopyImage's idempotency token: the same one again if the answer to the last request
    was never recorded (EC2 returns that copy), a new one after a failed attempt."""
    if previous is None or not previous.client_token:
        return f"{ctx.state.save_id}-{region}-1"
    if previous.image_id is None and previous.error is None:
        return previous.client_token
    attempt = int(previous.client_token.rsplit("-", 1)[-1]) + 1
    return f"{ctx.state.save_id}-{region}-{attempt}"


def _request_copy(ctx: SaveContext, ec2: Any, source: RegionImage, image: RegionImage) -> str:
    """CopyImage in the destination region. A copy whose request went out under an older
    token (its answer lost) makes EC2 answer InvalidAMIName.Duplicate: adopt that copy."""
    from prism_core import toolkit

    params: dict[str, Any] = {
        "SourceImageId": source.image_id,
        "SourceRegion": source.region,
        "Name": ctx.state.image_name,
        "Description": ctx.request.description,
        "ClientToken": image.client_token,
        "TagSpecifications": [
            {"ResourceType": kind, "Tags": api.tag_list(toolkit.image_tags(ctx))}
            for kind in ("image", "snapshot")
        ],
    }
    if any(volume.get("Encrypted") for volume in ctx.volumes()):
        params["Encrypted"] = True  # copies of encrypted snapshots must stay encrypted
        if image.region in ctx.settings.kms_keys:
            params["KmsKeyId"] = ctx.settings.kms_keys[image.region]
    try:
        return str(ec2.copy_image(**params)["ImageId"])
    except Exception as exc:
        if api.error_code(exc) == "InvalidAMIName.Duplicate":
            found = toolkit.find_saved_image(ec2, ctx.state.image_name, ctx.state.save_id)
            if found is not None:
                return str(found["ImageId"])
        raise
