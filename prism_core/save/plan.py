"""The plan shown before anything changes: what is stopped, created, and what it costs.

Used by the confirmation of ``prism save``, by the wizard and by ``--dry-run``, so
all three say the same thing.

Storage cost: an AMI keeps one EBS snapshot per volume in every region it is in.
prism estimates the monthly cost as the total size of the instance's EBS volumes
(``DescribeVolumes``) times the snapshot price of each region it is kept in: a plugin's
``prism_snapshot_prices`` answer (cost-tags supplies its price table that way), else
:data:`SNAPSHOT_PRICE_PER_GB_MONTH` everywhere. That is an upper bound: snapshots are
incremental and store only used blocks. The plan shows this one estimate.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from prism_core.aws.clients import error_message
from prism_core.reporting import ProgressReporter
from prism_core.save.context import SaveContext
from prism_core.save.fast_restore import plan_lines as fast_restore_plan
from prism_core.validation import printable

#: EBS snapshot storage, standard tier, USD per GB-month (us-east-1 list price).
SNAPSHOT_PRICE_PER_GB_MONTH = 0.05
#: What a stop, the snapshot listing and a start usually take together.
TYPICAL_DOWNTIME = "typically 1-3 minutes"
#: What EC2's reboot during CreateImage usually takes (OS shutdown, snapshots, boot).
TYPICAL_REBOOT = "about a minute"


#: Bounds of a price a plugin supplies (USD per GB-month) and of its answer's size.
MAX_PRICE_PER_GB_MONTH = 100.0
MAX_PRICE_ENTRIES = 1000
PRISM_DEFAULT = "prism's default"


@dataclass
class StorageEstimate:
    """Upper bound of the monthly cost of keeping the image's snapshots: the volumes' size
    times the price in each region (a plugin's ``prism_snapshot_prices``, else prism's
    default)."""

    volume_gb: int
    volume_count: int
    region_prices: dict[str, float]
    prices_from: str = PRISM_DEFAULT
    error: str | None = None
    price_problem: str | None = None

    @property
    def regions(self) -> int:
        """How many regions keep a copy of the snapshots."""
        return len(self.region_prices)

    @property
    def price_per_gb_month(self) -> float | None:
        """The one price of every region, or ``None`` when they differ."""
        prices = set(self.region_prices.values())
        return prices.pop() if len(prices) == 1 else None

    @property
    def monthly_usd(self) -> float:
        """Volume size x the price of each region, summed, rounded to cents."""
        return round(sum(self.volume_gb * price for price in self.region_prices.values()), 2)

    def to_dict(self) -> dict[str, Any]:
        """For ``--dry-run -o json``."""
        return {
            "volume_gb": self.volume_gb,
            "volumes": self.volume_count,
            "regions": self.regions,
            "price_per_gb_month_usd": self.price_per_gb_month,
            "price_per_gb_month_usd_by_region": dict(self.region_prices),
            "prices_from": self.prices_from,
            "price_problem": self.price_problem,
            "monthly_usd_upper_bound": None if self.error else self.monthly_usd,
            "error": self.error,
        }

    def line(self) -> str:
        """``Storage:`` line of the plan (the only storage estimate it shows)."""
        if self.error:
            return f"Storage:    cost unknown (cannot read the volumes: {self.error})"
        single = self.price_per_gb_month
        if single is not None:
            price = f"${single:.2f}" if round(single, 2) == single else f"${single:g}"
            rate = f"{self.volume_gb} GB x {price} per GB-month x {self.regions} region(s)"
        else:
            each = ", ".join(f"{r} ${p:g}" for r, p in self.region_prices.items())
            rate = f"{self.volume_gb} GB in {self.regions} region(s) at {each} per GB-month"
        source = "" if self.prices_from == PRISM_DEFAULT else f", prices from {self.prices_from}"
        line = (
            f"Storage:    up to ${self.monthly_usd:.2f}/month to keep ({rate}{source}; an "
            "upper bound, snapshots are incremental)"
        )
        if self.price_problem:
            line += f"\n            ({self.price_problem}; prism's default price used)"
        return line


def price_problem(answer: Any) -> str | None:
    """Why a plugin's ``prism_snapshot_prices`` answer cannot be used (``None``: it can)."""
    if not isinstance(answer, Mapping):
        return f"returned {type(answer).__name__}, not a mapping of region to price"
    if len(answer) > MAX_PRICE_ENTRIES:
        return f"returned {len(answer)} prices (at most {MAX_PRICE_ENTRIES})"
    for region, price in answer.items():
        if not isinstance(region, str) or not 0 < len(region) <= 64:
            return f"returned a price for {str(region)[:64]!r}, not a region name"
        number = isinstance(price, int | float) and not isinstance(price, bool)
        if not number or not math.isfinite(price) or not 0 <= price <= MAX_PRICE_PER_GB_MONTH:
            return (
                f"returned {str(price)[:40]!r} for {region}, not a price from 0 to "
                f"{MAX_PRICE_PER_GB_MONTH:g} USD per GB-month"
            )
    return None


def region_prices(
    regions: list[str], answer: tuple[str | None, Any, str | None]
) -> tuple[dict[str, float], str, str | None]:
    """``(prices of regions, who set them, problem)`` from the plugin manager's
    ``snapshot_prices`` answer ``(plugin, prices, error)``."""
    plugin, prices, error = answer
    default = {r: SNAPSHOT_PRICE_PER_GB_MONTH for r in regions}
    if plugin is None:
        return default, PRISM_DEFAULT, None
    problem = error or price_problem(prices)
    if problem:
        return default, PRISM_DEFAULT, printable(f"plugin {plugin} {problem}")[:300]
    fallback = float(prices.get("default", SNAPSHOT_PRICE_PER_GB_MONTH))
    chosen = {r: float(prices.get(r, fallback)) for r in regions}
    return chosen, f"plugin {plugin}", None


def estimate_storage(
    ctx: SaveContext, prices: tuple[str | None, Any, str | None] = (None, None, None)
) -> StorageEstimate:
    """Size the instance's EBS volumes (``DescribeVolumes``) and price them with
    ``prices``, the ``(plugin, answer, error)`` of ``prism_snapshot_prices``; never raises."""
    regions = list(dict.fromkeys([ctx.source_region, *ctx.request.copy_to_regions]))
    chosen, source, problem = region_prices(regions, prices)
    try:
        volumes = ctx.volumes()
    except Exception as exc:
        count = len(set(ctx.instance.volumes.values()))
        return StorageEstimate(0, count, chosen, source, error_message(exc), problem)
    sizes = [int(v.get("Size", 0)) for v in volumes or []]
    return StorageEstimate(sum(sizes), len(sizes), chosen, source, None, problem)


def will_stop(ctx: SaveContext) -> bool:
    """Whether prism stops the instance (``--stop`` and the instance running now)."""
    return ctx.will_stop


def will_reboot(ctx: SaveContext) -> bool:
    """Whether EC2 reboots the instance during CreateImage (default mode, running now)."""
    return ctx.will_reboot


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
    for target in request.copy_to_accounts:
        account, _, role = target.partition(":")
        lines.append(
            f"Account:    {account}: a copy in every region above (assuming role {role}; "
            "it may launch and copy the images)"
        )
    lines.extend(fast_restore_plan(ctx))
    if request.project_id:
        lines.append(f"Project:    {request.project_id}")
    if request.deprecate_after_days:
        lines.append(
            f"Deprecates: the AMI and every copy, {request.deprecate_after_days} day(s) "
            "after the save (EC2 deprecation time)"
        )
    if request.validate:
        lines.append("Validation: boot a throwaway instance from the new AMI before registering it")
    if request.inherited_from is not None:
        was = f"v{request.inherited_from}"
        lines.append(f"Inherits:   from {was}: " + ("; ".join(request.inherited) or "nothing"))
        lines.append("Changes:    " + ("; ".join(request.changed) or f"nothing else from {was}"))
    lines.extend(_inspection_lines(ctx))
    from prism_core.save import scrub

    lines.extend(scrub.plan_lines(ctx))
    lines.extend(f"Note:       {note}" for note in ctx.state.notes)
    return lines


def _inspection_lines(ctx: SaveContext) -> list[str]:
    """What the look inside the instance found (``prism_plugins.ssm_inspect``)."""
    from prism_core.inspection.findings import Report

    report = Report.from_dict(ctx.state.inspection)
    if report is None:
        return []
    lines = report.plan_lines()
    return [lines[0]] + [f"           {line}" for line in lines[1:]]


def secrets_warning(ctx: SaveContext) -> str | None:
    """The warning of a private save whose image keeps the secrets found."""
    secrets = (ctx.state.inspection or {}).get("secrets") or []
    if not secrets:
        return None
    if getattr(ctx.request, "secrets_policy", "") == "scrub":
        return (
            f"{len(secrets)} secret(s) listed above stay in the team's image (private); "
            "the shared image is a scrubbed derivative without them (--scrub)"
        )
    if ctx.request.shares_anything:
        return (
            f"WARNING: {len(secrets)} secret(s) listed above go into an image shared "
            "beyond this account (--allow-secrets)"
        )
    return (
        f"WARNING: {len(secrets)} secret(s) listed above stay in the image (private: only "
        "this account can launch it; a later share is refused until they are removed)"
    )


def show_plan(
    ctx: SaveContext, progress: ProgressReporter, estimate: StorageEstimate | None
) -> None:
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
    warning = secrets_warning(ctx)
    if warning:
        progress.blank()
        progress.line("warn", warning)
    progress.blank()
