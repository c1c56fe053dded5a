"""The Cement application and ``main()``, which maps errors to exit codes."""

from __future__ import annotations

import gc
import os
import signal
import sys
import threading
import traceback
from collections.abc import Iterable, Iterator
from configparser import RawConfigParser
from contextlib import contextmanager
from typing import Any, NoReturn

from prism_core.cli.cement_api import (
    App,
    ArgparseArgumentHandler,
    ConfigParserConfigHandler,
    LogHandler,
)
from prism_core.cli.commands.base import Base
from prism_core.cli.commands.cleanup import Cleanup
from prism_core.cli.commands.cloud import Cloud
from prism_core.cli.commands.demo import Demo
from prism_core.cli.commands.iam_policy import IamPolicy
from prism_core.cli.commands.instance_actions import InstanceActions
from prism_core.cli.commands.instances import Instances
from prism_core.cli.commands.launch import Launch
from prism_core.cli.commands.plugin_commands import CORE_COMMANDS, command_controllers
from prism_core.cli.commands.sandbox import SandboxController
from prism_core.cli.commands.save import Ami, Save, reserved_save_names, save_controllers
from prism_core.cli.commands.saves import Saves
from prism_core.cli.commands.schedule import Schedule
from prism_core.cli.commands.template_copy import TemplateCopy
from prism_core.cli.commands.template_export import TemplateExport
from prism_core.cli.commands.template_history import TemplateHistory
from prism_core.cli.commands.template_inventory import TemplateInventory
from prism_core.cli.commands.template_lifecycle import TemplateLifecycle
from prism_core.cli.commands.template_policy import TemplatePolicy
from prism_core.cli.commands.templates import Templates
from prism_core.cli.commands.terminate import Terminate
from prism_core.exceptions import EXIT_FAILURE, EXIT_REFUSED, PrismError, Terminated
from prism_core.plugin_api import Option
from prism_core.plugin_manager import ALL_INSTALLED, PluginSelection, PrismPluginManager
from prism_core.settings import (
    ConfigLocks,
    Settings,
    pin_prism_home,
    prism_home,
    read_config_file,
    system_config_path,
    user_config_path,
)
from prism_core.validation import comma_list


class SafeYamlConfigHandler(ConfigParserConfigHandler):
    """YAML config files (``prism.yml``): bounded, safe loading (:mod:`prism_core.safe_yaml`)
    and the locked keys of the installed defaults and the system config.

    Cement's own YAML extension is not loaded: it imports PyYAML at start-up (and
    would use its full loader); this handler imports it only when a file exists.
    """

    class Meta:
        label = "prism_yaml"

    def get(self, section: str, key: str, **kwargs: Any) -> Any:  # type: ignore[override]
        """A value as the config layers set it. Cement's handler would let any variable
        ``PRISM_<SECTION>_<KEY>`` replace any value, a locked one included; prism reads only
        the variables it documents (:meth:`Settings.load`), each checked against the locks."""
        return RawConfigParser.get(self, section, key, **kwargs)

    def parse_file(self, file_path: str) -> bool:
        """Parse ``file_path`` if it exists, or is a symlink (a dangling one, or a loop, is
        a config that cannot be read: refused, not silently skipped as Cement would)."""
        file_path = os.path.abspath(file_path)
        if not os.path.lexists(file_path):
            return False
        return self._parse_file(file_path)

    def _parse_file(self, file_path: str) -> bool:
        content = read_config_file(file_path)
        if content is None:
            return True
        locks: ConfigLocks = getattr(self.app, "config_locks", None) or ConfigLocks()
        if file_path == system_config_path():
            locks.add(content, file_path)
        else:
            content = locks.enforce(content, file_path)
        self.merge(content)
        return True


class OneLineArgumentHandler(ArgparseArgumentHandler):
    """Cement's argparse handler, with usage errors as one line that says where to look."""

    class Meta:
        label = "prism_argparse"

    def error(self, message: str) -> NoReturn:
        """Print ``prism COMMAND: error: MESSAGE (see ...)`` and exit 2 (refused)."""
        print(
            f"{self.prog}: error: {message} (see `{self.prog} --help`)",
            file=sys.stderr,
        )
        sys.exit(EXIT_REFUSED)


class ConsoleLogHandler(LogHandler):
    """``app.log``: messages at or above the level to stderr (``LEVEL: message``).

    prism reports through :mod:`prism_core.cli.output` and progress lines, not a log;
    this stands in for Cement's logging extension, which imports ``logging.handlers``
    (and its queue) at every start for a rotating log file prism never writes.
    """

    class Meta:
        label = "prism_console_log"

    LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "FATAL")
    level = "INFO"

    def set_level(self, level: str) -> None:
        """Show messages at ``level`` and above (an unknown level means INFO)."""
        self.level = level.upper() if level.upper() in self.LEVELS else "INFO"

    def get_level(self) -> str:
        """The current level's name."""
        return self.level

    def _write(self, level: str, msg: str) -> None:
        if self.LEVELS.index(level) >= self.LEVELS.index(self.level):
            try:
                print(f"{level}: {msg}", file=sys.stderr)
            except (OSError, ValueError):
                pass

    def debug(self, msg: str) -> None:
        """Log at DEBUG."""
        self._write("DEBUG", msg)

    def info(self, msg: str) -> None:
        """Log at INFO."""
        self._write("INFO", msg)

    def warning(self, msg: str) -> None:
        """Log at WARNING."""
        self._write("WARNING", msg)

    def error(self, msg: str) -> None:
        """Log at ERROR."""
        self._write("ERROR", msg)

    def fatal(self, msg: str) -> None:
        """Log at FATAL."""
        self._write("FATAL", msg)


class PrismApp(App):
    """The prism command-line application."""

    class Meta:
        label = "prism"
        #: Cement's core extensions minus SMTP (prism sends no mail; the dummy mail
        #: handler stays) and logging (:class:`ConsoleLogHandler` instead): fewer imports
        #: at every start.
        core_extensions = [
            "cement.ext.ext_dummy",
            "cement.ext.ext_plugin",
            "cement.ext.ext_configparser",
            "cement.ext.ext_argparse",
        ]
        log_handler = "prism_console_log"
        config_handler = "prism_yaml"
        config_file_suffix = ".yml"
        config_dirs: list[str] = []
        config_defaults: dict[str, dict[str, Any]] = {"prism": {}}
        argument_handler = "prism_argparse"
        handlers = [
            ConsoleLogHandler,
            OneLineArgumentHandler,
            SafeYamlConfigHandler,
            Base,
            Save,
            Ami,
            Launch,
            Instances,
            InstanceActions,
            Terminate,
            Cleanup,
            IamPolicy,
            Templates,
            TemplateLifecycle,
            TemplateHistory,
            TemplateCopy,
            TemplateInventory,
            TemplateExport,
            TemplatePolicy,
            Demo,
            SandboxController,
            Cloud,
            Saves,
            Schedule,
        ]
        exit_on_close = False
        framework_logging = False
        # Cement's CaughtSignal is an Exception: botocore catches those mid-request and
        # retries, losing the Ctrl-C. main() raises BaseExceptions instead.
        catch_signals = None
        debug_argument_options = ["--debug"]

    changes_started = False
    #: What an interrupted command had done, for the Ctrl-C/SIGTERM message
    #: (``None``: a save, whose instance is back and which ``--resume`` finishes).
    interrupt_note: str | None = None
    #: Keys the packaged defaults and the system config lock (user config cannot change them).
    config_locks: ConfigLocks
    #: Options plugins added to ``prism save`` (set in :meth:`setup`).
    save_options: list[Option] = []
    #: The plugins the caller of :func:`main` chose (the console script: every installed one).
    plugin_selection: PluginSelection = ALL_INSTALLED

    #: ``sys.stderr`` while the command runs with ``--progress json|none`` (main() ends it).
    progress_stream: Any = None

    def _parse_args(self) -> None:
        """Parse, then apply ``--progress`` (or ``PRISM_PROGRESS``) to stderr."""
        super()._parse_args()
        from prism_core.cli.progress_events import install, progress_mode

        self.progress_stream = install(progress_mode(getattr(self.pargs, "progress", None)))

    def run_nested(self, argv: list[str]) -> int:
        """Run another prism command line in this process, as ``prism`` itself would
        (a fresh app with the same plugins; ``prism demo`` runs its steps this way)."""
        selection = self.plugin_selection
        return main(argv, plugins=selection.extra, entry_points=selection.entry_points)

    def setup(self) -> None:
        """Load plugins first, so their options, commands and config defaults are wired in."""
        manager = self.plugin_manager
        self.save_options = [o for _, o in manager.options("save", reserved_save_names())]
        extra = [option.argparse() for option in self.save_options]
        for controller in save_controllers(extra):
            self.handler.register(controller, force=True)
        for controller in command_controllers(manager.commands(CORE_COMMANDS)):
            self.handler.register(controller)
        try:  # run every plugin's prism_settings now, so a broken one is known at once
            manager.settings_declarations()
        except PrismError:
            pass  # a clash is reported when the settings are read
        self.config_locks = ConfigLocks()
        contributed = manager.config_defaults()
        self.config_locks.add(contributed, "the installed defaults")
        if contributed:
            defaults = {k: dict(v) for k, v in (self._meta.config_defaults or {}).items()}
            for section, values in contributed.items():
                defaults.setdefault(section, {}).update(values)
            self._meta.config_defaults = defaults
        super().setup()

    @property
    def settings(self) -> Settings:
        """Tunables from config files and environment (read once per run)."""
        if not hasattr(self, "_settings"):
            section = (
                self.config.get_section_dict("prism") if self.config.has_section("prism") else {}
            )
            if self._meta.debug and section.get("debug") is True:  # Cement's, from --debug
                section = {k: v for k, v in section.items() if k != "debug"}
            settings = Settings.load(
                self.config_locks.strip(section), locked=self.config_locks.section("prism")
            )
            settings.plugin_config = self._plugin_config()
            settings.before_templates_read = self._settle_detached
            self._settings = settings
            for warning in self.config_locks.warnings:
                print(f"prism: warning: {warning}", file=sys.stderr)
        return self._settings

    def _settle_detached(self) -> None:
        """Before a command reads local templates: write the versions detached saves of
        this machine made, or say why not yet (one line each; nothing when none)."""
        from prism_core.templates import detached_pending

        settings = self._settings
        if not detached_pending.pending_count(settings.home):
            return
        from prism_core.aws.clients import AwsClients

        profile = getattr(self.pargs, "profile", None) if hasattr(self, "pargs") else None

        def clients(region: str) -> AwsClients:
            return AwsClients(region, settings.max_attempts, profile=profile)

        for line in detached_pending.settle(settings.home, settings.templates_dir, clients):
            print(f"prism: {line}", file=sys.stderr)

    def _plugin_config(self) -> dict[str, dict[str, Any]]:
        """Every non-``prism`` section, with declared defaults applied and schemas checked."""
        from prism_core.config_schema import validate_section
        from prism_core.settings import section_typos

        sections = {
            name: self.config_locks.strip(self.config.get_section_dict(name))
            for name in self.config.get_sections()
            if name != "prism"
        }
        declarations = self.plugin_manager.settings_declarations()
        for name, (plugin, declared) in declarations.items():
            merged = self.config_locks.strip({**declared.defaults, **sections.get(name, {})})
            if declared.schema is not None:
                validate_section(name, merged, declared.schema, plugin)
            sections[name] = merged
        for warning in section_typos(list(sections), ["prism", *declarations]):
            print(f"prism: warning: {warning}", file=sys.stderr)
        return sections

    def plugin_settings(self, section: str) -> dict[str, Any]:
        """A plugin's config section (declared defaults applied, validated)."""
        return dict(self.settings.plugin_config.get(section, {}))

    @property
    def plugin_manager(self) -> PrismPluginManager:
        """The loaded plugin manager; load warnings go to stderr once."""
        if not hasattr(self, "_plugin_manager"):
            # the entry points are cached in PRISM_HOME once it exists: a first
            # `prism --help` (or `prism demo`) creates nothing in the user's home
            home = prism_home()
            manager = PrismPluginManager(
                required=system_required_plugins(), selection=self.plugin_selection
            ).load(cache_dir=home / "cache" if home.is_dir() else None)
            for warning in manager.warnings:
                print(f"prism: warning: {warning}", file=sys.stderr)
            self._plugin_manager = manager
        return self._plugin_manager


def system_required_plugins() -> list[str]:
    """``prism.required_plugins`` of ``/etc/prism/prism.yml`` (key in any letter case)."""
    from prism_core.settings import config_key

    system = read_config_file(system_config_path()) or {}
    section = system.get("prism") or {}
    required = next((v for k, v in section.items() if config_key(k) == "required_plugins"), None)
    if isinstance(required, str):
        required = comma_list(required)
    return [str(r) for r in required or []]


def _report(message: str) -> None:
    from prism_core.validation import printable

    try:
        print(f"prism: error: {printable(message, 1000)}", file=sys.stderr)
    except (OSError, ValueError):
        pass  # stderr is gone (closed pipe or terminal, full disk): the exit code says it


#: Signals that stop prism like Ctrl-C (after the instance is back).
TERMINATING = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP", "SIGQUIT") if hasattr(signal, name)
)


def _raise_terminated(signum: int, frame: Any) -> None:
    raise Terminated(signum)


@contextmanager
def _signals_as_exceptions() -> Iterator[None]:
    """Ctrl-C raises KeyboardInterrupt; SIGTERM, SIGHUP (the terminal closed) and SIGQUIT
    (Ctrl-\\) raise Terminated while prism runs: all stop a save the same way."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signal.SIGINT: signal.signal(signal.SIGINT, signal.default_int_handler)}
    for signum in TERMINATING:
        previous[signum] = signal.signal(signum, _raise_terminated)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _lists_plugins_or_help(args: list[str]) -> bool:
    """``prism plugins``, ``--help`` and ``--version`` work even with a broken plugin."""
    words = [a for a in args if not a.startswith("-")]
    return (words[:1] == ["plugins"]) or any(
        a in ("-h", "--help", "-v", "--version") for a in args
    )


def main(
    argv: list[str] | None = None,
    *,
    plugins: Iterable[tuple[str, object]] = (),
    entry_points: Iterable[str] | None = None,
) -> int:
    """Run prism; return the exit code (the console script exits with it).

    A program running prism in-process (a test harness) may pass ``plugins`` (``(name,
    plugin object)`` pairs registered after the installed plugins) and ``entry_points``
    (the names of the installed plugins to load; ``None``: all).
    Nothing else (no variable, file or flag) chooses or releases plugins.
    """
    from prism_core.cli.argparse_messages import remember_argparse_messages

    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    remember_argparse_messages()
    pin_prism_home()
    app = PrismApp(argv=args, config_files=[system_config_path(), str(user_config_path())])
    app.plugin_selection = PluginSelection(
        tuple(plugins), None if entry_points is None else frozenset(entry_points)
    )
    code = EXIT_FAILURE
    try:
        code = _run(app, args, debug)
    finally:
        from prism_core.cli.progress_events import uninstall

        uninstall(app.progress_stream, code)
    return code


def _run(app: PrismApp, args: list[str], debug: bool) -> int:
    """Run the command; every error becomes its one-line message and exit code."""
    try:
        with _signals_as_exceptions(), app:
            refusal = app.plugin_manager.broken_error()
            if refusal is not None and not _lists_plugins_or_help(args):
                raise refusal
            app.run()
            return int(app.exit_code or 0)
    except PrismError as exc:
        if debug:
            traceback.print_exc()
        _report(str(exc))
        return exc.exit_code
    except (KeyboardInterrupt, Terminated) as exc:
        name = (
            "Ctrl-C"
            if isinstance(exc, KeyboardInterrupt)
            else f"signal {signal.Signals(exc.signum).name}"
        )
        if app.changes_started:
            note = app.interrupt_note or (
                "the instance was brought back. Finish with `prism save --resume`"
            )
            _report(f"interrupted by {name}; {note}")
            return EXIT_FAILURE
        _report(f"cancelled by {name}; nothing was changed")
        return EXIT_REFUSED
    except SystemExit as exc:  # argparse usage errors and --help/--version
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else EXIT_REFUSED)
    except Exception as exc:
        if debug:
            traceback.print_exc()
        setup = _aws_setup_error(app, exc)
        if setup is not None:
            if app.changes_started:
                _report(f"{setup}; then finish with `prism save --resume` if a save was cut short")
                return EXIT_FAILURE
            _report(str(setup))
            return setup.exit_code
        _report(f"unexpected {type(exc).__name__}: {exc} (run with --debug for details)")
        return EXIT_FAILURE


def _aws_setup_error(app: PrismApp, exc: Exception) -> PrismError | None:
    """A one-line error for credentials, profiles and endpoints (``None`` if not one)."""
    if "botocore" not in sys.modules:
        return None
    from prism_core.aws.clients import setup_error

    pargs = getattr(app, "pargs", None)
    return setup_error(exc, getattr(pargs, "profile", None))


def _silence_broken_streams() -> None:
    """A closed or full stdout/stderr must not turn into a traceback at exit."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            try:
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, stream.fileno())
                os.close(devnull)
            except (OSError, ValueError):
                pass


def console(
    *, plugins: Iterable[tuple[str, object]] = (), entry_points: Iterable[str] | None = None
) -> None:
    """Console-script entry point (a program embedding prism may pass :func:`main`'s
    plugin choice)."""
    code = main(plugins=plugins, entry_points=entry_points)
    _silence_broken_streams()
    # Everything still alive is about to go: without this, the interpreter's last
    # garbage collection walks boto3's object graph (a quarter-second on every save).
    gc.freeze()
    sys.exit(code)
