"""``prism templates promote | demote | channels | revoke | restore | protect | unprotect``.

Each changing command locates the version everywhere it is, shows the plan, asks on a
terminal (``--yes`` without one), honours ``--dry-run``, then changes every region and
reports each failure (exit 3 when some changes failed, 1 when all did).
"""

from __future__ import annotations

import sys
from typing import Any

from prism_core.cli.aws_options import command_clients
from prism_core.cli.cement_api import Controller, ex
from prism_core.cli.commands.templates import (
    CHANGE_ARGUMENTS,
    READ_ARGUMENTS,
    warn,
)
from prism_core.cli.output import emit
from prism_core.exceptions import EXIT_FAILURE, EXIT_OK, EXIT_PARTIAL, InputError
from prism_core.validation import LATEST, channel_name, reason, template_name

REF_ARGUMENT = (["ref"], {"metavar": "NAME@N", "help": "template and version, e.g. lab-base@2"})


def version_ref(ref: str) -> tuple[str, int]:
    """``NAME@N`` with an explicit version (channels and ``latest`` are not accepted)."""
    from prism_core.templates.store import parse_ref

    name, sep, rest = ref.partition("@")
    if not sep or not rest.isdigit():
        template_name(name)
        raise InputError(
            f"{ref!r} does not name a version", f"write NAME@N, e.g. {name or 'NAME'}@1"
        )
    parsed, version = parse_ref(ref)
    assert version is not None
    return parsed, version


def exit_code(outcome: Any) -> int:
    """0, 3 (some changes failed, or images not proven ours were left alone) or 1
    (nothing changed)."""
    if not outcome.failures:
        return EXIT_PARTIAL if getattr(outcome, "kept", None) else EXIT_OK
    return EXIT_PARTIAL if outcome.changed else EXIT_FAILURE


class TemplateLifecycle(Controller):
    """Channels, revocation and protection of template versions (under ``templates``)."""

    class Meta:
        label = "template_lifecycle"
        stacked_on = "templates"
        stacked_type = "embedded"

    # -- shared steps ----------------------------------------------------------------------
    def _go(self, headline: str, plan: list[str], question: str) -> bool:
        """Show the plan; ``False`` for --dry-run (result emitted); else confirm."""
        from prism_core.cli.prompts import confirm

        pargs = self.app.pargs
        print(headline, file=sys.stderr)
        for line in plan:
            print(f"   {line}", file=sys.stderr)
        if pargs.dry_run:
            emit(
                {"dry_run": True, "plan": [headline, *plan]},
                pargs.output,
                "Dry run: nothing was changed.",
            )
            return False
        confirm(question, pargs.yes)
        self.app.changes_started = True
        return True

    def _done(self, headline: str, outcome: Any, extra: dict[str, Any] | None = None) -> None:
        lines = [headline, *(f"   {c}" for c in outcome.changed)]
        lines += [f"   FAILED: {f}" for f in outcome.failures]
        lines += [f"   left alone: {k}" for k in getattr(outcome, "kept", [])]
        document = {**(extra or {}), **outcome.to_dict()}
        emit(document, self.app.pargs.output, "\n".join(lines))
        self.app.exit_code = exit_code(outcome)

    def _target(self, ref: str) -> Any:
        from prism_core.templates.lifecycle import locate

        name, version = version_ref(ref)
        aws, region = command_clients(self.app)
        target = locate(name, version, self.app.settings, aws, region)
        warn(target.found.problems)
        return aws, region, target

    # -- channels --------------------------------------------------------------------------
    @ex(
        help="point a channel (e.g. stable) at a version in every region that has it",
        description="Point a named channel at version N in the registry of every region "
        "that has it; `prism launch NAME@CHANNEL` then launches that version (a teammate "
        "with an empty PRISM_HOME too). Prints what the channel pointed at before. "
        "`latest` is implicit: the newest version that is not revoked.",
        arguments=[
            REF_ARGUMENT,
            (["--channel"], {"required": True, "metavar": "C", "help": "channel name"}),
            (
                ["--fast-restore"],
                {
                    "metavar": "AZ[,AZ]",
                    "help": "also enable fast snapshot restore of the version's snapshots "
                    "in these zones (billed per snapshot, zone and hour until disabled)",
                },
            ),
            *CHANGE_ARGUMENTS,
        ],
    )
    def promote(self) -> None:
        """``prism templates promote NAME@N --channel C``."""
        from prism_core.templates import lifecycle

        pargs, settings = self.app.pargs, self.app.settings
        channel = channel_name(pargs.channel)
        if channel == LATEST:
            raise InputError(
                "`latest` is implicit: the newest version that is not revoked",
                "pick another channel name",
            )
        aws, _, target = self._target(pargs.ref)
        name, version = target.name, target.version
        if target.parts.revoked is not None:
            raise InputError(
                f"{name}@{version} is revoked ({target.parts.revoked.get('reason')})",
                f"restore it first with `prism templates restore {name}@{version}`",
            )
        if not target.registry_regions:
            raise InputError(
                f"{name}@{version} is not in the registry of any region; channels live there",
                "save it with the ssm-registry plugin enabled",
            )
        from prism_core.templates import fast_restore

        fast = fast_restore.plan(aws, target, pargs.fast_restore)
        before = target.found.channels.get(channel, {})
        previous = sorted(set(before.values()))
        was = f"v{', v'.join(map(str, previous))}" if previous else "nothing"
        if fast is None and previous == [version] and set(before) >= set(target.registry_regions):
            emit(
                {"template": name, "channel": channel, "version": version, "previous": previous},
                pargs.output,
                f"Channel {channel} of {name} already points at v{version}.",
            )
            return
        headline = f"Promote {name}@{version} to channel {channel} (it pointed at {was})"
        plan = [f"registry in {', '.join(target.registry_regions)}"]
        plan += fast.lines() if fast is not None else []
        if not self._go(headline, plan, f"Point {channel} at {name}@{version}?"):
            return
        who = aws.identity()["Arn"]
        outcome = lifecycle.promote(aws, settings.registry_prefix, target, channel, who)
        if fast is not None:
            fast_restore.enable(aws, fast, settings, outcome)
        self._done(
            f"Channel {channel} of {name}: {was} -> v{version}",
            outcome,
            {"template": name, "channel": channel, "version": version, "previous": previous},
        )

    @ex(
        help="remove a channel of a template in every region",
        arguments=[
            (["name"], {"help": "template name"}),
            (["--channel"], {"required": True, "metavar": "C", "help": "channel name"}),
            *CHANGE_ARGUMENTS,
        ],
    )
    def demote(self) -> None:
        """``prism templates demote NAME --channel C``."""
        from prism_core.templates import lifecycle
        from prism_core.templates.cleanup import inventory

        pargs, settings = self.app.pargs, self.app.settings
        name, channel = template_name(pargs.name), channel_name(pargs.channel)
        aws, region = command_clients(self.app)
        found = inventory(name, settings, aws, region)
        warn(found.problems)
        if channel not in found.channels:
            have = ", ".join(sorted(found.channels)) or "none"
            raise InputError(
                f"template {name} has no channel {channel!r} (channels: {have})",
                f"run `prism templates channels {name}`",
            )
        where = found.channels[channel]
        versions = ", v".join(map(str, sorted(set(where.values()))))
        headline = f"Remove channel {channel} of {name} (v{versions})"
        if not self._go(headline, [f"registry in {', '.join(sorted(where))}"], f"{headline}?"):
            return
        outcome = lifecycle.demote(aws, settings.registry_prefix, found, channel)
        self._done(f"Channel {channel} of {name} removed", outcome, {"template": name})

    @ex(
        help="list a template's channels and the versions they point at",
        arguments=READ_ARGUMENTS,
    )
    def channels(self) -> None:
        """``prism templates channels NAME``."""
        from prism_core.templates import registry

        pargs, settings = self.app.pargs, self.app.settings
        name = template_name(pargs.name)
        aws, region = command_clients(self.app)
        problems: list[str] = []
        from prism_core.templates.cleanup import inventory

        found = inventory(name, settings, aws, region)
        problems.extend(found.problems)
        entries = registry.read_template(aws.client("ssm", region), settings.registry_prefix, name)
        warn(problems)
        if found.empty:
            raise InputError(f"no template {name!r}", "run `prism templates list`")
        live = [
            v
            for v, parts in found.versions.items()
            if parts.revoked is None and (parts.document is not None or parts.images)
        ]
        latest = max(live) if live else None
        rows = []
        for channel in sorted(found.channels):
            where = found.channels[channel]
            record = entries.channels.get(channel) or {}
            versions = sorted(set(where.values()))
            rows.append(
                {
                    "channel": channel,
                    "version": versions[0] if len(versions) == 1 else versions,
                    "regions": sorted(where),
                    "promoted_at": record.get("promoted_at"),
                    "promoted_by": record.get("promoted_by"),
                    "revoked": any(
                        found.versions.get(v) and found.versions[v].revoked for v in versions
                    ),
                }
            )
        lines = [f"Channels of {name}:"]
        lines.append(
            f"   latest      v{latest} (implicit: newest not revoked)"
            if latest
            else "   latest      (none: every version is revoked)"
        )
        for row in rows:
            version = row["version"]
            shown = (
                f"v{version}" if isinstance(version, int) else "v" + "/v".join(map(str, version))
            )
            mark = "  REVOKED" if row["revoked"] else ""
            lines.append(
                f"   {row['channel']:<11} {shown}{mark}  {row['promoted_at'] or ''}  "
                f"{', '.join(row['regions'])}"
            )
        emit(
            {"template": name, "latest": latest, "channels": rows, "problems": problems},
            pargs.output,
            "\n".join(lines),
        )

    # -- revocation ------------------------------------------------------------------------
    @ex(
        help="revoke a version: refuse launching it, deprecate its images, flag descendants",
        description="Mark version N revoked in the registry of every region (when, by whom: "
        "your ARN, and why) and set an EC2 deprecation time on its images. Launching it, or "
        "a channel pointing at it, is refused unless --allow-revoked. Lists the versions "
        "saved from instances launched from it; history, show and tree mark them "
        "'parent revoked'. `prism templates restore NAME@N` undoes it.",
        arguments=[
            REF_ARGUMENT,
            (["--reason"], {"required": True, "metavar": "TEXT", "help": "why (one line)"}),
            *CHANGE_ARGUMENTS,
        ],
    )
    def revoke(self) -> None:
        """``prism templates revoke NAME@N --reason TEXT``."""
        from prism_core.templates import lifecycle
        from prism_core.templates.lineage import family

        pargs, settings = self.app.pargs, self.app.settings
        why = reason(pargs.reason)
        aws, region, target = self._target(pargs.ref)
        name, version = target.name, target.version
        if target.parts.revoked is not None:
            record = target.parts.revoked
            raise InputError(
                f"{name}@{version} is already revoked ({record.get('revoked_at')}: "
                f"{record.get('reason')})",
                f"restore it first with `prism templates restore {name}@{version}`",
            )
        # Descendants are saved where this version's images run: read those registries.
        regions = sorted({region, *target.parts.images, *target.registry_regions})
        if not target.registry_regions and not target.image_count:
            raise InputError(
                f"{name}@{version} is neither in the registry nor has images in any region",
                "a local-only version is not launched by anyone else; delete its file instead",
            )
        tree = family(settings.templates_dir, aws, settings.registry_prefix, regions)
        warn(tree.problems)
        heirs = [f"{n.name}@{n.version}" for n in tree.descendants((name, version))]
        channels = target.found.channels_of(version)
        plan = [
            f"registry: mark it revoked in {', '.join(target.registry_regions) or 'no region'}",
            f"images: deprecate {target.image_count} AMI(s) now in "
            f"{', '.join(sorted(target.parts.images)) or 'no region'}",
        ]
        if channels:
            plan.append(f"channels pointing at it (launches refused): {', '.join(channels)}")
        plan.append(
            "descendants (marked 'parent revoked'): " + (", ".join(heirs) if heirs else "none")
        )
        zones = ((target.parts.document or {}).get("ami_config") or {}).get("fast_restore")
        if isinstance(zones, dict) and zones:  # revoking is undone by restore: left enabled
            plan.append(
                "fast snapshot restore recorded for it stays enabled (billed hourly, so that "
                "`restore` finds it fast again); `aws ec2 disable-fast-snapshot-restores` "
                "or deleting the version stops it"
            )
        if not self._go(f"Revoke {name}@{version}: {why}", plan, f"Revoke {name}@{version}?"):
            return
        who = aws.identity()["Arn"]
        outcome = lifecycle.revoke(aws, settings.registry_prefix, target, why, who)
        self._done(
            f"Revoked {name}@{version} (by {who}); descendants: {', '.join(heirs) or 'none'}",
            outcome,
            {
                "template": name,
                "version": version,
                "reason": why,
                "revoked_by": who,
                "descendants": heirs,
                "channels": channels,
            },
        )

    @ex(
        help="undo a revocation: the version launches again, its images are undeprecated",
        arguments=[REF_ARGUMENT, *CHANGE_ARGUMENTS],
    )
    def restore(self) -> None:
        """``prism templates restore NAME@N``."""
        from prism_core.templates import lifecycle

        pargs, settings = self.app.pargs, self.app.settings
        aws, _, target = self._target(pargs.ref)
        name, version = target.name, target.version
        if target.parts.revoked is None:
            raise InputError(f"{name}@{version} is not revoked", "nothing to restore")
        plan = [
            f"registry: remove the revocation in {', '.join(sorted(target.parts.registry))}",
            f"images: {target.image_count} AMI(s) get their earlier deprecation time (or none)",
        ]
        if not self._go(f"Restore {name}@{version}", plan, f"Restore {name}@{version}?"):
            return
        outcome = lifecycle.restore(aws, settings.registry_prefix, target)
        self._done(f"Restored {name}@{version}", outcome, {"template": name, "version": version})

    # -- protection ------------------------------------------------------------------------
    def _protection(self, on: bool) -> None:
        from prism_core.templates import lifecycle

        pargs = self.app.pargs
        aws, _, target = self._target(pargs.ref)
        name, version = target.name, target.version
        if not target.image_count:
            raise InputError(f"{name}@{version} has no images in any region", "nothing to change")
        protected = set(target.parts.protected)
        every = {f"{r}:{i}" for r, ids in target.parts.images.items() for i in ids}
        if (on and protected >= every) or (not on and not protected):
            state = "protected" if on else "unprotected"
            emit(
                {"template": name, "version": version, "changed": [], "failures": []},
                pargs.output,
                f"{name}@{version} is already {state}.",
            )
            return
        verb = "Protect" if on else "Unprotect"
        plan = [
            f"{'enable' if on else 'disable'} EC2 deregistration protection on "
            f"{target.image_count} AMI(s) in {', '.join(sorted(target.parts.images))}"
        ]
        if not self._go(f"{verb} {name}@{version}", plan, f"{verb} {name}@{version}?"):
            return
        outcome = lifecycle.set_protection(aws, target, on)
        self._done(f"{verb}ed {name}@{version}", outcome, {"template": name, "version": version})

    @ex(
        help="turn on EC2 deregistration protection for a version's images",
        description="Turn on EC2 deregistration protection for the version's images in "
        "every region. `templates delete` and `templates prune` never remove a protected "
        "version (nor one a channel points at).",
        arguments=[REF_ARGUMENT, *CHANGE_ARGUMENTS],
    )
    def protect(self) -> None:
        """``prism templates protect NAME@N``."""
        self._protection(True)

    @ex(
        help="turn off EC2 deregistration protection for a version's images",
        arguments=[REF_ARGUMENT, *CHANGE_ARGUMENTS],
    )
    def unprotect(self) -> None:
        """``prism templates unprotect NAME@N``."""
        self._protection(False)
