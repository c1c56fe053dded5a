"""The public API: everything a plugin may import from prism, and nothing else.

Plugin authors write ``from prism_core.plugin_api import hookimpl, Option, InputError, ...``.
The names below (``__all__``) are the whole API, documented in docs/plugins.md; a plugin
importing anything else from ``prism_core`` relies on internals that may change without
notice (contrib's tests fail if one does). The declarations plugins return
(``Option``, ``Command``, ``PluginSettings``, ``IamStatement``) live here; the rest is
re-exported lazily, so importing this module stays cheap (no boto3, no Cement).

Plugins that read YAML or JSON (files, downloaded catalogs, registry values) use
:func:`load_yaml_bounded` / :func:`load_json_bounded` / :func:`read_text_bounded`,
prism's own bounded loaders (:mod:`prism_core.safe_yaml`): regular files only, a size
cap, UTF-8, and limits on depth, aliases and the size once aliases are expanded.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from prism_core import hookimpl

#: Re-exported names -> the module that defines them (imported on first use).
_EXPORTS: dict[str, str] = {
    # errors and exit codes
    "PrismError": "prism_core.exceptions",
    "InputError": "prism_core.exceptions",
    "OperationFailed": "prism_core.exceptions",
    "EXIT_OK": "prism_core.exceptions",
    "EXIT_FAILURE": "prism_core.exceptions",
    "EXIT_REFUSED": "prism_core.exceptions",
    "EXIT_PARTIAL": "prism_core.exceptions",
    # AWS
    "AwsClients": "prism_core.aws.clients",
    "aws_clients": "prism_core.cli.aws_options",
    "user_agent": "prism_core.aws.clients",
    "error_code": "prism_core.aws.clients",
    "error_message": "prism_core.aws.clients",
    "tags_of": "prism_core.aws.tags",
    "tag_list": "prism_core.aws.tags",
    "TEMPLATE_TAG": "prism_core.aws.tags",
    "PROJECT_TAG": "prism_core.aws.tags",
    # output
    "emit": "prism_core.cli.output",
    "printable": "prism_core.validation",
    # validation
    "template_name": "prism_core.validation",
    "region_name": "prism_core.validation",
    "project_id": "prism_core.validation",
    "MAX_TAGS": "prism_core.validation",
    "PRISM_TAG_COUNT": "prism_core.validation",
    # untrusted input (the one bounded loader, prism_core.safe_yaml)
    "load_yaml_bounded": "prism_core.safe_yaml",
    "load_json_bounded": "prism_core.safe_yaml",
    "read_text_bounded": "prism_core.safe_yaml",
    # template documents
    "validate_document": "prism_core.templates.document",
    "parse_document": "prism_core.templates.document",
    "load_template_file": "prism_core.templates.document",
    "dump_template": "prism_core.templates.document",
    "template_path": "prism_core.templates.document",
    "write_template": "prism_core.templates.document",
    "archive_template": "prism_core.templates.document",
    "find_template": "prism_core.templates.store",
    "builtin_template": "prism_core.templates.store",
    "MAX_TEMPLATE_BYTES": "prism_core.templates.document",
    # image provenance
    "trusted_owners": "prism_core.templates.provenance",
    "describe_owners": "prism_core.templates.provenance",
    "check_owners": "prism_core.templates.provenance",
    # inspection of the instance before its image leaves the account
    "inspect_instance": "prism_core.inspection.runner",
    "InspectionReport": "prism_core.inspection.findings",
    "INSPECTION_CHECKLIST": "prism_core.inspection.findings",
    "InventoryStore": "prism_core.inspection.store",
    "to_cyclonedx": "prism_core.inspection.sbom",
    "from_cyclonedx": "prism_core.inspection.sbom",
    # what hooks receive
    "SaveContext": "prism_core.save.context",
    "SaveRequest": "prism_core.save.request",
    "RegionImage": "prism_core.save.state",
    "REQUESTED": "prism_core.save.state",
    "PENDING": "prism_core.save.state",
    "AVAILABLE": "prism_core.save.state",
    "FAILED": "prism_core.save.state",
    "WaitCancelled": "prism_core.aws.waiting",
    "ValidationFailed": "prism_core.exceptions",
    # implementing a save phase on EC2 (what the built-in plugins use)
    "describe_image": "prism_core.aws.ec2",
    "settled_image": "prism_core.aws.ec2",
    "find_image_by_name": "prism_core.aws.ec2",
    "find_saved_image": "prism_core.aws.ec2",
    "image_named": "prism_core.save.restart",
    "image_snapshot_ids": "prism_core.aws.ec2",
    "state_reason": "prism_core.aws.ec2",
    "image_tags": "prism_core.save.images",
    "share_in_region": "prism_core.save.images",
    "encrypted_sharing_notes": "prism_core.save.images",
    "copy_to_accounts": "prism_core.save.account_copies",
    "check_account_copies": "prism_core.save.account_copies",
    "deprecate_in_region": "prism_core.save.images",
    "require_imds_v2": "prism_core.save.images",
    "discard_own_image": "prism_core.save.images",
    "mark_requested": "prism_core.aws.estimate",
    "requested_at": "prism_core.aws.estimate",
    "completion_estimate": "prism_core.aws.estimate",
    "progress_report": "prism_core.aws.snapshot_progress",
    "progress_finished": "prism_core.aws.snapshot_progress",
    "LOCK_TAG": "prism_core.aws.tags",
    "SAVE_ID_TAG": "prism_core.aws.tags",
    "boot_check": "prism_core.templates.launch",
    "build_template_document": "prism_core.save.template_doc",
    "registry_publish": "prism_core.templates.registry",
    "registry_value": "prism_core.templates.registry",
    "registry_current_parameter": "prism_core.templates.registry",
    "sync_image_parameters": "prism_core.templates.image_parameters",
}
#: Names whose definition has another name in its module.
_ALIASES = {
    "load_template_file": "load_file",
    "dump_template": "dump",
    "write_template": "write",
    "archive_template": "archive_current",
    "find_template": "find",
    "builtin_template": "builtin",
    "check_owners": "check",
    "build_template_document": "build_document",
    "registry_publish": "publish",
    "registry_value": "encode",
    "registry_current_parameter": "current_parameter",
    "sync_image_parameters": "sync",
}

__all__ = [
    "hookimpl",
    "Handler",
    "Option",
    "Command",
    "PluginSettings",
    "IamStatement",
    *_EXPORTS,
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), _ALIASES.get(name, name))
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


#: What a command handler receives: the Cement app and the parsed arguments.
Handler = Callable[[Any, Any], "int | None"]


@dataclass(frozen=True)
class Option:
    """One command-line option or positional argument, as ``argparse.add_argument`` takes it.

    ``flags`` is e.g. ``("--publish",)`` or ``("name",)`` for a positional; the other
    fields are passed to argparse unchanged when set. The value reaches plugins as
    ``ctx.options[dest]`` (``prism save``) or ``args.<dest>`` (commands).
    """

    flags: tuple[str, ...]
    help: str
    action: str | None = None
    default: Any = None
    metavar: str | None = None
    choices: tuple[str, ...] | None = None
    nargs: str | int | None = None
    type: Callable[[str], Any] | None = None

    def __post_init__(self) -> None:
        if isinstance(self.flags, str):
            object.__setattr__(self, "flags", (self.flags,))

    @property
    def dest(self) -> str:
        """The attribute name argparse gives the value (``--copy-to`` becomes ``copy_to``)."""
        longs = [f for f in self.flags if f.startswith("--")]
        name = (longs or list(self.flags))[0]
        return name.lstrip("-").replace("-", "_")

    @property
    def positional(self) -> bool:
        """Whether this is a positional argument (no leading ``-``)."""
        return not self.flags[0].startswith("-")

    def argparse(self) -> tuple[list[str], dict[str, Any]]:
        """The ``(flags, kwargs)`` pair Cement's ``arguments=`` lists hold."""
        kwargs: dict[str, Any] = {"help": self.help}
        for key in ("action", "metavar", "nargs", "type"):
            value = getattr(self, key)
            if value is not None:
                kwargs[key] = value
        if self.choices is not None:
            kwargs["choices"] = list(self.choices)
        if self.default is not None or self.action is None:
            kwargs["default"] = self.default
        if not self.positional:
            kwargs["dest"] = self.dest
        return list(self.flags), kwargs


@dataclass(frozen=True)
class Command:
    """A ``prism NAME`` command, or a group of subcommands (``prism NAME SUB ...``).

    A command with ``handler`` runs ``handler(app, args)``; its return value is the
    exit code (``None`` means 0). A group has ``subcommands`` and no handler. Raise
    :class:`prism_core.exceptions.InputError` for bad input (one line, exit 2).
    A command with ``aws=True`` talks to AWS: prism gives it ``--profile NAME`` (as on
    its own commands) and the handler gets clients for it with ``aws_clients(app)``.
    """

    name: str
    help: str
    handler: Handler | None = None
    arguments: tuple[Option, ...] = ()
    subcommands: tuple[Command, ...] = ()
    aws: bool = False

    def __post_init__(self) -> None:
        if (self.handler is None) == (not self.subcommands):
            raise ValueError(f"command {self.name!r} needs exactly one of handler or subcommands")


@dataclass(frozen=True)
class PluginSettings:
    """A plugin's section of ``prism.yml``: its name, defaults and a JSON schema.

    Values come from (lowest first) ``defaults``, ``prism_config_defaults`` of any
    plugin, ``/etc/prism/prism.yml``, ``$PRISM_HOME/config.yml``. The merged section
    is validated against ``schema`` (JSON Schema) before any command runs; read it
    with ``ctx.plugin_settings(section)`` or ``app.plugin_settings(section)``.
    """

    section: str
    defaults: Mapping[str, Any] = field(default_factory=dict)
    schema: Mapping[str, Any] | None = None
    help: str = ""


#: What :class:`IamStatement` ``kind`` may be.
IAM_KINDS = ("call", "authorization")


@dataclass(frozen=True)
class IamStatement:
    """One statement of the IAM policy ``prism iam-policy`` prints, declared by a plugin.

    ``sid`` is letters and digits, unique across prism and every plugin (start it with
    the plugin's name). ``uses`` names when it is needed: prism's uses (``save``,
    ``launch``, ``templates``) for calls made during those commands, and the plugin's
    own top-level command names (``prism iam-policy --for marketplace``). ``resources``
    are ARN patterns (``{partition}`` is filled in); ``condition`` is an IAM Condition
    block. ``kind`` is ``"call"`` for API calls the plugin sends itself (the test fixtures
    check it sends no other) or ``"authorization"`` for permissions AWS checks during
    another call.
    """

    sid: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    uses: tuple[str, ...]
    condition: Mapping[str, Mapping[str, Any]] | None = None
    kind: str = "call"

    def __post_init__(self) -> None:
        for name in ("actions", "resources", "uses"):
            value = getattr(self, name)
            if isinstance(value, str):
                object.__setattr__(self, name, (value,))
        if not self.sid.isalnum():
            raise ValueError(f"IAM statement sid {self.sid!r} must be letters and digits")
        if not self.actions or not self.resources or not self.uses:
            raise ValueError(f"IAM statement {self.sid} needs actions, resources and uses")
        if any(":" not in a for a in self.actions):
            raise ValueError(f"IAM statement {self.sid}: actions are service:Action names")
        if self.kind not in IAM_KINDS:
            raise ValueError(f"IAM statement {self.sid}: kind must be one of {IAM_KINDS}")
