"""Finding templates across the three places they live, newest version by default.

Lookup order for ``prism launch TEMPLATE``: the user's ``$PRISM_HOME/templates``,
then the shared SSM registry (in the launch region), then the built-in templates
shipped with prism. ``NAME@N`` asks for version ``N``, ``NAME@CHANNEL`` for the
version a channel of the registry points at; ``NAME`` (or ``NAME@latest``) for the
newest version that is not revoked, the same for everyone: registries of the regions
the newest known version names are asked too (:mod:`prism_core.templates.resolution`).

Local templates are ``*.yaml`` and ``*.yml`` files anywhere under the templates folder
(the original Go tool's layout); a template is found by its ``slug``, else its file
stem, and its ``name`` may be a display name. Older versions of templates prism saved
are in ``$PRISM_HOME/archive`` (:mod:`prism_core.templates.archive`).

A malformed template is a *problem* (reported by name) and never stops other
templates from being listed or launched. Local and built-in lookups do not touch
AWS (and do not import boto3).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prism_core.exceptions import InputError
from prism_core.templates import archive, compat, registry
from prism_core.templates.document import load_file, parse_document
from prism_core.validation import CONTROL, LATEST, channel_name, is_number, template_name

if TYPE_CHECKING:
    from prism_core.aws.clients import AwsClients

LOCAL, REGISTRY, BUILT_IN = "local", "registry", "built-in"


@dataclass
class FoundTemplate:
    """One version of a template and where it came from."""

    name: str
    version: int
    source: str  # local | registry | built-in
    location: str  # file path, or ``region:parameter``, or the package resource
    document: dict[str, Any]
    #: The registry's revocation record of this version (in the lookup region), if any.
    revoked: dict[str, Any] | None = None
    #: The channel the version was chosen by (``NAME@CHANNEL``), if any.
    channel: str | None = None

    @property
    def label(self) -> str:
        """The version as the template writes it ("3", "1.0.0")."""
        return compat.version_label(self.document)

    @property
    def title(self) -> str:
        """The display name (the original tool's ``name``)."""
        return compat.title(self.document) or self.name


@dataclass
class Listing:
    """Every template found, and the malformed ones as one-line problems."""

    templates: list[FoundTemplate] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def parse_ref(ref: str) -> tuple[str, int | None]:
    """``NAME`` or ``NAME@N`` -> (name, version or None)."""
    name, sep, version = ref.partition("@")
    template_name(name)
    if not sep:
        return name, None
    if not is_number(version) or int(version) < 1:
        raise InputError(
            f"invalid template version {version!r} in {ref!r}", "write NAME@N with N >= 1"
        )
    return name, int(version)


def parse_selector(ref: str) -> tuple[str, int | None, str | None]:
    """``NAME``, ``NAME@N`` or ``NAME@CHANNEL`` -> (name, version or None, channel or None)."""
    name, sep, rest = ref.partition("@")
    template_name(name)
    if not sep:
        return name, None, None
    if rest.isdigit():
        _, version = parse_ref(ref)
        return name, version, None
    try:
        channel_name(rest)
    except InputError:
        raise InputError(
            f"invalid version or channel {rest!r} in {ref!r}",
            "write NAME@N (N >= 1) or NAME@CHANNEL (e.g. NAME@stable)",
        ) from None
    return name, None, rest




def resolve_ref(ref: str, templates_dir: Path) -> str:
    """``ref`` as a selector prism parses: unchanged when it is ``NAME[@N|@CHANNEL]``;
    a local template's display name (the original tool finds templates by their
    ``name`` too: "Basic Research (APT)", optionally ``@N``) becomes its key.

    Raises the selector's own one-line error when ``ref`` is neither.
    """
    try:
        parse_selector(ref)
        return ref
    except InputError as refused:
        error = refused
    title, sep, selector = ref.rpartition("@")
    tries = [(ref, "")] + ([(title, f"@{selector}")] if sep and title else [])
    for candidate, suffix in tries:
        if len(candidate) > MAX_DISPLAY_NAME or CONTROL.search(candidate):
            continue
        key = display_name_key(templates_dir, candidate)
        if key is not None:
            parse_selector(key + suffix)
            return key + suffix
    raise error


#: Longest display name looked up (the original's names are short titles).
MAX_DISPLAY_NAME = 128


def display_name_key(templates_dir: Path, title: str) -> str | None:
    """The key of the local template whose display ``name`` is exactly ``title``."""
    if not templates_dir.is_dir():
        return None
    for path in template_files(templates_dir):
        try:
            doc = load_file(path)
        except InputError:
            continue
        if doc.get("name") == title:
            return compat.key_of(doc, path)
    return None


_version_of = compat.version_number

#: Bounds of the scan of the templates folder (it is user-writable input).
MAX_TEMPLATE_FILES = 2000
MAX_DEPTH = 4


def template_files(templates_dir: Path) -> list[Path]:
    """Every ``*.yaml``/``*.yml`` file under ``templates_dir``, top level first.

    Hidden entries, symlinked folders and prism's legacy ``versions/`` archive are
    skipped; at most :data:`MAX_TEMPLATE_FILES` files, :data:`MAX_DEPTH` folders deep.
    """
    archive.migrate(templates_dir)
    found: list[Path] = []
    folders = [(templates_dir, 0)]
    while folders and len(found) < MAX_TEMPLATE_FILES:
        folder, depth = folders.pop(0)
        try:
            entries = sorted(folder.iterdir())
        except OSError:
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_dir():
                legacy = depth == 0 and entry.name == archive.LEGACY
                if not entry.is_symlink() and not legacy and depth + 1 < MAX_DEPTH:
                    folders.append((entry, depth + 1))
            elif entry.suffix in compat.TEMPLATE_SUFFIXES:
                found.append(entry)  # not a regular file: the loader refuses it, with a warning
                if len(found) >= MAX_TEMPLATE_FILES:
                    break
    return found


def _present(path: Path) -> bool:
    """Whether ``path`` is there in any form (a FIFO or dangling symlink too: the bounded
    loader then refuses it in one line instead of prism silently ignoring it)."""
    return path.is_symlink() or path.exists()


def _current_files(templates_dir: Path, name: str) -> list[Path]:
    """Files that may hold template ``name``: ``<name>.yaml``/``.yml``, else a slug match."""
    direct = [templates_dir / f"{name}{suffix}" for suffix in compat.TEMPLATE_SUFFIXES]
    direct = [p for p in direct if _present(p)]
    if direct:
        return direct
    return template_files(templates_dir)


def local_versions(
    templates_dir: Path, name: str, problems: list[str] | None = None
) -> dict[int, FoundTemplate]:
    """Every local version of ``name``: the current file and the archived ones."""
    found: dict[int, FoundTemplate] = {}
    direct = [templates_dir / f"{name}{suffix}" for suffix in compat.TEMPLATE_SUFFIXES]
    scanned = not any(_present(p) for p in direct)
    for path in _current_files(templates_dir, name):
        try:
            doc = load_file(path)
        except InputError as exc:
            if problems is not None and not scanned:
                problems.append(str(exc))
            continue
        key = compat.key_of(doc, path)
        if key != name and not (path.stem == name and not scanned):
            if problems is not None and not scanned:
                problems.append(f"{path}: names template {key!r}, not {name!r}")
            continue
        version = _version_of(doc)
        found.setdefault(version, FoundTemplate(name, version, LOCAL, str(path), doc))
        break
    for _number, path in sorted(archive.versions(templates_dir, name).items()):
        try:
            doc = load_file(path)
        except InputError as exc:
            if problems is not None:
                problems.append(str(exc))
            continue
        if compat.key_of(doc) != name:
            if problems is not None:
                problems.append(f"{path}: names template {compat.key_of(doc)!r}, not {name!r}")
            continue
        version = _version_of(doc)
        found.setdefault(version, FoundTemplate(name, version, LOCAL, str(path), doc))
    return found


def local_templates(templates_dir: Path, listing: Listing, cache_dir: Path | None = None) -> None:
    """Add every local template (its current version) to ``listing``.

    With ``cache_dir``, files unchanged since they were last validated (same size and
    modification time) come from the cache there without being parsed.
    """
    if not templates_dir.is_dir():
        return
    from prism_core.templates.parsed_cache import ParsedCache

    cache = ParsedCache(cache_dir / "templates.json") if cache_dir is not None else None
    seen: dict[str, str] = {}
    paths: set[str] = set()
    for path in template_files(templates_dir):
        paths.add(str(path))
        try:
            info = path.stat()
            doc = cache.get(path, info) if cache is not None else None
            if doc is None:
                doc = load_file(path)
                if cache is not None:
                    cache.put(path, info, doc)
        except OSError as exc:
            listing.problems.append(f"cannot read template {path}: {exc.strerror}")
            continue
        except InputError as exc:
            listing.problems.append(str(exc))
            continue
        key = compat.key_of(doc, path)
        if key is None:
            listing.problems.append(f"{path}: no usable slug or file name for this template")
            continue
        if key in seen:
            listing.problems.append(f"{path}: template {key} is also in {seen[key]}; ignored")
            continue
        seen[key] = str(path)
        listing.templates.append(FoundTemplate(key, _version_of(doc), LOCAL, str(path), doc))
    if cache is not None:
        cache.keep_only(paths)
        cache.save()


# -- built-in ----------------------------------------------------------------------
def builtin_templates(listing: Listing, cache_dir: Path | None = None) -> None:
    """Add the templates shipped in ``prism_core/data/templates`` to ``listing``.

    With ``cache_dir``, files unchanged since they were last validated come from the
    parse cache there (as for local templates).
    """
    from prism_core.templates.parsed_cache import ParsedCache

    cache = ParsedCache(cache_dir / "builtin-templates.json") if cache_dir is not None else None
    folder = resources.files("prism_core").joinpath("data/templates")
    for item in sorted(folder.iterdir(), key=lambda i: i.name):
        if not item.name.endswith(".yaml"):
            continue
        source = f"built-in {item.name}"
        path = item if isinstance(item, Path) else None
        info = path.stat() if path is not None and cache is not None else None
        doc = cache.get(path, info) if cache is not None and path and info else None
        try:
            if doc is None:
                doc = parse_document(item.read_text(encoding="utf-8"), source)
                if cache is not None and path is not None and info is not None:
                    cache.put(path, info, doc)
        except InputError as exc:
            listing.problems.append(str(exc))
            continue
        key = compat.key_of(doc) or item.name.rsplit(".", 1)[0]
        listing.templates.append(FoundTemplate(key, _version_of(doc), BUILT_IN, source, doc))
    if cache is not None:
        cache.save()


def builtin(name: str) -> FoundTemplate | None:
    """The built-in template ``name``, if prism ships one."""
    listing = Listing()
    builtin_templates(listing)
    return next((t for t in listing.templates if t.name == name), None)


# -- registry ------------------------------------------------------------------------
def registry_versions(
    aws: AwsClients, prefix: str, region: str, name: str, problems: list[str] | None = None
) -> dict[int, FoundTemplate]:
    """Every version of ``name`` in the registry of ``region``."""
    ssm = aws.client("ssm", region)
    base = registry.parameter_base(prefix, name)
    return {
        version: FoundTemplate(name, version, REGISTRY, f"{region}:{base}", doc)
        for version, doc in registry.versions(ssm, prefix, name, problems).items()
    }


def registry_templates(
    aws: AwsClients, prefix: str, region: str, listing: Listing, legacy: bool = False
) -> None:
    """Add the newest version of every template registered in ``region``.

    Reads the listing summaries only (50 templates per call); the entry's ``document``
    is that summary (``name``, ``version``, ``description``). ``legacy=True`` also scans
    the older registry layout for templates not saved since (one call per 10 entries).
    """
    ssm = aws.client("ssm", region)
    summaries, problems = registry.current_summaries(ssm, prefix)
    listing.problems.extend(problems)
    for name, item in sorted(summaries.items()):
        where = f"{region}:{registry.current_parameter(prefix, name)}"
        doc = {"name": name, **item}
        listing.templates.append(FoundTemplate(name, item["version"], REGISTRY, where, doc))
    if not legacy:
        return
    for name, value in sorted(registry.legacy_current_documents(ssm, prefix).items()):
        if name in summaries:
            continue
        where = f"{region}:{registry.legacy_current_parameter(prefix, name)}"
        try:
            doc = registry.parse_entry(value, f"registry {where}", name)
        except InputError as exc:
            listing.problems.append(str(exc))
            continue
        listing.templates.append(FoundTemplate(name, _version_of(doc), REGISTRY, where, doc))


def aws_configured() -> bool:
    """Whether an AWS configuration is visible without importing boto3.

    Used by ``prism templates list`` to decide whether to ask the registry.
    """
    env = os.environ
    if any(
        env.get(key)
        for key in (
            "AWS_ACCESS_KEY_ID",
            "AWS_PROFILE",
            "AWS_ENDPOINT_URL",
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
        )
    ):
        return True
    home = Path.home() / ".aws"
    files = [
        Path(env.get("AWS_CONFIG_FILE") or home / "config"),
        Path(env.get("AWS_SHARED_CREDENTIALS_FILE") or home / "credentials"),
    ]
    return any(f.is_file() for f in files)


# -- lookup ------------------------------------------------------------------------------
def find(
    ref: str,
    templates_dir: Path,
    aws: AwsClients,
    prefix: str,
    region: str,
    problems: list[str] | None = None,
    *,
    require_image: bool = False,
) -> FoundTemplate:
    """The template ``NAME`` or ``NAME@N`` (newest version by default).

    Looks in the local templates, then the registry of ``region``, then the built-in
    templates; for the same version number the earlier place wins. ``NAME`` means the
    newest version in the registry for everyone: the registries of the regions the
    newest known version names are asked too (:mod:`prism_core.templates.resolution`).
    With ``require_image``, ``NAME`` whose newest version has no image in ``region`` is
    refused naming the newest version there and how to copy. A registry that cannot be
    read is a problem, not an error, so local templates still launch.
    Raises a one-line :class:`InputError` naming the places searched when nothing matches.
    """
    from prism_core.aws.clients import problem_text
    from prism_core.templates import resolution

    name, wanted, channel = parse_selector(resolve_ref(ref, templates_dir))
    problems = problems if problems is not None else []
    candidates: dict[int, FoundTemplate] = dict(local_versions(templates_dir, name, problems))
    entries = registry.TemplateEntries()
    try:
        entries = registry.read_template(aws.client("ssm", region), prefix, name, problems)
    except InputError:
        raise
    except Exception as exc:
        problems.append(f"registry in {region} not readable: {problem_text(exc)}")
    base = registry.parameter_base(prefix, name)
    for version, doc in entries.versions.items():
        candidates.setdefault(
            version, FoundTemplate(name, version, REGISTRY, f"{region}:{base}", doc)
        )
    shipped = builtin(name)
    if shipped is not None:
        candidates.setdefault(shipped.version, shipped)
    if channel is not None and channel != LATEST:
        record = entries.channels.get(channel)
        if record is None:
            have = ", ".join(sorted(entries.channels)) or "none"
            raise InputError(
                f"template {name} has no channel {channel!r} in the registry of {region} "
                f"(channels: {have})",
                f"run `prism templates channels {name}`",
            )
        wanted = int(record["version"])
    revoked = set(entries.revoked)
    if wanted is None and channel is None and candidates:
        base_name = registry.parameter_base(prefix, name)
        known = {v: t.document for v, t in candidates.items() if t.source != BUILT_IN}
        for version, (other, doc, gone) in resolution.newest_elsewhere(
            aws, prefix, name, region, known, problems
        ).items():
            candidates.setdefault(
                version, FoundTemplate(name, version, REGISTRY, f"{other}:{base_name}", doc)
            )
            if gone:
                revoked.add(version)
    chosen: FoundTemplate | None = None
    if wanted is None and candidates:
        usable = [v for v in candidates if v not in revoked]
        chosen = candidates[max(usable or candidates)]
        if require_image and channel is None:
            resolution.refuse_missing_region(
                name, chosen.version, {v: t.document for v, t in candidates.items()},
                revoked, region,
            )
    elif wanted is not None and wanted in candidates:
        chosen = candidates[wanted]
    if chosen is not None:
        chosen.revoked = entries.revoked.get(chosen.version)
        chosen.channel = channel
        return chosen
    detail = f" ({'; '.join(problems)})" if problems else ""
    if candidates:
        have = ", ".join(str(v) for v in sorted(candidates))
        raise InputError(
            f"template {name} has no version {wanted} (versions: {have}){detail}",
            f"run `prism templates show {name}`",
        )
    elsewhere = registered_elsewhere(aws, prefix, name, region)
    if elsewhere:
        raise InputError(
            f"template {name!r} is not registered in {region}; it is in {', '.join(elsewhere)}",
            f"pass --region {elsewhere[0]}, or save it with --copy-to-regions {region}",
        )
    raise InputError(
        f"no template {name!r} in {templates_dir}, in the registry in {region} "
        f"or among the built-in templates{detail}",
        "run `prism templates list`, or pass --region where it was saved",
    )


def registered_elsewhere(aws: AwsClients, prefix: str, name: str, region: str) -> list[str]:
    """Other enabled regions whose registry has ``name`` (only asked when a lookup failed)."""
    from concurrent.futures import ThreadPoolExecutor

    try:
        regions = [r for r in aws.available_regions() if r != region]
    except Exception:
        return []

    def has(other: str) -> bool:
        try:
            return bool(registry.entries(aws.client("ssm", other), prefix, name))
        except Exception:
            return False

    with ThreadPoolExecutor(max_workers=8) as pool:
        found = list(pool.map(has, regions))
    return [r for r, present in zip(regions, found, strict=True) if present]
