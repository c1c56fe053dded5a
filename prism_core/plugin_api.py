"""Small declarations plugins return to extend the CLI and the configuration.

Plugin authors import these with ``from prism_core.plugin_api import Option, Command,
PluginSettings`` and return them from ``prism_add_options``, ``prism_add_commands``
and ``prism_settings``. This module is cheap to import (no boto3, no Cement).

Plugins that read YAML or JSON (files, downloaded catalogs, registry values) use
:func:`load_yaml_bounded` / :func:`load_json_bounded`, prism's own bounded loaders:
regular files only, a size cap, UTF-8, and limits on depth and aliases.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from prism_core.safe_yaml import load_json_bounded, load_yaml_bounded, read_text_bounded

__all__ = [
    "Command",
    "Handler",
    "Option",
    "PluginSettings",
    "load_json_bounded",
    "load_yaml_bounded",
    "read_text_bounded",
]

#: What a command handler receives: the Cement app and the parsed arguments.
Handler = Callable[[Any, Any], "int | None"]


@dataclass(frozen=True)
class Option:
    """One command-line option or positional argument, as ``argparse.add_argument`` takes it.

    ``flags`` is e.g. ``("--publish",)`` or ``("name",)`` for a positional; the other
    fields are passed to argparse unchanged when set. The value reaches plugins as
    ``ctx.options[dest]`` (``prism save``) or ``args.<dest>`` (commands).
    """

    flags: tuple[str, ...]
    help: str
    action: str | None = None
    default: Any = None
    metavar: str | None = None
    choices: tuple[str, ...] | None = None
    nargs: str | int | None = None
    type: Callable[[str], Any] | None = None

    def __post_init__(self) -> None:
        if isinstance(self.flags, str):
            object.__setattr__(self, "flags", (self.flags,))

    @property
    def dest(self) -> str:
        """The attribute name argparse gives the value (``--copy-to`` becomes ``copy_to``)."""
        longs = [f for f in self.flags if f.startswith("--")]
        name = (longs or list(self.flags))[0]
        return name.lstrip("-").replace("-", "_")

    @property
    def positional(self) -> bool:
        """Whether this is a positional argument (no leading ``-``)."""
        return not self.flags[0].startswith("-")

    def argparse(self) -> tuple[list[str], dict[str, Any]]:
        """The ``(flags, kwargs)`` pair Cement's ``arguments=`` lists hold."""
        kwargs: dict[str, Any] = {"help": self.help}
        for key in ("action", "metavar", "nargs", "type"):
            value = getattr(self, key)
            if value is not None:
                kwargs[key] = value
        if self.choices is not None:
            kwargs["choices"] = list(self.choices)
        if self.default is not None or self.action is None:
            kwargs["default"] = self.default
        if not self.positional:
            kwargs["dest"] = self.dest
        return list(self.flags), kwargs


@dataclass(frozen=True)
class Command:
    """A ``prism NAME`` command, or a group of subcommands (``prism NAME SUB ...``).

    A command with ``handler`` runs ``handler(app, args)``; its return value is the
    exit code (``None`` means 0). A group has ``subcommands`` and no handler. Raise
    :class:`prism_core.exceptions.InputError` for bad input (one line, exit 2).
    """

    name: str
    help: str
    handler: Handler | None = None
    arguments: tuple[Option, ...] = ()
    subcommands: tuple[Command, ...] = ()

    def __post_init__(self) -> None:
        if (self.handler is None) == (not self.subcommands):
            raise ValueError(f"command {self.name!r} needs exactly one of handler or subcommands")


@dataclass(frozen=True)
class PluginSettings:
    """A plugin's section of ``prism.yml``: its name, defaults and a JSON schema.

    Values come from (lowest first) ``defaults``, ``prism_config_defaults`` of any
    plugin, ``/etc/prism/prism.yml``, ``$PRISM_HOME/config.yml``. The merged section
    is validated against ``schema`` (JSON Schema) before any command runs; read it
    with ``ctx.plugin_settings(section)`` or ``app.plugin_settings(section)``.
    """

    section: str
    defaults: Mapping[str, Any] = field(default_factory=dict)
    schema: Mapping[str, Any] | None = None
    help: str = ""
