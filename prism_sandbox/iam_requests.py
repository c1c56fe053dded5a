"""What IAM would authorize for one request the sandbox receives: action, resource ARN
and condition keys (the tags of existing resources read from moto's backends before the
request changes them), for tests that check requests against ``prism iam-policy``.

Modelled on the EC2, SSM and KMS service authorization reference for the calls prism
makes; any other call is authorized on ``*`` with no condition keys (so a statement
that scopes it to resources has to be taught here first).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: Values of the condition keys of one authorization (lists for multivalued keys).
Context = dict[str, Any]


@dataclass(frozen=True)
class Authorization:
    """One (action, resource) pair IAM checks for a request, with its condition keys."""

    call: str  # the API call, "ec2:RunInstances"
    action: str  # the IAM action checked, "ec2:CreateTags" for tag-on-create
    resource: str
    region: str
    context: Context = field(default_factory=dict)


class _Params:
    """A request's parameters: EC2/STS query lists or a JSON body (SSM, KMS)."""

    def __init__(self, params: Mapping[str, Any]) -> None:
        self.params = params

    def get(self, name: str, default: str = "") -> str:
        value = self.params.get(name)
        if isinstance(value, list):
            return str(value[0]) if value else default
        return default if value is None else str(value)

    def indexed(self, prefix: str) -> list[str]:
        """Values of ``Prefix.1``, ``Prefix.2``, ... in index order (or a JSON list)."""
        value = self.params.get(prefix)
        if isinstance(value, list) and not self.params.get(prefix + ".1"):
            return [str(v) for v in value]
        found = []
        pattern = re.compile(re.escape(prefix) + r"\.(\d+)$")
        for key in self.params:
            match = pattern.match(key)
            if match:
                found.append((int(match.group(1)), self.get(key)))
        return [v for _, v in sorted(found)]

    def tags(self, prefix: str) -> dict[str, str]:
        """``Prefix.N.Key`` / ``Prefix.N.Value`` as a dict."""
        keys = self.indexed_fields(prefix, "Key")
        values = self.indexed_fields(prefix, "Value")
        return {k: values.get(n, "") for n, k in keys.items()}

    def indexed_fields(self, prefix: str, name: str) -> dict[int, str]:
        pattern = re.compile(re.escape(prefix) + r"\.(\d+)\." + re.escape(name) + "$")
        found = {}
        for key in self.params:
            match = pattern.match(key)
            if match:
                found[int(match.group(1))] = self.get(key)
        return found


def _tag_context(tags: Mapping[str, str], kind: str) -> Context:
    """``aws:ResourceTag/K`` (kind "ResourceTag") or ``aws:RequestTag/K`` + ``aws:TagKeys``."""
    context: Context = {f"aws:{kind}/{k}": v for k, v in tags.items()}
    if kind == "RequestTag" and tags:
        context["aws:TagKeys"] = list(tags)
    return context


class _Ec2:
    """ARNs and current tags of EC2 resources in one account and region."""

    def __init__(self, account: str, region: str) -> None:
        from moto.ec2.models import ec2_backends

        self.account, self.region = account, region
        self.backend = ec2_backends[account][region]

    def arn(self, kind: str, ident: str = "*") -> str:
        account = "" if kind in ("image", "snapshot") else self.account
        return f"arn:aws:ec2:{self.region}:{account}:{kind}/{ident}"

    def tags(self, resource_id: str) -> dict[str, str]:
        return dict(self.backend.tags.get(resource_id, {}))

    def existing(self, kind: str, ident: str, tag_id: str | None = None) -> tuple[str, Context]:
        return self.arn(kind, ident), _tag_context(self.tags(tag_id or ident), "ResourceTag")

    def on(self, call: str, kind: str, ident: str, tag_id: str | None = None) -> Authorization:
        """``call`` authorized on an existing resource, with its current tags."""
        arn, context = self.existing(kind, ident, tag_id)
        return Authorization(call, call, arn, self.region, context)

    def key_pair_id(self, name: str) -> str:
        pairs = getattr(self.backend, "key_pairs", None) or getattr(self.backend, "keypairs", {})
        pair = pairs.get(name)
        return str(getattr(pair, "id", name))

    def launch_template_id(self, name: str | None) -> str:
        for template in getattr(self.backend, "launch_templates", {}).values():
            if getattr(template, "name", None) == name:
                return str(template.id)
        return str(name)

    def image_encrypted(self, image_id: str) -> bool:
        try:
            image = self.backend.describe_images(ami_ids=[image_id])[0]
        except Exception:  # noqa: BLE001 - an unknown image answers its own error
            return False
        snapshot = getattr(image, "ebs_snapshot", None)
        return bool(getattr(snapshot, "encrypted", False))

    def default_encryption(self) -> bool:
        return bool(getattr(self.backend, "ebs_encryption_by_default", False))


#: Resource types of ``ResourceId`` values, by id prefix.
_ID_KINDS = {
    "i-": "instance",
    "ami-": "image",
    "snap-": "snapshot",
    "sg-": "security-group",
    "vol-": "volume",
    "key-": "key-pair",
    "sir-": "spot-instances-request",
    "subnet-": "subnet",
    "vpc-": "vpc",
}
#: Calls acting on existing resources named by one parameter: call -> (kind, parameter).
_ON_EXISTING = {
    "DisableImage": ("image", "ImageId"),
    "StopInstances": ("instance", "InstanceId"),
    "StartInstances": ("instance", "InstanceId"),
    "TerminateInstances": ("instance", "InstanceId"),
    "RebootInstances": ("instance", "InstanceId"),
    "GetConsoleOutput": ("instance", "InstanceId"),
    "ModifyInstanceMetadataOptions": ("instance", "InstanceId"),
    "ModifyImageAttribute": ("image", "ImageId"),
    "DescribeImageAttribute": ("image", "ImageId"),
    "ResetImageAttribute": ("image", "ImageId"),
    "DeregisterImage": ("image", "ImageId"),
    "EnableImageDeprecation": ("image", "ImageId"),
    "DisableImageDeprecation": ("image", "ImageId"),
    "EnableImageDeregistrationProtection": ("image", "ImageId"),
    "DisableImageDeregistrationProtection": ("image", "ImageId"),
    "DeleteSnapshot": ("snapshot", "SnapshotId"),
    "ModifySnapshotAttribute": ("snapshot", "SnapshotId"),
    "EnableFastSnapshotRestores": ("snapshot", "SourceSnapshotId"),
    "DisableFastSnapshotRestores": ("snapshot", "SourceSnapshotId"),
    "AuthorizeSecurityGroupIngress": ("security-group", "GroupId"),
    "RevokeSecurityGroupIngress": ("security-group", "GroupId"),
    "DeleteSecurityGroup": ("security-group", "GroupId"),
    "CancelSpotInstanceRequests": ("spot-instances-request", "SpotInstanceRequestId"),
}


def _resource_id_kind(resource_id: str) -> str:
    for prefix, kind in _ID_KINDS.items():
        if resource_id.startswith(prefix):
            return kind
    return "unknown"


def _tag_on_create(call: str, params: _Params, ec2: _Ec2) -> list[Authorization]:
    """``ec2:CreateTags`` with ``ec2:CreateAction`` for each TagSpecification."""
    found = []
    kinds = params.indexed_fields("TagSpecification", "ResourceType")
    for number, kind in sorted(kinds.items()):
        tags = params.tags(f"TagSpecification.{number}.Tag")
        context = {"ec2:CreateAction": call, **_tag_context(tags, "RequestTag")}
        found.append(
            Authorization(f"ec2:{call}", "ec2:CreateTags", ec2.arn(kind), ec2.region, context)
        )
    return found


def _run_instances(params: _Params, ec2: _Ec2, account: str) -> list[Authorization]:
    call = "ec2:RunInstances"
    region = ec2.region
    tokens = params.get("MetadataOptions.HttpTokens", "optional")
    image_id = params.get("ImageId")
    explicit = [
        v.lower() == "true"
        for v in params.indexed_fields("BlockDeviceMapping", "Ebs.Encrypted").values()
    ]
    encrypted = any(explicit) or ec2.image_encrypted(image_id) or ec2.default_encryption()
    requested: dict[str, str] = {}
    volume_tags: dict[str, str] = {}
    for number, kind in params.indexed_fields("TagSpecification", "ResourceType").items():
        if kind == "instance":
            requested = params.tags(f"TagSpecification.{number}.Tag")
        elif kind == "volume":
            volume_tags = params.tags(f"TagSpecification.{number}.Tag")
    found = [
        Authorization(
            call,
            call,
            ec2.arn("instance"),
            region,
            {"ec2:MetadataHttpTokens": tokens, **_tag_context(requested, "RequestTag")},
        ),
        Authorization(
            call,
            call,
            ec2.arn("volume"),
            region,
            {"ec2:Encrypted": encrypted, **_tag_context(volume_tags, "RequestTag")},
        ),
        Authorization(call, call, ec2.arn("network-interface"), region),
        ec2.on(call, "image", image_id),
    ]
    # groups and subnet of the instance, or of its first network interface
    groups = params.indexed("SecurityGroupId") or params.indexed(
        "NetworkInterface.1.SecurityGroupId"
    )
    for group in groups or ["*"]:
        arn, context = (
            ec2.existing("security-group", group)
            if group != "*"
            else (ec2.arn("security-group"), {})
        )
        found.append(Authorization(call, call, arn, region, context))
    subnet = params.get("SubnetId") or params.get("NetworkInterface.1.SubnetId")
    found.append(Authorization(call, call, ec2.arn("subnet", subnet or "*"), region))
    key = params.get("KeyName")
    if key:
        found.append(ec2.on(call, "key-pair", key, ec2.key_pair_id(key)))
    if params.get("InstanceMarketOptions.MarketType") == "spot":
        found.append(Authorization(call, call, ec2.arn("spot-instances-request"), region))
    found += _pass_role(params, account, region)
    for kms_key in params.indexed_fields("BlockDeviceMapping", "Ebs.KmsKeyId").values():
        found += _kms_through_ec2(call, kms_key, account, region)
    return found


def _pass_role(params: _Params, account: str, region: str) -> list[Authorization]:
    """``iam:PassRole`` of the instance profile's role (none when it has no role)."""
    name = params.get("IamInstanceProfile.Name") or params.get("IamInstanceProfile.Arn")
    if not name:
        return []
    from moto.iam.models import iam_backends

    backend = iam_backends[account]["global"]
    try:
        if name.startswith("arn:"):
            profile = backend.get_instance_profile_by_arn(name)
        else:
            profile = backend.get_instance_profile(name)
    except Exception:  # noqa: BLE001 - an unknown profile: EC2 refuses the launch itself
        return []
    return [
        Authorization(
            "ec2:RunInstances",
            "iam:PassRole",
            role.arn,
            region,
            {"iam:PassedToService": "ec2.amazonaws.com"},
        )
        for role in getattr(profile, "roles", [])
    ]


def _kms_arn(key: str, account: str, region: str) -> str:
    if key.startswith("arn:") and ":key/" in key:
        return key
    try:
        from moto.kms.models import kms_backends

        return str(kms_backends[account][region].describe_key(key).arn)
    except Exception:  # noqa: BLE001 - unknown key: authorized on any key
        return f"arn:aws:kms:{region}:{account}:key/*"


def _kms_through_ec2(call: str, key: str, account: str, region: str) -> list[Authorization]:
    """What EC2 does with the caller's permissions to encrypt new snapshots or volumes."""
    arn = _kms_arn(key, account, region)
    via = {"kms:ViaService": f"ec2.{region}.amazonaws.com"}
    found = [
        Authorization(
            call, "kms:CreateGrant", arn, region, {**via, "kms:GrantIsForAWSResource": True}
        )
    ]
    for action in ("kms:GenerateDataKeyWithoutPlaintext", "kms:Decrypt", "kms:DescribeKey"):
        found.append(Authorization(call, action, arn, region, dict(via)))
    return found


def ec2_authorizations(
    action: str, raw: Mapping[str, Any], account: str, region: str
) -> list[Authorization]:
    """What IAM checks for one EC2 call."""
    params, ec2 = _Params(raw), _Ec2(account, region)
    call = f"ec2:{action}"
    found: list[Authorization] = []
    if action in _ON_EXISTING:
        kind, name = _ON_EXISTING[action]
        idents = params.indexed(name) or [params.get(name)]
        for ident in idents:
            if kind == "security-group" and not ident:
                ident = _group_id(ec2, params.get("GroupName"))
            found.append(ec2.on(call, kind, ident))
    elif action in ("CreateTags", "DeleteTags"):
        tags = params.tags("Tag")
        context = _tag_context(tags, "RequestTag") if action == "CreateTags" else {}
        if tags:
            context["aws:TagKeys"] = list(tags)
        for resource_id in params.indexed("ResourceId"):
            kind = _resource_id_kind(resource_id)
            arn, existing = ec2.existing(kind, resource_id)
            found.append(Authorization(call, call, arn, region, {**existing, **context}))
    elif action == "RunInstances":
        found = _run_instances(params, ec2, account)
    elif action == "CreateImage":
        instance = params.get("InstanceId")
        found.append(ec2.on(call, "instance", instance))
        found.append(Authorization(call, call, ec2.arn("image"), region))
        found.append(Authorization(call, call, ec2.arn("snapshot"), region))
    elif action == "CopyImage":
        found.append(Authorization(call, call, ec2.arn("image"), region))
        found.append(Authorization(call, call, ec2.arn("snapshot"), region))
        if params.get("KmsKeyId"):
            found += _kms_through_ec2(call, params.get("KmsKeyId"), account, region)
    elif action == "CreateSecurityGroup":
        found.append(Authorization(call, call, ec2.arn("security-group"), region))
        found.append(Authorization(call, call, ec2.arn("vpc", params.get("VpcId") or "*"), region))
    elif action == "ImportKeyPair":
        found.append(Authorization(call, call, ec2.arn("key-pair"), region))
    elif action == "DeleteKeyPair":
        ident = params.get("KeyPairId") or ec2.key_pair_id(params.get("KeyName"))
        found.append(ec2.on(call, "key-pair", ident))
    elif action == "CreateLaunchTemplate":
        found.append(
            Authorization(
                call,
                call,
                ec2.arn("launch-template"),
                region,
                _tag_context(params.tags("TagSpecification.1.Tag"), "RequestTag"),
            )
        )
    elif action in ("CreateLaunchTemplateVersion", "ModifyLaunchTemplate"):
        ident = params.get("LaunchTemplateId") or ec2.launch_template_id(
            params.get("LaunchTemplateName")
        )
        found.append(ec2.on(call, "launch-template", ident))
    elif action == "CreateSnapshot":
        found.append(Authorization(call, call, ec2.arn("snapshot"), region))
        found.append(ec2.on(call, "volume", params.get("VolumeId")))
    else:
        found.append(Authorization(call, call, "*", region))
    return found + _tag_on_create(action, params, ec2)


def _group_id(ec2: _Ec2, name: str) -> str:
    for group in ec2.backend.describe_security_groups(group_names=[name]) if name else []:
        return str(group.id)
    return "*"


def _parameter_arn(name: str, account: str, region: str) -> str:
    name = name.lstrip("/")
    owner = "" if name.startswith("aws/") else account
    return f"arn:aws:ssm:{region}:{owner}:parameter/{name}"


def ssm_authorizations(
    action: str, body: Mapping[str, Any], account: str, region: str
) -> list[Authorization]:
    """What IAM checks for one SSM call."""
    call = f"ssm:{action}"
    names: list[str] = []
    if "Name" in body and action != "SendCommand":
        names = [str(body["Name"])]
    elif "Names" in body:
        names = [str(n) for n in body["Names"]]
    elif "Path" in body:
        names = [str(body["Path"])]
    if names:
        return [
            Authorization(call, call, _parameter_arn(n, account, region), region) for n in names
        ]
    if action == "SendCommand":
        document = str(body.get("DocumentName", ""))
        owner = "" if document.startswith("AWS-") else account
        found = [
            Authorization(call, call, f"arn:aws:ssm:{region}:{owner}:document/{document}", region)
        ]
        ec2 = _Ec2(account, region)
        for instance in body.get("InstanceIds") or []:
            found.append(ec2.on(call, "instance", str(instance)))
        return found
    return [Authorization(call, call, "*", region)]


def kms_authorizations(
    action: str, body: Mapping[str, Any], account: str, region: str
) -> list[Authorization]:
    """What IAM checks for one KMS call the client sends itself."""
    call = f"kms:{action}"
    key = body.get("KeyId")
    resource = _kms_arn(str(key), account, region) if key else "*"
    return [Authorization(call, call, resource, region)]


#: S3 API name -> the IAM action it needs, on the bucket (True) or an object (False).
_S3_ACTIONS = {
    "HeadBucket": ("s3:ListBucket", True),
    "ListObjects": ("s3:ListBucket", True),
    "ListObjectsV2": ("s3:ListBucket", True),
    "CreateBucket": ("s3:CreateBucket", True),
    "DeleteBucket": ("s3:DeleteBucket", True),
    "PutPublicAccessBlock": ("s3:PutBucketPublicAccessBlock", True),
    "GetPublicAccessBlock": ("s3:GetBucketPublicAccessBlock", True),
    "PutBucketEncryption": ("s3:PutEncryptionConfiguration", True),
    "GetBucketEncryption": ("s3:GetEncryptionConfiguration", True),
    "PutBucketLifecycleConfiguration": ("s3:PutLifecycleConfiguration", True),
    "GetObject": ("s3:GetObject", False),
    "HeadObject": ("s3:GetObject", False),
    "PutObject": ("s3:PutObject", False),
    "DeleteObject": ("s3:DeleteObject", False),
    "GetObjectTagging": ("s3:GetObjectTagging", False),
    "PutObjectTagging": ("s3:PutObjectTagging", False),
    "DeleteObjectTagging": ("s3:DeleteObjectTagging", False),
    "GetObjectAcl": ("s3:GetObjectAcl", False),
    "PutObjectAcl": ("s3:PutObjectAcl", False),
}
#: Request headers that need a second permission (S3 user guide, "Required permissions"):
#: API name -> header -> the extra IAM action.
_S3_HEADER_ACTIONS = {
    "CreateBucket": {"x-amz-object-ownership": "s3:PutBucketOwnershipControls"},
    "PutObject": {"x-amz-tagging": "s3:PutObjectTagging", "x-amz-acl": "s3:PutObjectAcl"},
}


def s3_authorizations(
    action: str, path: str, region: str, headers: Mapping[str, str] | None = None
) -> list[Authorization]:
    """What IAM checks for one path-style S3 request (its API name, e.g. PutBucketTagging,
    and its x-amz-* headers)."""
    from urllib.parse import unquote

    iam_action, on_bucket = _S3_ACTIONS.get(action, (f"s3:{action}", True))
    bucket, _, key = unquote(path.lstrip("/")).partition("/")
    resource = f"arn:aws:s3:::{bucket}" if on_bucket else f"arn:aws:s3:::{bucket}/{key}"
    found = [Authorization(f"s3:{action}", iam_action, resource, region)]
    for header, extra in _S3_HEADER_ACTIONS.get(action, {}).items():
        if header in (headers or {}):
            found.append(Authorization(f"s3:{action}", extra, resource, region))
    return found


def authorizations(
    service: str, action: str, params: Mapping[str, Any], account: str, region: str
) -> list[Authorization]:
    """What IAM checks for one request (``params``: query lists or the JSON body)."""
    if service == "ec2":
        return ec2_authorizations(action, params, account, region)
    if service == "ssm":
        return ssm_authorizations(action, params, account, region)
    if service == "kms":
        return kms_authorizations(action, params, account, region)
    if service == "s3":
        return s3_authorizations(
            action, str(params.get("Path", "")), region, params.get("Headers")
        )
    call = f"{service}:{action}"
    named = _named_resource(service, params, account, region)
    if named is not None:
        return [Authorization(call, call, named, region)]
    if call == "sts:AssumeRole" and params.get("RoleArn"):
        role = params["RoleArn"]
        role = role[0] if isinstance(role, list) else role
        return [Authorization(call, call, str(role), region)]
    return [Authorization(call, call, "*", region)]


def _first(value: Any) -> str | None:
    if isinstance(value, list):
        value = value[0] if value else None
    return str(value) if value else None


def _named_resource(
    service: str, params: Mapping[str, Any], account: str, region: str
) -> str | None:
    """The ARN an IAM, Lambda, Step Functions or SNS request names (the save engine's calls);
    ``None`` when the request names none (then IAM checks ``*``)."""
    if service == "iam":
        role = _first(params.get("RoleName"))
        profile = _first(params.get("InstanceProfileName"))
        if profile:
            return f"arn:aws:iam::{account}:instance-profile/{profile}"
        return f"arn:aws:iam::{account}:role/{role}" if role else None
    if service == "lambda":
        name = _first(params.get("FunctionName"))
        if name and not name.startswith("arn:"):
            name = f"arn:aws:lambda:{region}:{account}:function:{name}"
        return name
    if service == "states":
        for key in ("executionArn", "stateMachineArn", "resourceArn"):
            found = _first(params.get(key))
            if found:
                return found
        name = _first(params.get("name"))
        if name:
            return f"arn:aws:states:{region}:{account}:stateMachine:{name}"
    if service == "scheduler":  # prism schedule
        name = _first(params.get("Name"))
        group = _first(params.get("GroupName")) or "default"
        return f"arn:aws:scheduler:{region}:{account}:schedule/{group}/{name}" if name else None
    if service == "sns":  # schedules' --notify topics
        found = _first(params.get("TopicArn")) or _first(params.get("ResourceArn"))
        name = _first(params.get("Name"))
        return found or (f"arn:aws:sns:{region}:{account}:{name}" if name else None)
    return None
