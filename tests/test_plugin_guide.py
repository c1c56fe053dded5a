"""docs/plugins.md documents every hook exactly as prism_core/hookspecs.py declares it."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from prism_core import hook_reference, hookspecs
from prism_core.plugin_manager import HOOKS

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"
HEADING = re.compile(r"^#### `(prism_\w+)(\(.*\) -> .*)`$")


def _entries() -> dict[str, dict[str, str]]:
    lines = GUIDE.read_text(encoding="utf-8").splitlines()
    entries: dict[str, dict[str, str]] = {}
    for i, line in enumerate(lines):
        match = HEADING.match(line)
        if not match:
            continue
        body = []
        for following in lines[i + 1 :]:
            if following.startswith("#"):
                break
            body.append(following)
        first = re.search(r"\*\*First result wins:\*\* (yes|no)", "\n".join(body))
        entries[match.group(1)] = {
            "signature": match.group(2),
            "summary": body[0],
            "firstresult": first.group(1) if first else "",
            "body": "\n".join(body),
        }
    return entries


def test_guide_lists_exactly_the_hooks():
    assert sorted(_entries()) == sorted(HOOKS)


def test_guide_signatures_summaries_and_firstresult_match_hookspecs():
    entries = _entries()
    for name in HOOKS:
        spec = getattr(hookspecs, name)
        entry = entries[name]
        assert entry["signature"] == str(inspect.signature(spec)).replace("'", ""), name
        summary = hook_reference.markdown(spec.__doc__.strip().splitlines()[0])
        assert entry["summary"] == summary, name
        expected = "yes" if spec.prism_spec.get("firstresult") else "no"
        assert entry["firstresult"] == expected, name
        assert "**Fires:**" in entry["body"] and "**Returns:**" in entry["body"], name
        assert "Fires" in spec.__doc__, name
