"""Handlers of ``prism marketplace ...`` (each returns the exit code).

The template helpers come from prism's provisional toolkit, imported in the handlers
that use them: it loads prism's engine, and this module is imported by every ``prism``
command (the plugin module declares the commands).
"""

from __future__ import annotations

import sys
from typing import Any

from prism_core.plugin_api import InputError, aws_clients, emit, printable
from prism_marketplace import credentials
from prism_marketplace.catalog import Catalog, MarketplaceConfig
from prism_marketplace.launch_check import owners, unlaunchable

SECTION = "marketplace"


def config_from(section: dict[str, Any]) -> MarketplaceConfig:
    """The marketplace config from its prism.yml section."""
    return MarketplaceConfig.from_section(section)


def catalog(config: MarketplaceConfig) -> Catalog:
    """The catalog of the configured bucket."""
    return Catalog(config)


def _config(app: Any) -> MarketplaceConfig:
    return config_from(app.plugin_settings(SECTION))


def _aws(app: Any) -> Any:
    """AWS clients for the command's ``--profile``, with prism's retry settings."""
    return aws_clients(app)


def _catalog(app: Any) -> Catalog:
    """The catalog; without stored marketplace keys it uses the ``--profile`` credentials."""
    return Catalog(_config(app), profile=getattr(app.pargs, "profile", None))


def _account(app: Any) -> str:
    return str(_aws(app).account_id())


def scrubbed_derivative(document: dict[str, Any]) -> dict[str, Any] | None:
    """The template as it is published when its save made a scrubbed derivative
    (``prism save --scrub``): the derivative's images in place of the team's, which stay
    private and unpublished; ``None`` for a template without one."""
    shared = document.get("shared_image")
    if not isinstance(shared, dict) or not shared.get("scrubbed"):
        return None
    amis = shared.get("amis")
    if not isinstance(amis, dict) or not amis:
        return None
    published = {key: value for key, value in document.items() if key != "shared_image"}
    published["ami_config"] = {**(document.get("ami_config") or {}), "amis": amis}
    return published


def publish_document(config: MarketplaceConfig, document: dict[str, Any], publisher: str) -> dict:
    """Validate ``document`` and publish exactly the YAML prism writes for it (its
    scrubbed derivative's, when the save made one)."""
    from prism_core.toolkit import dump_template, validate_document

    document = scrubbed_derivative(document) or document
    validate_document(document, f"template {document.get('name')}")
    return Catalog(config).publish(document, dump_template(document), publisher)


def check_secrets(inspection: Any, policy: str, name: str) -> None:
    """Refuse a publish of an image with secrets found in it, or never inspected, unless
    ``--allow-secrets`` (``--no-inspect`` for a save that skipped the inspection)."""
    if policy in ("allow-secrets", "scrub") or not isinstance(inspection, dict):
        return  # --scrub: what is published is the derivative, without them
    secrets = inspection.get("secrets") or []
    if inspection.get("available") is False and policy != "no-inspect":
        raise InputError(
            f"{name} cannot be published: its instance could not be inspected "
            f"({inspection.get('reason')})",
            "add --no-inspect and remove secrets by hand, or --allow-secrets",
        )
    if secrets:
        paths = ", ".join(str(s.get("path")) for s in secrets[:5])
        raise InputError(
            f"{name} cannot be published: the inspection found {len(secrets)} secret(s) in "
            f"the image ({paths}); nothing was changed",
            "remove them and save again, or add --allow-secrets",
        )


def check_document_secrets(document: dict[str, Any], allow: bool) -> None:
    """The rule for a saved template: its recorded inventory must show no secrets (a
    scrubbed derivative, published in their place, has none of them)."""
    if allow or scrubbed_derivative(document) is not None:
        return
    name = document.get("name")
    inventory = document.get("inventory")
    if not isinstance(inventory, dict) or not inventory.get("sbom"):
        why = inventory.get("reason") if isinstance(inventory, dict) else "not recorded"
        raise InputError(
            f"{name} cannot be published: no inspection of its image is recorded ({why})",
            "save it again with a prism that inspects instances, or add --allow-secrets",
        )
    found = sum(v for v in (inventory.get("secrets") or {}).values() if isinstance(v, int))
    if found:
        kinds = ", ".join(inventory.get("secrets") or {})
        raise InputError(
            f"{name} cannot be published: its inspection found {found} secret(s) ({kinds})",
            f"see `prism templates packages {name} -o json`; remove them and save again, "
            "or add --allow-secrets",
        )


def publish(app: Any, args: Any) -> int:
    """``prism marketplace publish TEMPLATE``: the saved file, byte for byte (with a
    scrubbed derivative, the file with the derivative's images in the team's place)."""
    from prism_core.toolkit import (
        dump_template,
        load_template_file,
        template_path,
        validate_document,
    )

    config = _config(app)
    path = template_path(app.settings.templates_dir, args.template)
    if not path.exists():
        raise InputError(f"no saved template {args.template!r} at {path}", "run `prism save` first")
    document = load_template_file(path)
    check_document_secrets(document, bool(getattr(args, "allow_secrets", False)))
    derivative = scrubbed_derivative(document)
    if derivative is not None:  # --scrub: the derivative's images, never the team's
        validate_document(derivative, f"template {args.template}")
        text = dump_template(derivative)
        entry = _catalog(app).publish(derivative, text, _account(app))
    else:
        entry = _catalog(app).publish(document, path.read_text(encoding="utf-8"), _account(app))
    emit(
        entry,
        args.output,
        f"Published {entry['name']} v{entry['version']} to s3://{config.bucket}/{entry['key']} "
        f"(sha256 {entry['sha256'][:12]}...)",
    )
    return 0


def search(app: Any, args: Any) -> int:
    """``prism marketplace search TEXT``."""
    found, problems = _catalog(app).search(args.text or "")
    for problem in problems:
        print(f"prism: warning: {printable(problem, 300)}", file=sys.stderr)
    width = max([len(e["name"]) for e in found] + [4])
    lines = [f"{'NAME':<{width}}  VERSION  REGIONS  DESCRIPTION"]
    lines += [
        f"{e['name']:<{width}}  {printable(e['version'], 7):<7}  "
        f"{len(e.get('regions') or []):<7}  {printable(e.get('description', ''), 80)}"
        for e in found
    ]
    if not found:
        lines = [f"no template matches {printable(args.text or '', 60)!r}"]
    emit({"templates": found, "problems": problems}, args.output, "\n".join(lines))
    return 0


def _owners_text(images: list) -> list[str]:
    lines = []
    for image in images:
        if image.problem:
            lines.append(f"  {image.region}/{image.architecture} {image.image_id}: {image.problem}")
            continue
        trust = f"trusted: {image.trusted_as}" if image.trusted_as else "NOT trusted"
        lines.append(
            f"  {image.region}/{image.architecture} {image.image_id}: owner "
            f"{printable(image.owner, 60)}{' (public)' if image.public else ''}, {trust}"
        )
    return lines


def show(app: Any, args: Any) -> int:
    """``prism marketplace show NAME``: the entry and who owns each of its AMIs."""
    from prism_core.toolkit import describe_owners, parse_document, template_name, trusted_owners

    name = template_name(args.name)
    entry, data = _catalog(app).fetch(name)
    document = parse_document(data, f"marketplace template {name}")
    aws = _aws(app)
    images = describe_owners(aws, (document.get("ami_config") or {}).get("amis") or {})
    trust = trusted_owners(aws, app.settings.trusted_image_owners)
    for image in images:
        if not image.problem:
            image.trusted_as = trust.why(image)
    text = [f"{key + ':':<13}{printable(value, 200)}" for key, value in entry.items()]
    text += ["owners:", *_owners_text(images)]
    emit({**entry, "images": [i.to_dict() for i in images]}, args.output, "\n".join(text))
    return 0


def _local_conflict(app: Any, name: str, data: bytes, version: Any) -> tuple[str | None, bool]:
    """What an install of ``name`` would replace (a description), and whether it is the same
    file already installed."""
    from prism_core.toolkit import builtin_template, load_template_file, template_path

    path = template_path(app.settings.templates_dir, name)
    if path.exists():
        if path.read_bytes() == data:
            return None, True
        try:
            local_version = load_template_file(path).get("version")
        except InputError:
            local_version = "?"
        downgrade = (
            " (a downgrade)"
            if str(local_version).isdigit()
            and str(version).isdigit()
            and int(local_version) > int(version)
            else ""
        )
        return f"your local {name} v{local_version} at {path}{downgrade}", False
    if builtin_template(name) is not None:
        return f"the built-in template {name}", False
    return None, False


def install(app: Any, args: Any) -> int:
    """``prism marketplace install NAME``: verify the file, its schema and who owns its
    AMIs, refuse to shadow what exists without --replace, then write."""
    from prism_core.toolkit import archive_template, parse_document, template_name, write_template

    name = template_name(args.name)
    entry, data = _catalog(app).fetch(name)
    document = parse_document(data, f"marketplace template {name}")
    if document.get("name") != name or document.get("slug", name) != name:
        shown = printable(document.get("slug", document.get("name")), 70)
        raise InputError(f"marketplace entry {name} holds template {shown!r}")
    replaces, same = _local_conflict(app, name, data, document.get("version"))
    if same:
        emit(
            {"installed": name, "version": document.get("version"), "unchanged": True},
            args.output,
            f"{name} v{document.get('version')} is installed already (same file)",
        )
        return 0
    if replaces and not args.replace:
        raise InputError(
            f"installing marketplace template {name} v{document.get('version')} would "
            f"replace {replaces}",
            "pass --replace to install it anyway (a local file is archived first)",
        )
    aws = _aws(app)
    images = owners(aws, document, app.settings.trusted_image_owners, args.trust_owner or [])
    problems = unlaunchable(aws, images)
    if problems:
        raise InputError(
            f"this account cannot launch {name}'s AMIs: {'; '.join(problems)}",
            "ask the publisher to share them with your account",
        )
    archived = None
    if replaces:
        archived = archive_template(app.settings.templates_dir, name)
    path = write_template(app.settings.templates_dir, document)
    lines = [f"Installed {name} v{document.get('version')} to {path}"]
    if replaces and archived:
        lines.append(f"Replaced {replaces}; it is archived at {archived}")
    elif replaces:
        lines.append(f"It shadows {replaces}; remove {path} to use that again")
    lines.append("Image owners:")
    lines += _owners_text(images)
    lines.append(f"Launch it with: prism launch {name} my-new-instance")
    emit(
        {
            "installed": name,
            "version": document.get("version"),
            "path": str(path),
            "replaced": replaces,
            "archived": str(archived) if archived else None,
            "publisher": entry.get("publisher"),
            "images": [i.to_dict() for i in images],
        },
        args.output,
        "\n".join(lines),
    )
    return 0


def _read_secrets(with_token: bool) -> tuple[str, str | None]:
    """The secret access key (and session token), from a hidden prompt on a terminal or
    from stdin (one per line) otherwise; never from the command line."""
    labels = ["AWS secret access key:"] + (["AWS session token:"] if with_token else [])
    answers: list[str] = []
    if getattr(sys.stdin, "isatty", lambda: False)():
        import questionary

        for label in labels:
            try:
                answer = questionary.password(label).ask()
            except EOFError:
                answer = None
            if not answer:
                raise InputError("cancelled, nothing was stored")
            answers.append(str(answer).strip())
    else:
        for label in labels:
            line = sys.stdin.readline().strip()
            if not line:
                raise InputError(
                    f"no {label.rstrip(':').lower()} on stdin",
                    "pipe it in (one value per line), or run on a terminal to be asked",
                )
            answers.append(line)
    return answers[0], answers[1] if with_token else None


def login(app: Any, args: Any) -> int:
    """``prism marketplace login``: check an access key on the bucket, keep it in a secure
    keyring (plaintext and file backends are refused), say which one."""
    import boto3

    config = _config(app)
    if not args.access_key_id:
        raise InputError("prism marketplace login needs --access-key-id ID")
    backend = credentials.secure_backend()
    secret, token = _read_secrets(bool(args.session_token))
    stored = {"aws_access_key_id": args.access_key_id, "aws_secret_access_key": secret}
    if token:
        stored["aws_session_token"] = token
    session = boto3.session.Session(
        aws_access_key_id=stored["aws_access_key_id"],
        aws_secret_access_key=stored["aws_secret_access_key"],
        aws_session_token=stored.get("aws_session_token"),
    )
    Catalog(config, session.client("s3", region_name=config.region)).check_reachable()
    used = credentials.store(backend, config.bucket, stored)
    emit(
        {"bucket": config.bucket, "stored_in": used},
        args.output,
        f"Credentials for s3://{config.bucket} stored in keyring backend {used}",
    )
    return 0
