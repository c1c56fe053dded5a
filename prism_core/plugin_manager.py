"""The typed plugin manager: built-in and third-party plugins, loaded the same way.

Core code calls the phases through :class:`PrismPluginManager` methods, never through
``pm.hook`` directly, so every call site is typed; the order of the phases is
:data:`prism_core.save.phases.PHASES`.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, NamedTuple

import pluggy

from prism_core import __version__, hookspecs
from prism_core.exceptions import (
    InputError,
    OperationFailed,
    PluginRefusal,
    PrismError,
    Terminated,
)
from prism_core.files import read_own_json
from prism_core.validation import comma_list

if TYPE_CHECKING:
    from prism_core.plugin_api import Command, IamStatement, Option, PluginSettings
    from prism_core.save.context import SaveContext
    from prism_core.save.state import RegionImage

ENTRY_POINT_GROUP = "prism.plugins"
#: Entry points here (same name as in ``prism.plugins``) mark a plugin *required*: an
#: institution's build registers its policy plugin in both groups.
REQUIRED_GROUP = "prism.required_plugins"

#: The built-in plugins: ordinary plugins, registered first so any other wins.
DEFAULT_PLUGINS: tuple[tuple[str, str], ...] = (
    ("ec2-preflight", "prism_plugins.ec2_preflight"),
    ("ssm-inspect", "prism_plugins.ssm_inspect"),
    ("ec2-image", "prism_plugins.ec2_image"),
    ("boot-check", "prism_plugins.boot_check"),
    ("ec2-copy", "prism_plugins.ec2_copy"),
    ("ssm-registry", "prism_plugins.ssm_registry"),
    ("yaml-template", "prism_plugins.yaml_template"),
)

#: Every hook in :mod:`prism_core.hookspecs` (alphabetical).
HOOKS = tuple(name for name in dir(hookspecs) if name.startswith("prism_"))


class RequiredPluginMissing(PrismError):
    """A required plugin is not installed or failed to load: prism does not run without it."""


class PluginConflict(InputError):
    """Two plugins (or a plugin and prism) claim the same option, command or section."""


class PluginCrash(OperationFailed):
    """A plugin's hook raised ``SystemExit`` or another ``BaseException`` (not Ctrl-C)."""


class PluginInfo(NamedTuple):
    """One registered plugin as ``prism plugins`` shows it."""

    name: str
    version: str
    source: str
    hooks: tuple[str, ...]


class PluginEntry(NamedTuple):
    """One ``prism.plugins`` entry point, as read from the environment or the cache."""

    name: str
    value: str
    dist_name: str | None
    dist_version: str | None

    def load(self) -> Any:
        """Import the plugin object the entry point names (``module[:attr.attr]``, extras
        ignored as :mod:`importlib.metadata` does; without importing that module)."""
        module_name, _, rest = self.value.partition(":")
        attrs = rest.split("[", 1)[0].strip()
        module_name = module_name.split("[", 1)[0].strip()
        if not module_name:
            raise ValueError(f"entry point {self.value!r} names no module")
        obj: Any = importlib.import_module(module_name)
        for attr in filter(None, attrs.split(".")):
            obj = getattr(obj, attr)
        return obj


def _scan_entry_points() -> EntryPoints:
    """Read the ``prism.plugins`` and ``prism.required_plugins`` entry points of every
    installed distribution (cached by :func:`cached_scan`: both groups in one file)."""
    from prism_core.entry_point_scan import entry_points

    found = entry_points((ENTRY_POINT_GROUP, REQUIRED_GROUP))
    plugins = [
        PluginEntry(ep.name, ep.value, ep.dist_name, ep.dist_version)
        for ep in found
        if ep.group == ENTRY_POINT_GROUP
    ]
    return EntryPoints(plugins, frozenset(ep.name for ep in found if ep.group == REQUIRED_GROUP))


class EntryPoints(NamedTuple):
    """The environment's plugin entry points: ``prism.plugins`` and the required names."""

    plugins: list[PluginEntry]
    required: frozenset[str]


def _environment_key() -> str:
    """What the installed distributions depend on: the interpreter, ``sys.path`` and the
    modification time of each of its folders (installing or removing a distribution
    adds or removes a ``*.dist-info`` folder there, which changes it)."""
    import hashlib

    parts = [sys.prefix, sys.version]
    for entry in sys.path:
        try:
            parts.append(f"{entry}:{os.stat(entry or '.').st_mtime_ns}")
        except OSError:
            parts.append(f"{entry}:-")
    return hashlib.sha256("\n".join(parts).encode("utf-8", "replace")).hexdigest()


#: The entry-point cache is tiny; anything bigger is not ours.
MAX_CACHE_BYTES = 256 * 1024


def cached_scan(cache_dir: Path) -> EntryPoints:
    """Both entry-point groups, from ``cache_dir`` when the environment is unchanged, else
    scanned and cached (one file per interpreter prefix).

    The cache is untrusted input: read only if it is ours (owner, not writable by
    others), bounded in size and of the expected shape; otherwise it is rebuilt.
    """
    import hashlib
    import json

    key = _environment_key()
    path = cache_dir / f"entry-points-{hashlib.sha256(sys.prefix.encode()).hexdigest()[:16]}.json"
    data = read_own_json(path, MAX_CACHE_BYTES)
    try:
        if (
            isinstance(data, dict)
            and data.get("key") == key
            and isinstance(data.get("required"), list)
        ):
            return EntryPoints(
                [
                    PluginEntry(*(None if v is None else str(v) for v in row))
                    for row in data["entry_points"]
                    if isinstance(row, list) and len(row) == 4
                ],
                frozenset(str(name) for name in data["required"]),
            )
    except (KeyError, TypeError):
        pass
    found = _scan_entry_points()
    try:
        from prism_core.files import write_private_atomic

        rows = [[e.name, e.value, e.dist_name, e.dist_version] for e in found.plugins]
        document = {"key": key, "entry_points": rows, "required": sorted(found.required)}
        write_private_atomic(path, json.dumps(document))
    except OSError:
        pass  # a read-only home: scan every time
    return found


def installed_plugin_names() -> list[str]:
    """Names of the third-party plugins installed (``prism.plugins`` entry points)."""
    return sorted({ep.name for ep in _scan_entry_points().plugins})


def disabled_from_env() -> set[str]:
    """Plugin names blocked by ``PRISM_DISABLE_PLUGINS=name1,name2``."""
    return set(comma_list(os.environ.get("PRISM_DISABLE_PLUGINS", "")))


class PluginSelection(NamedTuple):
    """The plugins one run loads besides the built-ins, as the caller of ``main()`` passes
    them in arguments: never read from the environment, a file or a flag, so nothing but
    the calling program can change it.

    ``extra``: plugin objects registered after the installed ones, as ``(name, plugin)``.
    ``entry_points``: ``None`` (the console script) loads every installed plugin; a set of
    names loads only those installed plugins, and a required one left out is neither
    loaded nor required (a test harness running prism with chosen plugins only).
    """

    extra: tuple[tuple[str, object], ...] = ()
    entry_points: frozenset[str] | None = None


#: What the ``prism`` command loads: every installed plugin, nothing else.
ALL_INSTALLED = PluginSelection()


class PrismPluginManager:
    """Loads plugins and calls the save phases."""

    def __init__(
        self,
        disabled: Iterable[str] | None = None,
        required: Iterable[str] = (),
        selection: PluginSelection = ALL_INSTALLED,
    ) -> None:
        self.pm = pluggy.PluginManager("prism")
        self.pm.add_hookspecs(hookspecs)
        self.disabled = set(disabled) if disabled is not None else disabled_from_env()
        self.selection = selection
        #: Plugins that must load: ``prism.required_plugins`` entry points and the system
        #: config's ``prism.required_plugins``. PRISM_DISABLE_PLUGINS cannot block them.
        #: The entry points join in :meth:`load`, from the same (cached) scan as the plugins.
        self.required = self._selected(set(required))
        self.warnings: list[str] = []
        self.blocked: list[str] = []
        #: Plugins whose CLI/config hooks raised: name -> one-line reason.
        self.broken: dict[str, str] = {}
        self._info: dict[str, PluginInfo] = {}
        self._loaded = False

    # -- loading -----------------------------------------------------------------
    def _selected(self, names: set[str]) -> set[str]:
        """``names`` within the caller's choice of installed plugins (all by default)."""
        chosen = self.selection.entry_points
        return names if chosen is None else names & chosen

    def load(self, cache_dir: Path | None = None) -> PrismPluginManager:
        """Register the built-ins, then the ``prism.plugins`` entry points, then the
        plugin objects the caller passed in (:class:`PluginSelection`).

        With ``cache_dir`` the entry points come from a cache kept there per
        environment (see :func:`cached_scan`); without, they are scanned.
        """
        if self._loaded:
            return self
        self._loaded = True
        scan = cached_scan(cache_dir) if cache_dir is not None else _scan_entry_points()
        self.required |= self._selected(set(scan.required))
        for name, module_path in DEFAULT_PLUGINS:
            if self._skip(name):
                continue
            self.add(importlib.import_module(module_path), name, "built-in", __version__)
        chosen = self.selection.entry_points
        self._load_entry_points(
            [ep for ep in scan.plugins if chosen is None or ep.name in chosen]
        )
        missing = sorted(self.required - set(self._info))
        if missing:
            raise RequiredPluginMissing(
                f"required plugin(s) {', '.join(missing)} not installed; prism does not run "
                "without them",
                "install them (ask your administrator), see /etc/prism/prism.yml",
            )
        for name, plugin in self.selection.extra:
            if not self._skip(name):
                self.add(plugin, name, "passed in", __version__)
        return self

    def _skip(self, name: str) -> bool:
        if name in self.disabled and name in self.required:
            self.warnings.append(
                f"plugin {name!r} is required by this installation; "
                "PRISM_DISABLE_PLUGINS does not disable it"
            )
            return False
        if name in self.disabled:
            self.blocked.append(name)
            return True
        return False

    def _load_entry_points(self, found: list[PluginEntry]) -> None:
        for ep in found:
            if self._skip(ep.name):
                continue
            source = ep.dist_name or ep.value
            version = ep.dist_version or "?"
            if ep.name in self._info:
                other = self._info[ep.name]
                self.warnings.append(
                    f"plugin name {ep.name!r} is used by both {other.source} and {source}; "
                    f"the one from {source} was not loaded"
                )
                continue
            try:
                plugin = ep.load()
            except (KeyboardInterrupt, Terminated):
                raise
            except BaseException as exc:  # a broken plugin must not break prism...
                text = f"{exc.code!r}" if isinstance(exc, SystemExit) else str(exc)
                if ep.name in self.required:  # ...unless prism must not run without it
                    raise RequiredPluginMissing(
                        f"required plugin {ep.name!r} ({source}) failed to load: "
                        f"{type(exc).__name__}: {text}",
                        "prism does not run without it: reinstall it or ask your administrator",
                    ) from None
                if not isinstance(exc, Exception):
                    # SystemExit, GeneratorExit...: it tried to end prism; no command runs
                    # (exit 2) until it is fixed or disabled, as when a hook raises it
                    self.broken[ep.name] = (
                        f"plugin {ep.name!r} ({source}) raised {type(exc).__name__} {text} "
                        "while being imported"
                    )[:500]
                    continue
                self.warnings.append(
                    f"plugin {ep.name!r} ({source}) failed to load: {type(exc).__name__}: {exc} "
                    f"(disable it with PRISM_DISABLE_PLUGINS={ep.name})"
                )
                continue
            self.add(plugin, ep.name, source, version)

    def add(self, plugin: ModuleType | object, name: str, source: str, version: str) -> bool:
        """Register one plugin; an invalid one becomes a warning and is left out (an invalid
        required plugin stops prism)."""
        try:
            self.pm.register(plugin, name=name)
        except (pluggy.PluginValidationError, ValueError) as exc:
            self._not_loaded(name, source, str(exc))
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
            self._not_loaded(
                name,
                source,
                f"it implements unknown hook(s) {', '.join(unknown)}; "
                f"known hooks: {', '.join(HOOKS)}",
            )
            return False
        hooks = tuple(
            sorted(c.name for c in self.pm.get_hookcallers(plugin) or [] if c.spec is not None)
        )
        self._info[name] = PluginInfo(name, version, source, hooks)
        return True

    def _not_loaded(self, name: str, source: str, why: str) -> None:
        if name in self.required:
            raise RequiredPluginMissing(
                f"required plugin {name!r} ({source}) was not loaded: {why}",
                "prism does not run without it: reinstall it or ask your administrator",
            )
        self.warnings.append(f"plugin {name!r} ({source}) was not loaded: {why}")

    def plugins(self) -> list[PluginInfo]:
        """Registered plugins in registration order."""
        return list(self._info.values())

    # -- the phase hooks (their order: prism_core.save.phases) -----------------------
    def _phase(self, hook: str, ctx: SaveContext) -> Any:
        """Call a phase hook. ``SystemExit`` or another ``BaseException`` from a plugin
        (never Ctrl-C or SIGTERM) becomes a :class:`PluginCrash` naming the plugin, so
        no plugin can end a save with exit code 0 or skip prism's clean-up."""
        try:
            return getattr(self.pm.hook, hook)(ctx=ctx)
        except (Exception, KeyboardInterrupt, Terminated):
            raise
        except BaseException as exc:
            plugin = self.blame(exc) or "unknown"
            detail = f" {exc.code!r}" if isinstance(exc, SystemExit) else f": {exc}"
            crash = PluginRefusal if hook == "prism_pre_stop" else PluginCrash
            raise crash(
                f"plugin {plugin} raised {type(exc).__name__}{detail} in {hook}",
                f"fix or disable it with PRISM_DISABLE_PLUGINS={plugin}",
            ) from None

    def pre_stop(self, ctx: SaveContext) -> list[str]:
        """Run every ``prism_pre_stop``; return their notes. Exceptions propagate."""
        notes: list[str] = []
        for result in self._phase("prism_pre_stop", ctx):
            if isinstance(result, str):
                notes.append(result)
            elif result:
                notes.extend(str(r) for r in result)
        return notes

    def image(self, ctx: SaveContext) -> RegionImage | None:
        """``prism_image``: the first provider's source image."""
        return self._phase("prism_image", ctx)

    def post_image(self, ctx: SaveContext) -> None:
        """Every ``prism_post_image``."""
        self._phase("prism_post_image", ctx)

    def copy(self, ctx: SaveContext) -> dict[str, RegionImage]:
        """``prism_copy``: the first provider's copies by region."""
        return self._phase("prism_copy", ctx) or {}

    def register(self, ctx: SaveContext) -> list[str]:
        """Every ``prism_register``; the locations written."""
        locations: list[str] = []
        for result in self._phase("prism_register", ctx):
            locations.extend(result or [])
        return locations

    def template_render(self, ctx: SaveContext) -> dict[str, Any] | None:
        """``prism_template_render``: the template document."""
        return self._phase("prism_template_render", ctx)

    # -- estimates ------------------------------------------------------------------
    def snapshot_prices(self, ctx: SaveContext) -> tuple[str | None, Any, str | None]:
        """``prism_snapshot_prices``: ``(plugin, prices, None)`` of the first plugin that
        answers, ``(plugin, None, what went wrong)`` if it raised, ``(None, None, None)``
        when none answers. Checking the prices is the estimate's job (save.plan)."""
        for impl in reversed(self.pm.hook.prism_snapshot_prices.get_hookimpls()):
            if impl.hookwrapper or impl.wrapper or impl.plugin_name in self.broken:
                continue
            result, failure = _guarded_call(impl, {"ctx": ctx})
            if failure is not None:
                return impl.plugin_name, None, f"raised {failure[0]}: {failure[1]}"
            if result is not None:
                return impl.plugin_name, result, None
        return None, None, None

    # -- CLI and configuration extensions ------------------------------------------
    def _each(self, hook: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """Call every implementation of ``hook``; ``(plugin name, result)`` in load order.

        A plugin that raises (anything but Ctrl-C/SIGTERM, ``SystemExit`` included) is
        recorded in :attr:`broken` and left out, so ``prism plugins`` still works and
        names it; other commands refuse to run (see ``main()``).
        """
        results = []
        for impl in getattr(self.pm.hook, hook).get_hookimpls():
            if impl.plugin_name in self.broken:
                continue
            result, failure = _guarded_call(impl, kwargs)
            if failure is not None:
                self.broken[impl.plugin_name] = (
                    f"{self._describe(impl.plugin_name)} raised {failure[0]} "
                    f"in {hook}: {failure[1]}"[:500]
                )
                continue
            if result is not None:
                results.append((impl.plugin_name, result))
        return results

    def broken_error(self) -> InputError | None:
        """The error that refuses a command while a plugin is broken (``None`` if none)."""
        if not self.broken:
            return None
        name, reason = next(iter(self.broken.items()))
        return InputError(
            reason, f"fix or disable it with PRISM_DISABLE_PLUGINS={name} (see `prism plugins`)"
        )

    def _describe(self, name: str) -> str:
        info = self._info.get(name)
        return f"plugin {name!r} ({info.source})" if info else f"plugin {name!r}"

    def _clash(self, what: str, first: str, second: str) -> PluginConflict:
        owner = "prism itself" if first == "prism" else self._describe(first)
        culprit = second if first == "prism" else first
        return PluginConflict(
            f"{what} is added by both {owner} and {self._describe(second)}",
            f"disable one with PRISM_DISABLE_PLUGINS={culprit}",
        )

    def options(self, command: str, reserved: Iterable[str] = ()) -> list[tuple[str, Option]]:
        """Every ``prism_add_options(command)`` option; a name used twice is an error."""
        from prism_core.plugin_api import Option

        owners = dict.fromkeys(reserved, "prism")
        found: list[tuple[str, Option]] = []
        for plugin, result in self._each("prism_add_options", command=command):
            for option in result:
                if not isinstance(option, Option):
                    raise PluginConflict(
                        f"{self._describe(plugin)} returned {option!r} from prism_add_options",
                        "return prism_core.plugin_api.Option objects",
                    )
                for name in dict.fromkeys((*option.flags, option.dest)):
                    if name in owners and owners[name] != plugin:
                        raise self._clash(
                            f"option {name} of `prism {command}`", owners[name], plugin
                        )
                    owners[name] = plugin
                found.append((plugin, option))
        return found

    def commands(self, reserved: Iterable[str] = ()) -> list[tuple[str, Command]]:
        """Every ``prism_add_commands`` command; a name used twice is an error."""
        from prism_core.plugin_api import Command

        owners = dict.fromkeys(reserved, "prism")
        found: list[tuple[str, Command]] = []
        for plugin, result in self._each("prism_add_commands"):
            for command in result:
                if not isinstance(command, Command):
                    raise PluginConflict(
                        f"{self._describe(plugin)} returned {command!r} from prism_add_commands",
                        "return prism_core.plugin_api.Command objects",
                    )
                if command.name in owners:
                    raise self._clash(
                        f"command `prism {command.name}`", owners[command.name], plugin
                    )
                owners[command.name] = plugin
                found.append((plugin, command))
        return found

    def settings_declarations(self) -> dict[str, tuple[str, PluginSettings]]:
        """Config sections declared with ``prism_settings``, by section name."""
        declared: dict[str, tuple[str, PluginSettings]] = {}
        for plugin, result in self._each("prism_settings"):
            for item in result if isinstance(result, list | tuple) else [result]:
                if item.section in declared or item.section == "prism":
                    first = "prism" if item.section == "prism" else declared[item.section][0]
                    raise self._clash(f"config section {item.section!r}", first, plugin)
                declared[item.section] = (plugin, item)
        return declared

    def iam_statements(
        self, config: Mapping[str, Mapping[str, Any]]
    ) -> list[tuple[str, IamStatement]]:
        """Every ``prism_iam_statements(config)`` statement, as (plugin, statement)."""
        from prism_core.plugin_api import IamStatement

        found: list[tuple[str, IamStatement]] = []
        for plugin, result in self._each("prism_iam_statements", config=config):
            for statement in result:
                if not isinstance(statement, IamStatement):
                    raise PluginConflict(
                        f"{self._describe(plugin)} returned {statement!r} "
                        "from prism_iam_statements",
                        "return prism_core.plugin_api.IamStatement objects",
                    )
                found.append((plugin, statement))
        return found

    def config_defaults(self) -> dict[str, dict[str, Any]]:
        """Config defaults contributed by plugins, merged key by key (later plugins win)."""
        merged: dict[str, dict[str, Any]] = {}
        for plugin, result in self._each("prism_config_defaults"):
            if not isinstance(result, dict) or not all(
                isinstance(v, dict) for v in result.values()
            ):
                raise PluginConflict(
                    f"{self._describe(plugin)} returned config defaults that are not "
                    "a mapping of section names to settings"
                )
            for section, values in result.items():
                merged.setdefault(section, {}).update(values)
        return merged

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


def _guarded_call(
    impl: Any, kwargs: dict[str, Any]
) -> tuple[Any, tuple[str, str] | None]:
    """Call one hook implementation with the arguments it names: ``(result, None)``, or
    ``(None, (exception type, text))`` if it raised anything but Ctrl-C/SIGTERM (a
    plugin's ``SystemExit`` included: it must not end prism)."""
    args = {k: v for k, v in kwargs.items() if k in impl.argnames}
    try:
        return impl.function(**args), None
    except (KeyboardInterrupt, Terminated):
        raise
    except BaseException as exc:
        text = f"{exc.code!r}" if isinstance(exc, SystemExit) else str(exc)
        return None, (type(exc).__name__, text)
