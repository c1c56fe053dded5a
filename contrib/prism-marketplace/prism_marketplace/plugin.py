"""The prism hooks of prism-marketplace: ``--publish``, ``prism marketplace ...``, settings.

prism imports this module on every run (``prism --help`` included), so it stays small:
the commands' code (:mod:`prism_marketplace.commands`, the catalog, YAML, S3) is imported
when a command runs or a save publishes, never at start-up.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from prism_core.plugin_api import (
    Command,
    IamStatement,
    InputError,
    Option,
    PluginSettings,
    error_message,
    hookimpl,
)

SECTION = "marketplace"


def _commands() -> Any:
    """:mod:`prism_marketplace.commands`, imported on first use."""
    return importlib.import_module("prism_marketplace.commands")


def _handler(name: str) -> Callable[[Any, Any], int | None]:
    """The handler ``commands.<name>``; its module is imported when the command runs."""

    def run(app: Any, args: Any) -> int | None:
        result: int | None = getattr(_commands(), name)(app, args)
        return result

    run.__name__ = run.__qualname__ = name
    run.__doc__ = f"``prism marketplace {name}`` (:func:`prism_marketplace.commands.{name}`)."
    return run


@hookimpl
def prism_settings() -> PluginSettings:
    """The ``marketplace:`` section of prism.yml."""
    return PluginSettings(
        SECTION,
        defaults={"region": "us-east-1", "prefix": ""},
        schema={
            "type": "object",
            "properties": {
                "bucket": {"type": "string", "pattern": "^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"},
                "region": {"type": "string"},
                "prefix": {"type": "string"},
            },
        },
        help="the S3 bucket holding the template catalog",
    )


@hookimpl
def prism_add_options(command: str) -> list[Option] | None:
    """``prism save --publish``."""
    if command != "save":
        return None
    return [
        Option(
            ("--publish",),
            "publish the template to the marketplace once it is saved",
            action="store_true",
        )
    ]


@hookimpl
def prism_add_commands() -> list[Command]:
    """``prism marketplace publish|search|show|install|login``."""
    name = Option(("name",), "template name in the marketplace")
    return [
        Command(
            "marketplace",
            "publish templates to a shared catalog, browse and install them",
            subcommands=(
                Command(
                    "publish",
                    "publish a saved template ($PRISM_HOME/templates/NAME.yaml)",
                    _handler("publish"),
                    (
                        Option(("template",), "name of a saved template"),
                        Option(
                            ("--allow-secrets",),
                            "publish although its inspection found secrets in the image "
                            "(or it was not inspected)",
                            action="store_true",
                        ),
                    ),
                    aws=True,
                ),
                Command(
                    "search",
                    "find templates by name, description, project or tag",
                    _handler("search"),
                    (Option(("text",), "text to look for (empty: everything)", nargs="?"),),
                    aws=True,
                ),
                Command(
                    "show",
                    "show one template's catalog entry",
                    _handler("show"),
                    (name,),
                    aws=True,
                ),
                Command(
                    "install",
                    "check a template (checksum, schema, who owns its AMIs) and install it "
                    "into $PRISM_HOME/templates",
                    _handler("install"),
                    (
                        name,
                        Option(
                            ("--trust-owner",),
                            "trust AMIs owned by this account id for this install (repeatable)",
                            action="append",
                            metavar="ID",
                        ),
                        Option(
                            ("--replace",),
                            "replace a local or built-in template of the same name "
                            "(a local file is archived first)",
                            action="store_true",
                        ),
                    ),
                    aws=True,
                ),
                Command(
                    "login",
                    "store an access key for the marketplace bucket in a secure keyring "
                    "(the secret is asked for, or read from stdin)",
                    _handler("login"),
                    (
                        Option(("--access-key-id",), "AWS access key id", metavar="ID"),
                        Option(
                            ("--session-token",),
                            "also store a session token (temporary keys): asked for, or the "
                            "second line of stdin; never given on the command line",
                            action="store_true",
                        ),
                    ),
                ),
            ),
        )
    ]


@hookimpl(trylast=True)
def prism_pre_stop(ctx: Any) -> str | None:
    """With ``--publish``: the marketplace must be configured and reachable before the stop,
    and the inspection (run before this hook) must have found no secrets unless
    ``--allow-secrets`` (the same rule as ``--public``)."""
    if not ctx.options.get("publish"):
        return None
    commands = _commands()
    commands.check_secrets(
        ctx.state.inspection, getattr(ctx.request, "secrets_policy", ""), ctx.request.template_name
    )
    config = commands.config_from(ctx.plugin_settings(SECTION))
    commands.catalog(config).check_reachable()
    return f"publish to marketplace s3://{config.bucket}/{config.prefix} as the last step"


@hookimpl(wrapper=True, tryfirst=True)
def prism_template_render(ctx: Any) -> Any:
    """Outermost wrapper: publish the final rendered template; a failure is a failed step."""
    document = yield
    if document is None or not ctx.options.get("publish"):
        return document
    commands = _commands()
    try:
        config = commands.config_from(ctx.plugin_settings(SECTION))
        entry = commands.publish_document(config, document, ctx.aws.account_id())
    except Exception as exc:
        message = error_message(exc) if not isinstance(exc, InputError) else str(exc)
        ctx.record_failure(
            f"marketplace publish failed: {message} "
            f"(retry with `prism marketplace publish {document.get('name')}`)"
        )
        return document
    text = f"Published to marketplace s3://{config.bucket} as {entry['name']} v{entry['version']}"
    ctx.progress.line("ok", text)
    ctx.summary_note(text)
    return document


@hookimpl
def prism_iam_statements(config: Any) -> list[IamStatement] | None:
    """S3 on the configured bucket and prefix only; the AMI owner checks of ``show`` and
    ``install``. Nothing until a bucket is configured."""
    section = dict(config.get(SECTION) or {})
    if not section.get("bucket"):
        return None
    from prism_marketplace.catalog import MarketplaceConfig

    market = MarketplaceConfig.from_section(section)
    bucket = f"arn:{{partition}}:s3:::{market.bucket}"
    return [
        IamStatement(
            "MarketplaceBucket",
            ("s3:ListBucket",),  # HeadBucket: is the catalog reachable
            (bucket,),
            ("marketplace", "save"),
        ),
        IamStatement(
            "MarketplaceCatalogRead",
            ("s3:GetObject",),
            (f"{bucket}/{market.prefix}*",),
            ("marketplace", "save"),
        ),
        IamStatement(
            "MarketplacePublish",
            ("s3:PutObject",),
            (f"{bucket}/{market.prefix}*",),
            ("marketplace", "save"),  # `prism marketplace publish`, `prism save --publish`
        ),
        IamStatement(
            "MarketplaceImageOwners",
            ("ec2:DescribeImages", "sts:GetCallerIdentity", "organizations:ListAccounts"),
            ("*",),
            ("marketplace",),
        ),
    ]
