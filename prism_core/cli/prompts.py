"""Terminal prompts (questionary), asked only when someone is there to answer.

Every prompt goes through :func:`ask`: Ctrl-C, Ctrl-D (end of input) or an empty
answer where one is required raise :class:`Cancelled` (exit 2, nothing changed).
Prompts are drawn on stderr, so ``-o json`` keeps stdout for the result document.
questionary is imported only when a prompt is actually shown.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from prism_core.exceptions import Cancelled, InputError

CANCELLED = "cancelled, nothing was changed"


def stdin_is_terminal() -> bool:
    """Whether stdin is a terminal (prism never prompts otherwise)."""
    try:
        return bool(getattr(sys.stdin, "isatty", lambda: False)())
    except (ValueError, OSError):
        return False


def require_terminal(what: str, flag: str) -> None:
    """Refuse with a one-line error naming ``flag`` when stdin is not a terminal."""
    if not stdin_is_terminal():
        raise InputError(f"{what} but stdin is not a terminal", f"add {flag}")


@contextmanager
def prompt_session() -> Iterator[None]:
    """Draw prompts on stderr when it is a terminal (stdout may be a pipe)."""
    from prompt_toolkit.application.current import create_app_session
    from prompt_toolkit.output import create_output

    err = getattr(sys.stderr, "raw", sys.stderr)  # the terminal under --progress json
    stream = err if err.isatty() else sys.stdout
    with create_app_session(output=create_output(stdout=stream)):
        yield


def ask(question: Any) -> Any:
    """Ask a questionary ``Question``; Ctrl-C / Ctrl-D / no answer raise ``Cancelled``."""
    from prompt_toolkit.key_binding import KeyBindings, merge_key_bindings

    extra = KeyBindings()

    @extra.add("c-d", eager=True)
    def _end_of_input(event: Any) -> None:
        event.app.exit(exception=EOFError, style="class:aborting")

    app = question.application
    app.key_bindings = merge_key_bindings([app.key_bindings or KeyBindings(), extra])
    try:
        with prompt_session():
            answer = question.unsafe_ask()
    except (KeyboardInterrupt, EOFError):
        answer = None
    if answer is None:
        raise Cancelled(CANCELLED)
    return answer


def confirm(question: str, assume_yes: bool, flag: str = "--yes") -> None:
    """Ask on a terminal (default No); without one, require ``flag``."""
    if assume_yes:
        return
    require_terminal("confirmation needed", flag)
    if getattr(sys.stderr, "progress_mode", "text") == "none":
        # never ask to confirm a plan the person could not see
        raise InputError(
            "confirmation needed but --progress none hides the plan",
            f"run with --progress text, or review it with --dry-run and add {flag}",
        )
    import questionary

    if not ask(questionary.confirm(question, default=False)):
        raise Cancelled(CANCELLED)
