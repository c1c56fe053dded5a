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
from prism_core.cli.prompts import confirm

__all__ = ["Ami", "Save", "confirm", "reserved_save_names", "save_controllers"]

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
  images that EC2 deprecates after six months:
    prism save ml-course-prep cs229-env --deprecate-after 180

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

SAVE_ARGUMENTS: list[tuple[list[str], dict[str, Any]]] = [
    (["instance"], {"nargs": "?", "help": "the instance's Name tag or its id (i-...)"}),
    (["template"], {"nargs": "?", "help": "name of the template to create"}),
    (["--description"], {"help": "what the template is for (at most 255 characters)"}),
    (
        ["--copy-to-regions"],
        {"metavar": "R1,R2", "help": "also copy the AMI to these regions (none: no copies)"},
    ),
    (["--project"], {"metavar": "ID", "help": "project the template and its costs belong to"}),
    (
        ["--public"],
        {"action": "store_true", "help": "make the AMI launchable by every AWS account"},
    ),
    (["--share-with"], {"metavar": "ID[,ID]", "help": "account ids, organization or OU ARNs"}),
    (
        ["--copy-to-accounts"],
        {
            "metavar": "ACCOUNT[:ROLE],...",
            "help": "copy the AMI into these accounts (assuming ROLE there, default "
            "prism.account_role), in every region the save has an image in",
        },
    ),
    (
        ["--fast-restore"],
        {
            "metavar": "AZ[,AZ]",
            "help": "enable fast snapshot restore of the image's snapshots in these zones "
            "(each zone for the image in its region; billed per snapshot, zone and hour "
            "until disabled: the plan shows the cost)",
        },
    ),
    (
        ["--allow-secrets"],
        {
            "action": "store_true",
            "help": "share the image (--public, --share-with) although the inspection found "
            "secrets in it; asks on a terminal even with --yes",
        },
    ),
    # --scrub (issue 24): one entry, kept next to --allow-secrets / --no-inspect
    (
        ["--scrub"],
        {
            "action": "store_true",
            "help": "share (--public, --share-with) a scrubbed derivative: a short-lived "
            "helper removes the secrets found from a copy; the team image stays complete "
            "and private",
        },
    ),
    (
        ["--no-inspect"],
        {
            "action": "store_true",
            "help": "do not look inside the instance (Run Command) before imaging; a share "
            "then prints the checklist of what to remove by hand",
        },
    ),
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
        ["--reboot"],
        {
            "action": "store_true",
            "help": "EC2 reboots the instance once during CreateImage (the default unless "
            "prism.image_mode says otherwise)",
        },
    ),
    (
        ["--stop"],
        {
            "action": "store_true",
            "help": "stop -> image -> start, a watchdog holding the restart (public IP "
            "changes, instance store erased)",
        },
    ),
    (
        ["--no-reboot"],
        {
            "action": "store_true",
            "help": "image the running instance without stopping or rebooting it",
        },
    ),
    (
        ["--allow-instance-store-loss"],
        {
            "action": "store_true",
            "help": "with --stop: go ahead although the stop erases instance-store volumes",
        },
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
        ["--deprecate-after"],
        {
            "metavar": "DAYS",
            "help": "EC2 deprecation of the AMI and every copy after DAYS days "
            "(default: prism.deprecate_after_days in config)",
        },
    ),
    (
        ["--batch"],
        {
            "metavar": "FILE.yaml",
            "help": "save several instances: a YAML list of mappings with instance, template "
            "and any save option by its long name (copy_to_regions, description, ...)",
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
        ["--detach"],
        {
            "action": "store_true",
            "help": "request the image here, then let the save engine in your account "
            "(`prism cloud setup`) do the rest; returns at once (see `prism saves`)",
        },
    ),
    (
        ["--dry-run"],
        {"action": "store_true", "help": "run every check, show the plan, change nothing"},
    ),
    (
        ["--no-inherit"],
        {
            "action": "store_true",
            "help": "take nothing from the template's previous version (description, "
            "project, tags, sharing, copy regions)",
        },
    ),
    (
        ["--resume"],
        {
            "nargs": "?",
            "const": True,
            "default": False,
            "metavar": "SAVE_ID",
            "help": "finish the save(s) interrupted on this machine (or only SAVE_ID)",
        },
    ),
    (
        ["--abort"],
        {
            "nargs": "?",
            "const": True,
            "default": False,
            "metavar": "SAVE_ID",
            "help": "undo the save(s) interrupted on this machine (or only SAVE_ID): bring the "
            "instance back and remove what they created in every region",
        },
    ),
    OUTPUT_ARGUMENT,
    DEBUG_ARGUMENT,
]


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
