"""``prism save --batch FILE.yaml``: several saves, planned together, run a few at a time.

FILE is a YAML list; each entry is a mapping with ``instance``, ``template`` and any
``prism save`` option by its long name (``copy_to_regions``, ``description``,
``project``, ``public``, ``share_with``, ``copy_to_accounts``, ``tag``, ``region``, ``no_reboot``,
``validate``, ``deprecate_after``, and the options plugins add to ``prism save``;
dashes or underscores). Every entry is planned and
checked before anything changes; each save keeps its own journal, so
``prism save --resume`` finishes any of them.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

from prism_core.cli.progress import Progress
from prism_core.exceptions import InputError
from prism_core.save.pipeline import SaveOptions

MAX_BATCH_BYTES = 256 * 1024
MAX_ENTRIES = 100
TEXT_KEYS = ("description", "project", "region")
LIST_KEYS = ("copy_to_regions", "share_with", "copy_to_accounts")
BOOL_KEYS = ("public", "no_reboot", "validate")
KNOWN = {"instance", "template", "tag", "deprecate_after", *TEXT_KEYS, *LIST_KEYS, *BOOL_KEYS}


class LabelledProgress(Progress):
    """Progress of one save in a batch: every line starts with ``[template]``.

    Shares the batch's lock and stream, never draws live lines (several saves wait at
    once), so lines of concurrent saves never interleave mid-line.
    """

    def __init__(self, shared: Progress, label: str) -> None:
        super().__init__(
            shared.stream, quiet=shared.quiet, live=False, status_every=shared.status_every
        )
        self._lock = shared._lock
        self.label = label
        self.event_fields = {"template": label}

    def line(self, kind: str, text: str, indent: int = 0, *, since: str | None = None) -> None:
        """The line, labelled with the save's template."""
        super().line(kind, f"[{self.label}] {text}", indent, since=since)

    def waiting(self, what: str, **about: Any) -> Any:
        """The wait, labelled with the save's template."""
        return super().waiting(f"{what} [{self.label}]", **about)


def _text(value: Any, where: str, key: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InputError(f"{where}: {key} must be text, not {type(value).__name__}")
    return str(value)


def _listed(value: Any, where: str, key: str) -> str:
    if isinstance(value, list):
        return ",".join(_text(v, where, key) for v in value)
    return _text(value, where, key)


def _tags(value: Any, where: str) -> list[str]:
    if isinstance(value, dict):
        return [f"{_text(k, where, 'tag')}={_text(v, where, 'tag')}" for k, v in value.items()]
    if isinstance(value, list):
        return [_text(v, where, "tag") for v in value]
    return [_text(value, where, "tag")]


def _plugin_value(option: Any, value: Any, where: str, key: str) -> Any:
    """A plugin option's value from YAML, checked like argparse would check it."""
    if option.action in ("store_true", "store_false"):
        if not isinstance(value, bool):
            raise InputError(f"{where}: {key} must be true or false")
        return value
    text = _text(value, where, key)
    if option.type is not None:
        try:
            converted = option.type(text)
        except (TypeError, ValueError) as exc:
            raise InputError(f"{where}: {key}: {exc}") from None
    else:
        converted = text
    if option.choices is not None and converted not in option.choices:
        raise InputError(f"{where}: {key} must be one of {', '.join(map(str, option.choices))}")
    return converted


def _plugin_default(option: Any) -> Any:
    """What argparse gives an option that is not on the command line."""
    if option.default is not None:
        return option.default
    return {"store_true": False, "store_false": True}.get(option.action or "")


def entry_options(
    entry: Any, where: str, plugin_options: dict[str, Any] | None = None
) -> tuple[SaveOptions, str | None]:
    """One batch entry as save options and its region (``None``: the default region).

    ``plugin_options`` maps the dest of each option plugins added to ``prism save`` to
    its :class:`~prism_core.plugin_api.Option`; such keys are accepted too.
    """
    plugin_options = plugin_options or {}
    if not isinstance(entry, dict):
        raise InputError(f"{where}: each entry must be a mapping with instance and template")
    values: dict[str, Any] = {}
    for raw_key, value in entry.items():
        key = str(raw_key).replace("-", "_")
        if key == "tags":
            key = "tag"
        if key not in KNOWN and key not in plugin_options:
            raise InputError(
                f"{where}: unknown option {str(raw_key)[:40]!r}",
                f"use {', '.join(sorted(KNOWN | set(plugin_options)))}",
            )
        values[key] = value
    for key in ("instance", "template"):
        if not values.get(key):
            raise InputError(
                f"{where}: {key} is missing", "every entry needs instance and template"
            )
    for key in BOOL_KEYS:
        if key in values and not isinstance(values[key], bool):
            raise InputError(f"{where}: {key} must be true or false")
    options = SaveOptions(
        instance=_text(values["instance"], where, "instance"),
        template=_text(values["template"], where, "template"),
        description=_text(values["description"], where, "description")
        if values.get("description") is not None
        else None,
        copy_to_regions=_listed(values["copy_to_regions"], where, "copy_to_regions")
        if values.get("copy_to_regions")
        else None,
        project=_text(values["project"], where, "project") if values.get("project") else None,
        public=bool(values.get("public", False)),
        share_with=_listed(values["share_with"], where, "share_with")
        if values.get("share_with")
        else None,
        copy_to_accounts=_listed(values["copy_to_accounts"], where, "copy_to_accounts")
        if values.get("copy_to_accounts")
        else None,
        tags=_tags(values["tag"], where) if values.get("tag") else [],
        no_reboot=bool(values.get("no_reboot", False)),
        validate=bool(values.get("validate", False)),
        deprecate_after=values.get("deprecate_after"),
        plugin_options={
            dest: _plugin_value(option, values[dest], where, dest)
            if dest in values
            else _plugin_default(option)
            for dest, option in plugin_options.items()
        },
    )
    region = _text(values["region"], where, "region") if values.get("region") else None
    return options, region


def load(
    path: Path, plugin_options: dict[str, Any] | None = None
) -> list[tuple[SaveOptions, str | None]]:
    """Read and check a batch file (bounded size, safe YAML, one save per template).

    Read like every file prism reads (:func:`prism_core.safe_yaml.load_yaml_bounded`): a
    regular file only (a FIFO or a symlink to a device is refused without blocking),
    bounded in size, depth, aliases and expanded size.
    """
    from prism_core.safe_yaml import load_yaml_bounded

    data = load_yaml_bounded(
        path, what=f"batch file {path}", max_bytes=MAX_BATCH_BYTES, hint="fix the batch file"
    )
    if not isinstance(data, list) or not data:
        raise InputError(f"{path}: a batch file is a non-empty YAML list of saves")
    if len(data) > MAX_ENTRIES:
        raise InputError(f"{path}: {len(data)} entries; at most {MAX_ENTRIES} per batch")
    entries = [
        entry_options(e, f"{path}: entry {i}", plugin_options) for i, e in enumerate(data, 1)
    ]
    for key, what in ((lambda o: o.template, "template"), (lambda o: o.instance, "instance")):
        seen: set[str] = set()
        for options, _ in entries:
            if key(options) in seen:
                raise InputError(
                    f"{path}: {what} {key(options)!r} appears twice",
                    f"save each {what} once per batch",
                )
            seen.add(key(options))
    return entries


def run_all(
    jobs: list[Callable[[], Any]], concurrency: int, on_interrupt: Callable[[], None]
) -> list[Any]:
    """Run ``jobs`` at most ``concurrency`` at a time; results in order.

    A job's exception is its result (one failing save does not stop the others). On
    Ctrl-C or SIGTERM, ``on_interrupt`` cancels the running saves, which bring their
    instances back; the interrupt is raised again once every job has returned.
    """
    from prism_core.save import suspend_shield

    suspend_shield.install()  # the saves run in worker threads: Ctrl-Z is handled here
    results: list[Any] = [None] * len(jobs)
    pool = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="prism-batch")
    futures: dict[Future[Any], int] = {}
    try:
        futures = {pool.submit(job): index for index, job in enumerate(jobs)}
        pending = set(futures)
        while pending:
            _, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
    except BaseException:
        for future in futures:
            future.cancel()
        on_interrupt()
        pool.shutdown(wait=True)
        raise
    pool.shutdown(wait=True)
    for future, index in futures.items():
        error = future.exception()
        results[index] = error if error is not None else future.result()
    return results
