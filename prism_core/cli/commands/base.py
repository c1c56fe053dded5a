"""The base controller: ``prism --help``, version, and the ``plugins`` command."""

from __future__ import annotations

import textwrap
from argparse import ArgumentParser, RawDescriptionHelpFormatter
from typing import Any

from prism_core import __version__
from prism_core.cli.cement_api import Controller, ex
from prism_core.cli.exit_codes import GENERAL, command_path, with_exit_codes
from prism_core.cli.layout import ListingHelpFormatter, output_width, table
from prism_core.cli.output import DEBUG_ARGUMENT, OUTPUT_ARGUMENT, emit
from prism_core.cli.progress_events import PROGRESS_ARGUMENT

EPILOG = f"""examples:
  keep your own environment:
    prism save quake-analysis seismic-env --description "ML for seismic data"
    prism launch seismic-env aftershock-prediction --size GPU-L
  share with your team:
    prism save my-genomics-work team-genomics-env --share-with 111122223333
  a course environment for every student:
    prism save ml-course-prep cs229-env --copy-to-regions us-east-2,us-west-2
  not sure of the options? on a terminal, just run:
    prism save
  with a real AWS account, the permissions prism needs:
    prism iam-policy > prism-policy.json

{GENERAL}

Every command's --help says what its exit codes mean for it."""


PLUGINS_EPILOG = """examples:
  prism plugins                      # which plugin runs which save phase
  prism plugins -o json              # the same, for scripts
  PRISM_DISABLE_PLUGINS=ssm-registry prism save my-analysis seismic-env
                                     # save without writing the shared registry

Plugins are found through the `prism.plugins` entry-point group."""


def _add_when_parsed(parser: ArgumentParser, arguments: list[Any]) -> None:
    """Add ``arguments`` to ``parser`` the first time it parses (argparse hands a
    sub-command's words to its parser's ``parse_known_args``) or formats its help."""
    pending = [arguments]

    def add() -> None:
        if pending:
            for args, kwargs in pending.pop():
                parser.add_argument(*args, **kwargs)

    def wrap(name: str) -> None:
        method = getattr(parser, name)

        def wrapped(*args: Any, **kwargs: Any) -> Any:
            add()
            return method(*args, **kwargs)

        setattr(parser, name, wrapped)

    for name in ("parse_known_args", "format_help", "format_usage"):
        wrap(name)


def _with_global_options(arguments: list[Any]) -> list[Any]:
    """Every command that takes ``--debug`` takes ``--progress`` too (one choice for a
    whole script: ``PRISM_PROGRESS`` sets it for every command)."""
    names = {name for args, _ in arguments for name in args}
    if "--debug" in names and "--progress" not in names:
        arguments.append(PROGRESS_ARGUMENT)
    return arguments


class Base(Controller):
    """prism: save customised EC2 workstations as shareable, launchable templates."""

    class Meta:
        label = "base"
        description = (
            "Save customised EC2 research workstations as shareable, launchable templates."
        )
        epilog = EPILOG
        argument_formatter = ListingHelpFormatter
        subparser_options = {"metavar": "COMMAND"}  # not a list of every choice
        arguments = [
            (["-v", "--version"], {"action": "version", "version": f"prism {__version__}"}),
        ]

    def _default(self) -> None:
        self.app.args.print_help()

    def _get_command_parser_options(self, command: Any) -> dict[str, Any]:
        """Every command's help ends with what its exit codes mean (prism_core.cli.exit_codes)."""
        options = super()._get_command_parser_options(command)
        path = command_path(self._controllers, command.controller, command.label)
        return with_exit_codes(options, path)

    def _process_commands(self, controller: Any) -> None:
        """Cement's command parsers, with each command's own arguments added when that
        command is parsed: ``prism --help`` and every other command skip building the
        arguments of the two dozen commands they do not run."""
        commands = controller._collect_commands()
        deferred = [(command, command.arguments) for command in commands]
        for command, _ in deferred:
            command.arguments = []
        try:
            super()._process_commands(controller)
        finally:
            for command, arguments in deferred:
                command.arguments = arguments
        choices = self._get_parser_parent_by_controller(controller).choices
        for command, arguments in deferred:
            parser = choices.get(command.label)
            if parser is not None and arguments:
                _add_when_parsed(parser, _with_global_options(list(arguments)))

    @ex(
        help="list the plugins loaded, their versions and hooks",
        description="List the plugins prism loaded (built-in ones included), "
        "their versions and the save phases they implement.",
        epilog=PLUGINS_EPILOG,
        formatter_class=RawDescriptionHelpFormatter,
        arguments=[OUTPUT_ARGUMENT, DEBUG_ARGUMENT],
    )
    def plugins(self) -> None:
        """``prism plugins``: each plugin's hooks, the save phases first in their order."""
        from prism_core.save import phases

        manager = self.app.plugin_manager
        rows = manager.plugins()
        document = {
            "plugins": [
                {"name": p.name, "version": p.version, "source": p.source, "hooks": list(p.hooks)}
                for p in rows
            ],
            "blocked": sorted(manager.blocked),
            "broken": dict(manager.broken),
            "required": sorted(manager.required),
            "warnings": list(manager.warnings),
            "phases": [phases.to_dict(phase) for phase in phases.PHASES],
        }
        cells = [
            [
                p.name,
                p.version,
                p.source,
                ", ".join(h.removeprefix("prism_") for h in sorted(p.hooks, key=phases.hook_rank)),
            ]
            for p in rows
        ]
        lines = [table(["NAME", "VERSION", "SOURCE", "HOOKS"], cells, output_width())]
        order = ", ".join(
            (phase.hook or phase.name).removeprefix("prism_")
            + ("" if phase.hook else " (prism core)")
            for phase in phases.PHASES
        )
        width = output_width()
        text = f"save phases, in order: {order}"
        lines += ["", *(textwrap.wrap(text, width) if width else [text])]  # below the table
        for name, reason in manager.broken.items():
            lines.append(f"BROKEN {name}: {reason} (disable with PRISM_DISABLE_PLUGINS={name})")
        if manager.blocked:
            lines.append("blocked by PRISM_DISABLE_PLUGINS: " + ", ".join(sorted(manager.blocked)))
        if manager.required:
            lines.append("required (cannot be disabled): " + ", ".join(sorted(manager.required)))
        emit(document, self.app.pargs.output, "\n".join(lines))
