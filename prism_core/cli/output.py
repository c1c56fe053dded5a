"""Result documents on stdout as text, JSON or YAML (progress stays on stderr)."""

from __future__ import annotations

import json
import sys
from typing import Any

FORMATS = ("text", "json", "yaml")

OUTPUT_ARGUMENT = (
    ["-o", "--output"],
    {
        "choices": FORMATS,
        "default": "text",
        "help": "result format on stdout: text (default), json or yaml; progress goes to stderr",
    },
)
DEBUG_ARGUMENT = (["--debug"], {"action": "store_true", "help": "show tracebacks and AWS calls"})


def emit(document: dict[str, Any], fmt: str, text: str) -> None:
    """Print ``document`` in ``fmt``; ``text`` is the human form."""
    if fmt == "json":
        sys.stdout.write(json.dumps(document, indent=2, default=str) + "\n")
    elif fmt == "yaml":
        import yaml

        sys.stdout.write(
            yaml.safe_dump(json.loads(json.dumps(document, default=str)), sort_keys=False)
        )
    elif text:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.stdout.flush()
