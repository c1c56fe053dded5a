"""Template documents: validate (one schema for every loader), write, load.

A template is YAML written with PyYAML's safe dumper and read with its safe loader
only. ``$PRISM_HOME/templates/<name>.yaml`` is the newest version; older versions are
kept in ``$PRISM_HOME/archive/<name>/<N>.yaml`` (:mod:`prism_core.templates.archive`).
The schema also admits the original Go tool's templates (display ``name`` + ``slug``,
semver versions, package-based templates); what prism writes passes that tool's
parser and validator (``base: ami-based``, ``package_manager: ami``, a description,
a string ``version``; lineage in ``parent``).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from prism_core.exceptions import InputError
from prism_core.files import ensure_private_dir, write_private_atomic
from prism_core.safe_yaml import load_yaml_bounded, read_text_bounded
from prism_core.templates import archive, compat
from prism_core.validation import printable, template_name

MAX_TEMPLATE_BYTES = 256 * 1024
#: A version string both tools accept ("3", "1.0.0").
VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+_-]{0,63}$")


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    """The template JSON schema shipped with prism."""
    text = resources.files("prism_core").joinpath("data/template.schema.json").read_text()
    return dict(json.loads(text))


@lru_cache(maxsize=1)
def instance_types() -> dict[str, dict[str, Any]]:
    """Instance type facts (architecture, size, list price) shipped with prism."""
    text = resources.files("prism_core").joinpath("data/instance_types.yaml").read_text()
    return dict(load_yaml_bounded(text, what="prism data/instance_types.yaml"))


MAX_ERRORS = 100


def schema_errors(doc: Any) -> list[str]:
    """Every schema error of ``doc`` (at most :data:`MAX_ERRORS`), as ``field X: message``."""
    import jsonschema

    if not isinstance(doc, dict):
        return [f"a template must be a mapping, not {type(doc).__name__}"]
    validator = jsonschema.Draft202012Validator(schema())
    found: list[tuple[list[str], str]] = _key_errors(doc)
    for error in validator.iter_errors(doc):
        path = [str(p) for p in error.absolute_path]
        where = ".".join(path) or "(top level)"
        message = error.message if len(error.message) <= 300 else error.message[:297] + "..."
        found.append((path, f"field {where}: {message}"))
        if len(found) >= MAX_ERRORS:
            break
    found.sort(key=lambda item: item[0])
    return [text for _, text in found]


def _key_errors(doc: dict[str, Any]) -> list[tuple[list[str], str]]:
    """Mapping keys that are not text (YAML reads ``1:``, ``true:``, ``null:`` or a date
    as such): the schema's name patterns never see them, the registry's JSON would change
    them. Walked without recursion, at most :data:`MAX_ERRORS`."""
    found: list[tuple[list[str], str]] = []
    stack: list[tuple[Any, list[str]]] = [(doc, [])]
    while stack and len(found) < MAX_ERRORS:
        item, path = stack.pop()
        children = item.items() if isinstance(item, dict) else enumerate(item)
        for key, value in children:
            if isinstance(item, dict) and not isinstance(key, str):
                where = ".".join(path) or "(top level)"
                found.append((path, f"field {where}: key {str(key)[:40]!r} is not text (quote it)"))
            if isinstance(value, dict | list):
                stack.append((value, [*path, str(key)]))
    return found


def validate_document(doc: Any, source: str) -> dict[str, Any]:
    """Check ``doc`` against the schema; the error names the source, the first field
    and how many more errors there are (``prism templates validate`` lists them all)."""
    errors = schema_errors(doc)
    if errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise InputError(f"{source}: {printable(errors[0], 300)}{more}", "fix the template file")
    assert isinstance(doc, dict)
    return doc


def parse_document(text: str | bytes, source: str) -> dict[str, Any]:
    """Safely parse and validate template YAML (or JSON) text, within bounds (size,
    UTF-8, depth, aliases and the size once aliases are expanded)."""
    doc = load_yaml_bounded(
        text, what=source, max_bytes=MAX_TEMPLATE_BYTES, hint="fix the template file"
    )
    return validate_document(doc, source)


def load_file(path: Path) -> dict[str, Any]:
    """Read and validate one template file (a regular file, UTF-8, bounded size)."""
    doc = load_yaml_bounded(
        Path(path), what=str(path), max_bytes=MAX_TEMPLATE_BYTES, hint="fix or remove the file"
    )
    return validate_document(doc, str(path))


def template_path(templates_dir: Path, name: str) -> Path:
    """``templates/<name>.yaml``; the name is a slug so the path stays inside."""
    return templates_dir / f"{template_name(name)}.yaml"


def local_version(templates_dir: Path, name: str) -> int:
    """The newest local version of ``name`` (0 if none)."""
    path = template_path(templates_dir, name)
    versions = [0]
    if path.exists():
        try:
            versions.append(compat.version_number(load_file(path)))
        except InputError:
            versions.append(1)
    versions.extend(archive.versions(templates_dir, name))
    return max(versions)


def dump(doc: dict[str, Any]) -> str:
    """YAML text of a template document (safe dumper, field order kept)."""
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, default_flow_style=False)


def write(templates_dir: Path, doc: dict[str, Any]) -> Path:
    """Validate and write ``doc`` as the newest version; keep the previous one archived.

    Concurrent saves on this machine take turns (a lock on the templates folder), and
    a newer version already current stays current: ``doc`` is archived instead.
    """
    name = str(doc.get("slug") or doc["name"])
    validate_document(doc, f"template {name}")
    ensure_private_dir(templates_dir)
    fd = os.open(templates_dir, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        return _write_locked(templates_dir, name, doc)
    finally:
        os.close(fd)  # releases the lock


def _write_locked(templates_dir: Path, name: str, doc: dict[str, Any]) -> Path:
    path = template_path(templates_dir, name)
    if os.path.lexists(path):
        try:
            old = load_file(path)
        except InputError:
            old = None
            set_aside_unreadable(templates_dir, name, path)
        if old is not None and _version(old) > _version(doc):
            # a concurrent save of a newer version finished first: it stays current
            target = archive.folder(templates_dir, name) / f"{_version(doc)}.yaml"
            write_private_atomic(target, dump(doc))
            return target
        if old is not None and _version(old) != _version(doc):
            target = archive.folder(templates_dir, name) / f"{_version(old)}.yaml"
            write_private_atomic(target, read_text_bounded(path, max_bytes=MAX_TEMPLATE_BYTES))
    write_private_atomic(path, dump(doc))
    return path


def set_aside_unreadable(templates_dir: Path, name: str, path: Path) -> Path:
    """Move a current file that cannot be loaded (a hand edit with a YAML error, a file
    too big) into the archive as ``unreadable-<UTC time>.yaml``, as it is (moved, never
    read), so that the file written in its place loses nothing."""
    from datetime import UTC, datetime

    folder = ensure_private_dir(archive.folder(templates_dir, name))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    target = folder / f"unreadable-{stamp}.yaml"
    os.replace(path, target)
    return target


def _version(doc: dict[str, Any]) -> int:
    """The version number of a template document (a string of digits is parsed)."""
    return compat.version_number(doc)


def archive_current(templates_dir: Path, name: str) -> Path | None:
    """Move the current ``<name>.yaml`` into ``$PRISM_HOME/archive/<name>/`` and return
    where it went.

    It goes to ``<N>.yaml`` (its version) unless that holds other content, then to
    ``<N>-replaced-<UTC time>.yaml``. ``None`` when there is no current file.
    """
    from datetime import UTC, datetime

    path = template_path(templates_dir, name)
    if not path.exists():
        return None
    text = read_text_bounded(path, max_bytes=MAX_TEMPLATE_BYTES, hint="fix or remove the file")
    try:
        version = compat.version_number(load_file(path))
    except (InputError, TypeError, ValueError):
        version = 0
    folder = archive.folder(templates_dir, name)
    target = folder / f"{version}.yaml"
    if target.exists() and _text_or_none(target) != text:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        target = folder / f"{version}-replaced-{stamp}.yaml"
    if not target.exists():
        write_private_atomic(target, text)
    path.unlink()
    return target


def _text_or_none(path: Path) -> str | None:
    try:
        return read_text_bounded(path, max_bytes=MAX_TEMPLATE_BYTES)
    except InputError:
        return None
