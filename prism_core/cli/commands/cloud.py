"""``prism cloud setup|status|teardown``: the save engine in the user's account."""

from __future__ import annotations

from typing import Any

from prism_core.cli.aws_options import PROFILE_ARGUMENT
from prism_core.cli.cement_api import Controller, ex
from prism_core.cli.layout import ListingHelpFormatter
from prism_core.cli.output import DEBUG_ARGUMENT, OUTPUT_ARGUMENT, emit

REGION_ARGUMENT = (
    ["--region"],
    {"help": "the engine's home region (default: your AWS configuration)"},
)
YES_ARGUMENT = (["--yes", "-y"], {"action": "store_true", "help": "do not ask for confirmation"})

CLOUD_EPILOG = """The engine (docs/cloud.md) is three IAM roles, one Lambda function and
one Step Functions state machine, all named prism-engine-* and tagged
prism:component=cloud-engine. `prism save --detach` and each firing of a
`prism schedule` start one execution of it per save; teardown also removes the
schedules.

examples:
  prism iam-policy --for cloud > cloud-policy.json   # what setup needs
  prism cloud setup --region us-east-1
  prism cloud status
  prism cloud teardown --yes"""


def _engine(app: Any) -> tuple[Any, Any]:
    """The command's clients and the :class:`Engine` this prism would deploy."""
    from prism_core.cli.aws_options import command_clients
    from prism_core.cloud.deploy import Engine

    aws, region = command_clients(app)
    arn = aws.identity()["Arn"]
    partition = arn.split(":")[1] if arn.startswith("arn:") else "aws"
    engine = Engine(region, aws.account_id(), partition, app.settings.registry_prefix)
    return aws, engine


def _rows_text(title: str, rows: list[Any]) -> str:
    from prism_core.cli.layout import output_width, table

    cells = [[r.action, r.kind, r.name, r.version or "-", r.detail] for r in rows]
    return title + "\n" + table(["ACTION", "KIND", "NAME", "VERSION", "NOTE"], cells,
                                output_width())


class Cloud(Controller):
    """``prism cloud ...``: deploy, inspect and remove the save engine."""

    class Meta:
        label = "cloud"
        stacked_on = "base"
        stacked_type = "nested"
        help = "deploy the save engine into your account (for --detach and schedules)"
        description = (
            "The save engine runs detached saves in your AWS account with AWS Step Functions. "
            "setup deploys or updates it, status compares it with this prism, teardown "
            "removes everything setup made."
        )
        epilog = CLOUD_EPILOG
        argument_formatter = ListingHelpFormatter  # prose wrapped, listings kept

    @ex(
        help="deploy or update the save engine (shows a plan, asks first)",
        arguments=[REGION_ARGUMENT, YES_ARGUMENT, PROFILE_ARGUMENT, OUTPUT_ARGUMENT,
                   DEBUG_ARGUMENT],
    )
    def setup(self) -> None:
        """``prism cloud setup [--region R] [--yes]``."""
        from prism_core.cli.prompts import confirm
        from prism_core.cloud.deploy import apply, plan, read_deployed

        pargs = self.app.pargs
        aws, engine = _engine(self.app)
        rows = plan(read_deployed(aws, engine), engine)
        todo = [r for r in rows if r.action != "unchanged"]
        document = {"region": engine.region, "version": engine.digest(),
                    "resources": [r.as_dict() for r in rows], "changed": []}
        if not todo:
            emit(document, pargs.output,
                 f"The save engine {engine.digest()} is deployed in {engine.region}; "
                 "nothing to change.")
            return
        if pargs.output == "text":
            print(_rows_text(f"Save engine {engine.digest()} in {engine.region}:", rows))
        confirm(f"Deploy the save engine into {engine.region}?", pargs.yes)
        self.app.changes_started = True
        self.app.interrupt_note = "run `prism cloud setup` again to finish"
        done = apply(aws, engine, rows)
        document["changed"] = [r.as_dict() for r in done]
        emit(document, pargs.output,
             f"Deployed the save engine {engine.digest()} in {engine.region} "
             f"({len(done)} resource(s) created or updated).")

    @ex(
        help="what is deployed, its version, and whether this prism differs from it",
        arguments=[REGION_ARGUMENT, PROFILE_ARGUMENT, OUTPUT_ARGUMENT, DEBUG_ARGUMENT],
    )
    def status(self) -> None:
        """``prism cloud status``."""
        from prism_core.cloud.deploy import COMPONENT, COMPONENT_TAG, read_deployed

        pargs = self.app.pargs
        aws, engine = _engine(self.app)
        deployed = read_deployed(aws, engine)
        digest = engine.digest()
        items = [
            *[("iam-role", n, t) for n, t in deployed.roles.items()],
            ("lambda-function", "prism-engine-region", deployed.function),
            ("state-machine", "prism-save-engine", deployed.state_machine),
        ]
        resources = []
        for kind, name, tags in items:
            if tags is None:
                state = "absent"
            elif tags.get(COMPONENT_TAG) != COMPONENT:
                state = "foreign"
            else:
                state = "current" if tags.get("prism:engine-version") == digest else "drift"
            resources.append({"kind": kind, "name": name, "state": state,
                              "version": (tags or {}).get("prism:engine-version")})
        states = {r["state"] for r in resources}
        overall = (
            "absent" if states == {"absent"}
            else "current" if states == {"current"}
            else "drift"
        )
        document = {"region": engine.region, "status": overall, "local_version": digest,
                    "resources": resources}
        notes = {
            "absent": "not deployed: run `prism cloud setup`",
            "current": "deployed, same version as this prism",
            "drift": "differs from this prism (or incomplete): run `prism cloud setup` "
                     "to update it",
        }
        from prism_core.cli.layout import output_width, table

        text = (
            f"Save engine in {engine.region}: {notes[overall]} (local version {digest})\n"
            + table(["KIND", "NAME", "STATE", "VERSION"],
                    [[r["kind"], r["name"], r["state"], r["version"] or "-"]
                     for r in resources], output_width())
        )
        emit(document, pargs.output, text)

    @ex(
        help="remove everything setup created (proven by tags)",
        arguments=[REGION_ARGUMENT, YES_ARGUMENT, PROFILE_ARGUMENT, OUTPUT_ARGUMENT,
                   DEBUG_ARGUMENT],
    )
    def teardown(self) -> None:
        """``prism cloud teardown [--yes]``."""
        from prism_core.cli.prompts import confirm
        from prism_core.cloud.deploy import (
            read_deployed,
            schedule_rows,
            teardown,
            teardown_plan,
        )

        pargs = self.app.pargs
        aws, engine = _engine(self.app)
        rows = teardown_plan(read_deployed(aws, engine))
        if any(r.action == "delete" for r in rows):
            rows = schedule_rows(aws, engine) + rows
        todo = [r for r in rows if r.action == "delete"]
        document: dict[str, Any] = {"region": engine.region,
                                    "resources": [r.as_dict() for r in rows], "deleted": []}
        if not todo:
            emit(document, pargs.output, f"No save engine of prism in {engine.region}.")
            return
        if pargs.output == "text":
            print(_rows_text(f"Save engine in {engine.region}:", rows))
        confirm(f"Remove the save engine from {engine.region}?", pargs.yes)
        self.app.changes_started = True
        self.app.interrupt_note = "run `prism cloud teardown` again to finish"
        done = teardown(aws, engine, rows)
        document["deleted"] = [r.as_dict() for r in done]
        emit(document, pargs.output,
             f"Removed the save engine from {engine.region} ({len(done)} resource(s)).")
