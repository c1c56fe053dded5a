"""``prism save --scrub``: the image that leaves the account is a scrubbed derivative.

The team's image (``state.images``) stays complete and private. A short-lived helper
instance is launched from it (its own security group with no inbound rule, no public
IP, IMDSv2, tagged ``prism:helper=scrub`` and with the save's id); its user data is
prism's scrub script (:mod:`prism_core.inspection.scrub`), which removes what the
inspection found, empties histories, removes SSH host keys and cloud-init's instance
state, then powers the helper off. prism images the stopped helper (the derivative,
``state.scrub_images``), terminates it, deletes its group, and shares only the
derivative, copied to the save's other regions. The workstation is never touched.

Every step is journaled before it is taken (``state.scrub``): the group's name and the
helper's client token before they are asked for, so ``--resume`` adopts what a killed
run created (found by its tags) and ``--abort`` removes it after the cloud's tags prove
it is this save's. The helper itself is :mod:`prism_core.save.scrub_helper`.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from prism_core.aws.clients import error_message
from prism_core.aws.ec2 import (
    describe_image,
    discard_image,
    image_snapshot_ids,
    made_by_save,
    settled_image,
    state_reason,
)
from prism_core.aws.tags import SCRUBBED_FROM_TAG, tag_list
from prism_core.exceptions import OperationFailed
from prism_core.save.context import SaveContext
from prism_core.save.scrub_helper import (
    find_helpers,
    finish_helper,
    launch,
    scrub_lists,
    step,
    wait_stopped,
)
from prism_core.save.state import AVAILABLE, FAILED, PENDING, REQUESTED, RegionImage


def wanted(ctx: SaveContext) -> bool:
    """Whether the save shares a scrubbed derivative (``--scrub``)."""
    return getattr(ctx.request, "secrets_policy", "") == "scrub"


def derivative_name(image_name: str) -> str:
    """The derivative's AMI name: the team image's with ``-shared``."""
    return f"{image_name}-shared"


def plan_lines(ctx: SaveContext) -> list[str]:
    """What the plan says about the scrub (nothing without ``--scrub``)."""
    if not wanted(ctx):
        return []
    remove, empty = scrub_lists(ctx.state.inspection)
    regions = ", ".join([ctx.request.region, *ctx.request.copy_to_regions])
    return [
        "Scrub (--scrub): the team image stays complete and private; only a scrubbed "
        "derivative is shared",
        "   1. launch a helper from the team image (own security group, no inbound rule, "
        "no public IP, IMDSv2)",
        f"   2. its user data removes {len(remove)} file(s), empties {len(empty)} history "
        "file(s) and every shell history, SSH host keys and cloud-init instance state, "
        "then powers off",
        "   3. image the stopped helper, terminate it, delete its security group",
        f"   4. share only the derivative, in {regions}; the workstation is not touched",
    ]


def _derivative_tags(ctx: SaveContext, team_image_id: str) -> dict[str, str]:
    from prism_core.save.images import image_tags

    return {**image_tags(ctx), SCRUBBED_FROM_TAG: team_image_id}


def _team_id(ctx: SaveContext) -> str:
    """The team image every derivative descends from (the source region's)."""
    source = ctx.source_image()
    return str(source.image_id if source is not None else "")


def run(ctx: SaveContext) -> None:
    """The ``scrub`` phase: helper, derivative in the source region, copies, sharing.

    Raises when the derivative cannot be made (the save ends partial, the team image
    kept private; ``--resume`` tries again). The helper is terminated on every path."""
    if not wanted(ctx):
        return
    source = ctx.source_image()
    if source is None or not source.ok or source.image_id is None:
        raise OperationFailed("the team image is not available, nothing to scrub")
    region = source.region
    scrub = ctx.state.scrub or step(
        ctx, stage="planned", region=region, image_name=derivative_name(ctx.state.image_name)
    )
    derivative = ctx.state.scrub_images.get(region)
    if derivative is not None and derivative.state == FAILED and _drop_failed(ctx, derivative):
        derivative = None  # a failed derivative: a new helper makes another
        step(ctx, stage="planned", attempt=int(scrub.get("attempt") or 1) + 1)
    try:
        if derivative is None or derivative.image_id is None:
            helper = launch(ctx, source)
            wait_stopped(ctx, region, helper)
            derivative = _image_helper(ctx, source, helper)
        derivative = _wait_available(ctx, derivative)
    finally:
        problems = finish_helper(ctx)
        for problem in problems:
            ctx.progress.line("warn", problem)
    if derivative.state == FAILED:
        raise OperationFailed(
            f"the scrubbed image {derivative.image_id} failed: {derivative.error}"
        )
    _publish(ctx, derivative)
    regions = ctx.request.copy_to_regions
    if regions:
        ctx.progress.line("copy", f"Copying the scrubbed image to {', '.join(regions)}...")
        with ThreadPoolExecutor(max(1, len(regions)), "prism-scrub-copy") as pool:
            copies = list(pool.map(lambda r: _copy(ctx, derivative, r), regions))
        failed = [c for c in copies if c.error]
        for copy in failed:
            ctx.record_failure(f"copy of the scrubbed image to {copy.region} failed: {copy.error}")
    ctx.summary_note(
        "Shared image (scrubbed): "
        + ", ".join(f"{r}: {i.image_id}" for r, i in derivatives(ctx).items())
        + f"; team image kept private ({scrub.get('image_name')} is the shared one)"
    )


def derivatives(ctx: SaveContext) -> dict[str, RegionImage]:
    """The available derivative images, by region (source region first)."""
    return {r: i for r, i in ctx.state.scrub_images.items() if i.ok and i.image_id}


def _record_derivative(ctx: SaveContext, image: RegionImage) -> None:
    with ctx.journal.lock:
        ctx.state.scrub_images[image.region] = image
    ctx.journal.write()


def _image_helper(ctx: SaveContext, source: RegionImage, helper_id: str) -> RegionImage:
    """CreateImage of the stopped helper (adopting one a killed run asked for)."""
    region = source.region
    ec2 = ctx.aws.ec2(region)
    name = str((ctx.state.scrub or {}).get("image_name"))
    image = RegionImage(region, state=REQUESTED, architecture=source.architecture)
    _record_derivative(ctx, image)
    step(ctx, stage="imaging")
    from prism_core.aws.ec2 import find_saved_image

    found = find_saved_image(ec2, name, ctx.state.save_id)
    if found is not None:
        image.image_id = str(found["ImageId"])
    else:
        tags = tag_list(_derivative_tags(ctx, str(source.image_id)))
        image.image_id = str(
            ec2.create_image(
                InstanceId=helper_id,
                Name=name,
                Description=f"{ctx.request.description} (scrubbed for sharing)"[:255],
                NoReboot=True,
                TagSpecifications=[
                    {"ResourceType": "image", "Tags": tags},
                    {"ResourceType": "snapshot", "Tags": tags},
                ],
            )["ImageId"]
        )
    image.state = PENDING
    _record_derivative(ctx, image)
    ctx.progress.line("image", f"Scrubbed image requested: {image.image_id}")
    return image


def _wait_available(ctx: SaveContext, image: RegionImage) -> RegionImage:
    if image.ok:
        return image
    ec2 = ctx.aws.ec2(image.region)
    image_id = str(image.image_id)
    data = ctx.wait(
        lambda: settled_image(ec2, image_id),
        what=f"scrubbed image {image_id} in {image.region}",
        schedule=ctx.wait_schedule.limit("image").state_change(),
    )
    if data["State"] == FAILED:
        image.state, image.error = FAILED, state_reason(data)
    else:
        image.state = AVAILABLE
        image.snapshot_ids = image_snapshot_ids(data) or []
    _record_derivative(ctx, image)
    return image


def _publish(ctx: SaveContext, image: RegionImage) -> None:
    from prism_core.save.images import deprecate_in_region, require_imds_v2, share_in_region

    require_imds_v2(ctx, image)
    share_in_region(ctx, image, derivative=True)
    deprecate_in_region(ctx, image)
    _record_derivative(ctx, image)


def _copy(ctx: SaveContext, source: RegionImage, region: str) -> RegionImage:
    """Copy the derivative to ``region`` (idempotent token), wait, share; never raises."""
    previous = ctx.state.scrub_images.get(region)
    ec2 = ctx.aws.ec2(region)
    name = str((ctx.state.scrub or {}).get("image_name"))
    try:
        if previous is not None and previous.image_id and previous.error is None:
            image = previous
        else:
            token = _copy_token(ctx, region, previous)
            if previous is not None and previous.image_id and not _drop_failed(ctx, previous):
                return previous
            image = RegionImage(
                region, state=REQUESTED, architecture=source.architecture, client_token=token
            )
            _record_derivative(ctx, image)
            params: dict[str, Any] = {
                "SourceImageId": source.image_id,
                "SourceRegion": source.region,
                "Name": name,
                "Description": f"{ctx.request.description} (scrubbed for sharing)"[:255],
                "ClientToken": image.client_token,
                "TagSpecifications": [
                    {
                        "ResourceType": kind,
                        "Tags": tag_list(_derivative_tags(ctx, _team_id(ctx))),
                    }
                    for kind in ("image", "snapshot")
                ],
            }
            if any(volume.get("Encrypted") for volume in ctx.volumes()):
                params["Encrypted"] = True
                if region in ctx.settings.kms_keys:
                    params["KmsKeyId"] = ctx.settings.kms_keys[region]
            image.image_id = str(ec2.copy_image(**params)["ImageId"])
            image.state = PENDING
            _record_derivative(ctx, image)
        image = _wait_available(ctx, image)
        if image.ok:
            _publish(ctx, image)
            ctx.progress.line("ok", f"Scrubbed image copied to {region}: {image.image_id}")
    except Exception as exc:
        image = ctx.state.scrub_images.get(region) or RegionImage(region)
        image.error = error_message(exc)
        _record_derivative(ctx, image)
    return image


def _copy_token(ctx: SaveContext, region: str, previous: RegionImage | None) -> str:
    """CopyImage's idempotency token: the same again when the answer to the last request
    was never recorded (EC2 returns that copy), a new one after a failed attempt."""
    if previous is None or not previous.client_token:
        return f"{ctx.state.save_id}-scrub-{region}-1"
    if previous.image_id is None and previous.error is None:
        return previous.client_token
    attempt = int(previous.client_token.rsplit("-", 1)[-1]) + 1
    return f"{ctx.state.save_id}-scrub-{region}-{attempt}"


def abort(ctx: SaveContext) -> tuple[list[str], list[str]]:
    """``--abort``: the helper and its group, then every derivative image and its
    snapshots (each proven this save's by its tags). Returns (removed, problems)."""
    removed: list[str] = []
    problems: list[str] = []
    scrub = ctx.state.scrub
    if scrub:
        region = str(scrub.get("region") or ctx.source_region)
        before = {str(r["InstanceId"]) for r in _safe_helpers(ctx, region, problems)}
        if scrub.get("helper_id"):
            before.add(str(scrub["helper_id"]))
        helper_problems = finish_helper(ctx)
        problems.extend(helper_problems)
        if not helper_problems:
            removed.extend(f"{region}:{i}" for i in sorted(before))
    for region, image in ctx.state.scrub_images.items():
        try:
            gone = remove_derivative(ctx, image)
        except Exception as exc:
            problems.append(f"{region}: could not remove scrubbed image: {error_message(exc)}")
            continue
        if gone is None:
            problems.append(f"{region}: {image.image_id} is not tagged as made by this save; kept")
        else:
            removed.extend(f"{region}:{rid}" for rid in gone)
    return removed, problems


def remove_derivative(ctx: SaveContext, image: RegionImage) -> list[str] | None:
    """Deregister one region's derivative and delete its snapshots once its tags prove
    this save made it: the ids removed, or ``None`` (not this save's: kept). A derivative
    requested whose id was never recorded is looked up by its name."""
    from prism_core.aws.ec2 import find_saved_image

    ec2 = ctx.aws.ec2(image.region)
    name = str((ctx.state.scrub or {}).get("image_name") or derivative_name(ctx.state.image_name))
    image_id = image.image_id
    if not image_id:
        found = find_saved_image(ec2, name, ctx.state.save_id)
        if found is None:
            return []
        image_id = str(found["ImageId"])
    data = describe_image(ec2, image_id)
    if data is None or data.get("State") == "deregistered":
        return []
    if not made_by_save(data, ctx.state.save_id, name):
        return None
    return discard_image(
        ec2,
        data,
        image_id,
        snapshot_timeout=ctx.wait_schedule.limits["snapshots"],
        poll=ctx.wait_schedule.poll,
    )


def _drop_failed(ctx: SaveContext, image: RegionImage) -> bool:
    """Remove a failed derivative so the next attempt can take its name; whether it is
    gone (a derivative not this save's is kept and recorded as a failure)."""
    if remove_derivative(ctx, image) is None:
        ctx.record_failure(f"{image.image_id} in {image.region} is not this save's; kept")
        return False
    with ctx.journal.lock:
        ctx.state.scrub_images.pop(image.region, None)
    ctx.journal.write()
    return True


def _safe_helpers(ctx: SaveContext, region: str, problems: list[str]) -> list[dict[str, Any]]:
    try:
        return find_helpers(ctx, region)
    except Exception as exc:
        problems.append(f"could not look for scrub helpers in {region}: {error_message(exc)}")
        return []
