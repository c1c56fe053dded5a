"""``prism schedule add|list|show|pause|resume|remove``: saves the save engine runs on a
schedule (EventBridge Scheduler), with ``--keep N``, ``--channel`` and ``--notify``."""

from __future__ import annotations

from typing import Any

from prism_core.cli.aws_options import PROFILE_ARGUMENT
from prism_core.cli.cement_api import Controller, ex
from prism_core.cli.commands.save import SAVE_ARGUMENTS
from prism_core.cli.layout import ListingHelpFormatter
from prism_core.cli.output import DEBUG_ARGUMENT, OUTPUT_ARGUMENT, emit
from prism_core.exceptions import InputError

#: The save options a schedule takes: those ``prism save --detach`` accepts.
SAVE_FLAGS = ("--description", "--copy-to-regions", "--project", "--public", "--share-with",
              "--allow-secrets", "--no-inspect", "--tag", "--region", "--reboot", "--stop",
              "--no-reboot", "--allow-instance-store-loss", "--deprecate-after",
              "--no-inherit", "--yes")
NAME_ARGUMENT = (["name"], {"metavar": "NAME", "help": "the schedule's name"})

SCHEDULE_EPILOG = """Each firing runs the whole save in your account (`prism cloud setup`),
CreateImage included, in reboot mode unless --no-reboot or --stop (the engine stops the
instance, images it and starts it again); see `prism saves`.

examples:
  prism schedule add box env --rate 1d --keep 7 --channel nightly
  prism schedule add box env --cron '0 3 ? * SUN *' \\
      --time-zone Europe/Berlin --notify ops@example.org
  prism schedule list
  prism schedule pause env-box
  prism schedule remove env-box --yes"""


def _save_arguments() -> list[tuple[list[str], dict[str, Any]]]:
    found = [(flags, dict(options)) for flags, options in SAVE_ARGUMENTS
             if any(f in SAVE_FLAGS for f in flags)]
    return found


def _context(app: Any) -> tuple[Any, str, str, str]:
    """Clients, region, the engine's state machine ARN and the scheduler role's ARN."""
    from prism_core.cli.aws_options import command_clients
    from prism_core.cloud.deploy import SCHEDULER_ROLE, Engine

    aws, region = command_clients(app)
    arn = aws.identity()["Arn"]
    partition = arn.split(":")[1] if arn.startswith("arn:") else "aws"
    engine = Engine(region, aws.account_id(), partition, app.settings.registry_prefix)
    return aws, region, engine.state_machine_arn, engine.role_arn(SCHEDULER_ROLE)


def _check_engine(aws: Any, region: str, machine: str) -> None:
    """Refuse (before anything changes) when the engine or its scheduler role is missing."""
    from prism_core.cloud.deploy import SCHEDULER_ROLE, _missing

    try:
        aws.client("stepfunctions", region).describe_state_machine(stateMachineArn=machine)
        aws.client("iam", region).list_role_tags(RoleName=SCHEDULER_ROLE)
    except Exception as exc:
        if not _missing(exc):
            raise
        raise InputError(
            f"the save engine (with its scheduler role) is not deployed in {region}; "
            "nothing was changed", f"run `prism cloud setup --region {region}` first",
        ) from None


def _request(pargs: Any) -> dict[str, Any]:
    """The stored save request (checked as `prism save --detach` checks it)."""
    from prism_core.save.options import GROUPS

    if sum(bool(f) for f in (pargs.reboot, pargs.no_reboot, pargs.stop)) > 1:
        raise InputError("--reboot, --stop, --no-reboot exclude each other",
                         "choose one image mode")
    mode = "stop" if pargs.stop else "no-reboot" if pargs.no_reboot else "reboot"
    return {
        "instance": pargs.instance, "template": pargs.template,
        "description": pargs.description, "copy_to_regions": pargs.copy_to_regions,
        "project": pargs.project, "public": bool(pargs.public),
        "share_with": pargs.share_with, "tags": list(pargs.tag or []),
        "no_reboot": bool(pargs.no_reboot),
        "image_mode": mode,
        "allow_instance_store_loss": bool(pargs.allow_instance_store_loss),
        "deprecate_after": pargs.deprecate_after,
        "secrets_policy": GROUPS["secrets_policy"](vars(pargs))["secrets_policy"],
        "no_inherit": bool(pargs.no_inherit),
    }


def _text(schedule: Any) -> str:
    request = schedule.request
    lines = [
        f"Schedule {schedule.name}: {schedule.state.lower()}",
        f"  saves:    {request.get('instance')} as {request.get('template')}",
        f"  when:     {schedule.expression} ({schedule.time_zone})",
        f"  next run: {schedule.next_run or '-'}",
        f"  keep:     {schedule.keep or 'every version'}",
        f"  channel:  {schedule.channel or '-'}",
        f"  notify:   {schedule.notify or '-'}",
    ]
    if request.get("copy_to_regions"):
        lines.append(f"  copies:   {request['copy_to_regions']}")
    return "\n".join(lines)


class Schedule(Controller):
    """``prism schedule ...``: scheduled saves run by the save engine."""

    class Meta:
        label = "schedule"
        stacked_on = "base"
        stacked_type = "nested"
        help = "saves the save engine runs on a schedule (--keep N, --channel)"
        description = (
            "A schedule is an EventBridge Scheduler schedule that starts the save engine "
            "with the whole save. After each success the schedule's versions beyond "
            "--keep N are pruned and --channel moves to the new version."
        )
        epilog = SCHEDULE_EPILOG
        argument_formatter = ListingHelpFormatter

    def _default(self) -> None:
        self.app.args.print_help()

    @ex(
        help="save INSTANCE as TEMPLATE on a schedule",
        arguments=[
            (["instance"], {"metavar": "INSTANCE", "help": "the instance's Name tag or id"}),
            (["template"], {"metavar": "TEMPLATE", "help": "the template to save as"}),
            (["--cron"], {"metavar": "EXPR",
                          "help": "six fields, e.g. '0 3 ? * SUN *' (03:00 Sundays)"}),
            (["--rate"], {"metavar": "RATE", "help": "every N days or hours: 1d, 7d, 12h"}),
            (["--time-zone"], {"metavar": "TZ",
                               "help": "IANA zone of --cron (default UTC)"}),
            (["--keep"], {"type": int, "metavar": "N",
                          "help": "keep the N newest versions this schedule made"}),
            (["--channel"], {"metavar": "C", "help": "point channel C at each new version"}),
            (["--notify"], {"metavar": "EMAIL|ARN",
                            "help": "tell this address or SNS topic of failures"}),
            (["--name"], {"help": "the schedule's name (default: TEMPLATE-INSTANCE)"}),
            *_save_arguments(),
            PROFILE_ARGUMENT,
            OUTPUT_ARGUMENT,
            DEBUG_ARGUMENT,
        ],
    )
    def add(self) -> None:
        """``prism schedule add INSTANCE TEMPLATE (--cron EXPR | --rate R) ...``."""
        from prism_core.cloud import cron, schedules
        from prism_core.cloud.executions import refuse_cloud_plugins
        from prism_core.validation import channel_name, template_name

        pargs, settings = self.app.pargs, self.app.settings
        if (pargs.cron is None) == (pargs.rate is None):
            raise InputError("give exactly one of --cron EXPR and --rate RATE",
                             "e.g. --rate 1d, or --cron '0 3 ? * SUN *'")
        expression = cron.rate(pargs.rate) if pargs.rate is not None else cron.cron(pargs.cron)
        if pargs.rate is not None and pargs.time_zone:
            raise InputError("--time-zone applies to --cron only", "drop --time-zone")
        zone = cron.time_zone(pargs.time_zone)
        keep = schedules.keep_count(pargs.keep)
        channel = channel_name(pargs.channel) if pargs.channel is not None else None
        notify = schedules.notify_target(pargs.notify)
        template_name(pargs.template)
        name = (schedules.schedule_name(pargs.name) if pargs.name
                else schedules.default_name(pargs.template, pargs.instance))
        request = _request(pargs)
        if pargs.copy_to_regions is None and settings.default_copy_regions:
            request["default_copy_regions"] = settings.default_copy_regions
        refuse_cloud_plugins(self.app.plugin_manager, "a scheduled save")
        aws, region, machine, role = _context(self.app)
        _check_engine(aws, region, machine)
        planned = self._check_save(aws, request)
        stop = None  # --stop: (EC2 client, instance id) the schedule may stop
        if request["image_mode"] == "stop":
            schedules.check_stoppable(planned.instance.tags, pargs.instance, name)
            stop = (aws.ec2(planned.source_region), planned.request.instance_id)
            request["stop_instance_id"], request["stop_region"] = stop[1], planned.source_region
        scheduler = aws.client("scheduler", region)
        try:
            scheduler.get_schedule(Name=schedules.PREFIX + name, GroupName=schedules.GROUP)
        except Exception as exc:
            if "ResourceNotFound" not in str(exc) and "does not exist" not in str(exc).lower():
                raise
        else:
            raise InputError(f"a schedule {name!r} exists already",
                             "pick another --name, or `prism schedule remove` it first")
        from prism_core.cli.prompts import confirm

        what = f"{pargs.instance} as {pargs.template}, {expression.text} ({zone})"
        confirm(f"Schedule saves of {what}?", pargs.yes)
        if request["public"]:
            confirm("Make every scheduled AMI PUBLIC (any AWS account can launch it)?",
                    pargs.yes)
        if stop:
            confirm(f"Stop {pargs.instance} for each save (1-3 minutes down; the engine "
                    "starts it again)?", pargs.yes)
        self.app.changes_started = True
        topic = notify[1] if notify and notify[0] == "topic" else None
        if notify and notify[0] == "email":
            topic = self._email_topic(aws, region, name, notify[1])
        data = schedules.target_input(
            name, request, region, keep, channel, pargs.notify, topic,
            settings.registry_prefix, max(0, round(settings.poll_delay)),
        )
        # the settings of this machine a save reads besides the request
        data["schedule"]["settings"] = {
            "kms_keys": dict(settings.kms_keys or {}),
            "deprecate_after_days": settings.deprecate_after_days,
        }
        import json

        kwargs: dict[str, Any] = {}
        if pargs.cron is not None:
            kwargs["ScheduleExpressionTimezone"] = zone
        if stop:  # the engine's role stops only an instance that carries this tag
            schedules.mark_stoppable(stop[0], stop[1], name)
        try:
            scheduler.create_schedule(
                Name=schedules.PREFIX + name, GroupName=schedules.GROUP,
                ScheduleExpression=expression.text, FlexibleTimeWindow={"Mode": "OFF"},
                Description=f"prism: save {pargs.instance} as {pargs.template}"[:512],
                Target={"Arn": machine, "RoleArn": role,
                        "Input": json.dumps(data, sort_keys=True),
                        "RetryPolicy": {"MaximumRetryAttempts": 0}},
                State="ENABLED", **kwargs,
            )
        except BaseException:
            if stop:
                schedules.unmark_stoppable(stop[0], stop[1], name)
            raise
        answer = schedules.get(scheduler, name, machine)
        found = schedules.from_answer(answer)
        note = (f"\nConfirm the subscription mailed to {notify[1]} to get failures."
                if notify and notify[0] == "email" else "")
        emit(found.to_dict(), pargs.output,
             f"Scheduled saves of {what}: schedule {name}, next run {found.next_run}."
             + note)

    def _check_save(self, aws: Any, request: dict[str, Any]) -> Any:
        """What `prism save --dry-run` checks of the request, nothing changed; the plan."""
        import io

        from prism_core.cli.progress import Progress
        from prism_core.cloud.scheduled import save_options
        from prism_core.save.pipeline import plan_save

        return plan_save(save_options(request), self.app.settings, aws,
                         Progress(io.StringIO()))

    def _email_topic(self, aws: Any, region: str, name: str, address: str) -> str:
        """The schedule's own SNS topic (tagged), the address subscribed to it."""
        from prism_core.cloud import schedules

        sns = aws.client("sns", region)
        arn = sns.create_topic(
            Name=schedules.topic_name(name),
            Tags=[{"Key": schedules.TOPIC_TAG, "Value": name},
                  {"Key": "prism:component", "Value": "cloud-engine"}],
        )["TopicArn"]
        sns.subscribe(TopicArn=arn, Protocol="email", Endpoint=address)
        return str(arn)

    @ex(help="the schedules of the save engine",
        arguments=[(["--region"], {"help": "the engine's region"}), PROFILE_ARGUMENT,
                   OUTPUT_ARGUMENT, DEBUG_ARGUMENT])
    def list(self) -> None:
        """``prism schedule list``."""
        from prism_core.cli.layout import output_width, table
        from prism_core.cloud import schedules

        aws, region, machine, _ = _context(self.app)
        found = [schedules.from_answer(a)
                 for a in schedules.listed(aws.client("scheduler", region), machine)]
        rows = [[s.name, s.state.lower(), f"{s.request.get('instance')}",
                 f"{s.request.get('template')}", s.expression, str(s.keep or "-"),
                 s.channel or "-", s.next_run or "-"] for s in found]
        text = (table(["NAME", "STATE", "INSTANCE", "TEMPLATE", "WHEN", "KEEP", "CHANNEL",
                       "NEXT RUN"], rows, output_width())
                if found else "No schedules.")
        emit({"region": region, "schedules": [s.to_dict() for s in found]},
             self.app.pargs.output, text)

    @ex(help="one schedule: what it saves, when, keep, channel, notify",
        arguments=[NAME_ARGUMENT, (["--region"], {"help": "the engine's region"}),
                   PROFILE_ARGUMENT, OUTPUT_ARGUMENT, DEBUG_ARGUMENT])
    def show(self) -> None:
        """``prism schedule show NAME``."""
        from prism_core.cloud import schedules

        aws, region, machine, _ = _context(self.app)
        name = schedules.schedule_name(self.app.pargs.name)
        found = schedules.from_answer(
            schedules.get(aws.client("scheduler", region), name, machine))
        emit(found.to_dict(), self.app.pargs.output, _text(found))

    def _set_state(self, state: str, verb: str) -> None:
        from prism_core.cloud import schedules

        aws, region, machine, _ = _context(self.app)
        name = schedules.schedule_name(self.app.pargs.name)
        scheduler = aws.client("scheduler", region)
        answer = schedules.get(scheduler, name, machine)
        if answer.get("State") != state:
            self.app.changes_started = True
            schedules.set_state(scheduler, answer, state)
        found = schedules.from_answer(schedules.get(scheduler, name, machine))
        emit(found.to_dict(), self.app.pargs.output, f"Schedule {name} {verb}.")

    @ex(help="stop firing a schedule until resumed",
        arguments=[NAME_ARGUMENT, (["--region"], {"help": "the engine's region"}),
                   PROFILE_ARGUMENT, OUTPUT_ARGUMENT, DEBUG_ARGUMENT])
    def pause(self) -> None:
        """``prism schedule pause NAME``."""
        self._set_state("DISABLED", "paused")

    @ex(help="fire a paused schedule again",
        arguments=[NAME_ARGUMENT, (["--region"], {"help": "the engine's region"}),
                   PROFILE_ARGUMENT, OUTPUT_ARGUMENT, DEBUG_ARGUMENT])
    def resume(self) -> None:
        """``prism schedule resume NAME``."""
        self._set_state("ENABLED", "resumed")

    @ex(help="delete a schedule (and the topic prism made for its --notify)",
        arguments=[NAME_ARGUMENT, (["--region"], {"help": "the engine's region"}),
                   (["--yes", "-y"], {"action": "store_true",
                                      "help": "do not ask for confirmation"}),
                   PROFILE_ARGUMENT, OUTPUT_ARGUMENT, DEBUG_ARGUMENT])
    def remove(self) -> None:
        """``prism schedule remove NAME``: versions it made stay."""
        from prism_core.cli.prompts import confirm
        from prism_core.cloud import schedules

        aws, region, machine, _ = _context(self.app)
        name = schedules.schedule_name(self.app.pargs.name)
        scheduler = aws.client("scheduler", region)
        found = schedules.from_answer(schedules.get(scheduler, name, machine))
        confirm(f"Remove schedule {name} (the versions it made stay)?", self.app.pargs.yes)
        self.app.changes_started = True
        scheduler.delete_schedule(Name=schedules.PREFIX + name, GroupName=schedules.GROUP)
        removed = [f"schedule {name}"]
        removed += schedules.release_stop(aws, found.request, name, region)  # --stop
        topic = found.notify_topic
        if topic and found.notify and not found.notify.startswith("arn:"):
            removed += schedules.remove_topic(aws, topic, name)
        emit({"name": name, "removed": removed}, self.app.pargs.output,
             f"Removed {', '.join(removed)}.")
