"""Cement controllers built from the commands plugins declare (``prism_add_commands``)."""

from __future__ import annotations

from typing import Any

from prism_core.cli.aws_options import PROFILE_ARGUMENT
from prism_core.cli.cement_api import Controller, ex
from prism_core.cli.layout import ListingHelpFormatter
from prism_core.cli.output import DEBUG_ARGUMENT, OUTPUT_ARGUMENT
from prism_core.plugin_api import Command

#: Command names prism owns (and those the contract promises), which plugins may not take.
CORE_COMMANDS = frozenset(
    {
        "save",
        "ami",
        "plugins",
        "launch",
        "demo",
        "help",
        "list",
        "terminate",
        "cleanup",
        "templates",
        "sandbox",
        "iam-policy",
        "cloud",
        "saves",
        "schedule",
    }
)


def _exposed(command: Command) -> Any:
    """A Cement command method that runs ``command.handler(app, args)``."""
    handler = command.handler
    assert handler is not None

    def run(self: Controller) -> None:
        code = handler(self.app, self.app.pargs)
        self.app.exit_code = int(code or 0)

    run.__name__ = _attribute(command.name)  # Cement dispatches by function name
    own = {flag for option in command.arguments for flag in option.flags}
    shared = (PROFILE_ARGUMENT,) if command.aws else ()
    shared += (OUTPUT_ARGUMENT, DEBUG_ARGUMENT)
    extra = [arg for arg in shared if not own & set(arg[0])]
    arguments = [option.argparse() for option in command.arguments] + extra
    return ex(label=command.name, help=command.help, arguments=arguments)(run)


def _attribute(name: str) -> str:
    return "cmd_" + "".join(c if c.isalnum() else "_" for c in name)


def _print_group_help(self: Controller) -> None:
    self._parser.print_help()


def command_controllers(commands: list[tuple[str, Command]]) -> list[type[Controller]]:
    """One controller per plugin command: nested for a group, embedded for a command."""
    controllers: list[type[Controller]] = []
    for plugin, command in commands:
        if command.subcommands:
            meta = type(
                "Meta",
                (),
                {
                    "label": command.name,
                    "stacked_on": "base",
                    "stacked_type": "nested",
                    "help": command.help,
                    "description": f"{command.help} (plugin {plugin})",
                    "argument_formatter": ListingHelpFormatter,
                },
            )
            attrs: dict[str, Any] = {"Meta": meta, "_default": _print_group_help}
            for sub in command.subcommands:
                attrs[_attribute(sub.name)] = _exposed(sub)
        else:
            meta = type(
                "Meta",
                (),
                {
                    "label": f"plugin_command_{command.name}",
                    "stacked_on": "base",
                    "stacked_type": "embedded",
                },
            )
            attrs = {"Meta": meta, _attribute(command.name): _exposed(command)}
        controllers.append(type(f"PluginCommand_{_attribute(command.name)}", (Controller,), attrs))
    return controllers
