"""The user data of a scrub helper: prism's shipped scrub script and what it removes."""

from __future__ import annotations

import base64
import re
from importlib import resources
from typing import Any

_ASSIGN = re.compile(r"PRISM_SCRUB_(LIST|EMPTY)='([A-Za-z0-9+/=\n]*)'\n")
HEADER = "#!/bin/sh\n# prism scrub helper: see prism_core/data/scrub_instance.sh\n"


def script() -> str:
    """``prism_core/data/scrub_instance.sh``."""
    return resources.files("prism_core").joinpath("data/scrub_instance.sh").read_text("utf-8")


def _encoded(paths: list[str]) -> str:
    return "\n".join(base64.b64encode(p.encode("utf-8", "surrogateescape")).decode() for p in paths)


def user_data(remove: list[str], empty: list[str] = ()) -> str:  # type: ignore[assignment]
    """The helper's user data: the paths to remove and to empty (base64, one a line), then
    the script."""
    return (
        f"{HEADER}PRISM_SCRUB_LIST='{_encoded(list(remove))}'\n"
        f"PRISM_SCRUB_EMPTY='{_encoded(list(empty))}'\n"
        f"export PRISM_SCRUB_LIST PRISM_SCRUB_EMPTY\n{script()}"
    )


def plan(findings: list[Any]) -> tuple[list[str], list[str]]:
    """(paths removed, histories emptied) for the findings of an inspection."""
    remove = sorted({f.path for f in findings if f.kind != "history"})
    empty = sorted({f.path for f in findings if f.kind == "history"})
    return remove, empty


def paths_of(text: str) -> list[str] | None:
    """Every path of a user data :func:`user_data` made, or None if it is not prism's."""
    if not text.startswith(HEADER) or not text.endswith(script()):
        return None
    middle = text[len(HEADER) : len(text) - len(script())]
    found = _ASSIGN.findall(middle)
    rebuilt = "".join(f"PRISM_SCRUB_{k}='{v}'\n" for k, v in found)
    if [k for k, _ in found] != ["LIST", "EMPTY"] or middle != (
        rebuilt + "export PRISM_SCRUB_LIST PRISM_SCRUB_EMPTY\n"
    ):
        return None
    return [
        base64.b64decode(line).decode("utf-8", "surrogateescape")
        for _, value in found
        for line in value.split("\n")
        if line
    ]
