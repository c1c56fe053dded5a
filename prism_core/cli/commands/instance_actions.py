"""``prism connect NAME``, ``prism stop NAME`` and ``prism start NAME``."""

from __future__ import annotations

import os
import shutil
import sys
from typing import Any

from prism_core.cli.aws_options import PROFILE_ARGUMENT, aws_clients
from prism_core.cli.cement_api import Controller, ex
from prism_core.cli.output import DEBUG_ARGUMENT, OUTPUT_ARGUMENT, emit
from prism_core.exceptions import InputError

NAME_ARGUMENT = (["name"], {"help": "the instance's Name tag, or its id (i-...)"})
REGION_ARGUMENT = (["--region"], {"help": "region of the instance (default: your AWS config)"})
YES_ARGUMENT = (["-y", "--yes"], {"action": "store_true", "help": "do not ask"})
DRY_RUN_ARGUMENT = (["--dry-run"], {"action": "store_true", "help": "show the plan only"})

CONNECT_EPILOG = """examples:
  prism connect my-box              # SSH with the key prism imported
  prism connect my-box --port 8888  # Jupyter: then open http://localhost:8888
  prism connect my-box --print      # only print the command

The login user comes from the template the instance was launched from (--user
overrides it). Without a public IP or a key pair, prism connects through Session
Manager (`aws ssm start-session`, with its session-manager-plugin)."""


def _instance(app: Any) -> tuple[Any, Any, Any]:
    """(clients, region, the instance) of ``NAME`` in ``--region``."""
    from prism_core.instances import lookup

    aws = aws_clients(app, app.pargs.region)
    region = aws.region
    return aws, region, lookup.find(aws.ec2(region), app.pargs.name, region)


def _template_user(app: Any, aws: Any, region: str, template: str | None) -> str | None:
    """The login user of the template the instance was launched from, if it can be found."""
    if not template:
        return None
    from prism_core.templates import compat, store

    settings = app.settings
    try:
        found = store.find(template, settings.templates_dir, aws, settings.registry_prefix,
                           region, [])
    except Exception:  # noqa: BLE001  (the default user is used; --user overrides)
        return None
    return compat.ssh_user(found.document)


def _document(data: dict[str, Any], region: str) -> dict[str, Any]:
    from prism_core.instances.lookup import Instance

    instance = Instance.from_api(data, region)
    return {
        "id": instance.instance_id,
        "name": instance.name,
        "state": instance.state,
        "region": region,
        "public_ip": instance.public_ip,
        "private_ip": instance.private_ip,
        "template": instance.template,
    }


class InstanceActions(Controller):
    """``connect``, ``stop`` and ``start``: embedded in the base controller."""

    class Meta:
        label = "instance_actions"
        stacked_on = "base"
        stacked_type = "embedded"

    @ex(
        label="connect",
        help="log in to an instance (SSH, or Session Manager); --port forwards a port",
        description="Log in to a running instance: SSH with the key pair's private key and "
        "the template's user, or Session Manager when it has no public IP or no key pair.",
        epilog=CONNECT_EPILOG,
        arguments=[
            NAME_ARGUMENT,
            (["--port"], {"metavar": "P", "help": "forward port P to localhost:P instead"}),
            (["--user"], {"help": "login user (default: the template's, else ec2-user)"}),
            (["--print"], {"action": "store_true", "dest": "print_only",
                           "help": "print the command instead of running it"}),
            REGION_ARGUMENT,
            PROFILE_ARGUMENT,
            OUTPUT_ARGUMENT,
            DEBUG_ARGUMENT,
        ],
    )
    def connect(self) -> None:
        """``prism connect NAME [--port P] [--user U] [--print]``."""
        from prism_core.instances import connection

        pargs = self.app.pargs
        port = connection.port_number(pargs.port)
        aws, region, instance = _instance(self.app)
        user = pargs.user or _template_user(self.app, aws, region, instance.template)
        how = connection.connection(instance, user or connection.DEFAULT_USER, port)
        document = {"id": instance.instance_id, "name": instance.name, "how": how.how,
                    "command": how.argv, "notes": how.notes}
        if pargs.print_only or pargs.output != "text":
            emit(document, pargs.output, how.command)
            return
        if shutil.which(how.argv[0]) is None:
            wanted = "an OpenSSH client" if how.how == "ssh" else (
                "the AWS CLI v2 and its session-manager-plugin")
            raise InputError(f"{how.argv[0]} is not installed", f"install {wanted}, or "
                             "run the command `prism connect --print` shows elsewhere")
        for note in how.notes:
            print(f"prism: {note}", file=sys.stderr)
        print(f"prism: {how.command}", file=sys.stderr)
        sys.stdout.flush()
        sys.stderr.flush()
        os.execvp(how.argv[0], how.argv)

    @ex(
        label="stop",
        help="stop an instance (its disks are kept; start it again with prism start)",
        arguments=[NAME_ARGUMENT, REGION_ARGUMENT, PROFILE_ARGUMENT, YES_ARGUMENT,
                   DRY_RUN_ARGUMENT, OUTPUT_ARGUMENT, DEBUG_ARGUMENT],
    )
    def stop(self) -> None:
        """``prism stop NAME``."""
        from prism_core.cli.prompts import confirm
        from prism_core.instances import power

        pargs = self.app.pargs
        aws, region, instance = _instance(self.app)
        refusal = power.stop_refusal(instance)
        if refusal is not None:
            raise refusal
        ref = instance.name or instance.instance_id
        if instance.state == "stopped":
            emit({**vars(instance), "changed": False}, pargs.output,
                 f"Instance {instance.label} is already stopped; start it with "
                 f"`prism start {ref}`")
            return
        elastic = power.has_elastic_ip(aws.ec2(region), instance)
        for line in power.stop_plan(instance, elastic):
            print(f"   {line}", file=sys.stderr)
        if pargs.dry_run:
            emit({**vars(instance), "dry_run": True}, pargs.output, "Dry run: nothing changed.")
            return
        confirm(f"Stop '{ref}'?", pargs.yes)
        self.app.changes_started = True
        self.app.interrupt_note = "the instance may still be stopping; see `prism list`"
        data = power.stop(aws.ec2(region), instance, self.app.settings)
        document = {**_document(data, region), "changed": True}
        emit(document, pargs.output,
             f"Instance '{ref}' is stopped ({instance.instance_id}).\n"
             f"   Start it again:\n      prism start {ref}")

    @ex(
        label="start",
        help="start a stopped instance and print its (new) address",
        arguments=[NAME_ARGUMENT, REGION_ARGUMENT, PROFILE_ARGUMENT, YES_ARGUMENT,
                   DRY_RUN_ARGUMENT, OUTPUT_ARGUMENT, DEBUG_ARGUMENT],
    )
    def start(self) -> None:
        """``prism start NAME``."""
        from prism_core.instances import power

        pargs = self.app.pargs
        aws, region, instance = _instance(self.app)
        ref = instance.name or instance.instance_id
        changed = instance.state != "running"
        if changed and instance.state not in ("stopped", "stopping"):
            raise InputError(f"instance {instance.label} is {instance.state}",
                             "wait until it is running or stopped")
        if changed:
            from prism_core.cli.prompts import confirm
            from prism_core.templates.document import instance_types

            price = instance_types().get(instance.instance_type, {}).get("usd_per_hour")
            cost = f", about ${price}/hour while it runs" if price is not None else ""
            print(f"   Start {instance.label}, a {instance.instance_type}, in {region}{cost}",
                  file=sys.stderr)
            if pargs.dry_run:
                emit({**vars(instance), "dry_run": True}, pargs.output,
                     "Dry run: nothing changed.")
                return
            confirm(f"Start '{ref}'?", pargs.yes)
            self.app.changes_started = True
            self.app.interrupt_note = "the instance may still be starting; see `prism list`"
            print(f"   Starting {instance.label} in {region}...", file=sys.stderr)
            data = power.start(aws.ec2(region), instance, self.app.settings)
        else:
            from prism_core.aws.ec2 import instance_record

            data = instance_record(aws.ec2(region), instance.instance_id) or {}
        document = {**_document(data, region), "changed": changed}
        was = "" if changed else " (it was already running)"
        new = " (new)" if changed and document["public_ip"] else ""
        emit(document, pargs.output,
             f"Instance '{ref}' is running{was}: {instance.instance_id}\n"
             f"   Public IP: {document['public_ip'] or '-'}{new}   "
             f"Private IP: {document['private_ip'] or '-'}\n"
             f"   Connect:\n      prism connect {ref}")
