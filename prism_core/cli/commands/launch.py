"""``prism launch TEMPLATE NAME``: a new instance from a saved or built-in template."""

from __future__ import annotations

import sys
from argparse import RawDescriptionHelpFormatter
from typing import TYPE_CHECKING, Any

from prism_core.cli.aws_options import PROFILE_ARGUMENT, aws_clients
from prism_core.cli.cement_api import Controller, ex
from prism_core.cli.output import DEBUG_ARGUMENT, OUTPUT_ARGUMENT, emit
from prism_core.exceptions import InputError
from prism_core.templates.compat import SIZES
from prism_core.validation import CONTROL, quoted

if TYPE_CHECKING:
    from prism_core.templates.parameters import Parameter

LAUNCH_EPILOG = """sizes (x86_64 / arm64; GPU sizes x86_64 only; prism_core/data/sizes.yaml):
  XS t3.small / t4g.small     S t3.medium / t4g.medium   M t3.large / t4g.large
  L  t3.xlarge / t4g.xlarge   XL t3.2xlarge / m6g.2xlarge
  GPU-S g4dn.xlarge   GPU-M g5.xlarge   GPU-L g5.12xlarge   GPU-XL g5.48xlarge
  without --size: the template's instance_defaults.type

the template's image must belong to an owner you trust: this account, its
organization, Amazon, an id in config prism.trusted_image_owners, or --trust-owner ID
(an image found through an AWS public parameter, /aws/service/..., is AWS's choice).

TEMPLATE is looked up in the shared registry (SSM in the launch region), whose
newest version is what NAME means for everyone; $PRISM_HOME/templates (*.yaml and
*.yml, by slug or file name) caches it and holds templates never shared; then the
built-in ones (python-ml, r-research). If that version has no image in the region,
the launch is refused naming the newest version that has one, and how to copy it;
--copy copies it there first.

package-based templates (the original tool's format: base: ubuntu-22.04 etc., with
package_manager apt|dnf|conda|pip|spack, packages, users, services, post_install)
start from the base OS's current image in the launch region (AWS public SSM
parameters, or the distribution's official account) and are set up on first boot by
a cloud-init script: --dry-run shows it, --wait-ready waits until it has finished
(prism.timeouts.setup, default 1 hour).

examples (python-ml and r-research are built in; `prism save` makes more):
  prism launch python-ml earthquake-analysis
  prism launch python-ml aftershock-prediction --size GPU-L --yes
  prism launch python-ml@1 old-box --region us-east-2     # NAME@N: version N
  prism launch r-research stats-box --wait-ready --yes    # wait until set up
  prism launch r-research stats-box --dry-run             # the setup script
  prism launch python-ml lab-box --allow-from 10.20.0.0/16 \\
      --subnet subnet-0abc12345def67890
  prism launch python-ml cheap-box --spot --key-name my-laptop

NAME@CHANNEL launches the version a channel points at (`prism templates promote`).
Without @: the newest version that is not revoked (the implicit channel `latest`).
A revoked version, or a channel pointing at one, is refused (exit 2) with the
reason unless --allow-revoked is given. A live instance with the same Name is
refused too (prism finds instances by name) unless --allow-duplicate-name.

reaching the instance:
  every launch gets its own new security group, prism-NAME (tagged as prism's,
  never shared, never changed by a later launch), holding exactly the rules the
  plan prints: SSH (22) open to your own public address (/32, from
  checkip.amazonaws.com; `prism.checkip_url` or PRISM_CHECKIP_URL changes the
  service) or to the --allow-from CIDRs (0.0.0.0/0 only when you pass it); the
  template's web ports (Jupyter, RStudio) to your own address only, and the
  summary prints the port-forward command that needs no open port. Without
  --key-name prism imports ~/.ssh/id_ed25519.pub (else id_rsa.pub) once as key
  pair prism-<user>; then `prism connect NAME` logs in. With no key at all there
  is no SSH: the summary prints the `aws ssm start-session` line instead.
  --no-public-ip: no public address (and no $0.005/hour IPv4 charge).

hardening (every launch):
  IMDSv2 required (HttpTokens=required, hop limit 2 for containers) unless
  --imds-v1 or the template's instance_defaults.imds_v1: true; every EBS volume
  encrypted (the account's default EBS key, or prism.kms_keys for the region),
  also from an unencrypted image.

failures:
  checked before anything is created: image, subnet, key pair, instance
  profile, and RunInstances with DryRun. A launch that fails later removes what
  it created (Spot request, instance, rules, security group, imported key pair;
  newest first), then says why in one line (exit 2 when your input was the
  cause).

removing it:
  prism terminate NAME      # the instance and its security group
  prism cleanup --dry-run   # prism's leftover groups, key pairs and helpers

parameters: a template in the original tool's format may declare parameters:
  (`prism templates show TEMPLATE` lists them); --param KEY=VALUE sets one,
  the others take their defaults, and one without a default is asked for."""


def instance_name(name: str) -> str:
    """The new instance's ``Name`` tag: 1-255 characters, no control characters."""
    if len(name) > 255:
        raise InputError(
            f"instance name {quoted(name, 40)} is too long ({len(name)} characters)",
            "use at most 255 (EC2's limit for a tag value)",
        )
    if not name or CONTROL.search(name) or "\n" in name:
        raise InputError(
            f"invalid instance name {quoted(name, 40)}", "use 1-255 printable characters"
        )
    return name


def connect_lines(doc: dict[str, Any]) -> list[str]:
    """How to reach the new instance: each command alone on its line (never wrapped).

    SSH only with a key pair; without one, Session Manager (an SSH command would only
    ask for a password the instance does not accept)."""
    without_key = "key_name" in doc and not doc["key_name"]
    if doc.get("ssh") and not without_key:
        return ["   Connect:", f"      prism connect {doc['name']}", f"      {doc['ssh']}"]
    if without_key:
        return [
            "   No key pair, so no SSH: connect with Session Manager (the instance needs the "
            "SSM agent and an instance profile that allows it):",
            f"      {doc['ssm']}",
            "   Next time: run `ssh-keygen -t ed25519` (prism imports ~/.ssh/id_ed25519.pub) "
            "or pass --key-name",
        ]
    return []


def launch_text(doc: dict[str, Any]) -> str:
    """The human summary of a launched instance."""
    lines = [
        f"Instance '{doc['name']}' is {doc['state']}: {doc['id']} ({doc['type']}, {doc['region']})",
        f"   Template: {doc['template']} "
        f"v{doc.get('template_version_label', doc['template_version'])} "
        f"({doc['template_source']}"
        + (f", channel {doc['channel']})" if doc.get("channel") else ")"),
        f"   Public IP: {doc['public_ip'] or '-'}   Private IP: {doc['private_ip'] or '-'}",
        f"   Security group: {doc['security_group']} ({doc['security_group_name']}, this "
        "instance only)",
    ]
    for port in doc["ports"]:
        cidrs = [r["cidr"] for r in doc["ingress"] if r["port"] == port]
        lines.append(f"   Port {port} open to: {', '.join(cidrs) if cidrs else 'nobody (closed)'}")
    if doc.get("estimated_cost_per_hour") is not None:
        ip = doc.get("public_ipv4_cost_per_hour")
        extra = f" (public IPv4 address ${ip}/hour included)" if ip else ""
        lines.append(f"   Estimated cost: ${doc['estimated_cost_per_hour']}/hour{extra}")
    lines.append(
        "   Hardening: "
        + ("IMDSv1 allowed" if doc.get("imds") == "v1-allowed" else "IMDSv2 required")
        + ", volumes encrypted"
        + (f" with {doc['kms_key']}" if doc.get("kms_key") else "")
    )
    if doc.get("public_ip") or not doc.get("ssm"):
        lines += connect_lines(doc)
    else:
        lines += ["   No public IP: connect with Session Manager:", f"      {doc['ssm']}"]
    for tunnel in doc.get("tunnels") or []:
        lines += ["   A web port, with no port open:", f"      {tunnel}"]
    lines += ["   Remove it:", f"      prism terminate {doc['id']} --region {doc['region']}"]
    if doc.get("spot"):
        lines.append("   Spot (one-time): it cannot be stopped; terminate it when done")
    if doc.get("setup") == "complete":
        lines.append("   Setup: complete (packages, users and services are in place)")
    elif doc.get("user_data"):
        lines.append(
            "   Setup: running on first boot (log: /var/log/prism-setup.log; "
            "--wait-ready waits for it)"
        )
    return "\n".join(lines)


def run_launch(app: Any) -> int:
    """The ``prism launch`` command body; returns the exit code."""
    from prism_core.cli.progress import Progress
    from prism_core.cli.prompts import confirm
    from prism_core.templates import launch_access, launch_plan, readiness
    from prism_core.templates import store as template_store
    from prism_core.validation import init_rate

    pargs, settings = app.pargs, app.settings
    ref = template_store.resolve_ref(pargs.template, settings.templates_dir)
    name = instance_name(pargs.name)
    if pargs.allow_from:
        launch_access.parse_cidrs(pargs.allow_from)
    rate = init_rate(pargs.init_rate)
    if pargs.trust_owner:
        from prism_core.templates.provenance import owner_ids

        extra = set(owner_ids(pargs.trust_owner, "--trust-owner"))
        settings.refuse_override(
            "trusted_image_owners", "--trust-owner",
            not extra <= set(settings.trusted_image_owners),
        )
    progress = Progress(sys.stderr)
    aws = aws_clients(app, pargs.region)
    region = aws.region
    from prism_core.templates.launch_names import refuse_duplicate_name

    twin = refuse_duplicate_name(aws.ec2(region), name, region, pargs.allow_duplicate_name)
    if twin is not None:
        print(f"prism: warning: {twin}", file=sys.stderr)
    problems: list[str] = []
    found = template_store.find(
        ref, settings.templates_dir, aws, settings.registry_prefix, region, problems,
        require_image=not pargs.copy,
    )
    for problem in problems:
        print(f"prism: warning: {problem}", file=sys.stderr)
    revoked = launch_plan.refuse_revoked(found, pargs.allow_revoked)
    if revoked is not None:
        print(f"prism: warning: {revoked}", file=sys.stderr)
    found = _copy_first(app, aws, found, region)
    if found is None:
        return 0
    request = launch_plan.LaunchRequest(
        name=name, region=region, size=pargs.size, params=tuple(pargs.param or ()),
        init_rate=rate,
    )
    reads = launch_plan.CloudReads(
        aws, tuple(settings.trusted_image_owners), tuple(pargs.trust_owner or ())
    )
    decision = launch_plan.plan_launch(
        found, request, reads, finder=launch_plan.local_finder(settings.templates_dir),
        ask=ask_parameter,
    )
    for warning in decision.warnings:
        print(f"prism: warning: {warning}", file=sys.stderr)
    plan = decision.launch_plan(aws.identity()["Arn"])
    for line in decision.lines():
        progress.line("info", line)
    from prism_core.instances import hardening, launcher

    ec2 = aws.ec2(region)
    image = _plan_access(app, ec2, plan, progress)
    launcher.prepare(
        plan, ec2, image, settings,
        imds_v1=hardening.wants_imds_v1(decision.document, pargs.imds_v1),
    )
    for line in launcher.plan_lines(plan):
        progress.line("info", line)
    launcher.preflight_checks(plan, ec2, aws.client("iam"))
    total = launcher.hourly_cost(plan, plan.access.public_ip)
    cost = f", about ${total}/hour" if total is not None else ""
    chosen = dict(decision.parameters)
    if pargs.dry_run:
        planned = {**dry_run_document(plan, found, problems), "parameters": chosen}
        emit(planned, pargs.output, dry_run_text(plan))
        return 0
    confirm(f"Launch '{name}' ({plan.instance_type}{cost})?", pargs.yes)
    app.changes_started = True
    app.interrupt_note = "nothing was launched"

    def done(text: str) -> None:
        app.interrupt_note = text

    document = launcher.launch(plan, ec2, settings, progress, done)
    document["template_title"] = found.title
    document["template_version_label"] = found.label
    document["problems"] = problems
    document["parameters"] = chosen
    if pargs.wait_ready:
        if plan.user_data_script is None:
            document["setup"] = "none"
        else:
            progress.line("wait", f"Waiting for the setup script of {document['id']}...")
            document["setup_marker"] = readiness.wait_ready(ec2, document["id"], settings)
            document["setup"] = "complete"
            progress.line("ok", f"Setup of {name} is complete")
    emit(document, pargs.output, launch_text(document))
    return 0


def ask_parameter(parameter: Parameter) -> str | None:
    """Ask for a template parameter without a default on a terminal (``None`` without
    one: the launch is refused, naming the parameter)."""
    from prism_core.cli.prompts import ask, stdin_is_terminal

    if not stdin_is_terminal():
        return None
    import questionary

    choices = list(parameter.choices)
    if parameter.type == "bool":
        choices = ["true", "false"]
    question = parameter.label
    if parameter.description:
        question += f" ({parameter.description})"
    if choices:
        return str(ask(questionary.select(question, choices=choices)))
    return str(ask(questionary.text(question)))


def _copy_first(app: Any, aws: Any, found: Any, region: str) -> Any:
    """``--copy``: copy the version to ``region`` first if it has no image there; the
    version as registered afterwards (``None`` after a dry run's plan)."""
    from prism_core.templates import resolution
    from prism_core.templates import store as template_store

    if not app.pargs.copy or resolution.has_image_in(found.document, region):
        return found
    from prism_core.cli.commands.template_copy import copy_version

    document, _code = copy_version(app, aws, found, [region], yes=app.pargs.yes,
                                   dry_run=app.pargs.dry_run)
    if app.pargs.dry_run:
        emit(document, app.pargs.output,
             f"Dry run: the launch would first copy {found.name} v{found.version} to {region}.")
        return None
    settings = app.settings
    return template_store.find(f"{found.name}@{found.version}", settings.templates_dir, aws,
                               settings.registry_prefix, region)


def _plan_access(app: Any, ec2: Any, plan: Any, progress: Any) -> dict[str, Any]:
    """Check the image, decide key pair, CIDRs, subnet, Spot; print them (reads only).
    Returns the image's record."""
    from prism_core.templates import launch_access

    pargs = app.pargs
    image = launch_access.check_image(ec2, plan.image_id, plan.template, plan.version, plan.region)
    plan.access = launch_access.plan_access(
        ec2,
        app.settings,
        plan.region,
        plan.ports,
        allow_from=pargs.allow_from,
        key_name=pargs.key_name,
        subnet=pargs.subnet,
        spot=pargs.spot,
        instance_profile=pargs.instance_profile,
        public_ip=not pargs.no_public_ip,
    )
    for line in plan.access.plan_lines(plan.region):
        progress.line("info", line)
    for warning in plan.access.warnings:
        progress.line("warn", warning)
    return image


def dry_run_document(plan: Any, found: Any, problems: list[str]) -> dict[str, Any]:
    """The ``--dry-run -o json`` document: what would be launched, nothing changed."""
    from prism_core.instances import launcher

    return {
        "dry_run": True,
        "name": plan.name,
        "template": plan.template,
        "template_title": found.title,
        "template_version": plan.version,
        "template_version_label": found.label,
        "template_source": plan.source,
        "region": plan.region,
        "type": plan.instance_type,
        "architecture": plan.architecture,
        "image_id": plan.image_id,
        "ports": plan.ports,
        "root_volume_gb": plan.root_volume_gb,
        "init_rate": plan.init_rate,
        "ssh_user": plan.ssh_user,
        "estimated_cost_per_hour": launcher.hourly_cost(plan, plan.access.public_ip),
        "public_ip": plan.access.public_ip,
        "security_group_name": plan.group_name,
        "ingress": [{"port": r.port, "cidr": r.cidr, "kind": r.kind} for r in plan.rules],
        "imds": "v1-allowed" if plan.imds_v1 else "v2-required",
        "block_device_mappings": plan.block_devices,
        "tags": plan.tags,
        "user_data": plan.user_data_script,
        "problems": problems,
    }


def dry_run_text(plan: Any) -> str:
    """The human form of ``--dry-run``: the plan, then the setup script if there is one."""
    from prism_core.instances import security_groups

    lines = [
        f"Dry run: would launch '{plan.name}' ({plan.instance_type}, {plan.architecture}) "
        f"from {plan.image_id} in {plan.region}; nothing was changed",
        f"   Ports: {', '.join(map(str, plan.ports))}   Login user: {plan.ssh_user}",
        f"   Security group {plan.group_name}: "
        + "; ".join(security_groups.rule_lines(plan.rules, plan.ports)),
    ]
    if plan.user_data_script:
        lines += ["   Setup script (cloud-init user data):", plan.user_data_script.rstrip()]
    return "\n".join(lines)


class Launch(Controller):
    """``prism launch``: embedded in the base controller."""

    class Meta:
        label = "launch_command"
        stacked_on = "base"
        stacked_type = "embedded"

    @ex(
        label="launch",
        help="launch a new instance from a template (saved, shared or built-in)",
        description="Launch an instance from a template: the newest version by default, "
        "NAME@N for an older one, NAME@CHANNEL for what a channel points at. Checks its "
        "image, opens the template's ports to your own address only (or --allow-from), logs "
        "in with your SSH key, waits until it runs.",
        epilog=LAUNCH_EPILOG,
        formatter_class=RawDescriptionHelpFormatter,
        arguments=[
            (
                ["template"],
                {"help": "template name, NAME@N for version N, or NAME@CHANNEL (e.g. @stable)"},
            ),
            (["name"], {"help": "Name tag of the new instance"}),
            (["--size"], {"choices": SIZES, "help": "instance size (see below)"}),
            (["--region"], {"help": "region to launch in (default: your AWS configuration)"}),
            PROFILE_ARGUMENT,
            (
                ["--key-name"],
                {
                    "metavar": "NAME",
                    "help": "EC2 key pair to log in with (default: prism-<user>, imported "
                    "once from ~/.ssh/id_ed25519.pub or id_rsa.pub)",
                },
            ),
            (
                ["--allow-from"],
                {
                    "action": "append",
                    "metavar": "CIDR",
                    "help": "open the ports to this address or CIDR instead of your own "
                    "public address (repeatable; 0.0.0.0/0 only if you mean the world)",
                },
            ),
            (["--subnet"], {"metavar": "ID", "help": "subnet to launch in (its VPC is used)"}),
            (
                ["--spot"],
                {
                    "action": "store_true",
                    "help": "one-time Spot instance: cheaper, can be reclaimed, cannot be stopped",
                },
            ),
            (
                ["--instance-profile"],
                {"metavar": "NAME", "help": "IAM instance profile for the instance (e.g. for SSM)"},
            ),
            (
                ["--no-public-ip"],
                {
                    "action": "store_true",
                    "help": "no public IPv4 address: reach it through SSM Session Manager "
                    "(saves $0.005/hour)",
                },
            ),
            (
                ["--init-rate"],
                {
                    "metavar": "MiBps",
                    "help": "provisioned initialization rate (100-300 MiB/s) of the "
                    "volumes restored from the image's snapshots: full speed sooner",
                },
            ),
            (
                ["--imds-v1"],
                {
                    "action": "store_true",
                    "help": "allow IMDSv1 on the instance (default: IMDSv2 required, for "
                    "old software that cannot use session tokens)",
                },
            ),
            (
                ["--trust-owner"],
                {
                    "action": "append",
                    "metavar": "ID",
                    "help": "trust images owned by this account id for this launch (repeatable)",
                },
            ),
            (
                ["--param"],
                {
                    "action": "append",
                    "metavar": "KEY=VALUE",
                    "help": "a parameter of the template (repeatable; `prism templates show "
                    "TEMPLATE` lists them)",
                },
            ),
            (
                ["--allow-revoked"],
                {"action": "store_true", "help": "launch a revoked version anyway"},
            ),
            (
                ["--copy"],
                {
                    "action": "store_true",
                    "help": "copy the version to the region first if it has no image there",
                },
            ),
            (
                ["--allow-duplicate-name"],
                {
                    "action": "store_true",
                    "help": "launch even if a live instance already has this name",
                },
            ),
            (
                ["-y", "--yes"],
                {"action": "store_true", "help": "do not ask (required without a terminal)"},
            ),
            (
                ["--dry-run"],
                {
                    "action": "store_true",
                    "help": "check everything and show the plan and setup script; launch nothing",
                },
            ),
            (
                ["--wait-ready"],
                {
                    "action": "store_true",
                    "help": "wait until the template's setup script has finished "
                    "(read from the instance's console output)",
                },
            ),
            OUTPUT_ARGUMENT,
            DEBUG_ARGUMENT,
        ],
    )
    def launch(self) -> None:
        """``prism launch TEMPLATE NAME [--size S] [--region R] [--yes] [access options]``."""
        self.app.exit_code = run_launch(self.app)
