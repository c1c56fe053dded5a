"""``prism save`` (and ``prism ami save``): the command's arguments and controllers.

What the command does is in :mod:`prism_core.cli.commands.save_run`, imported when the
command runs, so ``prism --help`` does not load the save pipeline.
"""

from __future__ import annotations

from argparse import RawDescriptionHelpFormatter
from typing import Any

from cement import Controller, ex

from prism_core.cli.aws_options import PROFILE_ARGUMENT
from prism_core.cli.output import DEBUG_ARGUMENT, OUTPUT_ARGUMENT
from prism_core.cli.prompts import confirm
from prism_core.exceptions import EXIT_CODES_HELP

__all__ = ["Ami", "Save", "confirm", "reserved_save_names", "save_controllers"]

SAVE_EPILOG = f"""examples:
  keep your own environment:
    prism save earthquake-analysis seismic-ml-env --description "ML for seismic data"
    prism launch seismic-ml-env aftershock-prediction --size GPU-L
  share with your team:
    prism save my-genomics-work team-genomics-env --share-with 111122223333 \\
      --description "Genomics pipeline with BWA, GATK and R Bioconductor" --tag team=genomics
  a course environment for every student, in two more regions:
    prism save ml-course-prep cs229-environment --copy-to-regions us-east-2,us-west-2 \\
      --project cs229 --yes
  ask for everything (on a terminal):
    prism save
  check first, in a script:
    prism save ml-course-prep cs229-environment --dry-run -o json
  finish a save interrupted on this machine:
    prism save --resume

On a terminal prism shows the plan (downtime, what is created where, storage cost)
and asks before stopping anything; --yes skips that and is required when stdin is
not a terminal. --yes also confirms making the image public (--public).
Progress goes to stderr; the result (text, -o json or -o yaml) to stdout.

{EXIT_CODES_HELP}"""

SAVE_ARGUMENTS: list[tuple[list[str], dict[str, Any]]] = [
    (["instance"], {"nargs": "?", "help": "the instance's Name tag or its id (i-...)"}),
    (["template"], {"nargs": "?", "help": "name of the template to create"}),
    (["--description"], {"help": "what the template is for (at most 255 characters)"}),
    (["--copy-to-regions"], {"metavar": "R1,R2", "help": "also copy the AMI to these regions"}),
    (["--project"], {"metavar": "ID", "help": "project the template and its costs belong to"}),
    (
        ["--public"],
        {"action": "store_true", "help": "make the AMI launchable by every AWS account"},
    ),
    (["--share-with"], {"metavar": "ID[,ID]", "help": "account ids, organization or OU ARNs"}),
    (
        ["--tag"],
        {
            "action": "append",
            "default": [],
            "metavar": "KEY=VALUE",
            "help": "tag for the AMI, its snapshots and copies (repeatable)",
        },
    ),
    (["--region"], {"help": "region of the instance (default: your AWS configuration)"}),
    PROFILE_ARGUMENT,
    (
        ["--no-reboot"],
        {"action": "store_true", "help": "image the running instance without stopping it"},
    ),
    (
        ["--validate"],
        {
            "action": "store_true",
            "help": "boot a throwaway instance from the new AMI and register the "
            "template only if it runs and passes its status checks",
        },
    ),
    (
        ["-y", "--yes"],
        {
            "action": "store_true",
            "help": "do not ask for confirmation (required when stdin is not a terminal)",
        },
    ),
    (
        ["--dry-run"],
        {"action": "store_true", "help": "run every check, show the plan, change nothing"},
    ),
    (
        ["--resume"],
        {"action": "store_true", "help": "finish the save(s) interrupted on this machine"},
    ),
    (
        ["--abort"],
        {
            "action": "store_true",
            "help": "undo the save(s) interrupted on this machine: bring the instance back and "
            "remove what they created in every region",
        },
    ),
    OUTPUT_ARGUMENT,
    DEBUG_ARGUMENT,
]


SAVE_COMMAND: dict[str, Any] = {
    "label": "save",
    "help": "save an instance as a reusable template (AMI, copies, registry, YAML)",
    "description": "Stop the instance safely, create an AMI, bring the instance back, "
    "copy the AMI "
    "to other regions, share it, register it and write a template for `prism launch`.",
    "epilog": SAVE_EPILOG,
    "formatter_class": RawDescriptionHelpFormatter,
}


def reserved_save_names() -> set[str]:
    """Flags and dests of prism's own ``save`` arguments (plugins may not reuse them)."""
    names: set[str] = set()
    for flags, kwargs in SAVE_ARGUMENTS:
        names.update(flags)
        names.add(kwargs.get("dest") or max(flags, key=len).lstrip("-").replace("-", "_"))
    return names


def _save_command(extra: list[tuple[list[str], dict[str, Any]]]) -> Any:
    def save(self: Controller) -> None:
        """``prism save INSTANCE TEMPLATE [options]``."""
        from prism_core.cli.commands.save_run import run_save

        self.app.exit_code = run_save(self.app)

    return ex(**SAVE_COMMAND, arguments=[*SAVE_ARGUMENTS, *extra])(save)


class Save(Controller):
    """``prism save``: embedded in the base controller."""

    class Meta:
        label = "save_command"
        stacked_on = "base"
        stacked_type = "embedded"

    save = _save_command([])


class Ami(Save):
    """``prism ami save``: the same command, nested under ``ami``."""

    class Meta:
        label = "ami"
        stacked_on = "base"
        stacked_type = "nested"
        help = "AMI commands (`prism ami save` is `prism save`)"
        epilog = (
            "examples:\n"
            "  prism ami save earthquake-analysis seismic-ml-env   # same as prism save\n"
            "  prism ami save --help                               # every option"
        )
        formatter_class = RawDescriptionHelpFormatter


def save_controllers(extra: list[tuple[list[str], dict[str, Any]]]) -> list[type[Controller]]:
    """``Save`` and ``Ami`` with plugin-added arguments appended (same labels)."""
    if not extra:
        return [Save, Ami]
    command = _save_command(extra)
    return [
        type("Save", (Save,), {"save": command}),
        type("Ami", (Ami,), {"save": command}),
    ]
