"""The typed plugin manager: built-in and third-party plugins, loaded the same way.

Core code calls the phases through :class:`PrismPluginManager` methods, never through
``pm.hook`` directly, so every call site is typed and the phase order lives here.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pluggy

from prism_core import __version__, hookspecs

if TYPE_CHECKING:
    from prism_core.context import SaveContext
    from prism_core.state import RegionImage

ENTRY_POINT_GROUP = "prism.plugins"

#: The built-in plugins: ordinary plugins, registered first so any other wins.
DEFAULT_PLUGINS: tuple[tuple[str, str], ...] = (
    ("ec2-preflight", "prism_plugins.ec2_preflight"),
    ("ec2-image", "prism_plugins.ec2_image"),
    ("boot-check", "prism_plugins.boot_check"),
    ("ec2-copy", "prism_plugins.ec2_copy"),
    ("ssm-registry", "prism_plugins.ssm_registry"),
    ("yaml-template", "prism_plugins.yaml_template"),
)

PHASES = tuple(name for name in dir(hookspecs) if name.startswith("prism_"))


@dataclass(frozen=True)
class PluginInfo:
    """One registered plugin as ``prism plugins`` shows it."""

    name: str
    version: str
    source: str
    hooks: tuple[str, ...]


def disabled_from_env() -> set[str]:
    """Plugin names blocked by ``PRISM_DISABLE_PLUGINS=name1,name2``."""
    raw = os.environ.get("PRISM_DISABLE_PLUGINS", "")
    return {name.strip() for name in raw.split(",") if name.strip()}


class PrismPluginManager:
    """Loads plugins and calls the save phases."""

    def __init__(self, disabled: Iterable[str] | None = None) -> None:
        self.pm = pluggy.PluginManager("prism")
        self.pm.add_hookspecs(hookspecs)
        self.disabled = set(disabled) if disabled is not None else disabled_from_env()
        self.warnings: list[str] = []
        self.blocked: list[str] = []
        self._info: dict[str, PluginInfo] = {}
        self._loaded = False

    # -- loading -----------------------------------------------------------------
    def load(self) -> PrismPluginManager:
        """Register the built-ins, then the ``prism.plugins`` entry points, then test plugins."""
        if self._loaded:
            return self
        self._loaded = True
        for name, module_path in DEFAULT_PLUGINS:
            if self._skip(name):
                continue
            self.add(importlib.import_module(module_path), name, "built-in", __version__)
        self._load_entry_points()
        testing = sys.modules.get("prism_core.testing")
        for name, plugin in getattr(testing, "EXTRA_PLUGINS", []) if testing else []:
            if not self._skip(name):
                self.add(plugin, name, "test", __version__)
        return self

    def _skip(self, name: str) -> bool:
        if name in self.disabled:
            self.blocked.append(name)
            return True
        return False

    def _load_entry_points(self) -> None:
        from importlib.metadata import entry_points

        for ep in entry_points(group=ENTRY_POINT_GROUP):
            if self._skip(ep.name):
                continue
            dist = getattr(ep, "dist", None)
            source = dist.metadata["Name"] if dist is not None else ep.value
            version = dist.version if dist is not None else "?"
            if ep.name in self._info:
                other = self._info[ep.name]
                self.warnings.append(
                    f"plugin name {ep.name!r} is used by both {other.source} and {source}; "
                    f"the one from {source} was not loaded"
                )
                continue
            try:
                plugin = ep.load()
            except Exception as exc:  # a broken plugin must not break prism
                self.warnings.append(
                    f"plugin {ep.name!r} ({source}) failed to load: {type(exc).__name__}: {exc} "
                    f"(disable it with PRISM_DISABLE_PLUGINS={ep.name})"
                )
                continue
            self.add(plugin, ep.name, source, version)

    def add(self, plugin: ModuleType | object, name: str, source: str, version: str) -> bool:
        """Register one plugin; an invalid one becomes a warning and is left out."""
        try:
            self.pm.register(plugin, name=name)
        except (pluggy.PluginValidationError, ValueError) as exc:
            self.warnings.append(f"plugin {name!r} ({source}) was not loaded: {exc}")
            return False
        unknown = [
            caller.name
            for caller in self.pm.get_hookcallers(plugin) or []
            if caller.spec is None
            and any(
                not impl.optionalhook for impl in caller.get_hookimpls() if impl.plugin is plugin
            )
        ]
        if unknown:
            self.pm.unregister(plugin)
            self.warnings.append(
                f"plugin {name!r} ({source}) implements unknown hook(s) {', '.join(unknown)}; "
                f"known hooks: {', '.join(PHASES)}"
            )
            return False
        hooks = tuple(
            sorted(c.name for c in self.pm.get_hookcallers(plugin) or [] if c.spec is not None)
        )
        self._info[name] = PluginInfo(name, version, source, hooks)
        return True

    def plugins(self) -> list[PluginInfo]:
        """Registered plugins in registration order."""
        return list(self._info.values())

    # -- the phases, in order ------------------------------------------------------
    def pre_stop(self, ctx: SaveContext) -> list[str]:
        """Run every ``prism_pre_stop``; return their notes. Exceptions propagate."""
        notes: list[str] = []
        for result in self.pm.hook.prism_pre_stop(ctx=ctx):
            if isinstance(result, str):
                notes.append(result)
            elif result:
                notes.extend(str(r) for r in result)
        return notes

    def image(self, ctx: SaveContext) -> RegionImage | None:
        """``prism_image``: the first provider's source image."""
        return self.pm.hook.prism_image(ctx=ctx)

    def post_image(self, ctx: SaveContext) -> None:
        """Every ``prism_post_image``."""
        self.pm.hook.prism_post_image(ctx=ctx)

    def copy(self, ctx: SaveContext) -> dict[str, RegionImage]:
        """``prism_copy``: the first provider's copies by region."""
        return self.pm.hook.prism_copy(ctx=ctx) or {}

    def register(self, ctx: SaveContext) -> list[str]:
        """Every ``prism_register``; the locations written."""
        locations: list[str] = []
        for result in self.pm.hook.prism_register(ctx=ctx):
            locations.extend(result or [])
        return locations

    def template_render(self, ctx: SaveContext) -> dict[str, Any] | None:
        """``prism_template_render``: the template document."""
        return self.pm.hook.prism_template_render(ctx=ctx)

    def blame(self, exc: BaseException) -> str | None:
        """The name of the plugin whose code raised ``exc`` (innermost frame wins)."""
        modules: dict[str, str] = {}
        for name, plugin in self.pm.list_name_plugin():
            module = plugin.__name__ if isinstance(plugin, ModuleType) else type(plugin).__module__
            modules[module] = name
        found = None
        tb = exc.__traceback__
        while tb is not None:
            module = tb.tb_frame.f_globals.get("__name__")
            if module in modules:
                found = modules[module]
            tb = tb.tb_next
        return found
