"""`prism iam-policy`: exactly the actions prism calls, no more, no fewer.

The sandbox records every request whose User-Agent says ``prism/``. One workflow below
runs every kind of save (copies, sharing, public, --validate, encrypted copies with a
configured KMS key, a refused Spot save, a resumed and an aborted save), launches (key
import, --subnet, --spot, --instance-profile, a built-in template, a refused image of
another account), `prism list` and the template commands, then compares what was sent
with the policy both ways. Every other test checks the first direction too
(tests/conftest.py).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml
from test_launch_access import ssh_key
from test_plugins import _raiser

from prism_core.aws.iam_policy import MANAGED_POLICY_LIMIT, USES, actions, policy, policy_size
from prism_core.testing import EXTRA_PLUGINS, IAM_PENDING
from prism_sandbox.iam_evaluator import denied

WAIVED = tuple(IAM_PENDING)


def _check_document(document: dict) -> set[str]:
    """``document`` is valid for `aws iam create-policy`; the actions it grants."""
    assert document["Version"] == "2012-10-17"
    sids = [s["Sid"] for s in document["Statement"]]
    assert len(sids) == len(set(sids)) and all(s.isalnum() for s in sids)
    granted = set()
    for statement in document["Statement"]:
        assert statement["Effect"] == "Allow"
        assert statement["Action"] and statement["Resource"]
        granted.update(statement["Action"])
    return granted


def test_policy_document_is_valid_for_create_policy(run_prism, tmp_path):
    for use in (*USES, "all"):
        result = run_prism("iam-policy", "--for", use)
        assert result.exit_code == 0, result.stderr
        document = json.loads(result.stdout)
        assert _check_document(document) == actions(use, kind=None)
        if use == "all":
            # every use's statements together are larger than one managed policy
            assert policy_size(document) > MANAGED_POLICY_LIMIT
            assert "--split DIR" in result.stderr
            continue
        # each use fits IAM's managed-policy size limit (IAM does not count whitespace)
        assert policy_size(document) <= MANAGED_POLICY_LIMIT, use
        assert "warning" not in result.stderr
    # --split: as few documents as fit, granting together exactly what the whole grants
    whole = json.loads(run_prism("iam-policy").stdout)
    split = run_prism("iam-policy", "--split", str(tmp_path / "policies"))
    assert split.exit_code == 0 and not split.stderr, split.stderr
    paths = [Path(line) for line in split.stdout.splitlines()]
    assert [p.name for p in paths] == ["prism-all-1.json", "prism-all-2.json"]
    parts = [json.loads(p.read_text()) for p in paths]
    assert all(policy_size(part) <= MANAGED_POLICY_LIMIT for part in parts)
    assert set().union(*map(_check_document, parts)) == actions("all", kind=None)
    in_parts = [s for part in parts for s in part["Statement"]]
    assert sorted(in_parts, key=lambda s: s["Sid"]) == sorted(
        whole["Statement"], key=lambda s: s["Sid"]
    )
    # a use that fits is one file, and a later run says which older files are stale
    again = run_prism("iam-policy", "--for", "launch", "--split", str(tmp_path / "policies"))
    assert again.stdout.splitlines() == [str(tmp_path / "policies" / "prism-launch-1.json")]
    stale = run_prism("iam-policy", "--for", "all", "--split", str(tmp_path / "policies"))
    assert stale.exit_code == 0 and not stale.stderr  # the same two files again
    (tmp_path / "policies" / "prism-all-7.json").write_text("{}")
    stale = run_prism("iam-policy", "--split", str(tmp_path / "policies"))
    assert "prism-all-7.json" in stale.stderr and "remove" in stale.stderr
    (tmp_path / "a-file").write_text("")
    refused = run_prism("iam-policy", "--split", str(tmp_path / "a-file"))
    assert refused.exit_code == 2 and "directory" in refused.stderr
    scoped = json.loads(run_prism("iam-policy", "--for", "templates").stdout)
    registry = next(s for s in scoped["Statement"] if s["Sid"] == "PrismRegistry")
    assert registry["Resource"] == "arn:aws:ssm:*:*:parameter/prism/*"
    tagging = policy("launch")["Statement"]
    on_create = next(s for s in tagging if s["Sid"] == "PrismTagOnCreate")
    assert "RunInstances" in on_create["Condition"]["StringEquals"]["ec2:CreateAction"]
    assert "ec2:StopInstances" not in actions("launch")
    assert "ec2:ImportKeyPair" not in actions("save")


def test_a_statement_larger_than_a_managed_policy_is_cut_by_its_resources():
    from prism_core.aws.iam_policy import PolicyOptions, split_policy
    from prism_sandbox.iam_evaluator import allowing_statement

    roles = tuple(f"research-workstation-of-group-{n:03d}" for n in range(300))
    document = policy("launch", PolicyOptions(roles=roles))
    parts = split_policy(document)
    assert len(parts) > 2 and all(policy_size(p) <= MANAGED_POLICY_LIMIT for p in parts)
    passing = [s for p in parts for s in p["Statement"] if s["Sid"].startswith("PrismPassInstance")]
    assert len(passing) > 1 and len({s["Sid"] for s in passing}) == len(passing)
    to_ec2 = {"iam:PassedToService": "ec2.amazonaws.com"}
    for role in (roles[0], roles[150], roles[-1]):
        arn = f"arn:aws:iam::1:role/{role}"
        assert any(allowing_statement(p, "iam:PassRole", arn, to_ec2) for p in parts), role
    assert not any(
        allowing_statement(p, "iam:PassRole", "arn:aws:iam::1:role/admin", to_ec2) for p in parts
    )
    assert all(s.get("Condition") == {"StringEquals": to_ec2} for s in passing)


def test_policy_file_names_each_action_once_per_statement():
    """Two branches adding the same action must merge its uses, not overwrite one."""
    import yaml

    from prism_core.aws import iam_policy

    class Strict(yaml.SafeLoader):
        pass

    def mapping(loader: Strict, node: yaml.MappingNode) -> dict:
        keys = [loader.construct_object(k) for k, _ in node.value]
        duplicates = sorted({k for k in keys if keys.count(k) > 1})
        assert not duplicates, f"duplicate keys in iam_policy.yaml: {duplicates}"
        return loader.construct_mapping(node)

    Strict.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    text = (Path(iam_policy.__file__).parent.parent / "data" / "iam_policy.yaml").read_text()
    assert yaml.load(text, Loader=Strict)["statements"]


def test_policy_follows_the_configured_registry_prefix(prism_sandbox, run_prism):
    home = Path(os.environ["PRISM_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.yml").write_text("prism:\n  registry_prefix: /research/prism/\n")
    document = json.loads(run_prism("iam-policy", "--partition", "aws-us-gov").stdout)
    registry = next(s for s in document["Statement"] if s["Sid"] == "PrismRegistry")
    assert registry["Resource"] == "arn:aws-us-gov:ssm:*:*:parameter/research/prism/*"


@pytest.mark.long
def test_policy_grants_exactly_what_prism_calls(prism_sandbox, run_prism, monkeypatch):
    import boto3

    sent: dict[str, set[str]] = {use: set() for use in USES}
    denials: list[str] = []
    pending: set[str] = set()

    def phase(use: str, *args: str, codes: tuple[int, ...] = (0,)):
        prism_sandbox.faults.clear_calls()
        result = run_prism(*args)
        assert result.exit_code in codes, (args, result.stderr)
        # S3 is logged by its REST operation: the IAM actions it needs are in `found`
        sent[use] |= {a for a in prism_sandbox.faults.prism_actions() if not a.startswith("s3:")}
        found = prism_sandbox.faults.authorizations()
        sent[use] |= {a.action for a in found if a.action.startswith("s3:")}
        # resources and conditions: what IAM checks for each request, in this phase's
        # config, against the policy `prism iam-policy --for USE` prints
        scoped = json.loads(run_prism("iam-policy", "--for", use).stdout)
        denials.extend(f"{args[:2]}: {line}" for line in denied(scoped, found, WAIVED))
        pending.update(k for line in denied(scoped, found) for k in WAIVED if k in line)
        return result

    ssh_key(Path(os.environ["HOME"]))
    key = boto3.client("kms", region_name="us-east-2").create_key()["KeyMetadata"]["Arn"]
    home = Path(os.environ["PRISM_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.yml").write_text(
        f"prism:\n  kms_keys:\n    us-east-2: {key}\n  instance_profiles: [research-role]\n"
    )
    prism_sandbox.create_instance("box", ports=[22, 8888])
    prism_sandbox.create_instance("secret", encrypted=True)
    from prism_core.cli.sandbox_seed import builtin_image_parameters

    prism_sandbox.publish_base_images(builtin_image_parameters(), ["us-east-1"])
    ec2 = prism_sandbox.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.1.0/24")["Subnet"]["SubnetId"]
    iam = prism_sandbox.client("iam")
    iam.create_instance_profile(InstanceProfileName="research")
    iam.create_role(RoleName="research-role", AssumeRolePolicyDocument="{}")
    iam.add_role_to_instance_profile(InstanceProfileName="research", RoleName="research-role")
    stop = ["--stop"] if "--stop" in run_prism("save", "--help").stdout else []

    # saves
    phase(
        "save", "save", "box", "env1", "--copy-to-regions", "us-east-2", "--public",
        "--share-with", "111122223333", "--validate", *stop, "--yes",
    )  # fmt: skip
    phase(
        "save", "save", "secret", "env2", "--copy-to-regions", "us-east-2",
        "--share-with", "111122223333", "--yes", codes=(0, 2),
    )  # fmt: skip
    prism_sandbox.faults.inject(
        "CopyImage", region="us-east-2", code="InvalidRequest", message="no", status=400
    )
    phase("save", "save", "box", "env3", "--copy-to-regions", "us-east-2", "--yes", codes=(3,))
    phase("save", "save", "--resume", "--yes")
    EXTRA_PLUGINS.append(("flaky", _raiser("prism_template_render")))
    try:
        phase("save", "save", "box", "env4", "--copy-to-regions", "us-east-2", "--yes", codes=(1,))
    finally:
        EXTRA_PLUGINS.pop()
    phase("save", "save", "--abort", "--yes")

    # launches; the first fails while waiting and rolls back (Spot request, instance,
    # ingress, security group, the key pair it imported)
    prism_sandbox.faults.inject(
        "DescribeInstances", code="InternalError", status=400, after="RunInstances"
    )
    phase("launch", "launch", "env1", "doomed", "--spot", "--yes", codes=(1,))
    phase("launch", "launch", "env1", "a", "--yes")
    phase(
        "launch", "launch", "env1", "b", "--subnet", subnet, "--instance-profile", "research",
        "--allow-from", "10.0.0.0/8", "--yes",
    )  # fmt: skip
    spot = phase("launch", "launch", "env1", "spotty", "--spot", "--yes", "-o", "json").json()
    phase("launch", "launch", "python-ml", "c", "--yes")
    # an image of another account: the organization's accounts are asked for, then refused
    local = home / "templates" / "env1.yaml"
    doc = yaml.safe_load(local.read_text())
    doc["name"] = "stranger"
    doc["ami_config"]["amis"]["us-east-1"]["x86_64"] = prism_sandbox.create_foreign_image(
        "999988887777"
    )
    (home / "templates" / "stranger.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    phase("launch", "launch", "stranger", "d", "--yes", codes=(2,))
    from prism_core.cli.sandbox_seed import publish_public_images

    publish_public_images(prism_sandbox, ["us-east-1"])
    (home / "templates" / "apt-box.yml").write_text(
        'name: "Apt Box"\nslug: apt-box\ndescription: apt workstation\nbase: ubuntu-22.04\n'
        'package_manager: apt\npackages:\n  system: [git]\nversion: "1.0.0"\n'
    )
    phase("launch", "launch", "apt-box", "e", "--wait-ready", "--yes")  # the original's format
    phase("launch", "list")
    phase("instances", "stop", "a", "--yes")
    phase("instances", "start", "a", "--yes")
    phase("instances", "connect", "a", "--print")
    phase("launch", "terminate", "a", "--yes")
    phase("launch", "cleanup", "--yes")
    phase("save", "save", spot["id"], "never", *stop, "--yes", codes=(2,))  # one-time Spot

    # template commands
    phase("templates", "templates", "list")
    phase("templates", "templates", "show", "env1")
    phase("templates", "templates", "packages", "env1")  # the inventory saved with it
    phase("templates", "templates", "validate", "env1", "--boot")
    phase("save", "save", "box", "env5", "--deprecate-after", "30", "--yes")
    phase("save", "save", "box", "env6", "--copy-to-accounts", "444455556666", "--yes")
    # --scrub: a helper (own security group) makes the shared, scrubbed derivative
    prism_sandbox.create_instance("genomics", tree="genomics-box")
    phase("save", "save", "genomics", "env8", "--public", "--scrub", "--copy-to-regions",
          "us-east-2", "--yes")
    # --fast-restore (zones checked, enabled); a purge disables it before the snapshots go
    phase("save", "save", "box", "env9", "--fast-restore", "us-east-1a", "--yes")
    phase("templates", "templates", "delete", "env9", "--purge", "--yes")
    for args in (
        ("promote", "env1@1", "--channel", "stable"),
        ("export", "env1", "--launch-template", "--channel", "stable"),
        ("export", "env1", "--launch-template", "--set-default"),
        ("demote", "env1", "--channel", "stable"),
        ("revoke", "env1@1", "--reason", "superseded"),
        ("restore", "env1@1"),
        ("protect", "env1@1"),
        ("unprotect", "env1@1"),
        ("promote", "env1@1", "--channel", "stable"),  # the bound launch template follows
    ):
        phase("templates", "templates", *args, "--yes")
    phase("templates", "templates", "export", "python-ml", "--launch-template", "--yes")
    # a lifecycle policy: after a save, and enforced once a version is old enough
    from rbin_emulation import emulate_recycle_bin

    emulate_recycle_bin(monkeypatch)
    phase("templates", "templates", "policy", "env5", "--keep", "1", "--disable-after", "1d",
          "--recycle-bin", "7d", "--yes")
    phase("templates", "templates", "policy", "env5", "--keep", "1", "--disable-after", "1d",
          "--recycle-bin", "14d", "--yes")
    phase("save", "save", "box", "env5", "--yes")
    from test_retention import age_image

    for found in prism_sandbox.own_images():
        tags = {t["Key"]: t["Value"] for t in found.get("Tags", [])}
        if tags.get("prism:template") == "env5" and tags.get("prism:version") == "1":
            age_image(prism_sandbox, found["ImageId"], 2)
    phase("templates", "templates", "enforce", "env5", "--yes")
    phase("templates", "templates", "history", "env1")
    phase("templates", "templates", "tree")
    phase("templates", "templates", "copy", "env1@1", "--to-regions", "us-west-1", "--yes")
    phase("launch", "launch", "env5", "far", "--region", "us-west-2", "--copy", "--yes")
    phase("templates", "templates", "prune", "env3", "--keep", "1", "--yes")
    phase("templates", "templates", "delete", "env2", "--purge", "--yes")

    # the save engine: deploy, update every resource (an older version deployed), remove
    phase("cloud", "cloud", "status")
    phase("cloud", "cloud", "setup", "--yes")
    old = {"prism:engine-version": "old"}
    iam, sfn = prism_sandbox.client("iam"), prism_sandbox.client("stepfunctions")
    for role in ("prism-engine-states", "prism-engine-region"):
        iam.tag_role(RoleName=role, Tags=[{"Key": k, "Value": v} for k, v in old.items()])
    function = prism_sandbox.client("lambda").get_function(FunctionName="prism-engine-region")
    prism_sandbox.client("lambda").tag_resource(
        Resource=function["Configuration"]["FunctionArn"], Tags=old
    )
    machine = sfn.list_state_machines()["stateMachines"][0]["stateMachineArn"]
    sfn.tag_resource(resourceArn=machine, tags=[{"key": k, "value": v} for k, v in old.items()])
    phase("cloud", "cloud", "setup", "--yes")
    # detached saves: one followed to the end, one aborted
    detached = phase("save", "save", "box", "env6", "--copy-to-regions", "us-east-2",
                     "--detach", "--yes", "-o", "json").json()["save_id"]
    phase("cloud", "saves", "follow", detached)
    phase("cloud", "saves", "list")
    phase("cloud", "saves", "show", detached)
    # the first read of the template writes its file (the execution's outcome, the entry)
    phase("templates", "templates", "show", "env6")
    # --stop: aborted before the engine started the instance, so the abort starts it
    prism_sandbox.timings.snapshot = 2.0
    detached = phase("save", "save", "box", "env7", "--detach", "--stop", "--yes",
                     "-o", "json").json()
    phase("save", "saves", "abort", detached["save_id"], "--yes")
    prism_sandbox.timings.snapshot = 0.0
    # scheduled saves: every schedule command (the engine's firings are not prism's calls)
    schedule = ("schedule", "add", "box", "env8", "--rate", "1d", "--notify",
                "ops@example.org", "--name", "nightly", "--yes")
    phase("cloud", *schedule)
    for args in (("list",), ("show", "nightly"), ("pause", "nightly"), ("resume", "nightly"),
                 ("remove", "nightly", "--yes")):
        phase("cloud", "schedule", *args)
    phase("cloud", *schedule)  # left for teardown to remove
    phase("cloud", "cloud", "teardown", "--yes")

    assert not denials, "\n".join(denials[:20])
    # the condition keys waived for work still in other branches are still needed
    assert pending == set(WAIVED), f"no request needs {sorted(set(WAIVED) - pending)} any more"
    everything = set().union(*sent.values())
    missing = everything - actions("all", kind=None)
    assert not missing, f"called but not granted: {sorted(missing)}"
    never = actions("all", kind="call", planned=False) - everything
    assert not never, f"granted but never called: {sorted(never)}"
    for use in USES:
        assert sent[use] <= actions(use), (use, sorted(sent[use] - actions(use)))


class _Publisher:
    """A plugin with a command and the statement its calls need."""

    @staticmethod
    def prism_add_commands():
        from prism_core.plugin_api import Command

        return [Command("publish-it", "publish", lambda app, args: 0)]

    @staticmethod
    def prism_iam_statements(config):
        from prism_core.plugin_api import IamStatement

        bucket = (config.get("publish-it") or {}).get("bucket", "lab-bucket")
        return [
            IamStatement(
                "PublishItWrite",
                ("s3:PutObject",),
                (f"arn:{{partition}}:s3:::{bucket}/*",),
                ("publish-it", "save"),
            )
        ]


def _hooked(plugin: type) -> object:
    from prism_core import hookimpl

    for name in ("prism_add_commands", "prism_iam_statements"):
        if hasattr(plugin, name):
            setattr(plugin, name, staticmethod(hookimpl(getattr(plugin, name))))
    return plugin


def test_plugin_statements_join_the_policy(prism_sandbox, run_prism, prism_plugin):
    prism_plugin(_hooked(_Publisher), "publish-it")
    own = run_prism("iam-policy", "--for", "publish-it", "--partition", "aws-cn")
    assert own.exit_code == 0, own.stderr
    assert own.json()["Statement"] == [
        {
            "Sid": "PublishItWrite",
            "Effect": "Allow",
            "Action": ["s3:PutObject"],
            "Resource": "arn:aws-cn:s3:::lab-bucket/*",
        }
    ]
    for use, present in (("all", True), ("save", True), ("launch", False)):
        sids = {s["Sid"] for s in run_prism("iam-policy", "--for", use).json()["Statement"]}
        assert ("PublishItWrite" in sids) == present, use
    unknown = run_prism("iam-policy", "--for", "nothing-here")
    assert unknown.exit_code == 2 and "nothing-here" in unknown.stderr


def test_a_plugin_reusing_a_sid_is_refused_naming_both(prism_sandbox, run_prism, prism_plugin):
    from prism_core import hookimpl
    from prism_core.plugin_api import IamStatement

    class Clash:
        @staticmethod
        @hookimpl
        def prism_iam_statements(config):
            return [IamStatement("PrismRegistry", ("s3:GetObject",), ("*",), ("save",))]

    prism_plugin(Clash, "clash")
    result = run_prism("iam-policy")
    assert result.exit_code == 2
    assert "PrismRegistry" in result.stderr and "prism" in result.stderr
    assert "clash" in result.stderr


def test_iam_statement_declarations_are_checked():
    import pytest

    from prism_core.plugin_api import IamStatement

    for bad in (
        {"sid": "has space", "actions": ("s3:GetObject",)},
        {"sid": "Ok", "actions": ("GetObject",)},
        {"sid": "Ok", "actions": ()},
        {"sid": "Ok", "actions": ("s3:GetObject",), "kind": "maybe"},
    ):
        with pytest.raises(ValueError):
            IamStatement(resources=("*",), uses=("save",), **bad)
    assert IamStatement("Ok", "s3:GetObject", "*", "save").actions == ("s3:GetObject",)


def test_pass_role_and_imds_follow_the_config(prism_sandbox, run_prism):
    def sids() -> set[str]:
        result = run_prism("iam-policy")
        assert result.exit_code == 0, result.stderr
        return {s["Sid"] for s in result.json()["Statement"]}

    assert "PrismPassInstanceProfileRole" not in sids()  # none by default
    prism_sandbox.write_config("prism:\n  instance_profiles: [research-role, /lab/]\n")
    document = run_prism("iam-policy", "--for", "launch").json()
    (passing,) = [s for s in document["Statement"] if s["Sid"] == "PrismPassInstanceProfileRole"]
    assert passing["Resource"] == ["arn:aws:iam::*:role/research-role", "arn:aws:iam::*:role/lab/*"]
    assert passing["Condition"] == {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}
    prism_sandbox.write_config("prism:\n  imds_v1: true\n")
    assert "PrismRunInstancesImdsV1Allowed" in sids() and "PrismRunInstances" not in sids()
    for bad in ("instance_profiles: ['*']", "instance_profiles: [a/b]", "imds_v1: maybe"):
        prism_sandbox.write_config(f"prism:\n  {bad}\n")
        result = run_prism("iam-policy")
        assert result.exit_code == 2 and "prism." in result.stderr, bad


def test_a_policy_too_big_for_one_managed_policy_is_flagged(prism_sandbox, run_prism, tmp_path):
    assert "warning" not in run_prism("iam-policy", "--for", "launch").stderr
    keys = "\n".join(
        f"    {r}: arn:aws:kms:{r}:111122223333:key/{n:08d}-1111-2222-3333-444455556666"
        for n, r in enumerate(["us-east-1", "us-east-2", "us-west-1", "us-west-2", "eu-west-1"])
    )
    roles = ", ".join(f"research-role-{n}" for n in range(80))
    prism_sandbox.write_config(f"prism:\n  instance_profiles: [{roles}]\n  kms_keys:\n{keys}\n")
    result = run_prism("iam-policy", "--for", "launch")
    assert result.exit_code == 0 and "--split DIR" in result.stderr
    assert "create one per use" in result.stderr
    whole = result.json()
    split = run_prism("iam-policy", "--for", "launch", "--split", str(tmp_path))
    assert split.exit_code == 0 and not split.stderr
    parts = [json.loads(Path(line).read_text()) for line in split.stdout.splitlines()]
    assert len(parts) == 2 and all(policy_size(p) <= MANAGED_POLICY_LIMIT for p in parts)
    assert {a for p in parts for s in p["Statement"] for a in s["Action"]} == {
        a for s in whole["Statement"] for a in s["Action"]
    }


@pytest.mark.long
def test_the_engine_function_role_allows_what_the_engine_sent(prism_sandbox, run_prism):
    """Every request the save engine's region function sent (resource ARNs, tags and
    request values, as for prism's own calls) in detached saves: one with copies,
    sharing and deprecation that hands the restart of a stopped instance over, and one
    whose first starts are refused (its failure path starts the instance and releases
    the lock) is allowed by the function role's policy, conditions included; a start of
    an instance no prism save has locked is not."""
    from prism_core.cloud.deploy import FUNCTION_ROLE, Engine
    from prism_sandbox import engine as sandbox_engine
    from prism_sandbox.iam_requests import Authorization

    assert run_prism("cloud", "setup", "--yes").exit_code == 0
    prism_sandbox.create_instance("box")
    sandbox_engine.ENGINE_AUTHORIZATIONS.clear()
    saved = run_prism("save", "box", "env", "--copy-to-regions", "us-east-2", "--detach",
                      "--stop", "--share-with", "111122223333", "--deprecate-after", "30",
                      "--yes", "-o", "json")
    assert saved.exit_code == 0, saved.stderr
    assert run_prism("saves", "follow", saved.json()["save_id"]).exit_code == 0
    prism_sandbox.faults.inject("StartInstances", times=5, after="StartExecution",
                                code="UnauthorizedOperation", status=400)
    failing = run_prism("save", "box", "env", "--detach", "--stop", "--yes", "-o", "json")
    assert failing.exit_code == 0, failing.stderr
    assert run_prism("saves", "follow", failing.json()["save_id"]).exit_code == 1

    sent = list(sandbox_engine.ENGINE_AUTHORIZATIONS)
    calls = {a.call for a in sent}
    assert {"ec2:StartInstances", "ec2:DescribeInstances", "ec2:CopyImage",
            "ec2:ModifyImageAttribute", "ec2:EnableImageDeprecation", "ec2:DeleteTags",
            "ssm:PutParameter", "ssm:DeleteParameter"} <= calls, sorted(calls)
    role = Engine("us-east-1", "123456789012").policies()[FUNCTION_ROLE]
    assert denied(role, sent) == []
    instance = "arn:aws:ec2:us-east-1:123456789012:instance/i-0123456789abcdef0"
    unlocked = Authorization("ec2:StartInstances", "ec2:StartInstances", instance, "us-east-1")
    assert denied(role, [unlocked])
    assert not denied(role, [Authorization(
        "ec2:StartInstances", "ec2:StartInstances", instance, "us-east-1",
        {"aws:ResourceTag/prism:save-lock": "save-1@host"})])
    # stops: only an instance `prism schedule add --stop` marked (this role cannot mark)
    assert denied(role, [Authorization("ec2:StopInstances", "ec2:StopInstances", instance,
                                       "us-east-1",
                                       {"aws:ResourceTag/prism:save-lock": "save-1@host"})])
    assert not denied(role, [Authorization(
        "ec2:StopInstances", "ec2:StopInstances", instance, "us-east-1",
        {"aws:ResourceTag/prism:schedule-stop": "nightly"})])
    assert denied(role, [Authorization(
        "ec2:CreateTags", "ec2:CreateTags", instance, "us-east-1",
        {"aws:TagKeys": ["prism:schedule-stop"]})])
