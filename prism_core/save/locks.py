"""One save per instance, and one save per template version, under real concurrency.

Both are conditional writes in SSM Parameter Store (``PutParameter`` with
``Overwrite=False``, which exactly one caller wins); the parameter names belong to
:mod:`prism_core.templates.registry`.

- The save lock, ``<prefix>locks/<instance-id>`` in the instance's region, is taken
  before anything changes and released when the run ends. A lock left behind by a
  save whose journal (same host, same PRISM_HOME) is gone (finished) or says
  ``aborted``, and whose watchdog is not alive, is stale and cleared automatically;
  any other holder refuses the save,
  naming that save, its host and how to clear the lock.
- The template version ``N`` is claimed in every region of the save
  (``versions/<N>``); a conflict releases what was claimed and tries ``N+1``. The
  source region's claim is required; a copy region whose registry cannot be written
  is skipped here (its registry write fails later and is reported).
"""

from __future__ import annotations

import os
import re
import socket
from typing import Any

from prism_core.aws.clients import AwsClients, error_code, error_message
from prism_core.exceptions import InputError
from prism_core.save.context import SaveContext
from prism_core.settings import Settings
from prism_core.templates import registry

#: Give up claiming after this many taken version numbers in a row.
MAX_VERSION_ATTEMPTS = 50
_SAVE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")


def _holder(ctx: SaveContext) -> dict[str, Any]:
    state = ctx.state
    return {
        "save_id": state.save_id,
        "host": socket.gethostname()[:255],
        "home": str(ctx.settings.home)[:1024],
        "pid": os.getpid(),
        "started_at": state.started_at,
        "template": ctx.request.template_name,
    }


def holder(
    aws: AwsClients, settings: Settings, region: str, instance_id: str
) -> dict[str, Any] | None:
    """Who holds the save lock of ``instance_id`` (``None``: nobody)."""
    ssm = aws.client("ssm", region)
    try:
        return registry.read_claim(ssm, registry.lock_name(settings.registry_prefix, instance_id))
    except Exception as exc:
        if error_code(exc) in ("AccessDeniedException", "AccessDenied"):
            raise InputError(
                f"cannot read the save lock of {instance_id} in {region} ({error_code(exc)})",
                "prism needs ssm:GetParameter and ssm:PutParameter under the registry prefix",
            ) from None
        raise


def stale(lock: dict[str, Any], settings: Settings) -> bool:
    """Whether ``lock`` was left by a save of this machine and PRISM_HOME that is over:
    its journal is gone (the save finished) or says ``aborted``, and no watchdog of
    that save still holds the restart duty of its instance (a journal removed by hand
    while the instance was down proves nothing)."""
    from prism_core.save import watchdog_lease

    save_id = str(lock.get("save_id", ""))
    if lock.get("host") != socket.gethostname() or lock.get("home") != str(settings.home):
        return False
    if not _SAVE_ID.match(save_id):
        return False
    if watchdog_lease.holder(settings.journal_dir, save_id) is not None:
        return False
    path = settings.journal_dir / f"{save_id}.json"
    if not path.exists():
        return True
    from prism_core.save.journal import Journal

    try:
        return Journal.load(path).state.status == "aborted"
    except InputError:
        return False


def refusal(
    name: str, lock: dict[str, Any], settings: Settings, region: str, instance_id: str
) -> InputError:
    """The one-line refusal of a second save of the same instance."""
    since = f" since {lock['started_at']}" if lock.get("started_at") else ""
    return InputError(
        f"instance {name} is being saved already: save {lock.get('save_id', '?')} on host "
        f"{lock.get('host', '?')}{since}",
        "wait for it, or finish it on that host with `prism save --resume` (or undo it with "
        "--abort); if that save is gone for good, clear the lock with `aws ssm "
        f"delete-parameter --region {region} --name "
        f"{registry.lock_name(settings.registry_prefix, instance_id)}`",
    )


def acquire(ctx: SaveContext) -> None:
    """Take the save lock for ``ctx`` (re-entrant for ``--resume`` of the same save)."""
    region, instance_id = ctx.source_region, ctx.request.instance_id
    name = registry.lock_name(ctx.settings.registry_prefix, instance_id)
    ssm = ctx.aws.client("ssm", region)
    description = f"prism save lock of {instance_id}"
    for _ in range(2):
        try:
            current = registry.claim(ssm, name, _holder(ctx), description)
        except Exception as exc:
            raise InputError(
                f"could not take the save lock {name} in {region} ({error_message(exc)}); "
                "nothing was changed",
                "prism needs ssm:PutParameter and ssm:GetParameter under the registry prefix",
            ) from None
        if current is None or current.get("save_id") == ctx.state.save_id:
            ctx.record(lock=f"{region}:{name}")
            return
        if not stale(current, ctx.settings):
            raise refusal(ctx.request.instance_name, current, ctx.settings, region, instance_id)
        registry.release_claim(ssm, name, str(current.get("save_id")))
    raise refusal(ctx.request.instance_name, current, ctx.settings, region, instance_id)


def release(ctx: SaveContext) -> None:
    """Release the save lock if this save holds it; a failure is a warning."""
    if not ctx.state.lock:
        return
    region, _, name = ctx.state.lock.partition(":")
    try:
        registry.release_claim(ctx.aws.client("ssm", region), name, ctx.state.save_id)
    except Exception as exc:
        ctx.progress.line("warn", f"Could not release the save lock {name}: {error_message(exc)}")
        return
    ctx.record(lock=None)


def claim_version(ctx: SaveContext) -> None:
    """Claim the template version in every region of the save (once per save).

    On a conflict the claims made are released and the next number is tried; the
    image name and the version in the state follow the number won.
    """
    state = ctx.state
    if state.claims or state.template_version is None or ctx.source_image() is not None:
        return
    prefix, template = ctx.settings.registry_prefix, ctx.request.template_name
    regions = [ctx.source_region, *ctx.request.copy_to_regions]
    version = state.template_version
    info = {**_holder(ctx), "claimed": True}
    for _ in range(MAX_VERSION_ATTEMPTS):
        if version > registry.MAX_VERSION:
            break
        name = registry.version_name(prefix, template, version)
        won: list[str] = []
        lost = False
        for region in regions:
            ssm = ctx.aws.client("ssm", region)
            try:
                current = registry.claim(ssm, name, info, f"prism template {template}")
            except Exception as exc:
                if region == ctx.source_region:
                    raise
                # that region's registry write fails later and is reported (partial save)
                ctx.progress.line(
                    "warn", f"Could not claim version {version} in {region}: {error_message(exc)}"
                )
                continue
            if current is not None and current.get("save_id") != state.save_id:
                lost = True
                break
            won.append(f"{region}:{name}")
        if not lost:
            if version != state.template_version:
                stamp = state.image_name.rpartition("-")[2]
                ctx.record(
                    template_version=version, image_name=f"prism-{template}-v{version}-{stamp}"
                )
                ctx.progress.line(
                    "info", f"Version {version} of {template} (another save took the one before)"
                )
            ctx.record(claims=won)
            return
        for entry in won:
            region, _, key = entry.partition(":")
            registry.release_claim(ctx.aws.client("ssm", region), key, state.save_id)
        version += 1
    raise InputError(
        f"could not claim a version of template {template}: every number from "
        f"{state.template_version} to {min(version, registry.MAX_VERSION)} was taken "
        f"(versions go up to {registry.MAX_VERSION:,})",
        "try again in a moment; if the registry holds entries nobody saved, remove them",
    )


def release_claims(ctx: SaveContext) -> None:
    """Delete what is left of this save's version claims: the registry replaces a claim
    with the template document, so only regions never registered still hold one (a
    failed copy, a save that ended without a template). Failures are warnings.

    A claim whose entry this save registered (``state.registry`` lists it) was
    replaced by the template document: it is dropped without a call."""
    remaining: list[str] = []
    registered = set(ctx.state.registry)
    for entry in ctx.state.claims:
        if entry in registered:
            continue
        region, _, name = entry.partition(":")
        try:
            registry.release_claim(ctx.aws.client("ssm", region), name, ctx.state.save_id)
        except Exception as exc:
            remaining.append(entry)
            ctx.progress.line("warn", f"Could not release {entry}: {error_message(exc)}")
    ctx.record(claims=remaining)
