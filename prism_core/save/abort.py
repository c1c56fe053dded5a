"""``prism save --abort``: undo what a half-done save created, in every region."""

from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

from prism_core.aws.clients import error_message
from prism_core.aws.ec2 import describe_image, discard_image, find_saved_image
from prism_core.save.context import SaveContext
from prism_core.save.guard import InstanceGuard
from prism_core.save.pipeline import release_lock
from prism_core.templates.registry import delete_entries, parameter_base, versions


def abort_save(ctx: SaveContext) -> tuple[list[str], list[str]]:
    """Bring the instance back, then remove the save's images, snapshots, registry
    entries and template file. Returns (removed, problems); the journal is removed
    only when nothing is left behind."""
    removed: list[str] = []
    problems: list[str] = []
    guard = InstanceGuard(ctx)
    guard.restart_after_failure()
    problems.extend(ctx.state.failures[-1:] if guard.start_error else [])
    for region, image in ctx.state.images.items():
        ec2 = ctx.aws.ec2(region)
        if not image.image_id:  # requested, id never recorded: find it by name
            found = find_saved_image(ec2, ctx.state.image_name, ctx.state.save_id)
            if found is None:
                continue
            image.image_id = str(found["ImageId"])
        try:
            removed.extend(
                f"{region}:{rid}"
                for rid in discard_image(ec2, describe_image(ec2, image.image_id), image.image_id)
            )
        except Exception as exc:
            problems.append(f"{region}: could not remove {image.image_id}: {error_message(exc)}")
    by_region: dict[str, list[str]] = defaultdict(list)
    for entry in ctx.state.registry:
        region, _, name = entry.partition(":")
        by_region[region].append(name)
    for region, names in by_region.items():
        ssm = ctx.aws.client("ssm", region)
        try:
            deleted = delete_entries(ssm, names)
            removed.extend(f"{region}:{name}" for name in deleted)
            _repoint_registry(ctx, ssm, region)
        except Exception as exc:
            problems.append(f"{region}: could not remove registry entries: {error_message(exc)}")
    if ctx.state.template_path:
        try:
            removed.append(_restore_local(ctx, Path(ctx.state.template_path)))
        except OSError as exc:
            problems.append(f"could not remove {ctx.state.template_path}: {exc.strerror}")
    release_lock(ctx)
    if problems:
        ctx.record(status="aborted", failures=problems)
    else:
        ctx.journal.finish()
    return removed, problems


def _repoint_registry(ctx: SaveContext, ssm: Any, region: str) -> None:
    """Point the current registry entries back at the newest version that remains."""
    name, prefix = ctx.request.template_name, ctx.settings.registry_prefix
    remaining = versions(ssm, prefix, name)
    if not remaining:
        return
    doc = remaining[max(remaining)]
    base = parameter_base(prefix, name)
    current = {f"{base}/template": json.dumps(doc, sort_keys=True)}
    for arch, ami in doc.get("ami_config", {}).get("amis", {}).get(region, {}).items():
        current[f"{base}/ami/{arch}"] = ami
    for key, value in current.items():
        ssm.put_parameter(Name=key, Value=value, Type="String", Overwrite=True)


def _restore_local(ctx: SaveContext, path: Path) -> str:
    """Remove this save's template file; the archived previous version becomes current."""
    path.unlink(missing_ok=True)
    from prism_core.templates import archive

    older = archive.versions(ctx.settings.templates_dir, ctx.request.template_name)
    if older:
        os.replace(older[max(older)], path)
    return str(path)
