"""``prism templates history NAME`` and ``prism templates tree [NAME]``: lineage and usage."""

from __future__ import annotations

from typing import Any

from prism_core.cli.aws_options import PROFILE_ARGUMENT, command_clients
from prism_core.cli.cement_api import Controller, ex
from prism_core.cli.commands.templates import READ_ARGUMENTS, REGION_ARGUMENT, warn
from prism_core.cli.output import DEBUG_ARGUMENT, OUTPUT_ARGUMENT, emit
from prism_core.exceptions import InputError
from prism_core.validation import template_name


def terminal_width() -> int | None:
    """Columns to fit (``COLUMNS`` wins); ``None`` for a pipe or a file (whole lines)."""
    from prism_core.cli.layout import output_width

    width = output_width()
    return None if width is None else max(40, width)


NBSP = "\u00a0"


def tree_lines(family: Any, name: str | None, width: int | None) -> list[str]:
    """The family tree of ``templates tree``; a label wider than ``width`` wraps at spaces
    under itself, the tree's guides continuing (``None``: whole lines)."""
    from prism_core.cli.layout import wrap
    from prism_core.templates.lineage import tree_rows

    lines: list[str] = []
    for lead, hang, text in tree_rows(family, name):
        glued = text.replace(" ", NBSP, 1)  # "NAME vN" stays on one line
        first, *rest = wrap(glued, width, indent=" " * len(lead), hang=hang).split("\n")
        first = first.replace(NBSP, " ")
        lines += [lead + first[len(lead) :], *(line.replace(NBSP, " ") for line in rest)]
    return lines


def parent_text(doc: dict[str, Any] | None) -> str | None:
    """``NAME@N`` of a document's parent, if recorded."""
    parent = (doc or {}).get("parent")
    if isinstance(parent, dict) and parent.get("template"):
        return f"{parent['template']}@{parent.get('version')}"
    return None


def version_rows(app: Any, name: str) -> tuple[list[dict[str, Any]], list[str]]:
    """One row per version of ``name``: dates, origin, lineage, channels, status, usage."""
    from prism_core.templates import lifecycle, usage
    from prism_core.templates.cleanup import inventory
    from prism_core.templates.lineage import family

    settings = app.settings
    aws, region = command_clients(app)
    found = inventory(name, settings, aws, region)
    problems = list(found.problems)
    if found.empty:
        warn(problems)
        raise InputError(
            f"no template {name!r} here or in the registry", "run `prism templates list`"
        )
    tree = family(settings.templates_dir, aws, settings.registry_prefix, region)
    problems.extend(p for p in tree.problems if p not in problems)
    regions = sorted(set(found.regions) | {r for p in found.versions.values() for r in p.images})
    counts = usage.counts(aws, name, regions, problems)
    events = lifecycle_events(aws, settings.registry_prefix, name, found.regions, problems)
    rows = []
    for version in sorted(found.versions):
        parts = found.versions[version]
        doc = parts.document or {}
        revoked_parent = tree.revoked_ancestor((name, version))
        amis = (doc.get("ami_config") or {}).get("amis") or {}
        rows.append(
            {
                "version": version,
                "saved_date": doc.get("saved_date") or parts.saved_date,
                "saved_from": doc.get("saved_from"),
                "parent": parent_text(doc),
                "channels": found.channels_of(version),
                "revoked": parts.revoked,
                "parent_revoked": (
                    f"{revoked_parent[0]}@{revoked_parent[1]}" if revoked_parent else None
                ),
                "status": lifecycle.status_words(parts),
                "protected": bool(parts.protected),
                "regions": sorted(set(amis) | set(parts.images)),
                "instances": counts.get(version, {}),
                "secrets": _secret_counts(doc),
                "lifecycle": events.pop(version, []),
            }
        )
    for version, gone in sorted(events.items()):  # deleted by a lifecycle policy
        rows.append(
            {
                "version": version,
                "saved_date": None,
                "saved_from": None,
                "parent": None,
                "channels": [],
                "revoked": None,
                "parent_revoked": None,
                "status": ["deleted"],
                "protected": False,
                "regions": [],
                "instances": {},
                "lifecycle": gone,
                "secrets": None,
            }
        )
    rows.sort(key=lambda row: int(row["version"]))
    previous: dict[str, int] | None = None
    for row in rows:  # oldest first
        row["secrets_changed"] = previous is not None and row["secrets"] != previous
        if row["secrets"] is not None:
            previous = row["secrets"]
    return rows, problems


def _secret_counts(doc: dict[str, Any]) -> dict[str, int] | None:
    """Secrets found per kind by the version's inspection (None: not recorded)."""
    inventory = doc.get("inventory")
    if not isinstance(inventory, dict) or not inventory.get("sbom"):
        return None
    secrets = inventory.get("secrets")
    return dict(secrets) if isinstance(secrets, dict) else {}
def lifecycle_events(
    aws: Any, prefix: str, name: str, regions: list[str], problems: list[str]
) -> dict[int, list[dict[str, Any]]]:
    """Version -> what lifecycle policies did to it (the first region that has a log)."""
    from prism_core.aws.clients import error_message
    from prism_core.templates.retention import read_log

    for region in regions:
        try:
            found = read_log(aws.client("ssm", region), prefix, name)
        except Exception as exc:
            problems.append(f"lifecycle log in {region} not readable: {error_message(exc)}")
            continue
        if found:
            return found
    return {}


def history_lines(name: str, rows: list[dict[str, Any]], width: int | None) -> list[str]:
    """The text of ``history``, every line wrapped at ``width`` (``None``: not wrapped)."""
    from prism_core.cli.layout import wrap
    from prism_core.templates.usage import text

    lines = [f"History of {name} ({len(rows)} version(s), newest first)"]
    for row in sorted(rows, key=lambda r: -r["version"]):
        date = (row["saved_date"] or "-").replace("T", " ").rstrip("Z")[:16]
        head = f"v{row['version']:<3} {date}  from {row['saved_from'] or '-'}"
        lines.append(head)
        lineage = f"     parent: {row['parent'] or '-'}"
        if row["channels"]:
            lineage += f"   channels: {', '.join(row['channels'])}"
        lines.append(lineage)
        status = list(row["status"])
        if row["parent_revoked"]:
            status.append(f"parent revoked ({row['parent_revoked']})")
        lines.append(f"     status: {', '.join(status) or 'ok'}")
        if row["revoked"]:
            record = row["revoked"]
            lines.append(
                f"     revoked {str(record.get('revoked_at') or '')[:10]} by "
                f"{record.get('revoked_by') or '?'}: {record.get('reason') or ''}"
            )
        for event in row.get("lifecycle") or []:
            lines.append(
                f"     lifecycle: {event.get('action')} {str(event.get('at', ''))[:10]} by "
                f"{event.get('by', '?')} ({event.get('age_days', '?')} days old; "
                f"policy: {event.get('policy', '?')})"
            )
        lines.append(f"     regions: {', '.join(row['regions']) or '-'}")
        if row["secrets"] is not None:
            found = sum(row["secrets"].values())
            mark = "  CHANGED since the previous version" if row["secrets_changed"] else ""
            lines.append(
                f"     secrets found: {found}"
                + (f" ({', '.join(row['secrets'])})" if found else "")
                + mark
            )
        lines.append(f"     instances: {text(row['instances'])}")
    if width is None:
        return lines

    def hang(line: str) -> str:
        """Continuation lines start under the value of a ``label: value`` line."""
        if line.startswith("     ") and ": " in line:
            return " " * (line.index(": ") + 2)
        return "  " if line is lines[0] else " " * 5

    return [wrap(line, width, hang=hang(line)) for line in lines]


class TemplateHistory(Controller):
    """History and family tree of templates (under ``templates``)."""

    class Meta:
        label = "template_history"
        stacked_on = "templates"
        stacked_type = "embedded"

    @ex(
        help="each version: date, saved from, parent, channels, status, regions, instances",
        arguments=READ_ARGUMENTS,
    )
    def history(self) -> None:
        """``prism templates history NAME``."""
        pargs = self.app.pargs
        name = template_name(pargs.name)
        rows, problems = version_rows(self.app, name)
        warn(problems)
        emit(
            {"template": name, "versions": rows, "problems": problems},
            pargs.output,
            "\n".join(history_lines(name, rows, terminal_width())),
        )

    @ex(
        help="draw the family tree of templates and versions (parents above children)",
        arguments=[
            (["name"], {"nargs": "?", "help": "only the family of this template"}),
            REGION_ARGUMENT,
            PROFILE_ARGUMENT,
            OUTPUT_ARGUMENT,
            DEBUG_ARGUMENT,
        ],
    )
    def tree(self) -> None:
        """``prism templates tree [NAME]``."""
        from prism_core.templates.lineage import family

        pargs, settings = self.app.pargs, self.app.settings
        name = template_name(pargs.name) if pargs.name else None
        aws, region = command_clients(self.app)
        found = family(settings.templates_dir, aws, settings.registry_prefix, region)
        warn(found.problems)
        lines = tree_lines(found, name, terminal_width())
        if name is not None and not lines:
            raise InputError(
                f"no template {name!r} here or in the registry of {region}",
                "run `prism templates list`",
            )
        nodes = [
            {
                "template": n.name,
                "version": n.version,
                "source": n.source,
                "parent": {"template": n.parent[0], "version": n.parent[1]} if n.parent else None,
                "channels": sorted(n.channels),
                "revoked": n.revoked is not None,
                "parent_revoked": found.revoked_ancestor(n.key) is not None,
            }
            for n in sorted(found.nodes.values(), key=lambda n: n.key)
            if name is None or any(line for line in lines if f"{n.name} v{n.version}" in line)
        ]
        emit(
            {"nodes": nodes, "problems": found.problems},
            pargs.output,
            "\n".join(lines) or "No templates saved yet.",
        )
