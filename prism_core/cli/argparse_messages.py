"""argparse's own messages translated once per process and locale.

argparse translates its fixed messages ("options", "show this help message and exit",
...) with :func:`gettext.gettext` each time it builds a parser, and every such call
searches the locale folders on disk again (a translation that is not found is never
remembered). prism builds one parser per command, about sixty, on every run: the search
was about a third of the CPU of a command that sends no request. The translation is the
same for the same message, text domain, locale folder and locale variables, so it is
kept per those.
"""

from __future__ import annotations

import argparse
import gettext
import os
import threading
from collections.abc import Callable

#: The variables gettext reads to choose the language, in its order.
_LOCALE_VARIABLES = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")
_LOCK = threading.Lock()
_KNOWN: dict[tuple[str | None, ...], str] = {}
#: Whether a catalog of the text domain exists for the locale (Python ships none for
#: argparse's domain): without one every answer is the message itself.
_CATALOGS: dict[tuple[str | None, ...], bool] = {}


def _remembering(translate: Callable[[str], str]) -> Callable[[str], str]:
    def translated(message: str) -> str:
        domain = gettext.textdomain()
        where = (
            domain,
            gettext.bindtextdomain(domain),  # (its folder: this reads, never changes it)
            *(os.environ.get(v) for v in _LOCALE_VARIABLES),
        )
        catalog = _CATALOGS.get(where)
        if catalog is None:  # one search of the folders per locale, not one per message
            catalog = gettext.find(domain, where[1]) is not None
            with _LOCK:
                _CATALOGS[where] = catalog
        if not catalog:  # what gettext answers without a catalog (None included)
            return message
        key = (message, *where)
        found = _KNOWN.get(key)
        if found is None:
            found = translate(message)
            with _LOCK:
                _KNOWN[key] = found
        return found

    translated._prism_remembering = True  # type: ignore[attr-defined]
    return translated


def remember_argparse_messages() -> None:
    """Make argparse translate each of its messages once (idempotent)."""
    module: object = argparse
    current = getattr(module, "_", None)
    if current is None or getattr(current, "_prism_remembering", False):
        return
    with _LOCK:
        if not getattr(argparse._, "_prism_remembering", False):  # type: ignore[attr-defined]
            argparse._ = _remembering(current)  # type: ignore[attr-defined]
