"""Handlers of ``prism marketplace ...`` (each returns the exit code)."""

from __future__ import annotations

import sys
from typing import Any

from prism_core.cli.output import emit
from prism_core.exceptions import InputError
from prism_core.templates import document as templates
from prism_core.validation import template_name
from prism_marketplace import credentials
from prism_marketplace.catalog import Catalog, MarketplaceConfig
from prism_marketplace.launch_check import unlaunchable

SECTION = "marketplace"


def config_from(section: dict[str, Any]) -> MarketplaceConfig:
    """The marketplace config from its prism.yml section."""
    return MarketplaceConfig.from_section(section)


def catalog(config: MarketplaceConfig) -> Catalog:
    """The catalog of the configured bucket."""
    return Catalog(config)


def _config(app: Any) -> MarketplaceConfig:
    return config_from(app.plugin_settings(SECTION))


def _account() -> str:
    import boto3

    return str(boto3.client("sts").get_caller_identity()["Account"])


def publish_document(config: MarketplaceConfig, document: dict[str, Any], publisher: str) -> dict:
    """Validate ``document`` and publish exactly the YAML prism writes for it."""
    templates.validate_document(document, f"template {document.get('name')}")
    return Catalog(config).publish(document, templates.dump(document), publisher)


def publish(app: Any, args: Any) -> int:
    """``prism marketplace publish TEMPLATE``: the saved file, byte for byte."""
    config = _config(app)
    path = templates.template_path(app.settings.templates_dir, args.template)
    if not path.exists():
        raise InputError(f"no saved template {args.template!r} at {path}", "run `prism save` first")
    document = templates.load_file(path)
    entry = Catalog(config).publish(document, path.read_text(encoding="utf-8"), _account())
    emit(
        entry,
        args.output,
        f"Published {entry['name']} v{entry['version']} to s3://{config.bucket}/{entry['key']} "
        f"(sha256 {entry['sha256'][:12]}...)",
    )
    return 0


def search(app: Any, args: Any) -> int:
    """``prism marketplace search TEXT``."""
    found = Catalog(_config(app)).search(args.text or "")
    width = max([len(e["name"]) for e in found] + [4])
    lines = [f"{'NAME':<{width}}  VERSION  REGIONS  DESCRIPTION"]
    lines += [
        f"{e['name']:<{width}}  {e['version']:<7}  {len(e.get('regions', [])):<7}  "
        f"{e.get('description', '')}"
        for e in found
    ]
    if not found:
        lines = [f"no template matches {args.text!r}"]
    emit({"templates": found}, args.output, "\n".join(lines))
    return 0


def show(app: Any, args: Any) -> int:
    """``prism marketplace show NAME``."""
    entry = Catalog(_config(app)).entry(template_name(args.name))
    text = "\n".join(f"{key + ':':<13}{value}" for key, value in entry.items())
    emit(entry, args.output, text)
    return 0


def install(app: Any, args: Any) -> int:
    """``prism marketplace install NAME``: verify, validate, check launchability, write."""
    import boto3

    name = template_name(args.name)
    entry, text = Catalog(_config(app)).fetch(name)
    document = templates.parse_document(text, f"marketplace template {name}")
    if document.get("name") != name:
        raise InputError(f"marketplace entry {name} holds template {document.get('name')!r}")
    problems = unlaunchable(
        document, lambda region: boto3.client("ec2", region_name=region), _account()
    )
    if problems:
        raise InputError(
            f"this account cannot launch {name}'s AMIs: {'; '.join(problems)}",
            "ask the publisher to share them with your account",
        )
    path = templates.write(app.settings.templates_dir, document)
    emit(
        {"installed": name, "version": entry.get("version"), "path": str(path)},
        args.output,
        f"Installed {name} v{entry.get('version')} to {path}\n"
        f"Launch it with: prism launch {name} my-new-instance",
    )
    return 0


def _read_secret() -> str:
    if getattr(sys.stdin, "isatty", lambda: False)():
        import questionary

        try:
            answer = questionary.password("AWS secret access key:").ask()
        except EOFError:
            answer = None
        if not answer:
            raise InputError("cancelled, nothing was stored")
        return str(answer)
    line = sys.stdin.readline().strip()
    if not line:
        raise InputError(
            "no secret access key on stdin", "pipe it in, or run on a terminal to be asked"
        )
    return line


def login(app: Any, args: Any) -> int:
    """``prism marketplace login``: check an access key on the bucket, keep it in the keyring."""
    config = _config(app)
    if not args.access_key_id:
        raise InputError("prism marketplace login needs --access-key-id ID")
    credentials.check_usable()
    stored = {"aws_access_key_id": args.access_key_id, "aws_secret_access_key": _read_secret()}
    if args.session_token:
        stored["aws_session_token"] = args.session_token
    import boto3

    session = boto3.session.Session(
        aws_access_key_id=stored["aws_access_key_id"],
        aws_secret_access_key=stored["aws_secret_access_key"],
        aws_session_token=stored.get("aws_session_token"),
    )
    Catalog(config, session.client("s3", region_name=config.region)).check_reachable()
    credentials.store(config.bucket, stored)
    emit(
        {"bucket": config.bucket, "stored_in": "system keyring"},
        args.output,
        f"Credentials for s3://{config.bucket} stored in the system keyring",
    )
    return 0
