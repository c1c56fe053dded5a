"""``prism save`` (and ``prism ami save``): the command's arguments and controllers.

What the command does is in :mod:`prism_core.cli.commands.save_run`, imported when the
command runs, so ``prism --help`` does not load the save pipeline.
"""

from __future__ import annotations

from typing import Any

from prism_core.cli.aws_options import PROFILE_ARGUMENT
from prism_core.cli.cement_api import Controller, ex
from prism_core.cli.layout import ListingHelpFormatter
from prism_core.cli.output import DEBUG_ARGUMENT, OUTPUT_ARGUMENT
from prism_core.save.options import PROFILE_AFTER, SAVE_OPTIONS

__all__ = ["Ami", "Save", "reserved_save_names", "save_controllers"]

SAVE_EPILOG = """examples:
  keep your own environment:
    prism save quake-analysis seismic-env --description "ML for seismic data"
    prism launch seismic-env aftershock-prediction --size GPU-L
  share with your team:
    prism save my-genomics-work team-genomics-env --share-with 111122223333 \\
      --description "Genomics: BWA, GATK, Bioconductor" --tag team=genomics
  a course environment for every student, in two more regions:
    prism save ml-course-prep cs229-env --copy-to-regions us-east-2,us-west-2 \\
      --project cs229 --yes
  ask for everything (on a terminal):
    prism save
  check first, in a script:
    prism save ml-course-prep cs229-env --dry-run -o json
  finish a save interrupted on this machine (or undo it; SAVE_ID picks one):
    prism save --resume
    prism save --abort [SAVE_ID]
  several instances, three at a time (prism.batch_concurrency), one prompt:
    prism save --batch lab.yaml --yes
  every entry of the batch with --stop, except where an entry says otherwise:
    prism save --batch lab.yaml --stop --yes
  images that EC2 deprecates after six months:
    prism save ml-course-prep cs229-env --deprecate-after 180

A batch file is a YAML list; each entry names instance and template and may give any
save option by its long name (dashes or underscores), e.g.
  - instance: lab-1
    template: lab-env
    stop: true
    copy_to_regions: [us-east-2]
A save option on the command line with --batch applies to every entry; an entry's own
value overrides it (an entry naming reboot, stop or no_reboot replaces the command
line's image mode; allow_secrets and no_inspect likewise). Otherwise prism's config
applies, as for a single save.

A new version of an existing template inherits the previous version's
description, project, tags, sharing and copy regions unless you give them
again; the plan says what is inherited and what changes.

Deletes prove ownership: --abort removes only images whose own tags name this save,
and only this save's registry entries and files under $PRISM_HOME/templates; a newer
version of the template is never touched. Tags under the prism: prefix are reserved.

image modes (config `prism.image_mode: reboot|stop|no-reboot` sets the default):
  --reboot     (default) EC2 reboots the instance once during CreateImage: it
               shuts the OS down cleanly, takes the snapshots and boots it again
               itself, whatever happens to prism or this machine afterwards.
               Public IP and instance-store data are kept; about a minute down.
  --stop       prism stops the instance, images it and starts it as soon as the
               snapshots are taken. A watchdog process in its own session starts
               it again if prism dies (kill -9, closed terminal) or stays
               suspended while it is down; Ctrl-Z is ignored meanwhile. The
               public IP changes unless an Elastic IP is attached;
               instance-store volumes are erased (refused unless
               --allow-instance-store-loss).
  --no-reboot  image the running instance as it is (no downtime; files being
               written may be inconsistent in the image).
An instance that is stopping is waited for and stays stopped; one that is pending is
refused. Ctrl-C, SIGTERM, SIGHUP (terminal closed) and SIGQUIT stop the save after the
instance is back; a closed or full output never skips that.

Before anything changes prism looks inside the instance (SSM Run Command, a read-only
script): secrets (private keys, cloud credentials, tokens, histories, SSH host keys,
cloud-init data; paths and kinds, never contents) and the installed packages. The plan
lists them. A private save goes on with a warning; a share beyond the account (--public,
--share-with) of an instance with secrets is refused (exit 2) unless --scrub (only a
scrubbed derivative is shared; the team image stays private) or --allow-secrets
(asks on a terminal even with --yes), and of one that cannot be inspected (no SSM agent,
Windows, Run Command denied) unless --no-inspect (prints what to remove by hand).

On a terminal prism shows the plan (downtime, what is created where, storage cost)
and asks before changing anything; --yes skips that and is required when stdin is
not a terminal. --yes also confirms making the image public (--public).
Progress goes to stderr; the result (text, -o json or -o yaml) to stdout.
One save per instance: a second one is refused (exit 2) while the first holds the
lock `<registry prefix>locks/<instance-id>` in SSM."""

def _save_arguments() -> list[tuple[list[str], dict[str, Any]]]:
    """The arguments of ``prism save``, from the option table (prism_core.save.options),
    with the shared ``--profile``, ``-o`` and ``--debug`` in their places."""
    arguments: list[tuple[list[str], dict[str, Any]]] = []
    for option in SAVE_OPTIONS:
        arguments.append(option.argparse())
        if option.dest == PROFILE_AFTER:
            arguments.append(PROFILE_ARGUMENT)
    return [*arguments, OUTPUT_ARGUMENT, DEBUG_ARGUMENT]


SAVE_ARGUMENTS = _save_arguments()


SAVE_COMMAND: dict[str, Any] = {
    "label": "save",
    "help": "save an instance as a reusable template (AMI, copies, registry, YAML)",
    "description": "Create an AMI of the instance, its disks consistent (EC2 shuts the OS "
    "down cleanly and reboots it once, or --stop; the files are copied as they are, secrets "
    "included), copy the AMI to other regions, share it, register it and write a template "
    "for `prism launch`.",
    "epilog": SAVE_EPILOG,
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
        argument_formatter = ListingHelpFormatter


def save_controllers(extra: list[tuple[list[str], dict[str, Any]]]) -> list[type[Controller]]:
    """``Save`` and ``Ami`` with plugin-added arguments appended (same labels)."""
    if not extra:
        return [Save, Ami]
    command = _save_command(extra)
    return [
        type("Save", (Save,), {"save": command}),
        type("Ami", (Ami,), {"save": command}),
    ]
