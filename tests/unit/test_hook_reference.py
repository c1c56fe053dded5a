"""Unit layer: docs/plugins.md's hook reference is generated from prism_core/hookspecs.py."""

from __future__ import annotations

import pytest

from prism_core import hook_reference
from prism_core.plugin_manager import HOOKS


def test_the_guide_is_current():
    text = hook_reference.GUIDE.read_text(encoding="utf-8")
    assert hook_reference.render(text) == text, (
        "docs/plugins.md is out of date: run `python -m prism_core.hook_reference`"
    )


def test_every_hook_has_a_block_in_declaration_order():
    assert sorted(hook_reference.hook_names()) == sorted(HOOKS)
    text = hook_reference.GUIDE.read_text(encoding="utf-8")
    places = [text.index(hook_reference.begin_marker(h)) for h in hook_reference.hook_names()]
    assert places == sorted(places)


def test_a_block_shows_signature_summary_fires_returns_and_firstresult():
    block = hook_reference.block("prism_copy").splitlines()
    assert block[1] == "#### `prism_copy(ctx: SaveContext) -> dict[str, RegionImage] | None`"
    assert block[2].startswith("Copy the image to `ctx.request.copy_to_regions`")
    assert any(line.startswith("- **Fires:** ") for line in block)
    assert any(line.startswith("- **Returns:** ") for line in block)
    assert "- **First result wins:** yes" in block
    assert not any(line.startswith(("  -", "  #", "#", "-")) for line in block[4:]
                   if not line.startswith(("- **", "#### ")))


def test_a_missing_block_or_an_unknown_one_is_refused():
    text = hook_reference.GUIDE.read_text(encoding="utf-8")
    without = text.replace(hook_reference.begin_marker("prism_copy"), "")
    with pytest.raises(ValueError, match="prism_copy"):
        hook_reference.render(without)
    extra = text + "\n" + hook_reference.begin_marker("prism_gone") + "\n"
    with pytest.raises(ValueError, match="prism_gone"):
        hook_reference.render(extra)


def test_rst_markup_becomes_markdown():
    text = "See :class:`~prism_core.save.state.RegionImage` and ``ctx.images()``."
    assert hook_reference.markdown(text) == "See `RegionImage` and `ctx.images()`."
