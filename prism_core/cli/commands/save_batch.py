"""``prism save --batch FILE.yaml``: plan every save, confirm once, run a few at a time,
end with a summary table (the batch file and the runner are in :mod:`prism_core.save.batch`)."""

from __future__ import annotations

import sys
from typing import Any

from prism_core.cli.aws_options import aws_clients
from prism_core.cli.output import emit
from prism_core.cli.progress import LabelledProgress, Progress
from prism_core.cli.prompts import confirm, stdin_is_terminal
from prism_core.exceptions import EXIT_FAILURE, EXIT_OK, InputError
from prism_core.save.context import SaveContext
from prism_core.save.pipeline import SaveOutcome, execute, plan_save, preflight
from prism_core.save.plan import estimate_storage, plan_lines, show_plan, will_stop


def batch_summary(rows: list[dict[str, Any]]) -> str:
    """The closing table of ``--batch``: one row per save."""
    width = max([len(r["template"]) for r in rows] + [8])
    lines = [f"{'TEMPLATE':<{width}}  {'STATUS':<8}  {'VERSION':<7}  DETAIL"]
    for row in rows:
        detail = row["detail"].splitlines()[0] if row["detail"] else ""
        lines.append(
            f"{row['template']:<{width}}  {row['status']:<8}  {str(row['version'] or '-'):<7}  "
            f"{detail[:100]}"
        )
    done = sum(1 for r in rows if r["status"] == "done")
    lines.append(f"{done} of {len(rows)} save(s) done.")
    if any(r["journal"] for r in rows):
        lines.append("Retry what failed with: prism save --resume")
    return "\n".join(lines)


def run_batch(app: Any) -> int:
    """``prism save --batch FILE.yaml``: plan every save, confirm once, run a few at a time."""
    from pathlib import Path

    from prism_core.exceptions import EXIT_PARTIAL, PrismError
    from prism_core.save import batch
    from prism_core.save import options as save_options

    pargs, settings = app.pargs, app.settings
    path = Path(pargs.batch)
    plugin_options = {o.dest: o for o in getattr(app, "save_options", []) if not o.positional}
    rows = save_options.table(plugin_options.values())
    flags = save_options.save_values(pargs, rows)  # batch-wide: every entry, unless it says
    entries = batch.load(path, plugin_options, flags, settings.default_copy_regions)
    if not pargs.yes and not pargs.dry_run and not stdin_is_terminal():
        raise InputError("confirmation needed but stdin is not a terminal", "add --yes")
    shared = Progress(sys.stderr, live=False)
    hooks = app.plugin_manager
    contexts: list[SaveContext] = []
    for index, (options, region) in enumerate(entries, 1):
        try:
            aws = aws_clients(app, region)
            progress = LabelledProgress(shared, options.template)
            ctx = plan_save(options, settings, aws, progress)
            preflight(ctx, hooks)
        except PrismError as exc:
            refused = InputError(f"{path}: entry {index} ({options.template}): {exc}")
            refused.exit_code = exc.exit_code
            raise refused from None
        contexts.append(ctx)
    plans = []
    for ctx in contexts:
        estimate = estimate_storage(ctx, hooks.snapshot_prices(ctx))
        plans.append(
            {
                "template": ctx.request.template_name,
                "instance": ctx.request.instance_name,
                "version": ctx.state.template_version,
                "plan": plan_lines(ctx, will_stop(ctx), estimate),
                "image_mode": ctx.request.image_mode,
                "will_stop": will_stop(ctx),
                "request": ctx.request.to_dict(),
            }
        )
        if not pargs.dry_run:
            show_plan(ctx, ctx.progress, estimate)
    concurrency = min(settings.batch_concurrency, len(contexts))
    if pargs.dry_run:
        text = [f"Dry run: every check passed for {len(contexts)} save(s), nothing was changed."]
        for item in plans:
            text += ["", f"{item['template']} (from {item['instance']}):"]
            text += [f"   {line}" for line in item["plan"]]
        emit({"dry_run": True, "exit_code": 0, "saves": plans}, pargs.output, "\n".join(text))
        return 0
    confirm(f"Save {len(contexts)} instance(s), {concurrency} at a time?", pargs.yes)
    public = [c.request.template_name for c in contexts if c.request.public]
    if public:
        confirm(f"Make the AMIs of {', '.join(public)} PUBLIC?", pargs.yes)
    app.changes_started = True

    def job(ctx: SaveContext) -> Any:
        return lambda: execute(ctx, hooks)

    def cancel_all() -> None:
        for ctx in contexts:
            ctx.cancel.set()

    results = batch.run_all([job(c) for c in contexts], concurrency, cancel_all)
    rows, documents = [], []
    for ctx, result in zip(contexts, results, strict=True):
        journal = ctx.journal.path if ctx.journal.path.exists() else None
        if isinstance(result, SaveOutcome):
            state = ctx.state
            status = {EXIT_OK: "done", EXIT_PARTIAL: "partial"}.get(result.exit_code, "failed")
            detail = "; ".join(state.failures) or ", ".join(
                f"{r}: {i.image_id}" for r, i in ctx.images().items()
            )
            document = result.to_dict()
        else:
            status, detail = "failed", str(result)
            document = {"status": "failed", "template": ctx.request.template_name}
            document["failures"] = [detail]
        document["journal"] = str(journal) if journal else None
        documents.append(document)
        rows.append(
            {
                "template": ctx.request.template_name,
                "status": status,
                "version": ctx.state.template_version,
                "detail": detail,
                "journal": document["journal"],
            }
        )
    failed = sum(1 for r in rows if r["status"] != "done")
    if not failed:
        code = EXIT_OK
    elif all(r["status"] == "failed" for r in rows):
        code = EXIT_FAILURE
    else:
        code = EXIT_PARTIAL
    emit({"exit_code": code, "saves": documents}, pargs.output, batch_summary(rows))
    return code
