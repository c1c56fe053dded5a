"""``prism templates policy NAME ...`` and ``prism templates enforce [NAME|--all]``.

The decisions are :mod:`prism_core.templates.retention`'s; these parse, plan, ask,
call and report (exit 3 when some changes failed or images not proven prism's were
left alone, 1 when nothing could be changed).
"""

from __future__ import annotations

import sys
from typing import Any

from prism_core.cli.aws_options import command_clients
from prism_core.cli.cement_api import Controller, ex
from prism_core.cli.commands.template_lifecycle import exit_code
from prism_core.cli.commands.templates import CHANGE_ARGUMENTS, dry_run_done, warn
from prism_core.cli.output import emit
from prism_core.exceptions import InputError
from prism_core.validation import template_name


def days_option(flag: str, text: str) -> tuple[list[str], dict[str, Any]]:
    """An option taking a number of days (``180d``)."""
    return ([flag], {"metavar": "DAYS", "help": text})


def plan_lines(due: Any) -> list[str]:
    """What enforcing a policy will do and what it holds back."""
    from prism_core.templates.retention import plan_lines as lines

    return lines(due)


class TemplatePolicy(Controller):
    """Lifecycle policies of templates (under ``templates``)."""

    class Meta:
        label = "template_policy"
        stacked_on = "templates"
        stacked_type = "embedded"

    @ex(
        help="set a template's lifecycle policy: keep N, deprecate, disable, delete by age",
        description="Store the lifecycle policy with the template in the registry of every "
        "region that has it; it is applied after every save of the template and by "
        "`prism templates enforce`. Every version but the --keep newest is deprecated "
        "after --max-age, disabled after --disable-after and deleted (images, snapshots, "
        "registry entries, files) after --delete-after, counted from its images' creation; "
        "--keep alone deletes every older version; the newest is always kept. Channel "
        "targets, protected versions, "
        "versions instances use and versions being saved are never touched. "
        "Without a rule it shows the current policy.",
        arguments=[
            (["name"], {"help": "template name"}),
            (["--keep"], {"type": int, "metavar": "N", "help": "newest versions kept"}),
            days_option("--max-age", "deprecate versions older than this (e.g. 180d)"),
            days_option("--disable-after", "disable their images after this"),
            days_option("--delete-after", "delete them after this"),
            days_option(
                "--recycle-bin",
                "keep deleted images and snapshots this long in the Recycle Bin (a retention "
                "rule per region for the template's resources)",
            ),
            *CHANGE_ARGUMENTS,
        ],
    )
    def policy(self) -> None:
        """``prism templates policy NAME --keep N --max-age D ...``."""
        from prism_core.cli.prompts import confirm
        from prism_core.templates import retention
        from prism_core.templates.cleanup import inventory

        pargs, settings = self.app.pargs, self.app.settings
        name = template_name(pargs.name)
        rules = retention.Policy(
            keep=pargs.keep,
            max_age_days=retention.parse_days(pargs.max_age, "--max-age"),
            disable_after_days=retention.parse_days(pargs.disable_after, "--disable-after"),
            delete_after_days=retention.parse_days(pargs.delete_after, "--delete-after"),
            recycle_bin_days=retention.parse_days(pargs.recycle_bin, "--recycle-bin"),
        )
        asked = any(getattr(rules, f) is not None for f in retention.Policy.FIELDS)
        if asked:
            rules.check()
        aws, region = command_clients(self.app)
        found = inventory(name, settings, aws, region)
        warn(found.problems)
        regions = sorted(
            {r for p in found.versions.values() for r in p.registry}
            | {r for r, keys in found.shared_registry.items() if keys}
        )
        if not regions:
            raise InputError(
                f"template {name} is not in the registry of any region; policies live there",
                "save it with the ssm-registry plugin enabled",
            )
        current = retention.read_policy(
            aws.client("ssm", regions[0]), settings.registry_prefix, name
        )
        if not asked:
            emit(
                {"template": name, "policy": current.to_record() if current else None},
                pargs.output,
                f"Lifecycle policy of {name}: {current.text() if current else 'none'}",
            )
            return
        headline = f"Set the lifecycle policy of {name}: {rules.text()}"
        plan = [
            f"was: {current.text() if current else 'none'}",
            f"registry in {', '.join(regions)}",
            "applied now? no: run `prism templates enforce "
            f"{name}` (and after every save of {name})",
        ]
        if rules.recycle_bin_days:
            plan.append(
                f"Recycle Bin: keep {name}'s deleted images and snapshots "
                f"{rules.recycle_bin_days} days (a rule per region and kind)"
            )
        print(headline, file=sys.stderr)
        for line in plan:
            print(f"   {line}", file=sys.stderr)
        if pargs.dry_run:
            dry_run_done(pargs.output, [headline, *plan])
            return
        confirm(f"Set the policy of {name}?", pargs.yes)
        self.app.changes_started = True
        written, failures = retention.write_policy(
            aws, settings.registry_prefix, name, rules, regions, aws.identity()["Arn"]
        )
        if rules.recycle_bin_days:
            image_regions = {r for p in found.versions.values() for r in p.images}
            changes, problems = retention.ensure_recycle_bin(
                aws, name, rules.recycle_bin_days, sorted({*regions, *image_regions})
            )
            written.extend(changes)
            failures.extend(problems)
        lines = [headline, *(f"   {w}" for w in written), *(f"   FAILED: {f}" for f in failures)]
        emit(
            {
                "template": name,
                "policy": rules.to_record(),
                "changed": written,
                "failures": failures,
            },
            pargs.output,
            "\n".join(lines),
        )
        from prism_core.templates.lifecycle import Outcome

        self.app.exit_code = exit_code(Outcome(written, failures))

    @ex(
        help="apply lifecycle policies now: deprecate, disable and delete what is due",
        arguments=[
            (["name"], {"nargs": "?", "help": "template name"}),
            (["--all"], {"action": "store_true", "help": "every template with a policy"}),
            *CHANGE_ARGUMENTS,
        ],
    )
    def enforce(self) -> None:
        """``prism templates enforce [NAME|--all]``."""
        from prism_core.cli.prompts import confirm
        from prism_core.templates import registry, retention
        from prism_core.templates.lifecycle import Outcome

        pargs, settings = self.app.pargs, self.app.settings
        if bool(pargs.name) == bool(pargs.all):
            raise InputError(
                "name one template or pass --all", "e.g. `prism templates enforce lab`"
            )
        aws, region = command_clients(self.app)
        if pargs.all:
            summaries, problems = registry.current_summaries(
                aws.client("ssm", region), settings.registry_prefix
            )
            warn(problems)
            names = sorted(summaries)
        else:
            names = [template_name(pargs.name)]
        work = []
        for name in names:
            found, due = retention.enforce(aws, settings, name, region)
            warn(found.problems)
            if due is None:
                if not pargs.all:
                    raise InputError(
                        f"template {name} has no lifecycle policy",
                        f"set one with `prism templates policy {name} --keep N ...`",
                    )
                continue
            work.append((found, due))
        plan: list[str] = []
        for _, due in work:
            plan.append(f"{due.template} ({due.policy.text()}):")
            plan.extend(f"   {line}" for line in plan_lines(due))
        plan = plan or ["no template has a lifecycle policy"]
        headline = "Enforce lifecycle policies"
        print(headline, file=sys.stderr)
        for line in plan:
            print(f"   {line}", file=sys.stderr)
        if pargs.dry_run:
            dry_run_done(pargs.output, [headline, *plan])
            return
        if not any(due.steps for _, due in work):
            emit(
                {
                    "templates": [due.template for _, due in work],
                    "changed": [],
                    "failures": [],
                    "held": {d.template: {str(v): w for v, w in d.held.items()} for _, d in work},
                },
                pargs.output,
                "Nothing is due.",
            )
            return
        confirm("Carry out these lifecycle steps?", pargs.yes)
        self.app.changes_started = True
        who = aws.identity()["Arn"]
        total = Outcome()
        for found, due in work:
            if not due.steps:
                continue
            done = retention.apply(aws, settings.registry_prefix, found, due, who)
            total.changed.extend(f"{due.template}: {c}" for c in done.changed)
            total.failures.extend(f"{due.template}: {f}" for f in done.failures)
            total.kept.extend(f"{due.template}: {k}" for k in done.kept)
        lines = [headline, *(f"   {c}" for c in total.changed)]
        lines += [f"   FAILED: {f}" for f in total.failures]
        lines += [f"   left alone: {k}" for k in total.kept]
        emit(
            {
                "templates": [due.template for _, due in work],
                **total.to_dict(),
                "held": {d.template: {str(v): w for v, w in d.held.items()} for _, d in work},
            },
            pargs.output,
            "\n".join(lines),
        )
        self.app.exit_code = exit_code(total)
