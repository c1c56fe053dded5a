"""Pre-flight: every save phase the request needs has a plugin to do it.

A phase nobody implements (its built-in blocked with ``PRISM_DISABLE_PLUGINS``, or not
loaded) would fail only once the save has changed things: with ``--stop`` after the
instance was stopped. It is refused before anything changes instead (exit 2).
"""

from __future__ import annotations

from typing import Any

from prism_core.exceptions import InputError
from prism_core.plugin_manager import DEFAULT_PLUGINS
from prism_core.save.context import SaveContext

#: Phase hooks a save cannot do without, with what each does (for the message).
ALWAYS = {
    "prism_image": "creates the image",
    "prism_template_render": "writes the template",
}
#: Needed only when the request copies the image to other regions.
COPY = {"prism_copy": "copies the image to other regions"}
#: The built-in provider of each phase, named when it is blocked.
BUILT_IN = {
    "prism_image": "ec2-image",
    "prism_copy": "ec2-copy",
    "prism_template_render": "yaml-template",
}


def providers(hooks: Any, hook: str) -> list[str]:
    """Plugins that implement ``hook`` themselves (wrappers only amend a result)."""
    broken = getattr(hooks, "broken", {}) or {}
    return [
        impl.plugin_name
        for impl in getattr(hooks.pm.hook, hook).get_hookimpls()
        if not (impl.hookwrapper or impl.wrapper) and impl.plugin_name not in broken
    ]


def check_providers(ctx: SaveContext, hooks: Any) -> None:
    """Refuse the save if a phase it needs has no provider; nothing has changed yet."""
    needed = dict(ALWAYS)
    if ctx.request.copy_to_regions:
        needed.update(COPY)
    missing = [hook for hook in needed if not providers(hooks, hook)]
    if not missing:
        return
    hook = missing[0]
    builtin = BUILT_IN[hook]
    blocked = builtin in set(getattr(hooks, "blocked", []) or [])
    why = (
        f"its built-in plugin {builtin} is blocked by PRISM_DISABLE_PLUGINS"
        if blocked
        else f"its built-in plugin {builtin} is not loaded"
    )
    known = {name for name, _ in DEFAULT_PLUGINS}
    todo = (
        f"remove {builtin} from PRISM_DISABLE_PLUGINS, or install a plugin that implements {hook}"
        if blocked and builtin in known
        else f"install a plugin that implements {hook} (see `prism plugins`)"
    )
    raise InputError(
        f"no plugin {needed[hook]} ({hook}): {why}; nothing was changed", todo
    )
