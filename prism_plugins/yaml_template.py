"""Built-in ``prism_template_render``: the template document ``prism launch`` reads."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prism_core import plugin_api as api

if TYPE_CHECKING:
    from prism_core.plugin_api import SaveContext


@api.hookimpl(trylast=True)
def prism_template_render(ctx: SaveContext) -> dict[str, Any] | None:
    """The template for every region whose image succeeded (``None`` if none did)."""
    from prism_core import toolkit

    if not ctx.images():
        return None
    return toolkit.build_template_document(ctx)
