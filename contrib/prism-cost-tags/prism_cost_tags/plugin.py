"""The prism hooks of prism-cost-tags.

prism imports this module on every run, so ``prism project costs`` (its threads and
clients, :mod:`prism_cost_tags.project_costs`) is imported only when it runs.
"""

from __future__ import annotations

from typing import Any

from prism_core.plugin_api import (
    Command,
    IamStatement,
    InputError,
    Option,
    PluginSettings,
    error_message,
    hookimpl,
    tag_list,
)
from prism_cost_tags.pricing import PriceTable, image_snapshots, snapshot_sizes

SECTION = "cost-tags"
CENTRE_TAG = "prism:cost-centre"
#: A cost centre goes into an EC2 tag value: printable, at most 256 characters.
CENTRE_PATTERN = "^[A-Za-z0-9][A-Za-z0-9 _.:/=+@-]{0,127}$"
PROJECT_PATTERN = "^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
#: USD per GB-month; far above any real price, so a typo (or .inf) is refused.
MAX_PRICE = 100


@hookimpl
def prism_settings() -> PluginSettings:
    """``cost-tags: {projects: {P: {cost_centre: CC}}, prices: {REGION: USD},
    require_cost_centre: false}``, every name and price checked when the config loads."""
    return PluginSettings(
        SECTION,
        defaults={"projects": {}, "prices": {}, "require_cost_centre": False},
        schema={
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "projects": {
                    "type": "object",
                    "propertyNames": {"pattern": PROJECT_PATTERN},
                    "additionalProperties": {
                        "type": "object",
                        "required": ["cost_centre"],
                        "additionalProperties": False,
                        "properties": {
                            "cost_centre": {"type": "string", "pattern": CENTRE_PATTERN}
                        },
                    },
                },
                "prices": {
                    "type": "object",
                    "propertyNames": {"pattern": "^(default|[a-z]{2}(-[a-z]+)+-\\d{1,2})$"},
                    "additionalProperties": {
                        "type": "number",
                        "minimum": 0,
                        "maximum": MAX_PRICE,
                    },
                },
                "require_cost_centre": {"type": "boolean"},
            },
        },
        help="project to cost-centre mapping and snapshot prices (USD per GB-month)",
    )


def _settings(ctx: Any) -> dict[str, Any]:
    return ctx.plugin_settings(SECTION)


def cost_centre(settings: dict[str, Any], project: str) -> str | None:
    """The cost centre of ``project``: ``None`` if it has none, a one-line refusal instead
    when ``require_cost_centre`` is set."""
    projects = settings.get("projects") or {}
    if project in projects:
        return str(projects[project]["cost_centre"])
    if settings.get("require_cost_centre"):
        known = ", ".join(sorted(projects)) or "none"
        raise InputError(
            f"project {project!r} has no cost centre (known projects: {known})",
            f"add `cost-tags: {{projects: {{{project}: {{cost_centre: ...}}}}}}` to prism.yml",
        )
    return None


def _tags(project: str, centre: str | None) -> list[dict[str, str]]:
    from prism_core.toolkit import PROJECT_TAG

    return tag_list({PROJECT_TAG: project, **({CENTRE_TAG: centre} if centre else {})})


@hookimpl
def prism_pre_stop(ctx: Any) -> list[str]:
    """Check the project's cost centre and say in the plan who is billed (the storage
    estimate is prism's, priced by :func:`prism_snapshot_prices`)."""
    # the provisional toolkit loads prism's engine: imported where it is used
    from prism_core.toolkit import MAX_TAGS, PRISM_TAG_COUNT, PROJECT_TAG

    settings = _settings(ctx)
    notes = []
    project = ctx.request.project_id
    if project:
        centre = cost_centre(settings, project)
        # prism's own tags (PRISM_TAG_COUNT) include prism:project; the centre is ours
        ours = ({CENTRE_TAG} if centre else set()) - set(ctx.request.tags)
        total = len(ctx.request.tags) + PRISM_TAG_COUNT + len(ours)
        if total > MAX_TAGS:
            raise InputError(
                f"the image would carry {total} tags with cost-tags' {len(ours)} "
                f"(EC2 allows {MAX_TAGS})",
                "drop some --tag options",
            )
        notes.append(
            f"project {project} is billed to cost centre {centre}"
            if centre
            else f"project {project} has no cost centre (tagged {PROJECT_TAG} only)"
        )
    return notes


@hookimpl
def prism_snapshot_prices(ctx: Any) -> dict[str, float]:
    """The price of each of the save's regions (shipped table, ``cost-tags.prices``
    overrides), for prism's one storage estimate in the plan."""
    table = PriceTable(_settings(ctx).get("prices"))
    regions = [ctx.source_region, *ctx.request.copy_to_regions]
    return {region: table.per_gb_month(region) for region in regions}


def _tag_region(ctx: Any, region: str, image_id: str, tags: list[dict[str, str]]) -> None:
    ec2 = ctx.aws.ec2(region)
    image = ec2.describe_images(ImageIds=[image_id])["Images"][0]
    ec2.create_tags(Resources=[image_id, *image_snapshots(image)], Tags=tags)


@hookimpl
def prism_register(ctx: Any) -> None:
    """Tag every image (source and copies) and its snapshots with project and cost centre."""
    project = ctx.request.project_id
    if not project:
        return None
    tags = _tags(project, cost_centre(_settings(ctx), project))
    for region, image in ctx.images().items():
        try:
            _tag_region(ctx, region, image.image_id, tags)
        except Exception as exc:
            ctx.record_failure(f"cost-centre tags in {region} failed: {error_message(exc)}")
    return None


def storage_by_region(ctx: Any) -> dict[str, int]:
    """GB of snapshot storage of the template, per region (DescribeSnapshots VolumeSize)."""
    gb: dict[str, int] = {}
    for region, image in ctx.images().items():
        ec2 = ctx.aws.ec2(region)
        ids = image.snapshot_ids or list(
            image_snapshots(ec2.describe_images(ImageIds=[image.image_id])["Images"][0])
        )
        gb[region] = sum(snapshot_sizes(ec2, ids).values())
    return gb


@hookimpl(wrapper=True)
def prism_template_render(ctx: Any) -> Any:
    """Add ``cost: {storage_usd_per_month, storage_gb}`` to the template; note it in the summary."""
    document = yield
    if document is None:
        return document
    try:
        gb = storage_by_region(ctx)
        settings = _settings(ctx)
        monthly = PriceTable(settings.get("prices")).monthly(gb)
    except Exception as exc:
        ctx.record_failure(f"storage cost estimate failed: {error_message(exc)}")
        return document
    cost: dict[str, Any] = {"storage_usd_per_month": monthly, "storage_gb": sum(gb.values())}
    centre = cost_centre(settings, ctx.request.project_id) if ctx.request.project_id else None
    if centre:
        cost["cost_centre"] = centre
    document["cost"] = cost
    ctx.summary_note(
        f"Snapshot storage: about ${monthly:.2f}/month ({sum(gb.values())} GB "
        f"in {len(gb)} region(s))"
    )
    return document


def _project_costs(app: Any, args: Any) -> int:
    """``prism project costs P`` (:func:`prism_cost_tags.project_costs.run`)."""
    from prism_cost_tags import project_costs

    return project_costs.run(app, args)


@hookimpl
def prism_add_commands() -> list[Command]:
    """``prism project costs P``."""
    return [
        Command(
            "project",
            "project commands (cost-tags plugin)",
            subcommands=(
                Command(
                    "costs",
                    "monthly storage cost of a project's AMIs and snapshots, by region",
                    _project_costs,
                    (
                        Option(("project",), "project id (the prism:project tag)"),
                        Option(
                            ("--regions",),
                            "regions to look in (default: every enabled region)",
                            metavar="R1,R2",
                        ),
                    ),
                    aws=True,
                ),
            ),
        )
    ]


@hookimpl
def prism_iam_statements(config: Any) -> list[IamStatement]:
    """Tag the images and snapshots prism saved (their ``prism:save-id``) with the project
    and cost centre only; read-only calls for ``prism project costs``."""
    from prism_core.toolkit import PROJECT_TAG

    return [
        IamStatement(
            "CostTagsTagSavedImages",
            ("ec2:CreateTags",),
            ("arn:{partition}:ec2:*::image/*", "arn:{partition}:ec2:*::snapshot/*"),
            ("save",),
            condition={
                "Null": {"aws:ResourceTag/prism:save-id": "false", "aws:TagKeys": "false"},
                "ForAllValues:StringEquals": {"aws:TagKeys": [PROJECT_TAG, CENTRE_TAG]},
            },
        ),
        IamStatement(
            "CostTagsProjectCosts",
            ("ec2:DescribeImages", "ec2:DescribeSnapshots", "ec2:DescribeRegions"),
            ("*",),
            ("project",),
        ),
    ]
