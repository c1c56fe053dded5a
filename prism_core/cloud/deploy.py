"""Deploying the save engine with direct, idempotent API calls (docs/cloud.md).

Five resources, each named ``prism-engine-*`` (the state machine ``prism-save-engine``)
and tagged :data:`COMPONENT_TAG` = :data:`COMPONENT` and :data:`VERSION_TAG` = the engine
digest: three IAM roles (state machine, function, scheduler), the region function
(Lambda) and the state machine. :func:`plan` compares what is deployed with what
this prism would deploy; :func:`apply` makes it so; :func:`teardown` deletes only what
the cloud's own tags prove prism made.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prism_core import __version__
from prism_core.aws.clients import error_code
from prism_core.cloud import state_machine
from prism_core.exceptions import InputError, PrismError

COMPONENT_TAG = "prism:component"
COMPONENT = "cloud-engine"
VERSION_TAG = "prism:engine-version"
PRISM_VERSION_TAG = "prism:prism-version"

STATE_MACHINE = "prism-save-engine"
FUNCTION = "prism-engine-region"
STATES_ROLE = "prism-engine-states"
FUNCTION_ROLE = "prism-engine-region"
#: Assumed by EventBridge Scheduler: may start the state machine, nothing else.
SCHEDULER_ROLE = "prism-engine-scheduler"
ROLES = (STATES_ROLE, FUNCTION_ROLE, SCHEDULER_ROLE)
TRUSTED = {STATES_ROLE: "states.amazonaws.com", FUNCTION_ROLE: "lambda.amazonaws.com",
           SCHEDULER_ROLE: "scheduler.amazonaws.com"}
#: The function's timeout: a scheduled save's ``prepare`` inspects the instance.
FUNCTION_TIMEOUT = 900
#: What the function's package bundles besides the handler: prism (its scheduled-save
#: operations run prism's own code) and its two pure-Python dependencies.
BUNDLED = ("prism_core", "prism_plugins", "pluggy", "yaml")
HANDLER = "prism_core.cloud.engine_function.handler"
RUNTIME = "python3.12"


def _trust(service: str, account: str) -> str:
    statement: dict[str, Any] = {"Effect": "Allow", "Principal": {"Service": service},
                                 "Action": "sts:AssumeRole"}
    if service == TRUSTED[SCHEDULER_ROLE]:  # only this account's schedules
        statement["Condition"] = {"StringEquals": {"aws:SourceAccount": account}}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]}, sort_keys=True)


def scheduler_policy(partition: str, region: str, account: str) -> dict[str, Any]:
    """What EventBridge Scheduler may do: start the engine's state machine."""
    machine = f"arn:{partition}:states:{region}:{account}:stateMachine:{STATE_MACHINE}"
    return {
        "Version": "2012-10-17",
        "Statement": [{"Sid": "StartScheduledSave", "Effect": "Allow",
                       "Action": "states:StartExecution", "Resource": machine}],
    }


#: Left out of what a scheduled save gets from ``prism iam-policy --for save`` (there they
#: are on any instance): the function stops only instances a ``--stop`` schedule marked
#: (``StopMarkedInstance``) and starts only instances a prism save has locked
#: (``RestartLockedInstance``).
SCHEDULED_NEVER = frozenset({"ec2:StopInstances", "ec2:StartInstances"})


def scheduled_statements(partition: str, account: str, prefix: str) -> list[dict[str, Any]]:
    """What a scheduled save needs besides the later phases: ``prism iam-policy --for
    save`` and ``--for templates`` (pruning, channels) as prism renders them, and
    publishing to SNS topics of this account (``--notify``)."""
    from prism_core.aws import iam_policy

    options = iam_policy.PolicyOptions(partition=partition, prefix=prefix)
    merged: dict[str, dict[str, Any]] = {}
    for use in ("save", "templates"):
        for statement in iam_policy.policy(use, options)["Statement"]:
            actions = statement["Action"]
            actions = [a for a in ([actions] if isinstance(actions, str) else actions)
                       if a not in SCHEDULED_NEVER]
            if not actions:
                continue
            statement = {**statement, "Action": actions}
            sid = "Scheduled" + statement["Sid"]
            if sid in merged:
                actions = set(merged[sid]["Action"]) | set(statement["Action"])
                merged[sid]["Action"] = sorted(actions)
            else:
                merged[sid] = {**statement, "Sid": sid}
    merged["ScheduledNotify"] = {"Sid": "ScheduledNotify", "Effect": "Allow",
                                 "Action": "sns:Publish",
                                 "Resource": f"arn:{partition}:sns:*:{account}:*"}
    return list(merged.values())


def states_policy(partition: str, region: str, account: str) -> dict[str, Any]:
    """What the state machine may do: invoke the region function, describe images."""
    function = f"arn:{partition}:lambda:{region}:{account}:function:{FUNCTION}"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "InvokeRegionFunction", "Effect": "Allow",
             "Action": "lambda:InvokeFunction", "Resource": [function, f"{function}:*"]},
            {"Sid": "SourceImageState", "Effect": "Allow",
             "Action": "ec2:DescribeImages", "Resource": "*"},
        ],
    }


def function_policy(partition: str, region: str, account: str, prefix: str) -> dict[str, Any]:
    """What the region function may do: the later save phases' EC2/SSM calls, its logs."""
    images = [f"arn:{partition}:ec2:*::image/*", f"arn:{partition}:ec2:*::snapshot/*"]
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Describe", "Effect": "Allow", "Resource": "*",
             "Action": ["ec2:DescribeImages", "ec2:DescribeSnapshots",
                        "ec2:DescribeInstances"]},
            # --detach --stop: the restart duty; only an instance a prism save has locked
            # (the function also checks that the lock is this save's)
            {"Sid": "RestartLockedInstance", "Effect": "Allow",
             "Resource": f"arn:{partition}:ec2:*:{account}:instance/*",
             "Action": "ec2:StartInstances",
             "Condition": {"Null": {"aws:ResourceTag/prism:save-lock": "false"}}},
            # a --stop schedule's Prepare: only an instance `prism schedule add --stop` marked
            # with the caller's credentials (this role cannot put that tag)
            {"Sid": "StopMarkedInstance", "Effect": "Allow",
             "Resource": f"arn:{partition}:ec2:*:{account}:instance/*",
             "Action": "ec2:StopInstances",
             "Condition": {"Null": {"aws:ResourceTag/prism:schedule-stop": "false"}}},
            {"Sid": "CopiesAndSharing", "Effect": "Allow", "Resource": images,
             "Action": ["ec2:CopyImage", "ec2:ModifyImageAttribute",
                        "ec2:EnableImageDeprecation"]},
            {"Sid": "TagCopies", "Effect": "Allow", "Resource": images,
             "Action": "ec2:CreateTags"},
            {"Sid": "RemoveSaveLockTag", "Effect": "Allow",
             "Resource": f"arn:{partition}:ec2:*:{account}:instance/*",
             "Action": "ec2:DeleteTags",
             "Condition": {"ForAllValues:StringEquals": {"aws:TagKeys": ["prism:save-lock"]}}},
            {"Sid": "AbortOnlyOwnImages", "Effect": "Allow", "Resource": images,
             "Action": ["ec2:DeregisterImage", "ec2:DeleteSnapshot"],
             "Condition": {"Null": {"aws:ResourceTag/prism:save-id": "false"}}},
            {"Sid": "Registry", "Effect": "Allow",
             "Resource": f"arn:{partition}:ssm:*:{account}:parameter/{prefix.strip('/')}/*",
             "Action": ["ssm:GetParameter", "ssm:PutParameter", "ssm:DeleteParameter"]},
            {"Sid": "EncryptedCopies", "Effect": "Allow",
             "Resource": f"arn:{partition}:kms:*:{account}:key/*",
             "Condition": {"StringLike": {"kms:ViaService": "ec2.*.amazonaws.com"}},
             "Action": ["kms:CreateGrant", "kms:Decrypt", "kms:GenerateDataKeyWithoutPlaintext",
                        "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:DescribeKey"]},
            {"Sid": "Logs", "Effect": "Allow",
             "Resource": f"arn:{partition}:logs:{region}:{account}:log-group:/aws/lambda/"
                         f"{FUNCTION}:*",
             "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]},
        ],
    }


def _bundled_files() -> list[tuple[str, Path]]:
    """``(name in the archive, file)`` of every bundled package's files, sorted; compiled
    files and native extensions left out (PyYAML falls back to pure Python)."""
    import importlib

    files = []
    for package in BUNDLED:
        root = Path(importlib.import_module(package).__file__ or "").parent
        for path in sorted(root.rglob("*")):
            if (path.is_file() and "__pycache__" not in path.parts
                    and path.suffix not in (".pyc", ".so", ".pyd")):
                files.append((f"{package}/{path.relative_to(root).as_posix()}", path))
    return files


@functools.lru_cache(maxsize=1)
def handler_package() -> bytes:
    """The function's deployment package: the bundled packages (the handler is
    :data:`HANDLER`), with a fixed date (the same prism always builds the same bytes)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        def add(name: str, data: bytes) -> None:
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)

        for name, path in _bundled_files():
            add(name, path.read_bytes())
    return buffer.getvalue()


@dataclass
class Engine:
    """What this prism deploys into one account and region."""

    region: str
    account: str
    partition: str = "aws"
    prefix: str = "/prism/"

    def arn(self, service: str, kind: str, name: str, region: bool = True) -> str:
        where = self.region if region else ""
        sep = ":" if kind in ("function", "stateMachine") else "/"
        return f"arn:{self.partition}:{service}:{where}:{self.account}:{kind}{sep}{name}"

    @property
    def function_arn(self) -> str:
        return self.arn("lambda", "function", FUNCTION)

    @property
    def state_machine_arn(self) -> str:
        return self.arn("states", "stateMachine", STATE_MACHINE)

    def role_arn(self, name: str) -> str:
        return self.arn("iam", "role", name, region=False)

    def definition(self) -> str:
        return state_machine.definition_text(self.function_arn)

    def policies(self) -> dict[str, dict[str, Any]]:
        function = function_policy(self.partition, self.region, self.account, self.prefix)
        function["Statement"] += scheduled_statements(self.partition, self.account,
                                                      self.prefix)
        return {
            STATES_ROLE: states_policy(self.partition, self.region, self.account),
            FUNCTION_ROLE: function,
            SCHEDULER_ROLE: scheduler_policy(self.partition, self.region, self.account),
        }

    def digest(self) -> str:
        """The engine version: a digest of everything setup deploys."""
        parts = [self.definition(), json.dumps(self.policies(), sort_keys=True),
                 hashlib.sha256(handler_package()).hexdigest(), __version__]
        return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()[:16]

    def tags(self) -> dict[str, str]:
        return {COMPONENT_TAG: COMPONENT, VERSION_TAG: self.digest(),
                PRISM_VERSION_TAG: __version__}


@dataclass
class Resource:
    """One deployed (or to-be-deployed) resource and what setup would do with it."""

    kind: str
    name: str
    action: str  # create | update | unchanged | delete | foreign | absent
    version: str | None = None
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "action": self.action,
                "version": self.version, "detail": self.detail}


@dataclass
class Deployed:
    """What is in the account now, resource by resource (``None``: absent)."""

    roles: dict[str, dict[str, str] | None] = field(default_factory=dict)
    function: dict[str, str] | None = None
    state_machine: dict[str, str] | None = None


def _missing(exc: Exception) -> bool:
    return error_code(exc) in (
        "NoSuchEntity", "ResourceNotFoundException", "StateMachineDoesNotExist",
    ) or "does not exist" in str(exc).lower()


def _role_tags(iam: Any, name: str) -> dict[str, str] | None:
    try:
        tags = iam.list_role_tags(RoleName=name)["Tags"]
    except Exception as exc:
        if _missing(exc):
            return None
        raise
    return {t["Key"]: t["Value"] for t in tags}


def _function_tags(lam: Any, name: str) -> dict[str, str] | None:
    try:
        answer = lam.get_function(FunctionName=name)
    except Exception as exc:
        if _missing(exc):
            return None
        raise
    return dict(answer.get("Tags") or {})


def _machine_tags(sfn: Any, arn: str) -> dict[str, str] | None:
    try:
        sfn.describe_state_machine(stateMachineArn=arn)
    except Exception as exc:
        if _missing(exc):
            return None
        raise
    tags = sfn.list_tags_for_resource(resourceArn=arn)["tags"]
    return {t["key"]: t["value"] for t in tags}


def read_deployed(aws: Any, engine: Engine) -> Deployed:
    """The engine's resources as the account has them (tags only)."""
    iam = aws.client("iam", engine.region)
    return Deployed(
        roles={name: _role_tags(iam, name) for name in ROLES},
        function=_function_tags(aws.client("lambda", engine.region), FUNCTION),
        state_machine=_machine_tags(aws.client("stepfunctions", engine.region),
                                    engine.state_machine_arn),
    )


def _compare(kind: str, name: str, tags: dict[str, str] | None, digest: str) -> Resource:
    if tags is None:
        return Resource(kind, name, "create")
    if tags.get(COMPONENT_TAG) != COMPONENT:
        return Resource(kind, name, "foreign", None,
                        f"exists without the tag {COMPONENT_TAG}={COMPONENT}")
    version = tags.get(VERSION_TAG)
    return Resource(kind, name, "unchanged" if version == digest else "update", version)


def plan(deployed: Deployed, engine: Engine) -> list[Resource]:
    """What setup would do with each resource."""
    digest = engine.digest()
    rows = [_compare("iam-role", n, deployed.roles.get(n), digest) for n in ROLES]
    rows.append(_compare("lambda-function", FUNCTION, deployed.function, digest))
    rows.append(_compare("state-machine", STATE_MACHINE, deployed.state_machine, digest))
    foreign = [r for r in rows if r.action == "foreign"]
    if foreign:
        names = ", ".join(f"{r.kind} {r.name}" for r in foreign)
        raise InputError(
            f"{names} already exist(s) without prism's tag {COMPONENT_TAG}={COMPONENT}",
            "rename or remove it, or deploy into another region with --region",
        )
    return rows


def apply(aws: Any, engine: Engine, rows: list[Resource]) -> list[Resource]:
    """Create or update every row that needs it; the rows done."""
    tags = engine.tags()
    iam = aws.client("iam", engine.region)
    lam = aws.client("lambda", engine.region)
    sfn = aws.client("stepfunctions", engine.region)
    done = []
    by_name = {(r.kind, r.name): r for r in rows}
    for name, policy in engine.policies().items():
        row = by_name[("iam-role", name)]
        if row.action == "create":
            iam.create_role(
                RoleName=name, AssumeRolePolicyDocument=_trust(TRUSTED[name], engine.account),
                Description="prism save engine (prism cloud setup)",
                Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
            )
        elif row.action == "update":
            iam.tag_role(RoleName=name, Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
        if row.action in ("create", "update"):
            iam.put_role_policy(RoleName=name, PolicyName="prism-engine",
                                PolicyDocument=json.dumps(policy, sort_keys=True))
            done.append(row)
    row = by_name[("lambda-function", FUNCTION)]
    if row.action == "create":
        lam.create_function(
            FunctionName=FUNCTION, Runtime=RUNTIME, Role=engine.role_arn(FUNCTION_ROLE),
            Handler=HANDLER, Code={"ZipFile": handler_package()}, Timeout=FUNCTION_TIMEOUT,
            MemorySize=256,
            Description="prism save engine: per-region steps (prism cloud setup)",
            Tags=tags,
        )
        done.append(row)
    elif row.action == "update":
        lam.update_function_code(FunctionName=FUNCTION, ZipFile=handler_package())
        _when_updated(lam)
        lam.update_function_configuration(FunctionName=FUNCTION, Timeout=FUNCTION_TIMEOUT)
        lam.tag_resource(Resource=engine.function_arn, Tags=tags)
        done.append(row)
    row = by_name[("state-machine", STATE_MACHINE)]
    sfn_tags = [{"key": k, "value": v} for k, v in tags.items()]
    if row.action == "create":
        sfn.create_state_machine(
            name=STATE_MACHINE, definition=engine.definition(),
            roleArn=engine.role_arn(STATES_ROLE), type="STANDARD", tags=sfn_tags,
        )
        done.append(row)
    elif row.action == "update":
        sfn.update_state_machine(
            stateMachineArn=engine.state_machine_arn, definition=engine.definition(),
            roleArn=engine.role_arn(STATES_ROLE),
        )
        sfn.tag_resource(resourceArn=engine.state_machine_arn, tags=sfn_tags)
        done.append(row)
    return done


def _when_updated(lam: Any) -> None:
    """Wait for a code update to finish (Lambda refuses a configuration change meanwhile)."""
    import time

    for _ in range(60):
        state = lam.get_function(FunctionName=FUNCTION)["Configuration"]
        if state.get("LastUpdateStatus", "Successful") != "InProgress":
            return
        time.sleep(1)


def teardown_plan(deployed: Deployed) -> list[Resource]:
    """Each resource: ``delete`` when its tags prove prism made it, ``foreign`` when a
    resource of that name is not prism's (left alone), ``absent`` when there is none."""
    rows = []
    items: list[tuple[str, str, dict[str, str] | None]] = [
        ("state-machine", STATE_MACHINE, deployed.state_machine),
        ("lambda-function", FUNCTION, deployed.function),
        *[("iam-role", n, deployed.roles.get(n)) for n in ROLES],
    ]
    for kind, name, tags in items:
        if tags is None:
            rows.append(Resource(kind, name, "absent"))
        elif tags.get(COMPONENT_TAG) != COMPONENT:
            rows.append(Resource(kind, name, "foreign", None,
                                 f"not tagged {COMPONENT_TAG}={COMPONENT}: left alone"))
        else:
            rows.append(Resource(kind, name, "delete", tags.get(VERSION_TAG)))
    return rows


def schedule_rows(aws: Any, engine: Engine) -> list[Resource]:
    """The engine's schedules (``prism schedule``), each proven prism's by its name,
    target and input: teardown deletes them first (they would start nothing)."""
    from prism_core.cloud import schedules

    try:
        found = schedules.listed(aws.client("scheduler", engine.region),
                                 engine.state_machine_arn)
    except Exception as exc:
        if _missing(exc):
            return []
        raise
    return [Resource("schedule", a["Name"], "delete", None,
                     (schedules.from_answer(a).notify_topic or "")
                     if not str(schedules.from_answer(a).notify or "").startswith("arn:")
                     else "") for a in found]


def teardown(aws: Any, engine: Engine, rows: list[Resource]) -> list[Resource]:
    """Delete the rows marked ``delete`` (schedules, state machine, function, roles)."""
    from prism_core.cloud import schedules

    iam = aws.client("iam", engine.region)
    deleted = []
    for row in rows:
        if row.action != "delete":
            continue
        try:
            if row.kind == "schedule":
                scheduler = aws.client("scheduler", engine.region)
                answer = scheduler.get_schedule(Name=row.name, GroupName=schedules.GROUP)
                scheduler.delete_schedule(Name=row.name, GroupName=schedules.GROUP)
                schedules.release_stop(aws, schedules.from_answer(answer).request,
                                       row.name[len(schedules.PREFIX):], engine.region)
                if row.detail:  # the topic prism made for its --notify EMAIL
                    schedules.remove_topic(aws, row.detail,
                                           row.name[len(schedules.PREFIX):])
            elif row.kind == "state-machine":
                aws.client("stepfunctions", engine.region).delete_state_machine(
                    stateMachineArn=engine.state_machine_arn)
            elif row.kind == "lambda-function":
                aws.client("lambda", engine.region).delete_function(FunctionName=FUNCTION)
            else:
                for policy in iam.list_role_policies(RoleName=row.name)["PolicyNames"]:
                    iam.delete_role_policy(RoleName=row.name, PolicyName=policy)
                iam.delete_role(RoleName=row.name)
        except Exception as exc:
            if not _missing(exc):
                raise PrismError(f"could not delete {row.kind} {row.name}: {exc}") from exc
        deleted.append(row)
    return deleted
