"""Built-in ``prism_pre_stop``: look inside the instance before its image is taken.

Runs prism's read-only inspection through SSM Run Command (before any downtime or
CreateImage), keeps the report for the plan, the registry and the template, and
refuses (before anything changes) to share an image beyond the account when it holds
secrets, or when the instance cannot be inspected, unless the user chose a way forward:
``--allow-secrets`` (share it as it is) or ``--no-inspect`` (skip the look; the plan
prints what to remove by hand). A private save goes on, the findings shown as a warning.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prism_core import plugin_api as api

if TYPE_CHECKING:
    from prism_core.plugin_api import SaveContext

DATA_KEY = "inspection"


def shares_beyond_account(ctx: SaveContext) -> bool:
    """``--public``, any ``--share-with`` (an account, an organization or an OU) or
    ``--copy-to-accounts`` (a copy another account owns)."""
    request = ctx.request
    return bool(request.public or request.share_with or request.copy_to_accounts)


def _policy(ctx: SaveContext) -> str:
    """``allow-secrets``, ``no-inspect`` or '' (``ctx.request.secrets_policy``)."""
    return str(getattr(ctx.request, "secrets_policy", "") or "")


@api.hookimpl
def prism_pre_stop(ctx: SaveContext) -> list[str]:
    from prism_core import toolkit

    if ctx.resuming and ctx.state.images:
        return []  # the image is taken: what it holds was decided when the save began
    policy = _policy(ctx)
    if policy == "scrub":
        _check_scrub(ctx)
    if policy == "no-inspect":
        report = toolkit.InspectionReport.not_inspected()
    else:
        with ctx.progress.waiting(f"Inspecting {ctx.request.instance_name} (Run Command)") as tick:
            report = toolkit.inspect_instance(
                ctx.aws,
                ctx.source_region,
                ctx.request.instance_id,
                poll=min(ctx.settings.poll_delay, 2.0),
                on_tick=tick,
            )
    ctx.plugin_data[DATA_KEY] = report
    ctx.state.inspection = report.to_dict()
    if not shares_beyond_account(ctx):
        return []
    if policy == "no-inspect":
        return [
            "not inspected (--no-inspect); before sharing, remove by hand: "
            + "; ".join(toolkit.INSPECTION_CHECKLIST)
        ]
    if not report.available:
        raise api.InputError(
            f"the image would leave the account but {ctx.request.instance_name} cannot be "
            f"inspected ({report.reason}); nothing was changed",
            "make it a managed node of Systems Manager and save again, or add --no-inspect "
            "and remove secrets by hand (prism prints the checklist)",
        )
    if report.findings and policy not in ("allow-secrets", "scrub"):
        _show_findings(ctx, report)
        raise api.InputError(
            f"the image would leave the account with {len(report.findings)} secret(s) in it "
            "(listed above); nothing was changed",
            "add --scrub to share a scrubbed derivative (the team image keeps them, "
            "private), remove them on the instance and save again, or add --allow-secrets "
            "to share it as it is (after a confirmation naming them)",
        )
    return []


#: The SBOM kept beside the journal from the image on, until the save ends.
SBOM_ATTACHMENT = "inventory.cdx"


@api.hookimpl(wrapper=True)
def prism_image(ctx: SaveContext) -> Any:
    """Before the image is requested (the save is confirmed and journaled, its version
    claimed): keep the inventory beside the journal, so a save killed before
    ``prism_register`` stores the very inventory of the instance that was imaged when
    it is resumed (the instance may have changed since).

    A detached save (``ctx.detached``): the save engine runs the later phases without
    plugins, so the SBOM is stored here, once the image is requested and before the
    hand-over; the execution's template document carries ``ctx.state.inventory``."""
    from prism_core import toolkit

    report = ctx.plugin_data.get(DATA_KEY)
    if report is not None and report.available and ctx.attached(SBOM_ATTACHMENT) is None:
        version = int(ctx.state.template_version or 1)
        sbom = toolkit.to_cyclonedx(report, ctx.request.template_name, version)
        if not ctx.attach(SBOM_ATTACHMENT, sbom):
            ctx.progress.line("warn", "The inventory could not be kept beside the journal; "
                              "a resumed save would lack it")
    image = yield
    if ctx.detached:
        store_inventory(ctx)
    return image


def _inventory_sbom(ctx: SaveContext) -> tuple[Any, str] | str:
    """``(report, SBOM)`` to store, or why there is none."""
    from prism_core import toolkit

    request = ctx.request
    version = int(ctx.state.template_version or 1)
    report = ctx.plugin_data.get(DATA_KEY)
    if report is not None:
        if not report.available:
            return str(report.reason)
        kept = ctx.attached(SBOM_ATTACHMENT)
        return report, kept or toolkit.to_cyclonedx(report, request.template_name, version)
    kept = ctx.attached(SBOM_ATTACHMENT)
    if kept is not None:  # a resumed save: the inventory taken before the image
        try:
            return toolkit.from_cyclonedx(kept), kept
        except api.OperationFailed:
            pass
    inspected = toolkit.InspectionReport.from_dict(ctx.state.inspection)
    if inspected is not None and not inspected.available:
        return str(inspected.reason)
    return "the save was resumed after the inspection; its package list was not kept"


@api.hookimpl(tryfirst=True)
def prism_register(ctx: SaveContext) -> list[str] | None:
    """Store the version's SBOM before the registry entry that references it is written."""
    store_inventory(ctx)
    return None


def store_inventory(ctx: SaveContext) -> None:
    """Store the version's SBOM once (``ctx.state.inventory`` records where, or why not).

    The object's location is journaled (``pending``) before it is uploaded, so
    ``--abort`` removes an upload that a kill cut off from its reference (the object's
    tags prove it is this save's), and ``--resume`` uploads it again."""
    from prism_core import toolkit

    inventory = ctx.state.inventory
    if inventory is not None and not inventory.get("pending"):
        return  # stored (or given up) already: a resumed or detached save
    found = _inventory_sbom(ctx)
    if isinstance(found, str):
        ctx.record(inventory={"available": False, "reason": found})
        return
    report, sbom = found
    request = ctx.request
    version = int(ctx.state.template_version or 1)
    location: dict[str, str] = {}
    try:
        store = toolkit.InventoryStore(ctx.aws, ctx.source_region)
        location = store.location(request.template_name, version)
        ctx.record(inventory={"pending": True, **location})
        ref = store.put(request.template_name, version, ctx.state.save_id, sbom)
    except Exception as exc:  # noqa: BLE001 - the image and template matter more
        reason = f"the inventory could not be stored: {api.error_message(exc)}"
        # where it may have gone: --abort removes it (if its tags say it is this save's)
        attempted = {"attempted": location["sbom"]} if location else {}
        ctx.record(inventory={"available": False, "reason": reason, **attempted})
        ctx.summary_note(reason)
        return
    summary = report.summary()
    ctx.record(
        inventory={
            **ref,
            "complete": summary["complete"],
            "packages": summary["packages"],
            "secrets": summary["findings"],
        }
    )
    ctx.summary_note(f"Inventory: {sum(summary['packages'].values())} packages in {ref['sbom']}")


@api.hookimpl(wrapper=True)
def prism_template_render(ctx: SaveContext) -> Any:
    """Add ``inventory`` (the SBOM's reference and the counts) to the template."""
    document = yield
    if isinstance(document, dict) and ctx.state.inventory is not None:
        document["inventory"] = dict(ctx.state.inventory)
    return document


def _check_scrub(ctx: SaveContext) -> None:
    """``--scrub`` needs a share beyond the account that it can make: ``--public`` or
    ``--share-with`` (``--copy-to-accounts`` copies the team image itself)."""
    request = ctx.request
    if request.copy_to_accounts:
        raise api.InputError(
            "--scrub shares a scrubbed derivative, but --copy-to-accounts copies the team "
            "image itself into other accounts; nothing was changed",
            "share the derivative with those accounts through --share-with ACCOUNT instead",
        )
    if not (request.public or request.share_with):
        raise api.InputError(
            "--scrub makes the image that is shared beyond this account, but this save "
            "shares nothing (nothing to scrub for); nothing was changed",
            "add --public or --share-with, or save without --scrub (a private image keeps "
            "everything)",
        )


def _show_findings(ctx: SaveContext, report: Any) -> None:
    ctx.progress.line("warn", f"Secrets found on {ctx.request.instance_name}:")
    for line in report.plan_lines()[1:]:
        ctx.progress.line("", line.strip() if not line.startswith("      ") else line, indent=3)
