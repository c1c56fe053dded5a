"""The plan shown before anything changes: what is stopped, created, and what it costs.

Used by the confirmation of ``prism save``, by the wizard and by ``--dry-run``, so
all three say the same thing.

Storage cost: an AMI keeps one EBS snapshot per volume in every region it is in.
prism estimates the monthly cost as the total size of the instance's EBS volumes
(``DescribeVolumes``) times :data:`SNAPSHOT_PRICE_PER_GB_MONTH` times the number of
regions. That is an upper bound: snapshots are incremental and store only used blocks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prism_core.aws.clients import error_message
from prism_core.cli.progress import Progress
from prism_core.save.context import SaveContext

#: EBS snapshot storage, standard tier, USD per GB-month (us-east-1 list price).
SNAPSHOT_PRICE_PER_GB_MONTH = 0.05
#: What a stop, the snapshot listing and a start usually take together.
TYPICAL_DOWNTIME = "typically 1-3 minutes"
#: What EC2's reboot during CreateImage usually takes (OS shutdown, snapshots, boot).
TYPICAL_REBOOT = "about a minute"


@dataclass
class StorageEstimate:
    """Upper bound of the monthly cost of keeping the image's snapshots."""

    volume_gb: int
    volume_count: int
    regions: int
    price_per_gb_month: float = SNAPSHOT_PRICE_PER_GB_MONTH
    error: str | None = None

    @property
    def monthly_usd(self) -> float:
        """Volume size x price x regions, rounded to cents."""
        return round(self.volume_gb * self.price_per_gb_month * self.regions, 2)

    def to_dict(self) -> dict[str, Any]:
        """For ``--dry-run -o json``."""
        return {
            "volume_gb": self.volume_gb,
            "volumes": self.volume_count,
            "regions": self.regions,
            "price_per_gb_month_usd": self.price_per_gb_month,
            "monthly_usd_upper_bound": None if self.error else self.monthly_usd,
            "error": self.error,
        }

    def line(self) -> str:
        """``Storage:`` line of the plan."""
        if self.error:
            return f"Storage:    cost unknown (cannot read the volumes: {self.error})"
        return (
            f"Storage:    up to ${self.monthly_usd:.2f}/month to keep "
            f"({self.volume_gb} GB x ${self.price_per_gb_month:.2f} per GB-month x "
            f"{self.regions} region(s); an upper bound, snapshots are incremental)"
        )


def estimate_storage(ctx: SaveContext) -> StorageEstimate:
    """Size the instance's EBS volumes (``DescribeVolumes``); never raises."""
    regions = 1 + len(ctx.request.copy_to_regions)
    try:
        volumes = ctx.volumes()
    except Exception as exc:
        count = len(set(ctx.instance.volumes.values()))
        return StorageEstimate(0, count, regions, error=error_message(exc))
    if not volumes:
        return StorageEstimate(0, 0, regions)
    sizes = [int(v.get("Size", 0)) for v in volumes]
    return StorageEstimate(sum(sizes), len(sizes), regions)


def will_stop(ctx: SaveContext) -> bool:
    """Whether prism stops the instance (``--stop`` and the instance running)."""
    return ctx.request.image_mode == "stop" and ctx.instance.state == "running"


def will_reboot(ctx: SaveContext) -> bool:
    """Whether EC2 reboots the instance during CreateImage (default mode, running)."""
    return ctx.request.image_mode == "reboot" and ctx.instance.state == "running"


def downtime_line(ctx: SaveContext) -> str:
    """The plan's ``Downtime:`` line, honest about the image mode."""
    state = ctx.instance.state
    if state == "stopping":
        return (
            "Downtime:   none (the instance is stopping: prism waits until it is stopped, "
            "images it and leaves it stopped)"
        )
    if state == "stopped":
        return "Downtime:   none (the instance is stopped and stays stopped)"
    mode = ctx.request.image_mode
    if mode == "no-reboot":
        return (
            "Downtime:   none (--no-reboot: the image is taken from the running "
            "instance; files being written may be inconsistent)"
        )
    if mode == "stop":
        return (
            f"Downtime:   {TYPICAL_DOWNTIME} (--stop): prism stops the instance and starts "
            "it again as soon as the image's snapshots are taken; a watchdog process starts "
            "it if prism dies meanwhile"
        )
    return (
        f"Downtime:   the instance reboots once, {TYPICAL_REBOOT}: EC2 shuts it down cleanly, "
        "takes the snapshots and boots it again itself (public IP and instance-store data "
        "are kept)"
    )


def plan_lines(ctx: SaveContext, stops: bool, estimate: StorageEstimate | None = None) -> list[str]:
    """The plan shown before the confirmation and by ``--dry-run``."""
    request, state = ctx.request, ctx.state
    newer = (state.template_version or 1) > 1
    lines = [
        f"Instance:   {request.instance_name} ({request.instance_id}, {ctx.instance.state}, "
        f"{ctx.instance.instance_type}) in {request.region}",
        f"Template:   {request.template_name} (version {state.template_version}"
        + (", a new version of an existing template)" if newer else ")"),
        f"AMI name:   {state.image_name}",
        "Regions:    " + ", ".join([request.region, *request.copy_to_regions]),
    ]
    del stops  # the mode and the instance's state say it all
    lines.append(downtime_line(ctx))
    created = f"Creates:    an AMI and its snapshots in {request.region}"
    if request.copy_to_regions:
        created += ", a copy in " + ", ".join(request.copy_to_regions)
    lines.append(created)
    lines.append(
        f"            registry entries under {ctx.settings.registry_prefix}templates/"
        f"{request.template_name} in each region, and the template file "
        f"{ctx.settings.templates_dir / (request.template_name + '.yaml')}"
    )
    if estimate is not None:
        lines.append(estimate.line())
    if request.public:
        lines.append("Sharing:    PUBLIC - any AWS account can launch it, in every region above")
    if request.share_with:
        lines.append("Sharing:    " + ", ".join(request.share_with))
    if not request.shares_anything:
        lines.append("Sharing:    private (only this account)")
    if request.project_id:
        lines.append(f"Project:    {request.project_id}")
    if request.deprecate_after_days:
        lines.append(
            f"Deprecates: the AMI and every copy, {request.deprecate_after_days} day(s) "
            "after the save (EC2 deprecation time)"
        )
    if request.validate:
        lines.append("Validation: boot a throwaway instance from the new AMI before registering it")
    lines.extend(f"Note:       {note}" for note in ctx.state.notes)
    return lines


def show_plan(ctx: SaveContext, progress: Progress, estimate: StorageEstimate | None) -> None:
    """Header, plan and (if the instance will be stopped) the warning, on ``progress``."""
    request = ctx.request
    progress.line(
        "save", f"Saving instance '{request.instance_name}' as template '{request.template_name}'"
    )
    progress.line("info", f"Instance ID: {request.instance_id}")
    if request.description:
        progress.line("info", f"Description: {request.description.splitlines()[0]}")
    for line in plan_lines(ctx, will_stop(ctx), estimate):
        progress.line("", line, indent=3)
    if will_stop(ctx):
        progress.blank()
        progress.line(
            "warn", "WARNING: Instance will be temporarily stopped to create a consistent AMI"
        )
        progress.line(
            "", "This ensures the AMI captures a clean state of the filesystem.", indent=3
        )
        progress.line(
            "", "The instance is restarted as soon as the image's snapshots are taken.", indent=3
        )
        progress.line(
            "",
            "A stop changes the public IP (unless an Elastic IP is attached) and erases "
            "instance-store volumes.",
            indent=3,
        )
    elif will_reboot(ctx):
        progress.blank()
        progress.line(
            "warn",
            "WARNING: The instance will reboot once: EC2 shuts it down cleanly and boots it "
            "again itself after the snapshots",
        )
    progress.blank()
