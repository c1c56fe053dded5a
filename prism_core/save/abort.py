"""``prism save --abort``: undo what a half-done save created, in every region.

Nothing is removed on the journal's word alone. The journal is local, untrusted input:
an image is removed only if its own tags show this save made it; a registry entry only
if it lies under this template's path and still holds this save's version (a newer
save's current entries are left as they are); a file only if it is this template's
file under ``$PRISM_HOME/templates`` and records this save.

The first thing an abort does is journal ``aborting``: an abort cut short by Ctrl-C,
SIGTERM or ``kill -9`` is finished by running ``--abort`` again, never resumed as a save.
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path
from typing import Any

from prism_core.aws.clients import error_message
from prism_core.aws.tags import locked_by
from prism_core.exceptions import InputError
from prism_core.save import locks
from prism_core.save.context import SaveContext
from prism_core.save.guard import InstanceGuard
from prism_core.save.images import discard_own_image
from prism_core.save.journal import this_process
from prism_core.save.pipeline import release_lock, terminate_boot_instances
from prism_core.save.restart import recover_image_id
from prism_core.templates import archive
from prism_core.templates.document import load_file, template_path
from prism_core.templates.registry import (
    MAX_VERSION,
    classify,
    current_parameter,
    delete_entries,
    entry_version,
    parameter_base,
    parse_entry,
    versions,
    write_current,
)
from prism_core.validation import printable, region_name, template_name

ABORTING = "aborting"


def check_journal(ctx: SaveContext) -> None:
    """Refuse a journal that names anything this save could not have written."""
    source = f"journal {ctx.journal.path}"
    try:
        name = template_name(str(ctx.request.template_name))
        region_name(str(ctx.request.region))
    except InputError as exc:
        raise InputError(f"{source}: {exc}", "abort refused; check the journal") from None
    number = ctx.state.template_version
    if number is not None and (
        isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= MAX_VERSION
    ):
        raise InputError(
            f"{source}: its template version {printable(repr(number), 40)} is not a number "
            f"from 1 to {MAX_VERSION}",
            "abort refused; check the journal",
        )
    if ctx.state.template_path:
        expected = template_path(ctx.settings.templates_dir, name)
        # a newer concurrent save kept the current file: this save's went to the archive
        number = ctx.state.template_version or 0
        archived = archive.root(ctx.settings.templates_dir) / name / f"{number}.yaml"
        named = os.path.abspath(Path(str(ctx.state.template_path)))
        if named not in (os.path.abspath(expected), os.path.abspath(archived)):
            raise InputError(
                f"{source} names {printable(repr(ctx.state.template_path), 200)}, which is "
                "not this save's "
                f"template file {expected}",
                "abort refused: prism deletes only files it wrote under $PRISM_HOME/templates "
                "(or its archive)",
            )
    base = parameter_base(ctx.settings.registry_prefix, name) + "/"
    current = current_parameter(ctx.settings.registry_prefix, name)
    for entry in ctx.state.registry:
        region, _, key = entry.partition(":")
        if (not key.startswith(base) and key != current) or "/../" in key:
            raise InputError(
                f"{source} names registry entry {key!r} outside {base}",
                "abort refused: prism deletes only this template's registry entries",
            )
        region_name(region)
    for region in [*ctx.state.images, *ctx.state.scrub_images]:
        region_name(region)


def abort_save(ctx: SaveContext) -> tuple[list[str], list[str]]:
    """Bring the instance back, then remove the save's images, snapshots, registry
    entries and template file. Returns (removed, problems); the journal is removed
    only when nothing is left behind."""
    check_journal(ctx)
    removed: list[str] = []
    problems: list[str] = []
    ctx.record(status=ABORTING, **this_process())
    if ctx.instance.state != "missing":
        guard = InstanceGuard(ctx)
        guard.restart_after_failure()
        problems.extend(ctx.state.failures[-1:] if guard.start_error else [])
    gone, failed = terminate_boot_instances(ctx)
    removed.extend(gone)
    problems.extend(failed)
    from prism_core.save.account_copies import remove_account_copies
    from prism_core.save.fast_restore import disable_for_abort

    disabled, failed_fast = disable_for_abort(ctx)  # before the snapshots go: it bills
    removed.extend(disabled)
    problems.extend(failed_fast)
    from prism_core.save import scrub

    scrubbed, failed_scrub = scrub.abort(ctx)  # the helper first: it must not run on
    removed.extend(scrubbed)
    problems.extend(failed_scrub)
    elsewhere, failed_elsewhere = remove_account_copies(ctx)
    removed.extend(elsewhere)
    problems.extend(failed_elsewhere)
    for region, image in ctx.state.images.items():
        removed_here, problem = _remove_image(ctx, region, image)
        removed.extend(removed_here)
        if problem:
            problems.append(problem)
    _remove_registry(ctx, removed, problems)
    _remove_inventory(ctx, removed, problems)
    _follow_image_parameters(ctx, removed, problems)
    if ctx.state.template_path or ctx.state.phases_done:
        try:
            removed.extend(_restore_local(ctx))
        except (OSError, InputError) as exc:
            problems.append(f"local template file: {getattr(exc, 'strerror', None) or exc}")
    locks.release_claims(ctx)
    if locked_by(ctx.instance.tags, ctx.state.save_id):
        release_lock(ctx)
    else:
        locks.release(ctx)  # the SSM lock, only if this save holds it
    if problems:
        ctx.record(status="aborted", failures=problems, pid=None, pid_started=None)
    else:
        ctx.journal.finish()
    return removed, problems


def _remove_image(ctx: SaveContext, region: str, image: Any) -> tuple[list[str], str | None]:
    """Remove one region's image if the cloud shows this save made it."""
    ec2 = ctx.aws.ec2(region)
    try:
        if not image.image_id:  # requested, id never recorded: find it by name
            found = recover_image_id(ec2, ctx.state.image_name, ctx.state.save_id)
            if found is None:
                return [], None
            image.image_id = found
        removed = discard_own_image(ctx, region, image.image_id)
        if removed is None:
            return [], (
                f"{region}: {image.image_id} is not tagged as made by save "
                f"{ctx.state.save_id}; kept"
            )
    except Exception as exc:
        return [], f"{region}: could not remove {image.image_id}: {error_message(exc)}"
    return [f"{region}:{rid}" for rid in removed], None


def _ours(doc: dict[str, Any], ctx: SaveContext) -> bool:
    """Whether a template document records this save (by save id, else by version)."""
    if doc.get("save_id"):
        return bool(doc["save_id"] == ctx.state.save_id)
    return entry_version(doc) == ctx.state.template_version


def _follow_image_parameters(ctx: SaveContext, removed: list[str], problems: list[str]) -> None:
    """The AMI parameters (``<prefix>images/<name>/...``) of the save's regions follow what
    is left: this version's number goes, ``latest`` moves back."""
    from prism_core.templates.image_parameters import sync

    regions = {e.partition(":")[0] for e in ctx.state.registry} | set(ctx.state.images)
    if not regions:
        return
    synced = sync(ctx.aws, ctx.settings.registry_prefix, ctx.request.template_name, sorted(regions))
    removed.extend(synced.deleted)
    problems.extend(synced.failures)


def _remove_registry(ctx: SaveContext, removed: list[str], problems: list[str]) -> None:
    """Delete this save's registry entries; a newer save's current entries stay."""
    name, prefix = ctx.request.template_name, ctx.settings.registry_prefix
    base = parameter_base(prefix, name)
    by_region: dict[str, list[str]] = defaultdict(list)
    for entry in ctx.state.registry:
        region, _, key = entry.partition(":")
        by_region[region].append(key)
    for region, keys in by_region.items():
        ssm = ctx.aws.client("ssm", region)
        image = ctx.state.images.get(region)
        try:
            current = _current_values(ssm, keys)
            doomed: list[str] = []
            repoint = False
            for key, value in current.items():
                kind, number = classify(prefix, name, key)
                if kind == "current":
                    try:
                        mine = _ours(parse_entry(value, key, name), ctx)
                    except InputError:
                        mine = False
                    repoint = repoint or mine
                elif key.startswith(f"{base}/ami/"):
                    mine = image is not None and value == image.image_id
                else:
                    try:
                        mine = number == ctx.state.template_version and _ours(
                            parse_entry(value, key, name, number), ctx
                        )
                    except InputError:
                        mine = False
                if mine:
                    doomed.append(key)
                else:
                    ctx.progress.line("info", f"Kept {region}:{key}: it is not this save's")
            deleted = delete_entries(ssm, doomed) if doomed else []
            removed.extend(f"{region}:{key}" for key in deleted)
            if repoint:
                _repoint_registry(ctx, ssm, region)
        except Exception as exc:
            problems.append(f"{region}: could not remove registry entries: {error_message(exc)}")


def _remove_inventory(ctx: SaveContext, removed: list[str], problems: list[str]) -> None:
    """Delete this save's SBOM, if its own tags name this save: the one the version
    references, or one whose upload was journaled (``pending``, or ``attempted`` when
    the upload failed) and may have reached the store before a kill or an error."""
    from prism_core.inspection.store import remove_saved

    gone, kept = remove_saved(ctx.aws, ctx.state.inventory, ctx.state.save_id,
                              ctx.source_region)
    removed.extend(gone)
    problems.extend(kept)


def _current_values(ssm: Any, keys: list[str]) -> dict[str, str]:
    """The present values of ``keys`` (missing ones left out)."""
    values: dict[str, str] = {}
    for start in range(0, len(keys), 10):
        answer = ssm.get_parameters(Names=keys[start : start + 10])
        for parameter in answer.get("Parameters", []):
            values[parameter["Name"]] = parameter["Value"]
    return values


def _repoint_registry(ctx: SaveContext, ssm: Any, region: str) -> None:
    """Point the current registry entry back at the newest version that remains."""
    name, prefix = ctx.request.template_name, ctx.settings.registry_prefix
    remaining = versions(ssm, prefix, name)
    remaining.pop(ctx.state.template_version or 0, None)
    if remaining:
        write_current(ssm, prefix, remaining[max(remaining)])


def _restore_local(ctx: SaveContext) -> list[str]:
    """Remove this save's template file (current or archived), never another save's.

    If the current file is this save's, the newest archived older version (in
    ``$PRISM_HOME/archive/<name>/``) becomes current again; if a newer save wrote the
    current file, it stays, and only this save's archived copy goes.
    """
    name = ctx.request.template_name
    path = template_path(ctx.settings.templates_dir, name)
    older = archive.versions(ctx.settings.templates_dir, name)
    removed: list[str] = []
    if path.is_file() and not path.is_symlink() and _ours(load_file(path), ctx):
        path.unlink()
        removed.append(str(path))
        if older:
            os.replace(older[max(older)], path)
        return removed
    mine = older.get(ctx.state.template_version or 0)
    if mine is not None and not mine.is_symlink() and _ours(load_file(mine), ctx):
        mine.unlink()
        removed.append(str(mine))
    return removed
