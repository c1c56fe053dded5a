"""``prism save --batch FILE.yaml``: several saves, planned together, run a few at a time.

FILE is a YAML list; each entry is a mapping with ``instance``, ``template`` and any
``prism save`` option by its long name (every ``SAVE`` row of
:data:`prism_core.save.options.SAVE_OPTIONS`, and the options plugins add to ``prism
save``; dashes or underscores). Save options on the command line apply to every entry;
an entry's own value overrides them. Every entry is planned and
checked before anything changes; each save keeps its own journal, so
``prism save --resume`` finishes any of them.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

from prism_core.exceptions import InputError
from prism_core.save import options as save_options
from prism_core.save.options import SaveOptions

MAX_BATCH_BYTES = 256 * 1024
MAX_ENTRIES = 100


def entry_options(
    entry: Any,
    where: str,
    plugin_options: dict[str, Any] | None = None,
    flags: dict[str, Any] | None = None,
    default_copy_regions: str | list[str] | None = None,
) -> tuple[SaveOptions, str | None]:
    """One batch entry as save options and its region (``None``: the default region).

    ``plugin_options`` maps the dest of each option plugins added to ``prism save`` to
    its :class:`~prism_core.plugin_api.Option`; such keys are accepted too. ``flags``
    are the batch-wide values (the command line's, by dest): the entry overrides them
    (:func:`~prism_core.save.options.merge_batch`).
    """
    rows = save_options.table((plugin_options or {}).values())
    given = save_options.entry_values(entry, where, rows)
    values = save_options.merge_batch(flags or {}, given, rows)
    region = values.get("region") or None
    return save_options.build(values, rows, default_copy_regions), region


def load(
    path: Path,
    plugin_options: dict[str, Any] | None = None,
    flags: dict[str, Any] | None = None,
    default_copy_regions: str | list[str] | None = None,
) -> list[tuple[SaveOptions, str | None]]:
    """Read and check a batch file (bounded size, safe YAML, one save per template);
    ``flags`` and ``default_copy_regions`` as for :func:`entry_options`.

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
        entry_options(e, f"{path}: entry {i}", plugin_options, flags, default_copy_regions)
        for i, e in enumerate(data, 1)
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
