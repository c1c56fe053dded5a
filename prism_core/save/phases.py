"""The save's phases, in the order they run: :data:`PHASES`, the one home of that order.

Each row names the phase (as the journal records it in ``phases_done``), the hook that
does its work (``None``: prism core itself), what a failure does and what
``prism save --resume`` does with it. :func:`prism_core.save.pipeline.execute` loops over
the rows that run once something changes (:data:`EXECUTED`); ``preflight`` runs the
check row. ``prism plugins`` and the table in docs/plugins.md read the order from here
(``python -m prism_core.save.phases`` rewrites the docs table; a unit test compares).

Adding a phase is one row here and its step in ``pipeline.STEPS`` (keyed by the row's
name; a unit test checks they match). Hook names and their order are part of the plugin
contract: never reorder or rename a row's hook.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# -- what a failure of the phase does --------------------------------------------------
#: The save is refused before anything changes (exit 2).
REFUSE = "refuse"
#: The save fails: the instance is brought back, a failed image removed (exit 1).
FAIL_SAVE = "fail-save"
#: As :data:`FAIL_SAVE` when the source image is unusable (or the boot check failed);
#: otherwise as :data:`RECORD`.
FAIL_SAVE_IF_UNUSABLE = "fail-save-if-image-unusable"
#: Recorded as a failure; the later phases still run; ``--resume`` runs it again (exit 3
#: when the template is written).
RECORD = "record"

# -- what ``prism save --resume`` does with the phase ----------------------------------
#: Runs again on the journaled request (``ctx.resuming`` true) before anything changes.
RECHECK = "recheck"
#: Done: only brings the instance back if the interruption left it down; else runs.
RESTORE_IF_DONE = "restore-if-done"
#: Done: skipped, unless an earlier phase ran again (then every later one runs too).
SKIP_IF_DONE = "skip-if-done"

# -- when the phase runs -----------------------------------------------------------------
#: In pre-flight (and ``--dry-run``), before the confirmation; nothing has changed.
CHECK = "check"
#: In ``execute``, once the save has taken its lock.
RUN = "run"


@dataclass(frozen=True)
class Phase:
    """One step of the save."""

    name: str
    #: The hook that does the work (``None``: prism core, no hook).
    hook: str | None
    #: What a failure does (:data:`REFUSE`, :data:`FAIL_SAVE`, ...).
    on_failure: str
    #: What ``--resume`` does (:data:`RECHECK`, :data:`RESTORE_IF_DONE`, ...).
    on_resume: str
    #: One line for the docs and ``prism plugins``.
    summary: str
    stage: str = RUN
    #: Needs the late modules (template, registry) the pipeline preloads meanwhile.
    late: bool = False


PHASES: tuple[Phase, ...] = (
    Phase("pre_stop", "prism_pre_stop", REFUSE, RECHECK,
          "check the save before anything changes", stage=CHECK),
    Phase("image", "prism_image", FAIL_SAVE, RESTORE_IF_DONE,
          "create the source image; the instance ends as it began"),
    Phase("post_image", "prism_post_image", FAIL_SAVE_IF_UNUSABLE, SKIP_IF_DONE,
          "wait for the image, share it, deprecate it"),
    Phase("scrub", None, RECORD, SKIP_IF_DONE,
          "make the scrubbed derivative that is shared (--scrub)"),
    Phase("copy", "prism_copy", RECORD, SKIP_IF_DONE,
          "copy the image to the other regions"),
    Phase("fast_restore", None, RECORD, SKIP_IF_DONE,
          "enable fast snapshot restore (--fast-restore)"),
    Phase("register", "prism_register", RECORD, SKIP_IF_DONE,
          "register the template", late=True),
    Phase("template", "prism_template_render", RECORD, SKIP_IF_DONE,
          "write the template file", late=True),
)

#: The rows ``execute`` runs, in order.
EXECUTED: tuple[Phase, ...] = tuple(p for p in PHASES if p.stage == RUN)
#: The phase hooks, in the order a save calls them.
PHASE_HOOKS: tuple[str, ...] = tuple(p.hook for p in PHASES if p.hook)
#: The hooks of the phases after the image's (what the save engine runs for --detach).
AFTER_IMAGE_HOOKS: tuple[str, ...] = tuple(
    p.hook for p in PHASES[[q.name for q in PHASES].index("image") + 1 :] if p.hook
)

_FAILURE_WORDS = {
    REFUSE: "refuses the save (exit 2), nothing changed",
    FAIL_SAVE: "fails the save (exit 1); the instance is brought back",
    FAIL_SAVE_IF_UNUSABLE: "fails the save if the image is unusable; else recorded",
    RECORD: "recorded; the later phases still run (exit 3 if the template is written)",
}
_RESUME_WORDS = {
    RECHECK: "runs again on the journaled request",
    RESTORE_IF_DONE: "done: only brings the instance back",
    SKIP_IF_DONE: "done: skipped, unless an earlier phase ran again",
}


def hook_rank(hook: str) -> tuple[int, str]:
    """Sort key: phase hooks in run order, then every other hook alphabetically."""
    return (PHASE_HOOKS.index(hook), "") if hook in PHASE_HOOKS else (len(PHASE_HOOKS), hook)


#: The lines around the generated table in docs/plugins.md.
DOCS_BEGIN = "<!-- phase table: generated by `python -m prism_core.save.phases`; do not edit -->"
DOCS_END = "<!-- end of phase table -->"


def markdown_table() -> str:
    """The phase table of docs/plugins.md (between :data:`DOCS_BEGIN` and
    :data:`DOCS_END`), generated from :data:`PHASES`."""
    lines = [
        DOCS_BEGIN,
        "| # | Phase | Hook | If it fails | On `--resume` |",
        "|---|-------|------|-------------|---------------|",
    ]
    for number, phase in enumerate(PHASES, 1):
        hook = f"`{phase.hook}`" if phase.hook else "prism core (no hook)"
        lines.append(
            f"| {number} | {phase.name}: {phase.summary} | {hook} | "
            f"{_FAILURE_WORDS[phase.on_failure]} | {_RESUME_WORDS[phase.on_resume]} |"
        )
    return "\n".join([*lines, DOCS_END])


def to_dict(phase: Phase) -> dict[str, str | None]:
    """A row for ``prism plugins -o json``."""
    return {
        "name": phase.name,
        "hook": phase.hook,
        "on_failure": phase.on_failure,
        "on_resume": phase.on_resume,
    }


def write_docs(path: Path) -> bool:
    """Replace the phase table in ``path`` (docs/plugins.md); whether it changed."""
    text = path.read_text(encoding="utf-8")
    begin, end = text.index(DOCS_BEGIN), text.index(DOCS_END) + len(DOCS_END)
    updated = text[:begin] + markdown_table() + text[end:]
    path.write_text(updated, encoding="utf-8")
    return updated != text


if __name__ == "__main__":  # pragma: no cover - run by hand after changing a row
    write_docs(Path(__file__).resolve().parents[2] / "docs" / "plugins.md")
