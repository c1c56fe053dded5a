"""``prism templates copy NAME@N --to-regions R`` (and ``prism launch --copy``): copy one
version's images to more regions, share them as the version is shared, and register
the version there (and in its other regions, with the new images listed).

Each copy is requested with a ``ClientToken`` (a retry never makes two), carries the
source image's ``prism:`` tags (so deletes and prunes can prove it is prism's), and is
waited for with its snapshots' progress shown as a percentage and an estimate of the
time left (:mod:`prism_core.aws.snapshot_progress`).
"""

from __future__ import annotations

import copy
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from prism_core.aws.clients import error_message
from prism_core.aws.ec2 import describe_image, share_image, state_reason
from prism_core.aws.tags import tag_list, tags_of
from prism_core.aws.waiting import wait_for
from prism_core.exceptions import InputError
from prism_core.templates.resolution import image_regions

if TYPE_CHECKING:
    from prism_core.aws.clients import AwsClients
    from prism_core.reporting import ProgressReporter
    from prism_core.settings import Settings
    from prism_core.templates.store import FoundTemplate


@dataclass
class CopyPlan:
    """What a copy will do: from which region's images to which regions."""

    name: str
    version: int
    source_region: str
    source_images: dict[str, str]  # architecture -> AMI id
    to_regions: list[str]
    document: dict[str, Any]
    sharing: dict[str, Any] = field(default_factory=dict)

    def lines(self) -> list[str]:
        """The plan shown before the confirmation."""
        images = ", ".join(f"{a} {i}" for a, i in sorted(self.source_images.items()))
        shared = self.sharing or {}
        who = (["public"] if shared.get("public") else []) + list(shared.get("share_with") or [])
        return [
            f"Template:   {self.name} v{self.version}",
            f"From:       {self.source_region} ({images})",
            f"Copies to:  {', '.join(self.to_regions)} (snapshot storage is billed there too)",
            f"Sharing:    {', '.join(who) if who else 'private (only this account)'}",
            "Registry:   the version's entry in each of its regions, with the new images",
        ]


def plan_copy(found: FoundTemplate, to_regions: list[str], prefer: str) -> CopyPlan:
    """The copy of ``found`` to ``to_regions`` (regions it already has are refused)."""
    doc = found.document
    have = image_regions(doc)
    if not have:
        raise InputError(
            f"template {found.name} v{found.version} lists no AMIs to copy",
            "only templates saved from an instance (base: ami-based) can be copied",
        )
    already = [r for r in to_regions if r in have]
    if already:
        raise InputError(
            f"template {found.name} v{found.version} already has an image in "
            f"{', '.join(already)}",
            f"leave {'it' if len(already) == 1 else 'them'} out of --to-regions",
        )
    source = prefer if prefer in have else have[0]
    images = {str(a): str(i) for a, i in (doc["ami_config"]["amis"][source] or {}).items()}
    sharing = doc.get("sharing") if isinstance(doc.get("sharing"), dict) else {}
    return CopyPlan(found.name, found.version, source, images, list(to_regions), doc, sharing)


def _copy_one(aws: AwsClients, settings: Settings, plan: CopyPlan, region: str, arch: str,
              progress: ProgressReporter) -> str:
    from prism_core.aws.snapshot_progress import SnapshotMeter, progress_finished

    source_ec2 = aws.ec2(plan.source_region)
    source = describe_image(source_ec2, plan.source_images[arch])
    if source is None:
        raise InputError(
            f"image {plan.source_images[arch]} of {plan.name} v{plan.version} is gone from "
            f"{plan.source_region}", "copy from another region of the version, or save again"
        )
    tags = {k: v for k, v in tags_of(source).items() if not k.startswith("aws:")}
    ec2 = aws.ec2(region)
    image_id = str(ec2.copy_image(
        SourceImageId=plan.source_images[arch],
        SourceRegion=plan.source_region,
        Name=str(source["Name"]),
        Description=str(source.get("Description") or f"prism {plan.name} v{plan.version}"),
        ClientToken=f"prism-{plan.name}-{plan.version}-{region}-{arch}"[:64],
        TagSpecifications=[{"ResourceType": kind, "Tags": tag_list(tags)}
                           for kind in ("image", "snapshot")],
    )["ImageId"])
    progress.line("copy", f"Copy to {region} requested: {image_id}")
    meter = SnapshotMeter(ec2)

    def settled() -> dict[str, Any] | None:
        data = describe_image(ec2, image_id)
        if data is not None and data.get("State") in ("available", "failed"):
            return data
        reading = meter.read(data)
        if reading is not None:
            progress.reading(f"Copy to {region}: {reading.text()}",
                             {"phase": "copy", "region": region, "image_id": image_id,
                              **reading.to_dict()})
        return None

    data = wait_for(settled, what=f"the copy {image_id} in {region}",
                    timeout=settings.timeouts["copy"], poll=settings.poll_delay,
                    hint="raise prism.timeouts.copy in config; the copy goes on in EC2")
    if data.get("State") == "failed":
        raise RuntimeError(f"copy {image_id} failed: {state_reason(data)}")
    progress_finished(progress, image_id, f"Copy to {region}: available", phase="copy",
                      region=region)
    sharing = plan.sharing
    if sharing.get("public") or sharing.get("share_with"):
        share_image(ec2, image_id, public=bool(sharing.get("public")),
                    share_with=list(sharing.get("share_with") or []))
    progress.line("ok", f"AMI copied to region {region}: {image_id}")
    return image_id


def copy_images(aws: AwsClients, settings: Settings, plan: CopyPlan,
                progress: ProgressReporter) -> tuple[dict[str, dict[str, str]], list[str]]:
    """Copy every architecture to every region at once: (region -> arch -> AMI copied,
    failures). A failed region does not affect the others."""
    jobs = [(r, a) for r in plan.to_regions for a in sorted(plan.source_images)]
    done: dict[str, dict[str, str]] = {}
    failures: list[str] = []

    def run(job: tuple[str, str]) -> tuple[str, str, str | None, str | None]:
        region, arch = job
        try:
            return region, arch, _copy_one(aws, settings, plan, region, arch, progress), None
        except Exception as exc:  # noqa: BLE001  (reported per region)
            return region, arch, None, error_message(exc)

    with ThreadPoolExecutor(len(jobs), thread_name_prefix="prism-tcopy") as pool:
        for region, arch, image_id, error in pool.map(run, jobs):
            if image_id is not None:
                done.setdefault(region, {})[arch] = image_id
            else:
                failures.append(f"copy to {region} ({arch}) failed: {error}")
                progress.line("fail", f"Copy to {region} failed: {error}")
    return done, failures


def register_copies(aws: AwsClients, settings: Settings, plan: CopyPlan,
                    copies: dict[str, dict[str, str]]) -> tuple[dict[str, Any], list[str]]:
    """The version's document with the new images, written to the registry of every
    region it now has (its current entry follows the newest version there) and to the
    local file when that holds this version. Returns (document, failures)."""
    from prism_core.templates import document as documents
    from prism_core.templates import registry

    doc = copy.deepcopy(plan.document)
    doc.setdefault("ami_config", {}).setdefault("amis", {}).update(copies)
    failures: list[str] = []

    def write(region: str) -> None:
        try:
            list(registry.publish(aws.client("ssm", region), settings.registry_prefix, doc))
        except Exception as exc:  # noqa: BLE001
            failures.append(f"registry write in {region} failed: {error_message(exc)}")

    regions = image_regions(doc)
    with ThreadPoolExecutor(len(regions), thread_name_prefix="prism-tcopy-reg") as pool:
        list(pool.map(write, regions))
    if documents.local_version(settings.templates_dir, plan.name) == plan.version:
        documents.write(settings.templates_dir, doc)
    return doc, failures
