"""`prism iam-policy` is tight: the rules of issue 25 checked statement by statement on the
rendered policy (default config and every gated statement printed), a clean parliament
run, cloudsplaining's privilege-escalation and resource-exposure findings limited to
tests/iam_findings_allowed.yaml, and the evaluator refusing what prism must not do."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from prism_core.aws.iam_policy import PolicyOptions, policy
from prism_core.aws.tags import LOCK_TAG, OWNERSHIP_TAGS
from prism_sandbox.iam_evaluator import allowing_statement
from prism_sandbox.iam_requests import Authorization

KEY_ARN = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
DEFAULT = PolicyOptions()
#: Every gated statement printed, keys by ARN (parliament has nothing to say about it).
FULL = PolicyOptions(
    roles=("research-workstation", "/research/"),
    kms_keys={"us-east-1": KEY_ARN, "eu-west-1": "abcd1234-12ab-34cd-56ef-1234567890ab"},
    sbom_bucket="lab-sboms",
)
#: A key named by alias (matched through kms:ResourceAliases).
ALIASED = PolicyOptions(roles=FULL.roles, kms_keys={"us-east-1": "alias/images"})
IMDS_V1 = PolicyOptions(imds_v1=True)
ALL_OPTIONS = [DEFAULT, FULL, ALIASED, IMDS_V1]
ALLOWED = yaml.safe_load((Path(__file__).parent / "iam_findings_allowed.yaml").read_text())

#: Actions that change or delete an existing resource.
CHANGING = {
    "ec2:StopInstances",
    "ec2:StartInstances",
    "ec2:TerminateInstances",
    "ec2:RebootInstances",
    "ec2:ModifyInstanceAttribute",
    "ec2:ModifyInstanceMetadataOptions",
    "ec2:ModifyImageAttribute",
    "ec2:ResetImageAttribute",
    "ec2:DeregisterImage",
    "ec2:DeleteSnapshot",
    "ec2:ModifySnapshotAttribute",
    "ec2:EnableImageDeprecation",
    "ec2:DisableImageDeprecation",
    "ec2:EnableImageDeregistrationProtection",
    "ec2:DisableImageDeregistrationProtection",
    "ec2:AuthorizeSecurityGroupIngress",
    "ec2:RevokeSecurityGroupIngress",
    "ec2:DeleteSecurityGroup",
    "ec2:DeleteKeyPair",
    "ec2:CancelSpotInstanceRequests",
    "ec2:CreateTags",
    "ec2:DeleteTags",
    "ssm:SendCommand",
}
#: On the user's own source instance: no ownership tag to check.
SOURCE_INSTANCE = {"ec2:StopInstances", "ec2:StartInstances"}
CREATE_ACTIONS = [
    "RunInstances",
    "CreateImage",
    "CopyImage",
    "CreateSecurityGroup",
    "ImportKeyPair",
    "CreateSnapshot",
    "CreateLaunchTemplate",  # `templates export --launch-template`
]
#: The tag `templates revoke` keeps on prism's own images (their earlier deprecation).
REVOCATION_TAG = "prism:deprecation-before-revoke"
#: Changing actions allowed on every resource (none).
UNSCOPED_CHANGES: set[str] = set()
READ_ONLY_PREFIXES = ("Describe", "Get", "List")


def statements(options: PolicyOptions, use: str = "all") -> list[dict[str, Any]]:
    return list(policy(use, options)["Statement"])


def as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def ownership_keys(statement: dict[str, Any]) -> set[str]:
    """prism tags the statement requires on the resource (``Null: false``)."""
    null = (statement.get("Condition") or {}).get("Null") or {}
    return {
        k.split("/", 1)[1]
        for k, v in null.items()
        if k.startswith("aws:ResourceTag/") and str(v).lower() == "false"
    }


@pytest.mark.parametrize("options", ALL_OPTIONS, ids=["default", "full", "alias", "imds-v1"])
def test_every_change_of_an_existing_resource_needs_prisms_tag(options):
    for statement in statements(options):
        for action in as_list(statement["Action"]):
            if action not in CHANGING:
                continue
            sid, condition = statement["Sid"], statement.get("Condition") or {}
            if action in SOURCE_INSTANCE:
                assert set(as_list(statement["Action"])) <= SOURCE_INSTANCE, sid
                assert as_list(statement["Resource"]) == ["arn:aws:ec2:*:*:instance/*"], sid
            elif "ec2:CreateAction" in (condition.get("StringEquals") or {}):
                assert action == "ec2:CreateTags", sid  # tags on create: the next test
            elif action in ("ec2:CreateTags", "ec2:DeleteTags") and sid == "PrismRevocationTag":
                # the revocation's record on prism's own images: that tag key only
                keys = condition["ForAllValues:StringEquals"]
                assert keys == {"aws:TagKeys": [REVOCATION_TAG]}, sid
                assert condition["Null"]["aws:TagKeys"] == "false", sid
                assert ownership_keys(statement) == {"prism:save-id"}, sid
                assert as_list(statement["Resource"]) == ["arn:aws:ec2:*::image/*"], sid
            elif action in ("ec2:CreateTags", "ec2:DeleteTags") and sid == "PrismScheduleStopTag":
                # `schedule add --stop` marks the instance the engine may stop: that key only
                keys = condition["ForAllValues:StringEquals"]
                assert keys == {"aws:TagKeys": ["prism:schedule-stop"]}, sid
                assert condition["Null"] == {"aws:TagKeys": "false"}, sid
                assert as_list(statement["Resource"]) == ["arn:aws:ec2:*:*:instance/*"], sid
            elif action in ("ec2:CreateTags", "ec2:DeleteTags"):
                # the save lock on the source instance: that tag key only, never none
                assert condition["ForAllValues:StringEquals"] == {"aws:TagKeys": [LOCK_TAG]}, sid
                assert condition["Null"] == {"aws:TagKeys": "false"}, sid
                assert as_list(statement["Resource"]) == ["arn:aws:ec2:*:*:instance/*"], sid
            elif action == "ssm:SendCommand" and sid == "PrismRunCommandOnSourceInstance":
                # the inspection of the instance being saved, before the lock is taken
                # (tests/iam_findings_allowed.yaml: run_command_on_source_instance)
                assert ALLOWED["rules"]["run_command_on_source_instance"], sid
                assert as_list(statement["Action"]) == ["ssm:SendCommand"], sid
            elif action == "ssm:SendCommand" and ownership_keys(statement) == set():
                # the document alone (no instance resource)
                assert all(
                    ":document/AWS-RunShellScript" in r for r in as_list(statement["Resource"])
                )
            else:
                owned = ownership_keys(statement)
                allowed = set(OWNERSHIP_TAGS) | (
                    {LOCK_TAG} if action == "ssm:SendCommand" else set()
                )
                assert owned and owned <= allowed, (sid, action, condition)


@pytest.mark.parametrize("options", ALL_OPTIONS, ids=["default", "full", "alias", "imds-v1"])
def test_tags_on_new_resources_only_through_create_action(options):
    for statement in statements(options):
        if "ec2:CreateTags" not in as_list(statement["Action"]):
            continue
        create = (statement.get("Condition") or {}).get("StringEquals", {}).get("ec2:CreateAction")
        if create is not None:
            assert as_list(statement["Action"]) == ["ec2:CreateTags"], statement["Sid"]
            assert sorted(create) == sorted(CREATE_ACTIONS)
            assert "*" not in as_list(statement["Resource"])


@pytest.mark.parametrize("options", ALL_OPTIONS, ids=["default", "full", "alias", "imds-v1"])
def test_terminate_only_instances_prism_started(options):
    started = {"prism:boot-check", "prism:launched-by", "prism:helper"}
    found = [s for s in statements(options) if "ec2:TerminateInstances" in as_list(s["Action"])]
    assert found
    for statement in found:
        assert len(ownership_keys(statement)) == 1 and ownership_keys(statement) <= started


def _passes_roles(statement: dict[str, Any]) -> bool:
    """A PassRole statement for launches (the save engine's own roles are checked apart)."""
    engine = statement["Sid"] == "PrismCloudPassEngineRoles"
    return "iam:PassRole" in as_list(statement["Action"]) and not engine


def test_the_save_engine_passes_only_its_own_roles_to_its_services():
    (statement,) = [s for s in statements(DEFAULT) if s["Sid"] == "PrismCloudPassEngineRoles"]
    assert as_list(statement["Action"]) == ["iam:PassRole"]
    assert as_list(statement["Resource"]) == ["arn:aws:iam::*:role/prism-engine-*"]
    services = statement["Condition"]["StringEquals"]["iam:PassedToService"]
    assert sorted(services) == [
        "lambda.amazonaws.com", "scheduler.amazonaws.com", "states.amazonaws.com"]


def test_pass_role_only_for_configured_roles_and_only_to_ec2():
    assert not [s for s in statements(DEFAULT) if _passes_roles(s)]
    (statement,) = [s for s in statements(FULL) if _passes_roles(s)]
    assert as_list(statement["Action"]) == ["iam:PassRole"]
    assert statement["Resource"] == [
        "arn:aws:iam::*:role/research-workstation",
        "arn:aws:iam::*:role/research/*",
    ]
    assert statement["Condition"] == {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}


def test_run_instances_only_with_imds_v2_and_encrypted_volumes():
    for options in (DEFAULT, FULL, IMDS_V1):
        found = [s for s in statements(options) if "ec2:RunInstances" in as_list(s["Action"])]
        # `save --scrub`: a helper's volumes keep the team image's encryption (an encrypted
        # derivative could never be public), only volumes the request tags as a helper's
        helpers = [s for s in found if s["Sid"] == "PrismRunScrubHelpers"]
        assert len(helpers) == 1 and "*" not in as_list(helpers[0]["Resource"])
        assert helpers[0]["Condition"] == {
            "StringEquals": {"aws:RequestTag/prism:helper": "scrub"},
            "StringEqualsIfExists": {"ec2:MetadataHttpTokens": "required"},
        }
        found = [s for s in found if s not in helpers]
        assert len(found) == 1
        (statement,) = found
        assert "*" not in as_list(statement["Resource"])
        condition = statement["Condition"]
        assert condition["BoolIfExists"] == {"ec2:Encrypted": "true"}
        tokens = condition.get("StringEqualsIfExists", {}).get("ec2:MetadataHttpTokens")
        assert tokens == (None if options.imds_v1 else "required")


def test_kms_only_for_configured_keys():
    kms = [
        s for s in statements(DEFAULT) if any(a.startswith("kms:") for a in as_list(s["Action"]))
    ]
    assert [a for s in kms for a in as_list(s["Action"])] == ["kms:DescribeKey"]
    for options, resources in (
        (FULL, [KEY_ARN, "arn:aws:kms:eu-west-1:*:key/abcd1234-12ab-34cd-56ef-1234567890ab"]),
        (ALIASED, ["arn:aws:kms:*:*:key/*"]),
    ):
        used = [
            s for s in statements(options)
            if s["Sid"].startswith(("PrismKmsGrants", "PrismKmsUse"))
        ]  # fmt: skip
        granted = {a for s in used for a in as_list(s["Action"])}
        assert granted == {
            "kms:CreateGrant",
            "kms:Decrypt",
            "kms:DescribeKey",
            "kms:GenerateDataKeyWithoutPlaintext",
            "kms:ReEncryptFrom",
            "kms:ReEncryptTo",
        }
        for statement in used:
            assert sorted(as_list(statement["Resource"])) == sorted(resources)
            condition = statement["Condition"]
            if "kms:CreateGrant" in statement["Action"]:
                assert condition["Bool"] == {"kms:GrantIsForAWSResource": "true"}
            else:
                assert condition["StringLike"] == {"kms:ViaService": "ec2.*.amazonaws.com"}
            if options is ALIASED:
                aliases = condition["ForAnyValue:StringEquals"]["kms:ResourceAliases"]
                assert aliases == ["alias/images"]


def test_ssm_only_under_the_registry_prefix_and_prisms_documents():
    options = PolicyOptions(prefix="/research/prism/")
    for statement in statements(options):
        for action in as_list(statement["Action"]):
            if not action.startswith("ssm:") or action in (
                "ssm:DescribeParameters",
                "ssm:DescribeInstanceInformation",
                "ssm:GetCommandInvocation",
            ):
                continue
            resources = as_list(statement["Resource"])
            if action == "ssm:SendCommand":
                documents = [r for r in resources if ":document/" in r]
                assert documents == ["arn:aws:ssm:*:*:document/AWS-RunShellScript"]
                continue
            for resource in resources:
                public = resource == "arn:aws:ssm:*:*:parameter/aws/service/*"
                assert resource == "arn:aws:ssm:*:*:parameter/research/prism/*" or (
                    public and action in ("ssm:GetParameter", "ssm:GetParameters")
                ), (statement["Sid"], resource)


@pytest.mark.parametrize("options", ALL_OPTIONS, ids=["default", "full", "alias", "imds-v1"])
def test_unscoped_statements_only_read(options):
    for statement in statements(options):
        if "*" in as_list(statement["Resource"]):
            for action in as_list(statement["Action"]):
                if action in UNSCOPED_CHANGES:
                    continue
                assert action.split(":", 1)[1].startswith(READ_ONLY_PREFIXES), action


@pytest.mark.parametrize("options", [DEFAULT, FULL, IMDS_V1], ids=["default", "full", "imds-v1"])
def test_parliament_finds_nothing(options):
    from parliament import analyze_policy_string

    for use in ("save", "launch", "templates", "cloud", "all"):
        found = analyze_policy_string(json.dumps(policy(use, options))).findings
        assert not found, [(f.issue, f.detail) for f in found]


def test_parliament_on_a_key_alias_finds_only_what_is_allowed():
    from parliament import analyze_policy_string

    allowed = ALLOWED["parliament"]
    found = analyze_policy_string(json.dumps(policy("all", ALIASED))).findings
    assert found
    for finding in found:
        keys = allowed.get(finding.issue, {})
        assert any(key in str(finding.detail) for key in keys), (finding.issue, finding.detail)


def test_cloudsplaining_findings_are_all_allowed_with_a_reason():
    from cloudsplaining.scan.policy_document import PolicyDocument

    allowed = ALLOWED["cloudsplaining"]
    seen_escalation: set[str] = set()
    seen_exposure: set[str] = set()
    for options in (DEFAULT, FULL, ALIASED, IMDS_V1):
        scan = PolicyDocument(
            policy("all", options), flag_conditional_statements=True,
            flag_resource_arn_statements=True,
        )  # fmt: skip
        seen_escalation |= {f["type"] for f in scan.allows_privilege_escalation}
        seen_exposure |= set(scan.permissions_management_without_constraints)
        if options is DEFAULT:  # nothing at all without instance profiles and keys, but
            # for deploying the save engine (`--for cloud`: its roles), an admin's job
            daily = {
                s["Sid"]: s
                for use in ("save", "launch", "instances", "templates")
                for s in policy(use, options)["Statement"]
            }
            document = {"Version": "2012-10-17", "Statement": list(daily.values())}
            everyday = PolicyDocument(
                document, flag_conditional_statements=True, flag_resource_arn_statements=True
            )
            found = {f["type"] for f in everyday.allows_privilege_escalation}
            assert found <= {"ModifyExistingEC2LaunchTemplate"}, found
            assert not everyday.permissions_management_without_constraints
    assert seen_escalation <= set(allowed["privilege_escalation"]), seen_escalation
    assert seen_exposure <= set(allowed["resource_exposure"]), seen_exposure
    # every entry of the allow-list is still needed, and each gives a reason
    assert seen_escalation == set(allowed["privilege_escalation"])
    assert seen_exposure == set(allowed["resource_exposure"])
    for section in allowed.values():
        assert all(len(reason) > 40 for reason in section.values())


def _auth(action: str, resource: str, **context: Any) -> Authorization:
    return Authorization(action, action, resource, "us-east-1", dict(context))


INSTANCE = "arn:aws:ec2:us-east-1:123456789012:instance/i-0123456789abcdef0"
IMAGE = "arn:aws:ec2:us-east-1::image/ami-0123456789abcdef0"
SAVED = {"aws:ResourceTag/prism:save-id": "env1-20260101T000000Z-abcdef"}


@pytest.mark.parametrize(
    ("request_", "allowed"),
    [
        (_auth("ec2:DeregisterImage", IMAGE), False),
        (_auth("ec2:DeregisterImage", IMAGE, **SAVED), True),
        (_auth("ec2:ModifyImageAttribute", IMAGE, **{"aws:ResourceTag/prism:template": "x"}),
         False),
        (_auth("ec2:ModifyImageAttribute", IMAGE, **SAVED), True),
        (_auth("ec2:DeleteSnapshot", "arn:aws:ec2:us-east-1::snapshot/snap-1"), False),
        (_auth("ec2:TerminateInstances", INSTANCE), False),
        (_auth("ec2:TerminateInstances", INSTANCE, **{"aws:ResourceTag/prism:boot-check": "a"}),
         True),
        (_auth("ec2:TerminateInstances", INSTANCE, **{"aws:ResourceTag/prism:launched-by": "a"}),
         True),
        # anyone's instance may be marked as prism's only through tag-on-create
        (_auth("ec2:CreateTags", INSTANCE, **{"aws:TagKeys": ["prism:launched-by"]}), False),
        (_auth("ec2:CreateTags", INSTANCE, **{"aws:TagKeys": [LOCK_TAG, "Name"]}), False),
        (_auth("ec2:CreateTags", INSTANCE, **{"aws:TagKeys": [LOCK_TAG]}), True),
        (_auth("ec2:DeleteTags", INSTANCE), False),  # no Tags: every tag would go
        (_auth("ec2:DeleteTags", INSTANCE, **{"aws:TagKeys": [LOCK_TAG]}), True),
        (_auth("ec2:CreateTags", INSTANCE, **{"ec2:CreateAction": "RunInstances"}), True),
        (_auth("ec2:CreateTags", INSTANCE, **{"ec2:CreateAction": "CreateVolume"}), False),
        (_auth("ec2:RunInstances", "arn:aws:ec2:us-east-1:123456789012:instance/*",
               **{"ec2:MetadataHttpTokens": "optional"}), False),
        (_auth("ec2:RunInstances", "arn:aws:ec2:us-east-1:123456789012:instance/*",
               **{"ec2:MetadataHttpTokens": "required"}), True),
        (_auth("ec2:RunInstances", "arn:aws:ec2:us-east-1:123456789012:volume/*",
               **{"ec2:Encrypted": False}), False),
        (_auth("ec2:RunInstances", "arn:aws:ec2:us-east-1:123456789012:volume/*",
               **{"ec2:Encrypted": True}), True),
        (_auth("ec2:RunInstances", "arn:aws:ec2:us-east-1:123456789012:volume/*",
               **{"ec2:Encrypted": False, "aws:RequestTag/prism:helper": "other"}), False),
        (_auth("ec2:RunInstances", "arn:aws:ec2:us-east-1:123456789012:volume/*",
               **{"ec2:Encrypted": False, "aws:RequestTag/prism:helper": "scrub"}), True),
        (_auth("ec2:RunInstances", "arn:aws:ec2:us-east-1:123456789012:instance/*",
               **{"ec2:MetadataHttpTokens": "optional", "aws:RequestTag/prism:helper": "scrub"}),
         False),
        (_auth("ec2:AuthorizeSecurityGroupIngress", "arn:aws:ec2:us-east-1:1:security-group/sg-1"),
         False),
        (_auth("ssm:PutParameter", "arn:aws:ssm:us-east-1:1:parameter/other/x"), False),
        (_auth("ssm:PutParameter", "arn:aws:ssm:us-east-1:1:parameter/prism/templates/x"), True),
        # the inspection reaches the instance being saved before the lock is taken
        # (iam_findings_allowed.yaml, rules: run_command_on_source_instance)
        (_auth("ssm:SendCommand", INSTANCE), True),
        (_auth("ssm:SendCommand", "arn:aws:ssm:us-east-1::document/AWS-RunPowerShellScript"),
         False),
        (_auth("iam:PassRole", "arn:aws:iam::1:role/admin",
               **{"iam:PassedToService": "ec2.amazonaws.com"}), False),
        (_auth("kms:CreateGrant", KEY_ARN, **{"kms:GrantIsForAWSResource": True}), False),
    ],
)  # fmt: skip
def test_the_default_policy_refuses_what_prism_must_not_do(request_, allowed):
    document = policy("all", DEFAULT)
    found = allowing_statement(document, request_.action, request_.resource, request_.context)
    assert (found is not None) == allowed, found


def test_configured_roles_and_keys_are_the_only_ones_allowed():
    document = policy("all", FULL)
    to_ec2 = {"iam:PassedToService": "ec2.amazonaws.com"}
    for role, allowed in (
        ("arn:aws:iam::1:role/research-workstation", True),
        ("arn:aws:iam::1:role/research/gpu", True),
        ("arn:aws:iam::1:role/admin", False),
    ):
        assert (allowing_statement(document, "iam:PassRole", role, to_ec2) is not None) == allowed
    to_lambda = {"iam:PassedToService": "lambda.amazonaws.com"}
    role = "arn:aws:iam::1:role/research-workstation"
    assert allowing_statement(document, "iam:PassRole", role, to_lambda) is None
    grant = {"kms:GrantIsForAWSResource": True, "kms:ViaService": "ec2.us-east-1.amazonaws.com"}
    assert allowing_statement(document, "kms:CreateGrant", KEY_ARN, grant) is not None
    other = KEY_ARN.replace("1234abcd", "99999999")
    assert allowing_statement(document, "kms:CreateGrant", other, grant) is None
    assert allowing_statement(document, "kms:CreateGrant", KEY_ARN, {"kms:ViaService": "x"}) is None
