"""``prism templates packages NAME[@N|@CHANNEL]`` and ``prism templates diff A B``: what
is installed in a version (its SBOM in the account's store) and what changed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prism_core.cli.aws_options import PROFILE_ARGUMENT, command_clients
from prism_core.cli.cement_api import Controller, ex
from prism_core.cli.commands.templates import REGION_ARGUMENT, warn
from prism_core.cli.output import DEBUG_ARGUMENT, FORMATS, emit
from prism_core.exceptions import InputError
from prism_core.validation import printable

if TYPE_CHECKING:  # the inspection's modules load when a command runs, not at start-up
    from prism_core.inspection.findings import Report

PACKAGES_OUTPUT = (
    ["-o", "--output"],
    {
        "choices": (*FORMATS, "cyclonedx"),
        "default": "text",
        "help": "text (default), json, yaml or cyclonedx (the stored SBOM as it is)",
    },
)
DIFF_OUTPUT = (["-o", "--output"], {"choices": FORMATS, "default": "text", "help": "format"})


def load_inventory(app: Any, ref: str) -> tuple[Any, Report, str]:
    """(found template, its inventory, the SBOM's text) of ``NAME[@N|@CHANNEL]``."""
    from prism_core.inspection.sbom import from_cyclonedx
    from prism_core.inspection.store import InventoryStore
    from prism_core.templates import store

    settings = app.settings
    aws, region = command_clients(app)
    problems: list[str] = []
    found = store.find(ref, settings.templates_dir, aws, settings.registry_prefix, region, problems)
    warn(problems)
    inventory = found.document.get("inventory")
    label = f"{found.name}@{found.version}"
    if not isinstance(inventory, dict):
        raise InputError(
            f"{label} has no inventory (saved before prism recorded one)",
            "save the instance again to record one",
        )
    if not inventory.get("sbom"):
        why = printable(inventory.get("reason") or "not recorded", 300)
        raise InputError(f"{label} has no inventory: {why}")
    text = InventoryStore(aws, str(inventory.get("region") or region)).get(inventory)
    return found, from_cyclonedx(text), text


def package_lines(report: Report, match: str | None) -> list[str]:
    """Packages grouped by environment and kind."""
    lines: list[str] = []
    groups: dict[tuple[str, str], list[Any]] = {}
    for package in report.packages:
        if match and match.lower() not in package.name.lower():
            continue
        groups.setdefault((package.environment, package.kind), []).append(package)
    for (environment, kind), packages in sorted(groups.items()):
        lines.append(f"{printable(environment, 200)} ({kind}, {len(packages)})")
        width = max(len(p.name) for p in packages)
        for p in sorted(packages, key=lambda p: p.name.lower()):
            lines.append(f"   {printable(p.name, 200):<{width}}  {printable(p.version, 100)}")
    return lines


def diff(old: Report, new: Report) -> dict[str, Any]:
    """Packages added, removed and changed per environment; secrets added and removed."""

    def index(report: Report) -> dict[tuple[str, str, str], str]:
        return {(p.environment, p.kind, p.name): p.version for p in report.packages}

    before, after = index(old), index(new)
    rows = []
    for key in sorted(set(before) | set(after)):
        environment, kind, name = key
        if key not in before:
            rows.append(
                {
                    "change": "added",
                    "environment": environment,
                    "kind": kind,
                    "name": name,
                    "version": after[key],
                }
            )
        elif key not in after:
            rows.append(
                {
                    "change": "removed",
                    "environment": environment,
                    "kind": kind,
                    "name": name,
                    "version": before[key],
                }
            )
        elif before[key] != after[key]:
            rows.append(
                {
                    "change": "changed",
                    "environment": environment,
                    "kind": kind,
                    "name": name,
                    "from": before[key],
                    "version": after[key],
                }
            )
    secrets_before = {(f.kind, f.path) for f in old.findings}
    secrets_after = {(f.kind, f.path) for f in new.findings}
    return {
        "packages": rows,
        "secrets_added": [
            {"kind": k, "path": p} for k, p in sorted(secrets_after - secrets_before)
        ],
        "secrets_removed": [
            {"kind": k, "path": p} for k, p in sorted(secrets_before - secrets_after)
        ],
    }


def diff_lines(a: str, b: str, changes: dict[str, Any]) -> list[str]:
    lines = [f"Packages {a} -> {b}:"]
    marks = {"added": "+", "removed": "-", "changed": "~"}
    current = None
    for row in changes["packages"]:
        group = (row["environment"], row["kind"])
        if group != current:
            current = group
            lines.append(f"   {printable(row['environment'], 200)} ({row['kind']})")
        version = (
            f"{row['from']} -> {row['version']}" if row["change"] == "changed" else row["version"]
        )
        lines.append(
            f"      {marks[row['change']]} {printable(row['name'], 200)} {printable(version, 200)}"
        )
    if not changes["packages"]:
        lines.append("   no package changes")
    from prism_core.inspection.findings import KINDS, shown_path

    lines.append("Secrets found:")
    for mark, key in (("+", "secrets_added"), ("-", "secrets_removed")):
        for item in changes[key]:
            lines.append(
                f"   {mark} {KINDS.get(item['kind'], item['kind'])}: {shown_path(item['path'])}"
            )
    if not changes["secrets_added"] and not changes["secrets_removed"]:
        lines.append("   no change")
    return lines


class TemplateInventory(Controller):
    """Packages of a template version and the differences between two (under ``templates``)."""

    class Meta:
        label = "template_inventory"
        stacked_on = "templates"
        stacked_type = "embedded"

    @ex(
        help="list the packages installed in a version (its SBOM in the account's store)",
        arguments=[
            (["name"], {"metavar": "NAME[@N|@CHANNEL]", "help": "template and version"}),
            (["--match"], {"metavar": "TEXT", "help": "only packages whose name holds TEXT"}),
            REGION_ARGUMENT,
            PROFILE_ARGUMENT,
            PACKAGES_OUTPUT,
            DEBUG_ARGUMENT,
        ],
    )
    def packages(self) -> None:
        """``prism templates packages NAME[@N|@CHANNEL] [--match TEXT]``."""
        pargs = self.app.pargs
        if pargs.output == "cyclonedx" and pargs.match:
            raise InputError("--match filters -o text, json or yaml", "drop --match")
        found, report, text = load_inventory(self.app, pargs.name)
        if pargs.output == "cyclonedx":
            print(text)
            return
        packages = [
            p.to_dict()
            for p in report.packages
            if not pargs.match or pargs.match.lower() in p.name.lower()
        ]
        head = f"{found.name}@{found.version}: {len(packages)} package(s)"
        emit(
            {
                "template": found.name,
                "version": found.version,
                "packages": packages,
                "secrets": [f.to_dict() for f in report.findings],
                "complete": report.complete,
            },
            pargs.output,
            "\n".join([head, *package_lines(report, pargs.match)]),
        )

    @ex(
        help="what changed between two versions (or templates): packages and secrets found",
        arguments=[
            (["first"], {"metavar": "A", "help": "NAME@N (or a template)"}),
            (["second"], {"metavar": "B", "help": "NAME@N (or another template)"}),
            REGION_ARGUMENT,
            PROFILE_ARGUMENT,
            DIFF_OUTPUT,
            DEBUG_ARGUMENT,
        ],
    )
    def diff(self) -> None:
        """``prism templates diff A B``."""
        pargs = self.app.pargs
        first, old, _ = load_inventory(self.app, pargs.first)
        second, new, _ = load_inventory(self.app, pargs.second)
        a, b = f"{first.name}@{first.version}", f"{second.name}@{second.version}"
        changes = diff(old, new)
        emit({"from": a, "to": b, **changes}, pargs.output, "\n".join(diff_lines(a, b, changes)))
