"""A plugin written against ``prism_core.plugin_api`` (and the provisional toolkit),
fully annotated: ``test_plugin_api_types.py`` runs ``mypy --strict`` on it and on the
API, and registers it against prism's hook specifications; ``tests/test_plugin_api.py``
runs a save with it on the sandbox.

It refuses saves without a project, tags the source image, adds ``--ticket`` to
``prism save`` and a ``prism sample-tags`` command, and declares its IAM permissions:
a third party's plugin, using every kind of name the API offers.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from pathlib import Path
from typing import Any

from prism_core.plugin_api import (
    EXIT_FAILURE,
    EXIT_OK,
    AwsClients,
    Command,
    Handler,
    IamStatement,
    InputError,
    OperationFailed,
    Option,
    PluginSettings,
    RegionImage,
    SaveContext,
    SaveRequest,
    WaitCancelled,
    aws_clients,
    emit,
    error_code,
    error_message,
    hookimpl,
    load_json_bounded,
    load_yaml_bounded,
    printable,
    tag_list,
    tags_of,
    user_agent,
)

SECTION = "sample"


@hookimpl
def prism_settings() -> PluginSettings:
    return PluginSettings(
        SECTION,
        defaults={"team_tag": "Team", "extra_tags": None},
        schema={
            "type": "object",
            "properties": {
                "team_tag": {"type": "string"},
                "extra_tags": {"type": ["string", "null"]},
            },
        },
        help="the sample plugin's settings",
    )


@hookimpl
def prism_add_options(command: str) -> list[Option] | None:
    if command != "save":
        return None
    return [Option(("--ticket",), "change ticket for the audit log", metavar="ID")]


def _request_summary(request: SaveRequest) -> str:
    regions = ", ".join(request.copy_to_regions) or "none"
    return f"{request.instance_name} -> {request.template_name} (copies: {regions})"


def _extra_tags(ctx: SaveContext) -> dict[str, str]:
    """Tags from a YAML file named in the plugin's settings (untrusted input: bounded)."""
    path = ctx.plugin_settings(SECTION).get("extra_tags")
    if not path:
        return {}
    loaded = load_yaml_bounded(Path(str(path)), what="sample extra tags", max_bytes=64 * 1024)
    if not isinstance(loaded, dict):
        raise InputError(f"{printable(path, 80)}: not a mapping", "write KEY: VALUE lines")
    return {str(k): str(v) for k, v in loaded.items()}


@hookimpl
def prism_pre_stop(ctx: SaveContext) -> list[str]:
    if not ctx.request.project_id:
        raise InputError("a project is required", "add --project ID")
    notes = [_request_summary(ctx.request)]
    ticket = ctx.options.get("ticket")
    if isinstance(ticket, str):
        notes.append(f"change ticket {printable(ticket, 40)}")
    if ctx.will_stop:
        notes.append("the instance is stopped while it is imaged")
    return notes


@hookimpl
def prism_post_image(ctx: SaveContext) -> None:
    """Tag the source image with the team; a refusal is recorded, never raised."""
    image: RegionImage | None = ctx.images().get(ctx.source_region)
    if image is None or image.image_id is None:
        raise OperationFailed("no source image")
    image_id: str = image.image_id
    ec2 = ctx.aws.ec2(image.region)
    team_tag = str(ctx.plugin_settings(SECTION).get("team_tag", "Team"))
    tags = {team_tag: ctx.request.project_id or "none", **_extra_tags(ctx)}
    try:
        ec2.create_tags(Resources=[image_id], Tags=tag_list(tags))
    except WaitCancelled:
        raise
    except Exception as exc:
        if error_code(exc) == "UnauthorizedOperation":
            ctx.record_failure(f"cannot tag {image_id}: {error_message(exc)}")
            return
        raise

    def tagged() -> dict[str, str] | None:
        # the provisional toolkit: imported where it is used (it loads prism's engine)
        from prism_core.toolkit import describe_image

        current = tags_of(describe_image(ec2, image_id))
        return current if team_tag in current else None

    seen = ctx.wait(tagged, what=f"the tags of {image_id}", limit="image")
    ctx.summary_note(f"{image_id} tagged {team_tag}={seen[team_tag]}")
    ctx.progress.line("ok", f"Tagged {image_id}")


@hookimpl(wrapper=True)
def prism_template_render(
    ctx: SaveContext,
) -> Generator[None, dict[str, Any] | None, dict[str, Any] | None]:
    document = yield
    ticket = ctx.options.get("ticket")
    if document is not None and isinstance(ticket, str):
        document.setdefault("tags", {})["Ticket"] = ticket
    return document


@hookimpl
def prism_snapshot_prices(ctx: SaveContext) -> dict[str, float] | None:
    prices = ctx.plugin_settings(SECTION).get("prices")
    if not isinstance(prices, str):
        return None
    loaded = load_json_bounded(prices, what="sample prices")
    return {str(k): float(v) for k, v in dict(loaded).items()}


def _clients(app: Any) -> AwsClients:
    return aws_clients(app, getattr(app.pargs, "region", None))


def show_tags(app: Any, args: Any) -> int:
    """``prism sample-tags IMAGE``: an image's tags."""
    aws = _clients(app)
    try:
        images = aws.ec2().describe_images(ImageIds=[str(args.image)])["Images"]
    except Exception as exc:
        emit({"error": error_message(exc)}, args.output, error_message(exc))
        return EXIT_FAILURE
    tags = tags_of(images[0]) if images else {}
    text = "\n".join(f"{k}={printable(v, 200)}" for k, v in sorted(tags.items()))
    emit({"image": args.image, "tags": tags, "agent": user_agent("sample")}, args.output, text)
    return EXIT_OK


HANDLER: Handler = show_tags


@hookimpl
def prism_add_commands() -> list[Command]:
    return [
        Command(
            "sample-tags",
            "show an image's tags",
            HANDLER,
            (Option(("image",), "the image id"), Option(("--region",), "its region")),
            aws=True,
        )
    ]


@hookimpl
def prism_iam_statements(config: Mapping[str, Mapping[str, Any]]) -> list[IamStatement]:
    team_tag = str((config.get(SECTION) or {}).get("team_tag", "Team"))
    return [
        IamStatement(
            "SampleTagImages",
            ("ec2:CreateTags",),
            ("arn:{partition}:ec2:*::image/*",),
            ("save",),
            condition={"ForAllValues:StringEquals": {"aws:TagKeys": [team_tag]}},
        ),
        IamStatement("SampleReadImages", ("ec2:DescribeImages",), ("*",), ("sample-tags",)),
    ]
