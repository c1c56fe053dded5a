"""EC2 launch templates that follow a prism template (``prism templates export``).

Per region, one launch template (created on first export, tagged
``prism:template=<name>``: that tag is the proof prism made it, and the only kind prism
ever changes) gets a new version at each export:

- ``ImageId``: ``resolve:ssm:<prefix>images/<name>/<alias>`` (the AMI parameter of
  the channel, version or ``latest``: EC2 resolves it at each launch), or with
  ``pin_image`` the AMI id itself; a package-based template starts from its base OS's
  public parameter and carries its setup script as ``UserData``;
- the instance type the template launches with; IMDSv2 required (``HttpTokens``);
  an encrypted gp3 root volume (the key of ``prism.kms_keys`` for the region if set);
- the tags ``prism launch`` puts on instances and volumes.

A binding ``<prefix>templates/<name>/launch-templates/<lt-name>`` (JSON, every export
region's registry) ties a launch template to a channel: :func:`follow_channel` (run by
``promote``) then adds a version with the channel's new image and makes it the default.
Bindings live under the template's registry path, so ``templates delete`` removes them
(the launch templates themselves stay: other infrastructure may launch from them).
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from typing import Any

from prism_core.aws.clients import AwsClients, error_code, error_message
from prism_core.aws.tags import TEMPLATE_TAG, TEMPLATE_VERSION_TAG, tag_list, tags_of
from prism_core.exceptions import InputError
from prism_core.templates import image_parameters, registry
from prism_core.validation import LATEST

#: The names prism gives launch templates (EC2 allows more; SSM paths hold these).
LT_NAME = re.compile(r"^[A-Za-z0-9._-]{3,128}$")
MAX_BINDING_BYTES = 4096
IMDS = {"HttpTokens": "required", "HttpEndpoint": "enabled", "HttpPutResponseHopLimit": 2}


def launch_template_name(text: str) -> str:
    """A launch template name prism accepts (``InputError`` otherwise)."""
    if not LT_NAME.fullmatch(text or ""):
        raise InputError(
            f"invalid launch template name {str(text)[:64]!r}",
            "use 3-128 letters, digits, '.', '_' or '-'",
        )
    return text


def binding_root(prefix: str, template: str) -> str:
    """``<prefix>templates/<name>/launch-templates``."""
    return f"{registry.parameter_base(prefix, template)}/launch-templates"


@dataclass
class RegionExport:
    """What one region's export writes."""

    region: str
    image: str  # the ImageId: a resolve:ssm: reference or an AMI id
    ami: str | None  # the AMI it stands for now
    data: dict[str, Any]
    existing: dict[str, Any] | None  # DescribeLaunchTemplates record, if there is one


@dataclass
class ExportPlan:
    """An export of one template version to launch templates, region by region."""

    template: str
    version: int
    alias: str  # latest | <N> | <channel>
    name: str  # the launch template's name
    regions: list[RegionExport] = field(default_factory=list)
    set_default: bool = False
    bind: str | None = None  # the channel bound
    pin_image: bool = False

    def lines(self) -> list[str]:
        """The plan, one line per region."""
        rows = []
        for item in self.regions:
            verb = (
                f"new version of {item.existing['LaunchTemplateId']}"
                if item.existing
                else "create it (version 1)"
            )
            default = " and make it the default" if self.set_default and item.existing else ""
            rows.append(f"{item.region}: {self.name}: {verb}{default}; image {item.image}")
        if self.bind:
            rows.append(
                f"bind it to channel {self.bind}: `prism templates promote "
                f"{self.template}@N --channel {self.bind}` makes a new default version"
            )
        return rows


def describe(ec2: Any, name: str) -> dict[str, Any] | None:
    """The launch template called ``name``, or ``None``."""
    try:
        found = ec2.describe_launch_templates(LaunchTemplateNames=[name])["LaunchTemplates"]
    except Exception as exc:
        if error_code(exc).startswith("InvalidLaunchTemplateName"):
            return None
        raise
    return dict(found[0]) if found else None


def proven(record: dict[str, Any], template: str) -> bool:
    """Whether the launch template's own tags say prism made it for ``template``."""
    return tags_of(record).get(TEMPLATE_TAG) == template


def template_data(
    *,
    image: str,
    instance_type: str,
    root_device: str | None,
    root_gb: int | None,
    kms_key: str | None,
    tags: dict[str, str],
    user_data: bytes | None,
) -> dict[str, Any]:
    """``LaunchTemplateData`` for one region."""
    data: dict[str, Any] = {
        "ImageId": image,
        "InstanceType": instance_type,
        "MetadataOptions": dict(IMDS),
        "TagSpecifications": [
            {"ResourceType": "instance", "Tags": tag_list(tags)},
            {"ResourceType": "volume", "Tags": tag_list(tags)},
        ],
    }
    if root_device:
        ebs: dict[str, Any] = {"Encrypted": True, "VolumeType": "gp3", "DeleteOnTermination": True}
        if root_gb:
            ebs["VolumeSize"] = int(root_gb)
        if kms_key:
            ebs["KmsKeyId"] = kms_key
        data["BlockDeviceMappings"] = [{"DeviceName": root_device, "Ebs": ebs}]
    if user_data:
        data["UserData"] = base64.b64encode(user_data).decode("ascii")
    return data


def root_of(ec2: Any, image_id: str) -> tuple[str | None, int | None]:
    """The image's root device name and size (GiB), ``(None, None)`` if not listed."""
    try:
        images = ec2.describe_images(ImageIds=[image_id])["Images"]
    except Exception:
        return None, None
    if not images:
        return None, None
    root = images[0].get("RootDeviceName")
    for mapping in images[0].get("BlockDeviceMappings", []):
        if mapping.get("DeviceName") == root and mapping.get("Ebs"):
            return root, int(mapping["Ebs"].get("VolumeSize") or 0) or None
    return root, None


@dataclass
class ExportResult:
    """What an export (or a promotion that followed a binding) changed."""

    changed: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    versions: dict[str, int] = field(default_factory=dict)  # region -> LT version made

    def to_dict(self) -> dict[str, Any]:
        """The ``-o json`` form."""
        return {"changed": self.changed, "failures": self.failures, "versions": self.versions}


def _new_version(
    ec2: Any, record: dict[str, Any], data: dict[str, Any], description: str, default: bool
) -> int:
    """Add a version to an existing launch template; make it the default if asked."""
    answer = ec2.create_launch_template_version(
        LaunchTemplateId=record["LaunchTemplateId"],
        LaunchTemplateData=data,
        VersionDescription=description[:255],
    )
    number = int(answer["LaunchTemplateVersion"]["VersionNumber"])
    if default:
        ec2.modify_launch_template(
            LaunchTemplateId=record["LaunchTemplateId"], DefaultVersion=str(number)
        )
    return number


def apply(aws: AwsClients, prefix: str, plan: ExportPlan, who: str) -> ExportResult:
    """Write the plan: AMI parameters first (what ``resolve:ssm:`` reads), then each
    region's launch template; then the binding, if any. A region's failure is reported."""
    done = ExportResult()
    if not plan.pin_image:
        synced = image_parameters.sync(aws, prefix, plan.template, [r.region for r in plan.regions])
        done.changed.extend(synced.changed)
        done.failures.extend(synced.failures)
    description = f"prism {plan.template}@{plan.alias} (v{plan.version})"
    for item in plan.regions:
        ec2 = aws.ec2(item.region)
        try:
            existing = describe(ec2, plan.name)
            if existing is not None and not proven(existing, plan.template):
                raise InputError(f"launch template {plan.name} is not prism's for {plan.template}")
            if existing is None:
                answer = ec2.create_launch_template(
                    LaunchTemplateName=plan.name,
                    LaunchTemplateData=item.data,
                    VersionDescription=description,
                    TagSpecifications=[
                        {
                            "ResourceType": "launch-template",
                            "Tags": tag_list({TEMPLATE_TAG: plan.template}),
                        }
                    ],
                )
                record = answer["LaunchTemplate"]
                number = int(record.get("LatestVersionNumber") or 1)
                existing = record
            else:
                number = _new_version(ec2, existing, item.data, description, plan.set_default)
            done.versions[item.region] = number
            done.changed.append(
                f"{item.region}:{plan.name} ({existing['LaunchTemplateId']}) version {number}"
            )
            if plan.bind:
                record = {
                    "channel": plan.bind,
                    "launch_template_id": existing["LaunchTemplateId"],
                    "pin_image": plan.pin_image,
                    "bound_at": _now(),
                    "bound_by": who,
                }
                key = f"{binding_root(prefix, plan.template)}/{plan.name}"
                registry.put_record(aws.client("ssm", item.region), key, record, plan.template)
                done.changed.append(f"{item.region}:{key}")
        except Exception as exc:
            done.failures.append(f"launch template in {item.region}: {error_message(exc)}")
    return done


def _now() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def bindings(ssm: Any, prefix: str, template: str) -> dict[str, dict[str, Any]]:
    """Launch template name -> binding record in one region (malformed ones skipped)."""
    base = binding_root(prefix, template)
    found: dict[str, dict[str, Any]] = {}
    pages = ssm.get_paginator("get_parameters_by_path").paginate(
        Path=base, Recursive=False, PaginationConfig={"PageSize": registry.PAGE_BY_PATH}
    )
    for page in pages:
        for parameter in page.get("Parameters", []):
            name = str(parameter["Name"])[len(base) + 1 :]
            value = str(parameter.get("Value", ""))
            if not LT_NAME.fullmatch(name) or len(value) > MAX_BINDING_BYTES:
                continue
            try:
                record = json.loads(value)
            except ValueError:
                continue
            if (
                isinstance(record, dict)
                and isinstance(record.get("channel"), str)
                and isinstance(record.get("launch_template_id"), str)
            ):
                found[name] = record
    return found


def follow_channel(
    aws: AwsClients,
    prefix: str,
    template: str,
    channel: str,
    version: int,
    amis: dict[str, str],
    regions: list[str],
) -> ExportResult:
    """After ``channel`` moved to ``version``: every launch template bound to it gets a new
    version (its default's data, the new image and version tag) and it becomes the
    default. ``amis`` is region -> the version's AMI (for bindings that pin the image)."""
    done = ExportResult()
    for region in sorted(regions):
        try:
            bound = bindings(aws.client("ssm", region), prefix, template)
        except Exception as exc:
            done.failures.append(f"launch template bindings in {region}: {error_message(exc)}")
            continue
        ec2 = aws.ec2(region)
        for name, record in sorted(bound.items()):
            if record["channel"] != channel:
                continue
            try:
                existing = describe(ec2, name)
                if existing is None or existing["LaunchTemplateId"] != record["launch_template_id"]:
                    done.failures.append(f"{region}:{name}: launch template is gone")
                    continue
                if not proven(existing, template):
                    done.failures.append(f"{region}:{name}: not prism's, left alone")
                    continue
                data = _default_data(ec2, existing["LaunchTemplateId"])
                if record.get("pin_image"):
                    if region not in amis:
                        done.failures.append(f"{region}:{name}: v{version} has no image here")
                        continue
                    data["ImageId"] = amis[region]
                else:
                    data["ImageId"] = image_parameters.resolve_reference(prefix, template, channel)
                _retag(data, version)
                number = _new_version(
                    ec2, existing, data, f"prism {template}@{channel} -> v{version}", True
                )
                done.versions[region] = number
                done.changed.append(
                    f"{region}:{name} ({existing['LaunchTemplateId']}) version {number} "
                    f"(default) for {template}@{channel} v{version}"
                )
            except Exception as exc:
                done.failures.append(f"{region}:{name}: {error_message(exc)}")
    return done


def _default_data(ec2: Any, template_id: str) -> dict[str, Any]:
    answer = ec2.describe_launch_template_versions(
        LaunchTemplateId=template_id, Versions=["$Default"]
    )
    return dict(answer["LaunchTemplateVersions"][0]["LaunchTemplateData"])


def _retag(data: dict[str, Any], version: int) -> None:
    """Set the version tag the launch template puts on instances and volumes."""
    for spec in data.get("TagSpecifications") or []:
        tags = [t for t in spec.get("Tags", []) if t.get("Key") != TEMPLATE_VERSION_TAG]
        tags.append({"Key": TEMPLATE_VERSION_TAG, "Value": str(version)})
        spec["Tags"] = tags


def alias_of(version: int, channel: str | None, explicit_version: bool) -> str:
    """The AMI parameter an export refers to: the channel, ``<N>`` or ``latest``."""
    if channel and channel != LATEST:
        return channel
    return str(version) if explicit_version else LATEST


def plan_export(
    aws: AwsClients,
    settings: Any,
    found: Any,
    *,
    name: str,
    explicit_version: bool,
    regions: list[str] | None,
    set_default: bool,
    bind: str | None,
    pin_image: bool,
) -> ExportPlan:
    """The export of template version ``found`` (a :class:`store.FoundTemplate`) to the
    launch template ``name`` in ``regions`` (default: every region with its image).

    Refused (``InputError``) before anything changes: a revoked version, a region without
    its image, a launch template of that name that prism did not make for this template.
    """
    from prism_core.templates import compat, images, userdata
    from prism_core.templates import launch as launching

    doc = found.document
    if found.revoked is not None:
        raise InputError(
            f"{found.name}@{found.version} is revoked ({found.revoked.get('reason')})",
            f"export another version, or `prism templates restore {found.name}@{found.version}`",
        )
    package = compat.is_package_based(doc)
    config = doc.get("ami_config") or {}
    listed = sorted(config.get("amis") or {})
    public = {a: str(p) for a, p in (config.get("ssm_parameters") or {}).items()}
    anywhere = package or bool(public)  # the image is found in every region
    saved = doc.get("source") == "saved-from-instance"  # it has AMI parameters
    chosen = sorted(set(regions or ([] if anywhere else listed) or [aws.region]))
    missing = [r for r in chosen if r not in listed and not anywhere]
    if missing:
        raise InputError(
            f"{found.name}@{found.version} has no image in {', '.join(missing)} "
            f"(it has {', '.join(listed) or 'none'})",
            "pass --regions with regions that have it",
        )
    alias = alias_of(found.version, bind or found.channel, explicit_version)
    plan = ExportPlan(found.name, found.version, alias, name, [], set_default, bind, pin_image)
    for region in chosen:
        ec2 = aws.ec2(region)
        existing = describe(ec2, name)
        if existing is not None and not proven(existing, found.name):
            raise InputError(
                f"launch template {name} in {region} was not made by prism for "
                f"{found.name} (its {TEMPLATE_TAG} tag says "
                f"{tags_of(existing).get(TEMPLATE_TAG) or 'nothing'})",
                "pass another name after --launch-template",
            )
        amis, release = images.template_images(doc, found.name, region, aws)
        instance_type, arch = launching.choose_type(doc, None, sorted(amis))
        ami = amis.get(arch)
        if ami is None:
            raise InputError(f"{found.name} has no {arch} image in {region}")
        names = release.parameter_names(arch) if release is not None and package else []
        if pin_image:
            image = ami
        elif saved and region in listed:
            image = image_parameters.resolve_reference(settings.registry_prefix, found.name, alias)
        elif region not in listed and public.get(arch, "").startswith("/aws/service/"):
            image = f"resolve:ssm:{public[arch]}"
        elif names:
            image = f"resolve:ssm:{names[0]}"
        else:
            image = ami
        script = (
            userdata.render(doc, found.name, release) if userdata.needs_user_data(doc) else None
        )
        root_device, root_gb = root_of(ec2, ami)
        wanted_gb = (doc.get("instance_defaults") or {}).get("root_volume_gb")
        tags = launching.launch_tags(
            doc, found.name, found.label, f"launch-template:{name}", key=found.name
        )
        tags.pop("Name", None)
        if alias == LATEST and not pin_image:
            tags.pop(TEMPLATE_VERSION_TAG, None)  # `latest` moves: the version would lie
        data = template_data(
            image=image,
            instance_type=instance_type,
            root_device=root_device,
            root_gb=max(int(wanted_gb or 0), int(root_gb or 0)) or None,
            kms_key=settings.kms_keys.get(region),
            tags=tags,
            user_data=userdata.encode(script, found.name) if script else None,
        )
        plan.regions.append(RegionExport(region, image, ami, data, existing))
    return plan
