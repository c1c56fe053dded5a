"""What each command's exit codes mean, at the end of its ``--help``.

The codes are the contract's (:mod:`prism_core.exceptions`): 0 success, 1 failure,
2 refused (nothing changed), 3 partial success. What each means differs by command, so
every command's help lists its own; a command that never ends in partial success does not
list 3. The lines are at most :data:`WIDTH` columns so they fit an 80-column terminal as
written (help formatters keep them as they are).
"""

from __future__ import annotations

import textwrap
from typing import Any

from prism_core.cli.layout import ListingHelpFormatter

WIDTH = 76
HEADING = "exit codes:"

REFUSED = "bad input, a failed check or a cancelled prompt; nothing changed"
READ_REFUSED = "bad input (e.g. an invalid or unknown name, an unknown --profile)"
INTERRUPTED = "or was interrupted part-way (the output says what was done; run it again)"


def exit_codes_help(
    success: str, failure: str, refused: str = REFUSED, partial: str | None = None
) -> str:
    """The ``exit codes:`` block of one command's help, wrapped to :data:`WIDTH`."""
    rows = [
        ("0", f"success: {success}"),
        ("1", f"failure: {failure}"),
        ("2", f"refused: {refused}"),
    ]
    if partial:
        rows.append(("3", f"partial success: {partial}"))
    lines = [HEADING]
    for code, text in rows:
        lines += textwrap.wrap(
            text,
            WIDTH,
            initial_indent=f"  {code}  ",
            subsequent_indent=" " * 5,
            break_long_words=False,
            break_on_hyphens=False,
        )
    return "\n".join(lines)


SAVE = exit_codes_help(
    "the template was saved",
    "the save did not complete: what was created is reported, and "
    "`prism save --resume` finishes it (the instance is running again if it was)",
    "bad input, a failed check or a cancelled prompt, or a share beyond the account "
    "(--public, --share-with) of an instance with secrets found in it or that cannot be "
    "inspected; nothing changed",
    "the template was saved but some steps failed (e.g. a region's copy); what "
    "succeeded is kept and listed",
)
#: What the top-level ``prism --help`` says for every command.
GENERAL = exit_codes_help(
    "the command did what it says",
    "the command did not complete; what it changed is reported (`prism save "
    "--resume` finishes a save)",
    REFUSED,
    "some steps failed (e.g. a region's copy); what succeeded is kept and listed",
)
READ_ONLY = exit_codes_help(
    "shown (registry problems, if any, are warnings on stderr)",
    "an unexpected error (shown on one line)",
    READ_REFUSED,
)
REMOVAL = exit_codes_help(
    "everything listed was removed",
    f"nothing could be removed, {INTERRUPTED}",
    REFUSED,
    "some AMIs, snapshots, registry entries or files were not removed, or images "
    "whose tags do not prove this template made them were left alone (listed); run "
    "it again to finish",
)
LIFECYCLE = exit_codes_help(
    "changed as shown",
    f"nothing could be changed, {INTERRUPTED}",
    REFUSED,
    "some changes failed, or images whose tags do not prove this template made them "
    "were left alone (listed)",
)

#: Command path (``"templates list"``) -> its exit codes.
COMMANDS: dict[str, str] = {
    "save": SAVE,
    "ami save": SAVE,
    "launch": exit_codes_help(
        "the instance is running (with --wait-ready: and its setup script finished); "
        "--dry-run: every check passed",
        "the launch failed after it began (an AWS error, or the instance stopped, "
        "terminated or did not start in time): everything it created was removed, or "
        "what could not be is named (`prism cleanup`); or with --wait-ready the running "
        "instance's setup script failed or did not finish in time",
        "bad input, an unknown or revoked template, an image from an owner you do not "
        "trust, a failed pre-flight check (also EC2's DryRun), EC2 refusing your input "
        "(what the launch created was removed) or a cancelled prompt; nothing was launched",
    ),
    "list": READ_ONLY,
    "connect": exit_codes_help(
        "the session ended normally (or, with --print or -o, the command was printed); "
        "otherwise ssh's or aws's own exit code",
        "an unexpected error (shown on one line)",
        "bad input, an unknown or ambiguous name, an instance that is not running, or "
        "ssh / the AWS CLI is not installed",
    ),
    "stop": exit_codes_help(
        "the instance is stopped (or already was)",
        f"the stop did not finish in time, {INTERRUPTED}",
        "bad input, an unknown or ambiguous name, an instance EC2 cannot stop (one-time "
        "Spot, instance-store root) or a cancelled prompt; nothing changed",
    ),
    "start": exit_codes_help(
        "the instance is running (or already was); its address is printed",
        f"the start did not finish in time, {INTERRUPTED}",
        "bad input, an unknown or ambiguous name, or an instance that is neither "
        "running nor stopped; nothing changed",
    ),
    "terminate": exit_codes_help(
        "the instance is terminated and its security group deleted; --dry-run: shown",
        "EC2 did not terminate it, or its group could not be deleted (the reason is "
        f"shown; `prism cleanup` removes the group later), {INTERRUPTED}",
        "bad input, an instance prism did not launch (its tags do not prove it), or a "
        "cancelled prompt; nothing changed",
    ),
    "cleanup": exit_codes_help(
        "everything listed was removed (or nothing was left); --dry-run: listed",
        f"some items could not be removed (listed with the reason), {INTERRUPTED}",
    ),
    "plugins": exit_codes_help(
        "listed (broken plugins are listed too)",
        "an unexpected error (shown on one line)",
        "bad input",
    ),
    "iam-policy": exit_codes_help(
        "the policy was printed",
        "an unexpected error (shown on one line)",
        "bad input (an unknown --for)",
    ),
    "demo": exit_codes_help(
        "every step of the demo passed",
        "a step failed (its exit code is shown); the sandbox cloud is stopped",
        "the demo cannot run here (e.g. the sandbox extra is not installed)",
    ),
    "sandbox start": exit_codes_help(
        "the sandbox cloud is running",
        "it did not start (the reason is shown)",
        "bad input (e.g. an invalid --port) or one is already running",
    ),
    "sandbox stop": exit_codes_help(
        "stopped", "it could not be stopped (the reason is shown)", "no sandbox is running"
    ),
    "sandbox status": exit_codes_help(
        "the status was shown (running or not)", "an unexpected error", "bad input"
    ),
    "sandbox add-file": exit_codes_help(
        "the file is in the instance's tree",
        "an unexpected error",
        "no sandbox is running, no such instance, or a bad path or content",
    ),
    "sandbox env": exit_codes_help(
        "the settings were printed", "an unexpected error", "no sandbox is running"
    ),
    "sandbox advance": exit_codes_help(
        "the clock moved; every schedule that became due fired (each firing's outcome "
        "is listed: see `prism saves`)",
        "an unexpected error",
        "no sandbox is running, or a bad duration",
    ),
    "schedule add": exit_codes_help(
        "the schedule is created",
        "a step failed (the reason is shown); `prism schedule list` shows what exists",
        "bad input, a failed check (instance, engine, plugins) or a cancelled prompt; "
        "nothing changed",
    ),
    "schedule list": READ_ONLY,
    "schedule show": READ_ONLY,
    "schedule pause": exit_codes_help(
        "the schedule is paused", "an unexpected error",
        "bad input or an unknown schedule; nothing changed",
    ),
    "schedule resume": exit_codes_help(
        "the schedule fires again", "an unexpected error",
        "bad input or an unknown schedule; nothing changed",
    ),
    "schedule remove": exit_codes_help(
        "the schedule (and the topic prism made for it) is removed; its versions stay",
        "a removal failed (the reason is shown); run remove again",
        "bad input, an unknown schedule or a cancelled prompt; nothing changed",
    ),
    "cloud setup": exit_codes_help(
        "the save engine is deployed and current (nothing to change, or updated)",
        "a step failed (the reason is shown); run setup again to finish",
        "bad input, a resource of prism's name that is not prism's, or a cancelled prompt",
    ),
    "cloud status": READ_ONLY,
    "cloud teardown": exit_codes_help(
        "every resource setup made is removed (or there was none)",
        "a deletion failed (the reason is shown); run teardown again",
        "bad input or a cancelled prompt; nothing was removed",
    ),
    "saves list": READ_ONLY,
    "saves show": exit_codes_help(
        "the save is done (or still running)",
        "the save failed (its cause is shown), or an unexpected error",
        "bad input or an unknown save id",
        "partial: some regions failed (listed with their causes); the rest is kept",
    ),
    "saves follow": exit_codes_help(
        "the save is done",
        "the save failed (its cause is shown), or an unexpected error",
        "bad input or an unknown save id",
        "partial: some regions failed (listed with their causes); the rest is kept",
    ),
    "saves abort": exit_codes_help(
        "the save is stopped and what it made is removed",
        "a removal failed (the reason is shown); run abort again",
        "bad input, an unknown save id or a cancelled prompt; nothing was changed",
    ),
    "templates list": READ_ONLY,
    "templates show": READ_ONLY,
    "templates history": READ_ONLY,
    "templates packages": READ_ONLY,
    "templates diff": READ_ONLY,
    "templates tree": READ_ONLY,
    "templates channels": READ_ONLY,
    "templates validate": exit_codes_help(
        "the template is valid (with --boot: and its images booted)",
        "the --boot check failed (its throwaway instance is terminated)",
        "the template is not valid (every error is listed), or bad input",
    ),
    "templates delete": REMOVAL,
    "templates prune": REMOVAL,
    "templates promote": LIFECYCLE,
    "templates demote": LIFECYCLE,
    "templates revoke": LIFECYCLE,
    "templates restore": LIFECYCLE,
    "templates protect": LIFECYCLE,
    "templates unprotect": LIFECYCLE,
    "templates copy": exit_codes_help(
        "every copy is available and registered",
        f"no copy succeeded, {INTERRUPTED}",
        "bad input (no @N, a region the version already has), a failed check or a "
        "cancelled prompt; nothing changed",
        "some regions' copies or registry writes failed (listed); the others are kept",
    ),
    "templates policy": LIFECYCLE,
    "templates enforce": LIFECYCLE,
    "templates export": exit_codes_help(
        "every region's launch template has its new version",
        "no region's launch template could be written (the reasons are listed)",
        "bad input, a version without an image in a region, or a launch template of that "
        "name that prism did not make; nothing changed",
        partial="some regions failed (listed); the others have their new version",
    ),
}


def command_path(controllers: list[Any], controller: Any, label: str) -> str:
    """``"templates list"``: the words that run command ``label`` of ``controller``
    (embedded controllers add none, nested ones their label)."""
    by_label = {c._meta.label: c for c in controllers}
    words = [label]
    while controller is not None and controller._meta.label != "base":
        if controller._meta.stacked_type == "nested":
            words.insert(0, controller._meta.label.replace("_", "-"))
        controller = by_label.get(controller._meta.stacked_on)
    return " ".join(words)


def with_exit_codes(options: dict[str, Any], path: str) -> dict[str, Any]:
    """A command's argparse parser options with its exit codes at the end of the epilog
    (and a formatter that keeps them, and every other listing, as written)."""
    codes = for_command(path)
    epilog = options.get("epilog")
    options = dict(options, epilog=f"{epilog}\n\n{codes}" if epilog else codes)
    options["formatter_class"] = ListingHelpFormatter  # prose wrapped, listings kept
    return options


def for_command(path: str) -> str:
    """The exit codes of ``path`` (``"templates list"``); a plugin's command gets the
    contract's general meanings."""
    return COMMANDS.get(path, GENERAL)
