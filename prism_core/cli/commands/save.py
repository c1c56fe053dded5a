"""``prism save`` (and ``prism ami save``): plan, check, confirm, run, summarise."""

from __future__ import annotations

import sys
from argparse import RawDescriptionHelpFormatter
from typing import Any

from cement import Controller, ex

from prism_core.aws.clients import AwsClients
from prism_core.aws.ec2 import InstanceInfo, describe_instance
from prism_core.cli.aws_options import PROFILE_ARGUMENT, aws_clients
from prism_core.cli.output import DEBUG_ARGUMENT, OUTPUT_ARGUMENT, emit
from prism_core.cli.progress import Progress, format_duration, wants_emoji
from prism_core.cli.prompts import confirm, stdin_is_terminal
from prism_core.exceptions import (
    EXIT_CODES_HELP,
    EXIT_FAILURE,
    EXIT_OK,
    SEVERITY,
    InputError,
)
from prism_core.save.context import SaveContext
from prism_core.save.journal import Journal, running_elsewhere, unfinished
from prism_core.save.pipeline import SaveOptions, SaveOutcome, execute, plan_save, preflight
from prism_core.save.plan import estimate_storage, plan_lines, show_plan, will_stop
from prism_core.save.request import SaveRequest
from prism_core.settings import check_writable
from prism_core.validation import region_name

SAVE_EPILOG = f"""examples:
  keep your own environment:
    prism save earthquake-analysis seismic-ml-env --description "ML for seismic data"
    prism launch seismic-ml-env aftershock-prediction --size GPU-L
  share with your team:
    prism save my-genomics-work team-genomics-env --share-with 111122223333 \\
      --description "Genomics pipeline with BWA, GATK and R Bioconductor" --tag team=genomics
  a course environment for every student, in two more regions:
    prism save ml-course-prep cs229-environment --copy-to-regions us-east-2,us-west-2 \\
      --project cs229 --yes
  ask for everything (on a terminal):
    prism save
  check first, in a script:
    prism save ml-course-prep cs229-environment --dry-run -o json
  finish a save interrupted on this machine (or undo it; SAVE_ID picks one):
    prism save --resume
    prism save --abort [SAVE_ID]
  several instances, three at a time (prism.batch_concurrency), one confirmation:
    prism save --batch lab.yaml --yes
  images that EC2 deprecates after six months:
    prism save ml-course-prep cs229-environment --deprecate-after 180

Deletes prove ownership: --abort removes only images whose own tags name this save,
and only this save's registry entries and files under $PRISM_HOME/templates; a newer
version of the template is never touched. Tags under the prism: prefix are reserved.

image modes (config `prism.image_mode: reboot|stop|no-reboot` sets the default):
  (default) --reboot  EC2 reboots the instance once during CreateImage: it shuts the
                      OS down cleanly, takes the snapshots and boots it again itself,
                      whatever happens to prism or this machine afterwards. Public IP
                      and instance-store data are kept; about a minute of downtime.
  --stop              prism stops the instance, images it and starts it as soon as
                      the snapshots are taken. A watchdog process in its own session
                      starts it again if prism dies (kill -9, closed terminal) while it
                      is down. The public IP changes unless an Elastic IP is attached;
                      instance-store volumes are erased (refused unless
                      --allow-instance-store-loss).
  --no-reboot         image the running instance as it is (no downtime; files being
                      written may be inconsistent in the image).
An instance that is stopping is waited for and stays stopped; one that is pending is
refused. Ctrl-C, SIGTERM, SIGHUP (terminal closed) and SIGQUIT stop the save after the
instance is back; a closed or full output never skips that.

On a terminal prism shows the plan (downtime, what is created where, storage cost)
and asks before changing anything; --yes skips that and is required when stdin is
not a terminal. --yes also confirms making the image public (--public).
Progress goes to stderr; the result (text, -o json or -o yaml) to stdout.
One save per instance: a second one is refused (exit 2) while the first holds the
lock `<registry prefix>locks/<instance-id>` in SSM.

{EXIT_CODES_HELP}"""

SAVE_ARGUMENTS: list[tuple[list[str], dict[str, Any]]] = [
    (["instance"], {"nargs": "?", "help": "the instance's Name tag or its id (i-...)"}),
    (["template"], {"nargs": "?", "help": "name of the template to create"}),
    (["--description"], {"help": "what the template is for (at most 255 characters)"}),
    (["--copy-to-regions"], {"metavar": "R1,R2", "help": "also copy the AMI to these regions"}),
    (["--project"], {"metavar": "ID", "help": "project the template and its costs belong to"}),
    (
        ["--public"],
        {"action": "store_true", "help": "make the AMI launchable by every AWS account"},
    ),
    (["--share-with"], {"metavar": "ID[,ID]", "help": "account ids, organization or OU ARNs"}),
    (
        ["--tag"],
        {
            "action": "append",
            "default": [],
            "metavar": "KEY=VALUE",
            "help": "tag for the AMI, its snapshots and copies (repeatable)",
        },
    ),
    (["--region"], {"help": "region of the instance (default: your AWS configuration)"}),
    PROFILE_ARGUMENT,
    (
        ["--reboot"],
        {
            "action": "store_true",
            "help": "EC2 reboots the instance once during CreateImage (the default unless "
            "prism.image_mode says otherwise)",
        },
    ),
    (
        ["--stop"],
        {
            "action": "store_true",
            "help": "stop -> image -> start, a watchdog holding the restart (public IP "
            "changes, instance store erased)",
        },
    ),
    (
        ["--no-reboot"],
        {
            "action": "store_true",
            "help": "image the running instance without stopping or rebooting it",
        },
    ),
    (
        ["--allow-instance-store-loss"],
        {
            "action": "store_true",
            "help": "with --stop: go ahead although the stop erases instance-store volumes",
        },
    ),
    (
        ["--validate"],
        {
            "action": "store_true",
            "help": "boot a throwaway instance from the new AMI and register the "
            "template only if it runs and passes its status checks",
        },
    ),
    (
        ["--deprecate-after"],
        {
            "metavar": "DAYS",
            "help": "EC2 deprecation of the AMI and every copy after DAYS days "
            "(default: prism.deprecate_after_days in config)",
        },
    ),
    (
        ["--batch"],
        {
            "metavar": "FILE.yaml",
            "help": "save several instances: a YAML list of mappings with instance, template "
            "and any save option by its long name (copy_to_regions, description, ...)",
        },
    ),
    (
        ["-y", "--yes"],
        {
            "action": "store_true",
            "help": "do not ask for confirmation (required when stdin is not a terminal)",
        },
    ),
    (
        ["--dry-run"],
        {"action": "store_true", "help": "run every check, show the plan, change nothing"},
    ),
    (
        ["--resume"],
        {
            "nargs": "?",
            "const": True,
            "default": False,
            "metavar": "SAVE_ID",
            "help": "finish the save(s) interrupted on this machine (or only SAVE_ID)",
        },
    ),
    (
        ["--abort"],
        {
            "nargs": "?",
            "const": True,
            "default": False,
            "metavar": "SAVE_ID",
            "help": "undo the save(s) interrupted on this machine (or only SAVE_ID): bring the "
            "instance back and remove what they created in every region",
        },
    ),
    OUTPUT_ARGUMENT,
    DEBUG_ARGUMENT,
]


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
    copy_to_regions = pargs.copy_to_regions
    if copy_to_regions is None:
        copy_to_regions = settings.default_copy_regions
    modes = [m for m, flag in (("reboot", pargs.reboot), ("stop", pargs.stop)) if flag]
    if pargs.no_reboot:
        modes.append("no-reboot")
    if len(modes) > 1:
        raise InputError(
            "--" + ", --".join(modes) + " exclude each other", "choose one image mode"
        )
    options = SaveOptions(
        instance=pargs.instance or "",
        template=pargs.template or "",
        description=pargs.description,
        copy_to_regions=copy_to_regions,
        project=pargs.project,
        public=pargs.public,
        share_with=pargs.share_with,
        tags=list(pargs.tag or []),
        no_reboot=pargs.no_reboot,
        image_mode=modes[0] if modes else None,
        allow_instance_store_loss=pargs.allow_instance_store_loss,
        validate=pargs.validate,
        deprecate_after=pargs.deprecate_after,
        plugin_options={
            option.dest: getattr(pargs, option.dest, None)
            for option in getattr(app, "save_options", [])
        },
    )
    if not options.instance or not options.template:
        if not stdin_is_terminal():
            raise InputError(
                "prism save needs INSTANCE and TEMPLATE when stdin is not a terminal",
                "run `prism save INSTANCE TEMPLATE --yes` (see `prism save --help`)",
            )
        from prism_core.save.wizard import complete_save_options

        options = complete_save_options(options, aws, settings.templates_dir, progress)
        progress.blank()
    if not pargs.yes and not pargs.dry_run and not stdin_is_terminal():
        raise InputError("confirmation needed but stdin is not a terminal", "add --yes")
    if not pargs.dry_run:
        check_writable(settings.home)
    ctx = plan_save(options, settings, aws, progress)
    hooks = app.plugin_manager
    preflight(ctx, hooks)
    estimate = estimate_storage(ctx)
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
        }
        emit(
            document,
            pargs.output,
            "Dry run: every check passed, nothing was changed.\n\n" + "\n".join(plan),
        )
        return 0
    show_plan(ctx, progress, estimate)
    confirm("Continue?", pargs.yes)
    if ctx.request.public:
        regions = ", ".join([ctx.request.region, *ctx.request.copy_to_regions])
        confirm(f"Make the AMI PUBLIC (any AWS account can launch it) in {regions}?", pargs.yes)
    app.changes_started = True
    outcome = execute(ctx, hooks)
    emit(outcome.to_dict(), pargs.output, summary_text(outcome))
    return outcome.exit_code


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
    paths = unfinished(settings.journal_dir)
    if wanted is not None:
        paths = [p for p in paths if p.stem == wanted]
    if not paths:
        which = f"save {wanted}" if wanted else "interrupted save"
        raise InputError(
            f"no {which} to {verb} on this machine",
            f"journals live in {settings.journal_dir}",
        )
    journals = []
    for path in paths:
        try:
            journal = Journal.load(path)
        except InputError as exc:
            skipped.append(str(exc))
            continue
        state = journal.state
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
        journals.append(journal)
    if not journals:
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
    confirm(f"{verb.capitalize()} {len(journals)} save(s)?", app.pargs.yes)
    app.changes_started = True
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
    return contexts


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


SAVE_COMMAND: dict[str, Any] = {
    "label": "save",
    "help": "save an instance as a reusable template (AMI, copies, registry, YAML)",
    "description": "Create an AMI of the instance with a clean filesystem (EC2 reboots it "
    "once, or --stop), copy the AMI "
    "to other regions, share it, register it and write a template for `prism launch`.",
    "epilog": SAVE_EPILOG,
    "formatter_class": RawDescriptionHelpFormatter,
}


def reserved_save_names() -> set[str]:
    """Flags and dests of prism's own ``save`` arguments (plugins may not reuse them)."""
    names: set[str] = set()
    for flags, kwargs in SAVE_ARGUMENTS:
        names.update(flags)
        names.add(kwargs.get("dest") or max(flags, key=len).lstrip("-").replace("-", "_"))
    return names


def _save_command(extra: list[tuple[list[str], dict[str, Any]]]) -> Any:
    def save(self: Controller) -> None:
        """``prism save INSTANCE TEMPLATE [options]``."""
        self.app.exit_code = run_save(self.app)

    return ex(**SAVE_COMMAND, arguments=[*SAVE_ARGUMENTS, *extra])(save)


class Save(Controller):
    """``prism save``: embedded in the base controller."""

    class Meta:
        label = "save_command"
        stacked_on = "base"
        stacked_type = "embedded"

    save = _save_command([])


class Ami(Save):
    """``prism ami save``: the same command, nested under ``ami``."""

    class Meta:
        label = "ami"
        stacked_on = "base"
        stacked_type = "nested"
        help = "AMI commands (`prism ami save` is `prism save`)"
        epilog = (
            "examples:\n"
            "  prism ami save earthquake-analysis seismic-ml-env   # same as prism save\n"
            "  prism ami save --help                               # every option"
        )
        formatter_class = RawDescriptionHelpFormatter


def save_controllers(extra: list[tuple[list[str], dict[str, Any]]]) -> list[type[Controller]]:
    """``Save`` and ``Ami`` with plugin-added arguments appended (same labels)."""
    if not extra:
        return [Save, Ami]
    command = _save_command(extra)
    return [
        type("Save", (Save,), {"save": command}),
        type("Ami", (Ami,), {"save": command}),
    ]
