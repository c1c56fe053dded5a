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
    """Print ``document`` in ``fmt``; ``text`` is the human form.

    If stdout cannot be written (closed pipe, full disk), one line says so on stderr
    when that still works; the command's exit code is unchanged.
    """
    if fmt == "json":
        out = json.dumps(document, indent=2, default=str) + "\n"
    elif fmt == "yaml":
        import yaml

        out = yaml.safe_dump(json.loads(json.dumps(document, default=str)), sort_keys=False)
    elif text:
        from prism_core.cli.layout import fit_lines, output_width
        from prism_core.validation import printable

        text = fit_lines(printable(text), output_width(sys.stdout))
        out = text if text.endswith("\n") else text + "\n"
    else:
        out = ""
    try:
        sys.stdout.write(out)
        sys.stdout.flush()
    except (OSError, ValueError) as exc:
        try:
            sys.stderr.write(
                f"prism: warning: the result could not be written to stdout "
                f"({type(exc).__name__})\n"
            )
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
