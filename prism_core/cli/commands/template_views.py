"""The text of ``prism templates list`` and ``templates show``, fitted to the terminal.

Pure functions of the command's result document and a width (``None``: whole lines, for a
pipe or a file). Names and ids are never cut or split: a name wider than its column moves to
a line of its own; descriptions wrap at word boundaries.
"""

from __future__ import annotations

from typing import Any

from prism_core.cli.layout import table, wrap
from prism_core.validation import printable

LABEL = 14  # "  description: " minus one: where the values of a version's fields start


def list_text(rows: list[dict[str, Any]], width: int | None) -> str:
    """The table of ``templates list``: NAME, VERSION, SOURCE, KIND, TITLE (the title, or
    the first line of the description when the title is only the name)."""
    cells = []
    for row in rows:
        shown = row["title"] if row["title"] != row["name"] else ""
        if not shown and row["description"]:
            shown = str(row["description"]).splitlines()[0]
        cells.append(
            [row["name"], row["version_label"], ", ".join(row["sources"]), row["kind"], shown]
        )
    headings = ["NAME", "VERSION", "SOURCE", "KIND", "TITLE"]
    return table(headings, cells, width, wrap_columns=[2, 4], spill_columns=[0])


def _field(label: str, value: str, width: int | None) -> str:
    """``  label:  value``, the value wrapped under itself."""
    head = f"  {label + ':':<{LABEL}}"
    if width is not None and " " not in value and len(head) + len(value) > width:
        return f"  {label}:\n" + _token(value, width)  # a long name: a line of its own
    return wrap(f"{head}{value}", width, hang=" " * len(head))


def _token(text: str, width: int | None, indent: int = 4) -> str:
    """A name or id on a line of its own, never split: indented when it fits, else from the
    first column (the terminal folds what is wider; copying it still gives it whole)."""
    return text if width is not None and indent + len(text) > width else " " * indent + text


def image_lines(version: dict[str, Any], width: int | None) -> list[str]:
    """Where a version's images come from: a REGION / ARCH / AMI table, SSM parameters,
    the original tool's per-region mappings, or how a package-based one is built."""
    rows = [
        [region, arch, ami]
        for region, by_arch in sorted((version.get("amis") or {}).items())
        for arch, ami in sorted((by_arch or {}).items())
    ]
    rows += [[region, "", ami] for region, ami in sorted(version.get("ami_mappings", {}).items())]
    lines = []
    if rows:
        lines.append("  images:")
        images = table(["REGION", "ARCH", "AMI"], rows, None)
        lines += ["    " + line for line in images.split("\n")]
    copies = [
        [account, region, arch, ami]
        for account, regions in sorted((version.get("accounts") or {}).items())
        for region, by_arch in sorted((regions or {}).items())
        for arch, ami in sorted((by_arch or {}).items())
    ]
    if copies:
        lines.append("  in other accounts:")
        table_text = table(["ACCOUNT", "REGION", "ARCH", "AMI"], copies, None)
        lines += ["    " + line for line in table_text.split("\n")]
    scrubbed = (version.get("shared_image") or {}).get("amis") or {}
    shared = [
        [region, arch, ami]
        for region, by_arch in sorted(scrubbed.items())
        if isinstance(by_arch, dict)
        for arch, ami in sorted(by_arch.items())
    ]
    if shared:  # --scrub: what is shared beyond the account; the images above stay private
        lines.append("  shared (scrubbed derivative; the images above stay private):")
        shared_text = table(["REGION", "ARCH", "AMI"], shared, None)
        lines += ["    " + line for line in shared_text.split("\n")]
    zones = version.get("fast_restore") or {}
    if isinstance(zones, dict) and zones:
        where = "; ".join(
            f"{printable(', '.join(map(str, z)), 200)} ({printable(r, 64)})"
            for r, z in sorted(zones.items())
            if isinstance(z, list)
        )
        lines.append(_field("fast restore", f"{where} (billed hourly until disabled)", width))
    for arch, parameter in sorted((version.get("ssm_parameters") or {}).items()):
        lines.append(_field("image", f"{arch}: the AMI in the SSM parameter", width))
        lines.append(_token(parameter, width))
    if version.get("built_on"):
        lines.append(_field("built on", version["built_on"], width))
    if not lines:
        lines.append(_field("images", "none recorded", width))
    return lines


def inventory_text(inventory: dict[str, Any]) -> str:
    """``N packages (deb a, pip b); secrets found: k (kinds)`` of a version's inventory."""
    if not inventory.get("sbom"):
        return f"unavailable ({printable(inventory.get('reason') or 'not recorded', 200)})"
    packages = inventory.get("packages") or {}
    secrets = inventory.get("secrets") or {}
    size = ", ".join(f"{k} {n}" for k, n in packages.items())
    found = sum(v for v in secrets.values() if isinstance(v, int))
    text = f"{sum(v for v in packages.values() if isinstance(v, int))} packages ({size})"
    text += f"; secrets found: {found}" + (f" ({', '.join(secrets)})" if secrets else "")
    return text


def show_text(name: str, versions: list[dict[str, Any]], width: int | None) -> str:
    """The text of ``templates show``: every version, newest first, with its description,
    origin, project, sources, lineage, channels, status, instances and images."""
    from prism_core.templates.usage import sharing_text
    from prism_core.templates.usage import text as usage_text

    newest = next((v for v in versions if v.get("newest")), versions[0])
    lines = [
        wrap(f"Template {name} (newest: version {newest['version_label']})", width, hang="  ")
    ]
    for version in versions:
        mark = " (newest, default)" if version.get("newest") else ""
        lines += ["", f"v{version['version_label']}{mark}"]
        if version.get("title") and version["title"] != name:
            lines.append(_field("title", version["title"], width))
        if version.get("description"):
            lines.append(_field("description", str(version["description"]), width))
        if version.get("saved_date"):
            lines.append(_field("saved", str(version["saved_date"]), width))
        if version.get("saved_from"):
            lines.append(_field("saved from", str(version["saved_from"]), width))
        if version.get("project"):
            lines.append(_field("project", str(version["project"]), width))
        lines.append(_field("found in", ", ".join(version["sources"]), width))
        if version.get("inventory"):
            lines.append(_field("inventory", inventory_text(version["inventory"]), width))
        parent = version.get("parent")
        if parent:
            where = f"{parent.get('template')}@{parent.get('version')}"
            lines.append(_field("parent", where, width))
        if version.get("parameters"):
            lines.append(_field("parameters", ", ".join(version["parameters"]), width))
        if version.get("channels"):
            lines.append(_field("channels", ", ".join(version["channels"]), width))
        if version.get("revoked"):
            lines.append(_field("REVOKED", str(version["revoked"].get("reason") or ""), width))
        if version.get("parent_revoked"):
            lines.append(_field("status", f"parent revoked ({version['parent_revoked']})", width))
        if version.get("sharing"):
            lines.append(_field("sharing", sharing_text(version["sharing"]), width))
        if "instances" in version:
            lines.append(_field("instances", usage_text(version["instances"] or {}), width))
        lines += image_lines(version, width)
    return "\n".join(lines)
