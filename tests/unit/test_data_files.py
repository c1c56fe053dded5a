"""prism's own JSON data files (schemas) hold each key once: a JSON reader keeps only
the last of two, so an earlier definition is silently dead."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[2] / "prism_core" / "data"


def _unique(pairs: list[tuple[str, object]]) -> dict[str, object]:
    keys = [key for key, _ in pairs]
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    assert not repeated, f"keys defined twice: {repeated}"
    return dict(pairs)


@pytest.mark.parametrize("path", sorted(DATA.glob("*.json")), ids=lambda p: p.name)
def test_every_key_is_defined_once(path: Path) -> None:
    json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=_unique)
