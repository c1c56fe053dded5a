"""What ``prism save`` does: plan, check, confirm, run, summarise; resume and abort."""

from __future__ import annotations

import sys
from typing import Any

from prism_core.aws.clients import AwsClients
from prism_core.aws.ec2 import InstanceInfo, describe_instance
from prism_core.cli.aws_options import aws_clients
from prism_core.cli.output import emit
from prism_core.cli.progress import Progress, format_duration, wants_emoji
from prism_core.cli.prompts import confirm, require_terminal, stdin_is_terminal
from prism_core.exceptions import (
    EXIT_FAILURE,
    EXIT_OK,
    SEVERITY,
    InputError,
)
from prism_core.save import options as save_options
from prism_core.save import watchdog_lease
from prism_core.save.context import SaveContext
from prism_core.save.guard import stops_again
from prism_core.save.journal import Journal, running_elsewhere, unfinished
from prism_core.save.leftovers import remove_leftovers
from prism_core.save.pipeline import (
    SaveOutcome,
    execute,
    plan_save,
    preflight,
    recheck_journaled,
)
from prism_core.save.plan import estimate_storage, plan_lines, show_plan, will_stop
from prism_core.save.request import SaveRequest
from prism_core.settings import check_writable
from prism_core.validation import printable, region_name


def summary_text(outcome: SaveOutcome) -> str:
    """The closing summary, as in the seed workflow."""
    ctx, state = outcome.ctx, outcome.ctx.state
    emoji = wants_emoji(sys.stdout)

    def icon(fancy: str, plain: str) -> str:
        return fancy if emoji else plain

    lines: list[str] = []
    if outcome.exit_code == 0:
        lines.append(f"{icon('🎉', '*')} Instance saved as AMI successfully!")
    elif outcome.template_path:
        lines.append(f"{icon('⚠️ ', '!')} Instance saved, but some steps failed:")
    else:
        lines.append(f"{icon('❌', 'FAILED:')} The save did not complete:")
    for failure in state.failures:
        lines.append(f"   - {failure}")
    lines.extend(f"{icon('💡', '-')} {note}" for note in state.summary)
    lines.append(f"{icon('🕒', '-')} Total time: {format_duration(outcome.elapsed)}")
    downtime = state.downtime_seconds
    if downtime is not None:
        how = " (EC2's reboot during CreateImage)" if state.rebooted_by_ec2 else ""
        lines.append(f"{icon('🛑', '-')} Instance downtime: {format_duration(downtime)}{how}")
    images = ctx.images()
    if images:
        lines.append(f"{icon('🌍', '-')} AMIs:")
        lines.extend(f"   {region}: {image.image_id}" for region, image in images.items())
    if state.registry:
        lines.append(
            f"{icon('📝', '-')} Registry: {len(state.registry)} parameter(s) under "
            f"{ctx.settings.registry_prefix}templates/{ctx.request.template_name}"
        )
    if outcome.template_path:
        lines.append(f"{icon('📄', '-')} Template file: {outcome.template_path}")
        lines.append("")
        lines.append(
            f"{icon('✨', '-')} Template '{ctx.request.template_name}' is now available "
            "for launching new instances:"
        )
        lines.append(f"   prism launch {ctx.request.template_name} my-new-instance")
    if outcome.exit_code != 0 and ctx.journal.path.exists():
        lines.append("")
        lines.append("   Retry what failed with: prism save --resume")
    return "\n".join(lines)


def confirm_secrets(ctx: SaveContext) -> None:
    """``--allow-secrets`` with findings and a share: on a terminal, always ask (``--yes``
    alone is not enough), naming the findings; without one, ``--yes`` was required."""
    inspection = ctx.state.inspection or {}
    secrets = inspection.get("secrets") or []
    request = ctx.request
    if request.secrets_policy != "allow-secrets" or not secrets or not request.shares_anything:
        return
    if not stdin_is_terminal():
        return  # --allow-secrets --yes, checked before the plan
    from prism_core.inspection.findings import shown_path

    names = ", ".join(shown_path(s.get("path", "")) for s in secrets[:8])
    more = f" and {len(secrets) - 8} more" if len(secrets) > 8 else ""
    who = "EVERY AWS account" if request.public else ", ".join(request.share_with)
    confirm(f"Share the image with {who} although it holds {len(secrets)} secret(s): "
            f"{names}{more}?", False)


def run_save(app: Any) -> int:
    """The ``prism save`` command body; returns the exit code."""
    pargs = app.pargs
    if pargs.resume and pargs.abort:
        raise InputError("--resume and --abort exclude each other", "choose one")
    if pargs.batch and (pargs.resume or pargs.abort or pargs.instance or pargs.template):
        raise InputError(
            "--batch takes no INSTANCE, TEMPLATE, --resume or --abort",
            "put every save in the batch file; `prism save --resume` finishes batch saves too",
        )
    engine_lacks = (
        ("--validate", pargs.validate),
        ("--copy-to-accounts", pargs.copy_to_accounts),
        ("--fast-restore", pargs.fast_restore),
        ("--scrub", getattr(pargs, "scrub", False)),  # the engine launches no helper
    )
    other_modes = pargs.resume or pargs.abort or pargs.batch
    if pargs.detach and (other_modes or any(on for _, on in engine_lacks)):
        flag = next(f for f, on in (("--resume", pargs.resume), ("--abort", pargs.abort),
                                    ("--batch", pargs.batch), *engine_lacks)
                    if on)
        raise InputError(
            f"--detach does not work with {flag}",
            "the save engine does not run it: save without --detach"
            if flag in dict(engine_lacks) else "use `prism saves` for detached saves",
        )
    if pargs.resume:
        return run_resume(app)
    if pargs.abort:
        return run_abort(app)
    if pargs.batch:
        from prism_core.cli.commands.save_batch import run_batch

        return run_batch(app)
    settings = app.settings
    progress = Progress(sys.stderr)
    aws = aws_clients(app, pargs.region)
    rows = save_options.table(getattr(app, "save_options", []))
    options = save_options.build(
        save_options.save_values(pargs, rows), rows, settings.default_copy_regions
    )
    if not options.instance or not options.template:
        if not stdin_is_terminal():
            raise InputError(
                "prism save needs INSTANCE and TEMPLATE when stdin is not a terminal",
                "run `prism save INSTANCE TEMPLATE --yes` (see `prism save --help`)",
            )
        from prism_core.cli.commands.save_wizard import complete_save_options

        options = complete_save_options(options, aws, settings.templates_dir, progress)
        progress.blank()
    if not pargs.yes and not pargs.dry_run and not stdin_is_terminal():
        raise InputError("confirmation needed but stdin is not a terminal", "add --yes")
    if not pargs.dry_run:
        check_writable(settings.home)
    detach = _detacher(app, aws) if pargs.detach else None
    ctx = plan_save(options, settings, aws, progress)
    hooks = app.plugin_manager
    preflight(ctx, hooks)
    estimate = estimate_storage(ctx, hooks.snapshot_prices(ctx))
    plan = plan_lines(ctx, will_stop(ctx), estimate)
    if pargs.dry_run:
        document = {
            "dry_run": True,
            "checks": "passed",
            "exit_code": 0,
            "plan": plan,
            "request": ctx.request.to_dict(),
            "image_name": ctx.state.image_name,
            "version": ctx.state.template_version,
            "will_stop": will_stop(ctx),
            "image_mode": ctx.request.image_mode,
            "storage_estimate": estimate.to_dict(),
            "inspection": ctx.state.inspection,
        }
        emit(
            document,
            pargs.output,
            "Dry run: every check passed, nothing was changed.\n\n" + "\n".join(plan),
        )
        return 0
    show_plan(ctx, progress, estimate)
    confirm("Continue?", pargs.yes)
    confirm_secrets(ctx)
    if ctx.request.public:
        regions = ", ".join([ctx.request.region, *ctx.request.copy_to_regions])
        confirm(f"Make the AMI PUBLIC (any AWS account can launch it) in {regions}?", pargs.yes)
    app.changes_started = True
    if detach is not None:
        detached = detach(ctx)
        emit(detached.to_dict(), pargs.output,
             f"Save {detached.save_id} detached: image {detached.image_id} requested in "
             f"{detached.region}; the save engine does the rest.\n"
             + ("The save engine starts the instance again once EC2 lists the image's "
                "snapshots, before the copies.\n" if detached.engine_restarts else "")
             + f"Follow it with `prism saves show {detached.save_id}` "
             f"(or `prism saves follow {detached.save_id}`).")
        return 0
    outcome = execute(ctx, hooks)
    document = outcome.to_dict()
    if outcome.exit_code == EXIT_OK:
        from prism_core.templates.retention import after_save

        applied = after_save(aws, settings, ctx.request.template_name, ctx.request.region)
        if applied is not None:
            for line in applied[0]:
                print(printable(line, 1000), file=sys.stderr)
            document["lifecycle"] = applied[1]
    emit(document, pargs.output, summary_text(outcome))
    return outcome.exit_code


def _detacher(app: Any, aws: AwsClients) -> Any:
    """For --detach: refuse plugins the engine would skip and an engine that is not
    deployed (before anything changes); the function that hands a save over."""
    from prism_core.cloud.deploy import STATE_MACHINE
    from prism_core.cloud.executions import execution_arn, refuse_cloud_plugins, start
    from prism_core.save.detach import execute_detached

    hooks = app.plugin_manager
    refuse_cloud_plugins(hooks)
    region = aws.region
    sfn = aws.client("stepfunctions", region)
    arn = f"arn:{_partition(aws)}:states:{region}:{aws.account_id()}:stateMachine:{STATE_MACHINE}"
    try:
        sfn.describe_state_machine(stateMachineArn=arn)
    except Exception as exc:
        if "StateMachineDoesNotExist" not in str(exc) and "does not exist" not in str(exc):
            raise
        raise InputError(
            f"the save engine is not deployed in {region}; nothing was changed",
            f"run `prism cloud setup --region {region}` first, or save without --detach",
        ) from None

    def detach(ctx: Any) -> Any:
        expected = execution_arn(arn, ctx.state.save_id)

        def launch(data: dict[str, Any]) -> str:
            try:
                return start(aws, arn, region, ctx.state.save_id, data)
            except Exception:
                # an answer lost on the way back: the execution may have started anyway
                try:
                    sfn.describe_execution(executionArn=expected)
                except Exception:  # noqa: BLE001 - it did not: the original error counts
                    pass
                else:
                    return expected
                raise

        return execute_detached(ctx, hooks, launch, expected)

    return detach


def _partition(aws: AwsClients) -> str:
    arn = aws.identity()["Arn"]
    return arn.split(":")[1] if arn.startswith("arn:") else "aws"


def _interrupted_saves(
    app: Any, verb: str, progress: Progress, skipped: list[str]
) -> list[SaveContext]:
    """The saves journaled on this machine, as contexts, after the user confirms.

    ``--resume SAVE_ID`` / ``--abort SAVE_ID`` pick one. A journal that cannot be used
    (damaged, half-aborted for ``--resume``, its instance gone for ``--resume``) is
    reported in ``skipped`` and never blocks the others.
    """
    settings = app.settings
    wanted = getattr(app.pargs, verb)
    wanted = wanted if isinstance(wanted, str) else None
    removed = remove_leftovers(settings.journal_dir)
    if removed:
        progress.line(
            "info",
            f"Removed {len(removed)} file(s) a killed save left in {settings.journal_dir}: "
            + ", ".join(removed[:5])
            + (" ..." if len(removed) > 5 else ""),
        )
    paths = unfinished(settings.journal_dir)
    if wanted is not None:
        paths = [p for p in paths if p.stem == wanted]
    guarded = {
        h.save_id: h
        for h in watchdog_lease.live_holders(settings.journal_dir)
        if wanted is None or h.save_id == wanted
    }
    if not paths:
        unjournaled = list(guarded.values())
        if unjournaled:
            raise InputError(
                "; ".join(_guarded_text(h) for h in unjournaled)
                + ": its journal is missing, and its watchdog writes it again when it acts",
                f"wait for it, then run `prism save --{verb}`",
            )
        which = f"save {wanted}" if wanted else "interrupted save"
        raise InputError(
            f"no {which} to {verb} on this machine",
            f"journals live in {settings.journal_dir}",
        )
    journals = []
    handed: list[str] = []
    for path in paths:
        try:
            journal = Journal.load(path)
        except InputError as exc:
            skipped.append(str(exc))
            continue
        state = journal.state
        if state.save_id in guarded and not running_elsewhere(state):
            progress.line(
                "warn",
                f"{_guarded_text(guarded[state.save_id])}; left alone: run "
                f"`prism save --{verb}` again once it is done",
            )
            continue
        if running_elsewhere(state):
            progress.line(
                "warn", f"Save {state.save_id} is still running (pid {state.pid}); left alone"
            )
            continue
        if verb == "resume" and state.status == "aborting":
            skipped.append(
                f"save {state.save_id} was being aborted when it stopped; it cannot be "
                f"resumed: finish the abort with `prism save --abort {state.save_id}`"
            )
            continue
        if state.engine_execution:
            held = _held_by_engine(app, state)
            if held is None:
                skipped.append(f"save {state.save_id} may be held by the save engine "
                               f"({state.engine_execution}), which could not be asked; "
                               "run the command again")
                continue
            if held:  # the engine runs it (and holds any restart duty): never fight it
                progress.line(
                    "info",
                    f"Save {state.save_id} was handed to the save engine; follow it with "
                    f"`prism saves show {state.save_id}` (undo it with "
                    f"`prism saves abort {state.save_id}`)",
                )
                journal.finish()
                handed.append(state.save_id)
                continue
            state.engine_execution = None  # never started: this machine finishes it
        journals.append(journal)
    if not journals:
        if handed:
            raise InputError(
                f"no interrupted save to {verb} on this machine: "
                f"{', '.join(handed)} is run by the save engine",
                f"follow it with `prism saves show {handed[0]}`",
            )
        if skipped:
            raise InputError("; ".join(skipped))
        raise InputError(
            f"no interrupted save to {verb}: every save on this machine is still running",
            "wait for it, or stop it with Ctrl-C first",
        )
    for journal in journals:
        state = journal.state
        progress.line(
            "info",
            f"Interrupted save {state.save_id} ({state.status}), "
            f"template '{state.request.get('template_name')}'",
        )
    contexts = []
    for journal in journals:
        try:
            request = SaveRequest.from_dict(journal.state.request)
            region = region_name(str(request.region))
            aws = AwsClients(region, settings.max_attempts, profile=app.pargs.profile)
            instance = _instance(aws, request, verb)
        except (InputError, TypeError) as exc:
            skipped.append(
                f"save {journal.state.save_id}: {exc}; undo it on its own with "
                f"`prism save --abort {journal.state.save_id}`"
            )
            continue
        contexts.append(
            SaveContext(
                request=request,
                settings=settings,
                aws=aws,
                progress=progress,
                journal=journal,
                instance=instance,
            )
        )
    question = f"{verb.capitalize()} {len(journals)} save(s)?"
    if verb == "resume":  # before anything more changes: the request must still pass
        for ctx in contexts:
            recheck_journaled(ctx, app.plugin_manager)
        stopping = [ctx for ctx in contexts if stops_again(ctx)]
        for ctx in stopping:
            progress.line("warn", _stops_again_text(ctx))
        if stopping:
            names = ", ".join(ctx.request.instance_id for ctx in stopping)
            question = f"{verb.capitalize()} {len(journals)} save(s), stopping {names} again?"
            if not app.pargs.yes:
                require_terminal(f"resuming stops instance {names} again", "--yes")
    confirm(question, app.pargs.yes)
    app.changes_started = True
    return contexts


def _held_by_engine(app: Any, state: Any) -> bool | None:
    """Whether the save engine has the execution a ``--detach`` save recorded before
    StartExecution (``None``: the engine could not be asked)."""
    try:
        request = SaveRequest.from_dict(state.request)
        region = region_name(str(request.region))
        aws = AwsClients(region, app.settings.max_attempts, profile=app.pargs.profile)
        aws.client("stepfunctions", region).describe_execution(
            executionArn=state.engine_execution)
    except Exception as exc:  # noqa: BLE001
        text = str(exc)
        if "ExecutionDoesNotExist" in text or "does not exist" in text.lower():
            return False
        return None
    return True


def _guarded_text(holder: watchdog_lease.Holder) -> str:
    return f"the watchdog of save {holder.save_id} still holds the restart duty of its instance"


def _stops_again_text(ctx: SaveContext) -> str:
    """Said before a resume stops an instance that runs again (by hand or its watchdog)."""
    request, state = ctx.request, ctx.state
    return (
        f"Save {state.save_id} stops instance {request.instance_name} ({request.instance_id}) "
        f"again: it is {ctx.instance.state} now (started by hand or by prism's watchdog) and "
        "its image was not requested yet (--stop); to keep it running, undo the save with "
        f"`prism save --abort {state.save_id}`"
    )


def _instance(aws: AwsClients, request: SaveRequest, verb: str) -> InstanceInfo:
    """The save's instance; for ``--abort`` a vanished one is recorded as ``missing``."""
    try:
        return describe_instance(aws.ec2(request.region), request.instance_id, request.region)
    except InputError:
        if verb != "abort":
            raise
    return InstanceInfo(
        instance_id=request.instance_id,
        name=request.instance_name,
        state="missing",
        region=request.region,
        instance_type="",
        architecture="",
        root_device_type="ebs",
        root_device_name=None,
        image_id=None,
        lifecycle=None,
    )


def run_resume(app: Any) -> int:
    """``prism save --resume``: finish every save interrupted on this machine."""
    progress = Progress(sys.stderr)
    worst, documents, texts = EXIT_OK, [], []
    skipped: list[str] = []
    for ctx in _interrupted_saves(app, "resume", progress, skipped):
        request = ctx.request
        progress.line(
            "save",
            f"Resuming save of '{request.instance_name}' as template '{request.template_name}'",
        )
        outcome = execute(ctx, app.plugin_manager)
        documents.append(outcome.to_dict())
        texts.append(summary_text(outcome))
        worst = max(worst, outcome.exit_code, key=SEVERITY.__getitem__)
    if skipped:
        worst = max(worst, EXIT_FAILURE, key=SEVERITY.__getitem__)
        texts += [f"Not resumed: {reason}" for reason in skipped]
    emit({"resumed": documents, "skipped": skipped}, app.pargs.output, "\n\n".join(texts))
    return worst


def run_abort(app: Any) -> int:
    """``prism save --abort [SAVE_ID]``: undo the saves interrupted on this machine."""
    from prism_core.save.abort import abort_save

    progress = Progress(sys.stderr)
    code, documents, texts = EXIT_OK, [], []
    skipped: list[str] = []
    for ctx in _interrupted_saves(app, "abort", progress, skipped):
        app.interrupt_note = (
            f"the abort of save {ctx.state.save_id} was cut short; finish it with "
            f"`prism save --abort {ctx.state.save_id}`"
        )
        try:
            removed, problems = abort_save(ctx)
        except InputError as exc:
            removed, problems = [], [str(exc)]
        documents.append({"save_id": ctx.state.save_id, "removed": removed, "problems": problems})
        lines = [f"Aborted save {ctx.state.save_id}; removed {len(removed)} resource(s):"]
        lines += [f"   {item}" for item in removed]
        lines += [f"   could not remove: {problem}" for problem in problems]
        texts.append("\n".join(lines))
        if problems:
            code = EXIT_FAILURE
    if skipped:
        code = EXIT_FAILURE
        texts += [f"Not aborted: {reason}" for reason in skipped]
    emit({"aborted": documents, "skipped": skipped}, app.pargs.output, "\n\n".join(texts))
    return code
