"""``prism templates list | show | validate | delete | prune``."""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prism_core.cli.aws_options import PROFILE_ARGUMENT, command_clients
from prism_core.cli.cement_api import Controller, ex
from prism_core.cli.layout import ListingHelpFormatter, output_width
from prism_core.cli.output import DEBUG_ARGUMENT, OUTPUT_ARGUMENT, emit
from prism_core.exceptions import EXIT_OK, EXIT_PARTIAL, InputError
from prism_core.validation import printable, template_name

if TYPE_CHECKING:
    from prism_core.templates.cleanup import Removal

REGION_ARGUMENT = (
    ["--region"],
    {"help": "region of the registry (default: your AWS configuration)"},
)
YES_ARGUMENT = (
    ["-y", "--yes"],
    {"action": "store_true", "help": "do not ask (required without a terminal)"},
)
DRY_RUN_ARGUMENT = (
    ["--dry-run"],
    {"action": "store_true", "help": "show what would change, change nothing"},
)
#: The options of a command that reads one template (``show``, ``history``, ``channels``).
READ_ARGUMENTS = [
    (["name"], {"help": "template name"}),
    REGION_ARGUMENT,
    PROFILE_ARGUMENT,
    OUTPUT_ARGUMENT,
    DEBUG_ARGUMENT,
]
#: The options of a command that changes or removes things (``delete``, ``prune`` and the
#: lifecycle commands: ``promote``, ``revoke``, ``protect``, ...).
CHANGE_ARGUMENTS = [
    YES_ARGUMENT,
    DRY_RUN_ARGUMENT,
    REGION_ARGUMENT,
    PROFILE_ARGUMENT,
    OUTPUT_ARGUMENT,
    DEBUG_ARGUMENT,
]


def dry_run_done(output: str, plan: list[str]) -> None:
    """The result of ``--dry-run``: the plan, nothing changed."""
    emit({"dry_run": True, "plan": plan}, output, "Dry run: nothing was changed.")


def _sbom_plan(sboms: Any) -> None:
    """The SBOMs a removal's plan deletes, one line each on stderr."""
    from prism_core.templates.cleanup import sbom_lines

    for line in sbom_lines(sboms):
        print(f"   {line}", file=sys.stderr)


def warn(problems: list[str]) -> None:
    """One warning line on stderr per malformed template."""
    for problem in problems:
        print(f"prism: warning: {printable(problem, 1000)}", file=sys.stderr)


def _kind(doc: dict[str, Any]) -> str:
    """``package`` (built at launch) or ``image`` (launched from AMIs)."""
    from prism_core.templates.compat import is_package_based

    return "package" if is_package_based(doc) else "image"


class Templates(Controller):
    """``prism templates ...``: saved, shared and built-in templates."""

    class Meta:
        label = "templates"
        stacked_on = "base"
        stacked_type = "nested"
        argument_formatter = ListingHelpFormatter  # the description wraps at the terminal
        subparser_options = {"metavar": "COMMAND"}  # not the 120-column list of choices
        help = "list, show, delete and prune templates; channels, revocation, lineage"
        description = (
            "Templates come from three places: the shared SSM registry of your team's "
            "account (registry; its newest version is what NAME means for everyone), your "
            "$PRISM_HOME/templates (local: a cache of saved versions and templates never "
            "shared, *.yaml and *.yml, found by slug or file name, in prism's or the "
            "original tool's format), and prism itself (built-in). Older local versions "
            "are in $PRISM_HOME/archive. `templates copy` copies a version to more regions. "
            "Versions can be promoted to channels (NAME@CHANNEL), revoked, protected, and "
            "traced through their lineage (history, tree)."
        )

    def _default(self) -> None:
        self.app.args.print_help()

    # -- list -------------------------------------------------------------------------
    @ex(
        label="list",
        help="list local, registry and built-in templates and where each comes from",
        arguments=[
            (
                ["--local"],
                {
                    "action": "store_true",
                    "help": "only local and built-in templates (no AWS calls)",
                },
            ),
            (
                ["--legacy"],
                {
                    "action": "store_true",
                    "help": "also scan the registry's older layout (PREFIX/templates/NAME/"
                    "template) for templates not saved since (slower: reads every entry)",
                },
            ),
            REGION_ARGUMENT,
            PROFILE_ARGUMENT,
            OUTPUT_ARGUMENT,
            DEBUG_ARGUMENT,
        ],
    )
    def list_templates(self) -> None:
        """``prism templates list``: the registry is asked only when AWS is configured."""
        from prism_core.cli.commands import template_views
        from prism_core.templates import store

        pargs, settings = self.app.pargs, self.app.settings
        listing = store.Listing()
        store.local_templates(settings.templates_dir, listing, settings.home / "cache")
        notes: list[str] = []
        if not pargs.local and (pargs.region or pargs.profile or store.aws_configured()):
            from prism_core.aws.clients import problem_text

            aws, region = command_clients(self.app)
            try:
                store.registry_templates(
                    aws, settings.registry_prefix, region, listing, legacy=pargs.legacy
                )
            except InputError:  # an unknown --profile, a stopped sandbox: say so, exit 2
                raise
            except Exception as exc:
                listing.problems.append(f"registry in {region} not readable: {problem_text(exc)}")
        elif not pargs.local:
            notes.append("registry not searched: no AWS configuration found")
        store.builtin_templates(listing, settings.home / "cache")
        merged: dict[str, dict[str, Any]] = {}
        for found in listing.templates:
            row = merged.setdefault(
                found.name,
                {
                    "name": found.name,
                    "title": found.title,
                    "version": found.version,
                    "version_label": found.label,
                    "kind": _kind(found.document),
                    "sources": [],
                    "description": found.document.get("description", ""),
                    "locations": {},
                },
            )
            if found.source not in row["sources"]:
                row["sources"].append(found.source)
            row["locations"].setdefault(found.source, found.location)
            if found.version > row["version"]:
                row.update(
                    version=found.version,
                    version_label=found.label,
                    title=found.title,
                    kind=_kind(found.document),
                    description=found.document.get("description", ""),
                )
        rows = [merged[name] for name in sorted(merged)]
        warn(listing.problems + notes)
        emit(
            {"templates": rows, "problems": listing.problems},
            pargs.output,
            template_views.list_text(rows, output_width()),
        )

    # -- show --------------------------------------------------------------------------
    @ex(
        help="show a template's versions with their dates and AMIs (newest is the default)",
        arguments=READ_ARGUMENTS,
    )
    def show(self) -> None:
        """``prism templates show NAME``."""
        from prism_core.templates import compat, store

        pargs, settings = self.app.pargs, self.app.settings
        name = template_name(pargs.name)
        problems: list[str] = []
        found: dict[int, dict[str, Any]] = {}

        def add(version: int, item: store.FoundTemplate) -> None:
            entry = found.setdefault(
                version, {"version": version, "sources": [], "document": item.document}
            )
            if item.source not in entry["sources"]:
                entry["sources"].append(item.source)

        for version, item in store.local_versions(settings.templates_dir, name, problems).items():
            add(version, item)
        life: dict[str, Any] = {}
        if pargs.region or pargs.profile or store.aws_configured():
            from prism_core.aws.clients import problem_text

            aws, region = command_clients(self.app)
            try:
                for version, item in store.registry_versions(
                    aws, settings.registry_prefix, region, name, problems
                ).items():
                    add(version, item)
                life = self._life(aws, region, name, found, problems)
            except InputError:
                raise
            except Exception as exc:
                problems.append(f"registry in {region} not readable: {problem_text(exc)}")
        shipped = store.builtin(name)
        if shipped is not None:
            add(shipped.version, shipped)
        warn(problems)
        if not found:
            raise InputError(f"no template {name!r}", "run `prism templates list`")
        newest = max(found)
        versions = []
        for version in sorted(found, reverse=True):
            entry = found[version]
            doc = entry["document"]
            config = doc.get("ami_config") or {}
            row = {
                "version": version,
                "version_label": compat.version_label(doc),
                "title": compat.title(doc),
                "newest": version == newest,
                "saved_date": doc.get("saved_date"),
                "saved_from": doc.get("saved_from"),
                "project": doc.get("project"),
                "parent": compat.lineage(doc),
                "sources": entry["sources"],
                "amis": config.get("amis") or {},
                "ssm_parameters": config.get("ssm_parameters") or {},
                "accounts": config.get("accounts") or {},
                "description": doc.get("description"),
                "inventory": doc.get("inventory") if isinstance(doc.get("inventory"), dict)
                else None,
                **{k: v.get(version) for k, v in life.items()},
            }
            if config.get("ami_mappings"):
                row["ami_mappings"] = config["ami_mappings"]
            if config.get("fast_restore"):  # --fast-restore: region -> zones
                row["fast_restore"] = config["fast_restore"]
            if isinstance(doc.get("shared_image"), dict):  # --scrub: the shared derivative
                row["shared_image"] = doc["shared_image"]
            if doc.get("parameters"):
                from prism_core.templates.parameters import summary

                row["parameters"] = summary(doc, name)
            if _kind(doc) == "package":
                row["built_on"] = f"{doc.get('base')} with {doc.get('package_manager')}"
            versions.append(row)
        from prism_core.cli.commands.template_views import show_text

        emit(
            {"name": name, "versions": versions, "problems": problems},
            pargs.output,
            show_text(name, versions, output_width()),
        )

    def _life(
        self, aws: Any, region: str, name: str, found: dict[int, Any], problems: list[str]
    ) -> dict[str, dict[int, Any]]:
        """Channels, revocation, "parent revoked" and instance counts of each version."""
        from prism_core.templates import registry, usage
        from prism_core.templates.lineage import family

        settings = self.app.settings
        entries = registry.read_template(aws.client("ssm", region), settings.registry_prefix, name)
        tree = family(settings.templates_dir, aws, settings.registry_prefix, region)
        regions = sorted(
            {region}
            | {
                r
                for entry in found.values()
                for r in ((entry["document"].get("ami_config") or {}).get("amis") or {})
            }
        )
        counts = usage.counts(aws, name, regions, problems)
        images: dict[int, dict[str, tuple[str, str]]] = {}
        for version, entry in found.items():
            amis = (entry["document"].get("ami_config") or {}).get("amis") or {}
            images[version] = {
                region if len(by_arch) == 1 else f"{region} {arch}": (region, str(ami))
                for region, by_arch in amis.items()
                if isinstance(by_arch, dict)
                for arch, ami in by_arch.items()
            }
        everything = {
            f"{version} {label}": at for version, of in images.items() for label, at in of.items()
        }
        shared = usage.sharing(aws, everything, problems)
        life: dict[str, dict[int, Any]] = {
            "channels": {},
            "revoked": {},
            "parent_revoked": {},
            "instances": {},
            "sharing": {},
        }
        for version in found:
            life["channels"][version] = entries.channels_of(version)
            life["revoked"][version] = entries.revoked.get(version)
            above = tree.revoked_ancestor((name, version))
            life["parent_revoked"][version] = f"{above[0]}@{above[1]}" if above else None
            life["instances"][version] = counts.get(version, {})
            life["sharing"][version] = {
                label: shared.get(f"{version} {label}") for label in images.get(version, {})
            }
        return life

    # -- validate ------------------------------------------------------------------------
    @ex(
        help="check a template file (or a template by name) against the template schema; "
        "lists every error (prism's and the original tool's format)",
        arguments=[
            (["target"], {"metavar": "FILE|NAME", "help": "a template file, or a template name"}),
            (
                ["--boot"],
                {
                    "action": "store_true",
                    "help": "also boot a throwaway instance of its AMI (current region)",
                },
            ),
            REGION_ARGUMENT,
            PROFILE_ARGUMENT,
            OUTPUT_ARGUMENT,
            DEBUG_ARGUMENT,
        ],
    )
    def validate(self) -> None:
        """``prism templates validate FILE|NAME [--boot]``."""

        pargs, settings = self.app.pargs, self.app.settings
        target = pargs.target
        path = Path(target)
        is_file = path.suffix in (".yaml", ".yml", ".json") or "/" in target or path.is_file()
        doc: dict[str, Any]
        if is_file:
            if not path.exists() and not path.is_symlink():
                raise InputError(f"no template file {target}", "give an existing file or a name")
            doc = self._check_file(path)
            where = str(path)
        else:
            name = template_name(target.partition("@")[0])
            local = [
                p
                for p in (settings.templates_dir / f"{name}{s}" for s in (".yaml", ".yml"))
                if p.is_file()
            ]
            if local and "@" not in target:
                doc, where = self._check_file(local[0]), str(local[0])
            else:
                from prism_core.templates import store

                aws, region = command_clients(self.app)
                problems: list[str] = []
                found = store.find(
                    target, settings.templates_dir, aws, settings.registry_prefix, region, problems
                )
                warn(problems)
                doc, where = found.document, found.location
        from prism_core.templates.compat import original_refusals, version_label
        from prism_core.templates.parameters import problems as parameter_problems

        unfillable = parameter_problems(doc, str(doc.get("slug") or doc["name"]))
        if unfillable:
            raise InputError(f"{where}: {unfillable[0]}", "declare it, or fix the placeholder")
        refusals = original_refusals(doc)
        result: dict[str, Any] = {
            "valid": True,
            "name": doc["name"],
            "version": doc.get("version"),
            "source": where,
            "errors": [],
            "original_tool": {"accepts": not refusals, "problems": refusals},
        }
        lines = [
            f"OK: {where} is a valid prism template ({doc['name']}, version {version_label(doc)})"
        ]
        if refusals:
            lines.append("Note: the original Go tool would not load it: " + "; ".join(refusals))
        if pargs.boot:
            result["boot_check"] = self._boot(doc)
            lines.append(
                f"Boot check passed in {result['boot_check']['region']}: "
                + ", ".join(result["boot_check"]["images"])
            )
        emit(result, pargs.output, "\n".join(lines))

    def _check_file(self, path: Path) -> dict[str, Any]:
        """Load ``path`` and report every schema error in it (not just the first)."""
        from prism_core.safe_yaml import load_yaml_bounded
        from prism_core.templates import document as tpl

        try:
            return tpl.load_file(path)
        except InputError as first:
            try:
                doc = load_yaml_bounded(path, what=str(path), max_bytes=tpl.MAX_TEMPLATE_BYTES)
            except InputError:
                raise first from None
            errors = tpl.schema_errors(doc)
            if not errors:
                raise
        emit(
            {"valid": False, "source": str(path), "errors": errors},
            self.app.pargs.output,
            "\n".join(
                [f"INVALID: {path} has {len(errors)} error(s):"] + [f"  - {e}" for e in errors]
            ),
        )
        more = f" (and {len(errors) - 1} more, listed above)" if len(errors) > 1 else ""
        raise InputError(f"{path}: {errors[0]}{more}", "fix the template and validate again")

    def _boot(self, doc: dict[str, Any]) -> dict[str, Any]:
        from prism_core.cli.progress import Progress
        from prism_core.templates import launch as launching
        from prism_core.templates.compat import key_of
        from prism_core.templates.images import template_images

        aws, region = command_clients(self.app)
        amis, _release = template_images(doc, key_of(doc) or "template", region, aws)
        from prism_core.templates.launch_access import check_image

        for image_id in sorted(set(amis.values())):
            check_image(aws.ec2(region), image_id, str(doc["name"]), doc.get("version"), region)
        progress = Progress(sys.stderr)
        self.app.changes_started = True
        self.app.interrupt_note = (
            "the boot check was cut short; its throwaway instance is terminated on the way "
            "out (see the lines above)"
        )
        for arch, image_id in sorted(amis.items()):
            launching.boot_check(
                aws.ec2(region), image_id, arch, self.app.settings, progress, label=str(doc["name"])
            )
        return {"region": region, "images": [amis[a] for a in sorted(amis)]}

    # -- delete ----------------------------------------------------------------------------
    @ex(
        help="delete a template: local files and registry entries (--purge: AMIs too)",
        arguments=[
            (["name"], {"help": "template name"}),
            (
                ["--purge"],
                {
                    "action": "store_true",
                    "help": "also deregister its AMIs and delete their snapshots in every region",
                },
            ),
            *CHANGE_ARGUMENTS,
        ],
    )
    def delete(self) -> None:
        """``prism templates delete NAME [--purge] [--yes]``."""
        from prism_core.cli.prompts import confirm
        from prism_core.templates import delete_plan, store
        from prism_core.templates.cleanup import inventory, owned_images

        pargs, settings = self.app.pargs, self.app.settings
        name = template_name(pargs.name)
        aws, region = command_clients(self.app)
        found = inventory(name, settings, aws, region)
        warn(found.problems)
        plan = delete_plan.plan_delete(
            found,
            templates_dir=settings.templates_dir,
            purge=pargs.purge,
            owned=partial(owned_images, aws),
            builtin=found.empty and store.builtin(name) is not None,
        )
        print(plan.headline, file=sys.stderr)
        _sbom_plan(plan.inventories)
        warn(list(plan.kept))
        if pargs.dry_run:
            dry_run_done(pargs.output, plan.dry_run_lines())
            return
        confirm(plan.question, pargs.yes)
        self.app.changes_started = True
        self.app.interrupt_note = (
            f"`prism templates delete {name}` was interrupted part-way; "
            "run it again to finish"
        )
        done = delete_plan.carry_out(plan, aws, settings.registry_prefix, settings.templates_dir)
        self._finish(f"Deleted template {name}", {"template": name, "removed": done.to_dict()},
                     done)

    # -- prune -------------------------------------------------------------------------------
    @ex(
        help="remove old versions: their AMIs and snapshots in every region, files and "
        "registry entries",
        description="Remove every version but the K newest: their AMIs and snapshots in "
        "every region, files and registry entries. Protected versions and channel targets "
        "are always kept, versions whose images instances run from unless --force; the "
        "output says which were kept and why.",
        arguments=[
            (["name"], {"help": "template name"}),
            (
                ["--keep"],
                {
                    "type": int,
                    "required": True,
                    "metavar": "K",
                    "help": "how many of the newest versions to keep (at least 1)",
                },
            ),
            (
                ["--force"],
                {
                    "action": "store_true",
                    "help": "also remove versions whose images existing instances run from",
                },
            ),
            *CHANGE_ARGUMENTS,
        ],
    )
    def prune(self) -> None:
        """``prism templates prune NAME --keep K``."""
        from prism_core.cli.prompts import confirm
        from prism_core.templates import prune_plan
        from prism_core.templates.cleanup import inventory, owned_images

        pargs, settings = self.app.pargs, self.app.settings
        name = template_name(pargs.name)
        prune_plan.check_keep(pargs.keep)
        aws, region = command_clients(self.app)
        found = inventory(name, settings, aws, region)
        warn(found.problems)
        plan = prune_plan.plan_prune(
            found,
            keep=pargs.keep,
            force=pargs.force,
            users=partial(prune_plan.instances_using, aws),
            owned=partial(owned_images, aws),
        )
        for note in plan.notes:
            print(f"prism: {note}", file=sys.stderr)
        if plan.nothing_to_do:
            emit(prune_plan.result_document(plan), pargs.output, plan.nothing_text)
            return
        print(plan.headline, file=sys.stderr)
        _sbom_plan(plan.inventories)
        warn(list(plan.not_ours))
        if pargs.dry_run:
            dry_run_done(pargs.output, plan.dry_run_lines())
            return
        confirm(plan.question, pargs.yes)
        self.app.changes_started = True
        self.app.interrupt_note = (
            f"`prism templates prune {name}` was interrupted part-way; run it again to finish"
        )
        done = prune_plan.carry_out(plan, aws, settings.registry_prefix)
        self._finish(plan.done_headline, prune_plan.result_document(plan, done), done)

    def _finish(self, headline: str, document: dict[str, Any], done: Removal) -> None:
        """Emit what a removal did; exit 3 when something failed or was left alone."""
        lines = [
            headline,
            f"   AMIs deregistered: {len(done.images)}   snapshots deleted: {len(done.snapshots)}",
            f"   registry entries deleted: {len(done.registry)}   files removed: {len(done.files)}",
        ]
        if done.inventories:
            lines.append(f"   inventory SBOMs deleted: {len(done.inventories)}")
        lines += [f"   FAILED: {failure}" for failure in done.failures]
        lines += [f"   KEPT: {item}" for item in done.kept]
        emit(document, self.app.pargs.output, "\n".join(lines))
        self.app.exit_code = EXIT_PARTIAL if done.failures or done.kept else EXIT_OK
