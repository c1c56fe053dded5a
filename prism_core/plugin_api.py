"""The public API: what a plugin may rely on from prism, and nothing else.

Plugin authors write ``from prism_core.plugin_api import hookimpl, Option, InputError, ...``.
The names in ``__all__`` are the whole API (30 of them, documented in docs/plugins.md),
each imported explicitly below, so mypy and IDEs see them (prism_core is a ``py.typed``
package; ``mypy --strict`` is clean on this module). The declarations plugins return
(``Option``, ``Command``, ``PluginSettings``, ``IamStatement``) are defined here; every
other name comes from a light module: importing this module imports neither boto3 nor
Cement (``prism --help`` imports it).

The EC2, template and inspection helpers prism's own plugins use to implement the save
phases are in :mod:`prism_core.toolkit`: provisional (they may change in a minor
release), there so that a third party can still replace a built-in phase. A name that
was in this API and moved there (or onto ``ctx``) fails to import with one line saying
where it went (:data:`MOVED`).

Plugins that read YAML or JSON (files, downloaded catalogs, registry values) use
:func:`load_yaml_bounded` / :func:`load_json_bounded` / :func:`read_text_bounded`,
prism's own bounded loaders (:mod:`prism_core.safe_yaml`): regular files only, a size
cap, UTF-8, and limits on depth, aliases and the size once aliases are expanded.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn

from prism_core import hookimpl
from prism_core.aws.clients import AwsClients, error_code, error_message, user_agent
from prism_core.aws.tags import tag_list, tags_of
from prism_core.aws.waiting import WaitCancelled
from prism_core.cli.aws_options import aws_clients
from prism_core.cli.output import emit
from prism_core.exceptions import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_REFUSED,
    InputError,
    OperationFailed,
    PrismError,
    ValidationFailed,
)
from prism_core.safe_yaml import load_json_bounded, load_yaml_bounded, read_text_bounded
from prism_core.save.context import SaveContext
from prism_core.save.request import SaveRequest
from prism_core.save.state import RegionImage
from prism_core.validation import printable

__all__ = [
    # declarations and the decorator
    "hookimpl",
    "Option",
    "Command",
    "Handler",
    "PluginSettings",
    "IamStatement",
    # errors and exit codes
    "PrismError",
    "InputError",
    "OperationFailed",
    "ValidationFailed",
    "EXIT_OK",
    "EXIT_FAILURE",
    "EXIT_REFUSED",
    "EXIT_PARTIAL",
    # what hooks receive
    "SaveContext",
    "SaveRequest",
    "RegionImage",
    "WaitCancelled",
    # AWS
    "AwsClients",
    "aws_clients",
    "user_agent",
    "error_code",
    "error_message",
    "tags_of",
    "tag_list",
    # output and untrusted input
    "emit",
    "printable",
    "load_yaml_bounded",
    "load_json_bounded",
    "read_text_bounded",
]

_TOOLKIT = "prism_core.toolkit"
#: Names this API had before the provisional toolkit existed -> where they went.
#: Importing one fails with :class:`MovedName` naming the new place (no re-export:
#: the provisional toolkit is imported only by plugins that ask for it).
MOVED: dict[str, str] = {
    **dict.fromkeys(
        (
            # tags and validation
            "TEMPLATE_TAG", "PROJECT_TAG", "LOCK_TAG", "SAVE_ID_TAG",
            "template_name", "region_name", "project_id", "MAX_TAGS", "PRISM_TAG_COUNT",
            # template documents
            "validate_document", "parse_document", "load_template_file", "dump_template",
            "template_path", "write_template", "archive_template", "find_template",
            "builtin_template", "MAX_TEMPLATE_BYTES",
            # image provenance
            "trusted_owners", "describe_owners", "check_owners",
            # inspection
            "inspect_instance", "InspectionReport", "INSPECTION_CHECKLIST",
            "InventoryStore", "to_cyclonedx", "from_cyclonedx",
            # RegionImage.state values
            "REQUESTED", "PENDING", "AVAILABLE", "FAILED",
            # implementing a save phase on EC2
            "describe_image", "settled_image", "find_image_by_name", "find_saved_image",
            "image_snapshot_ids", "state_reason", "image_tags", "share_in_region",
            "encrypted_sharing_notes", "copy_to_accounts", "check_account_copies",
            "deprecate_in_region", "require_imds_v2", "discard_own_image",
            "completion_estimate", "progress_report", "progress_finished", "boot_check",
            "build_template_document", "registry_publish", "registry_value",
            "registry_current_parameter", "sync_image_parameters",
        ),
        _TOOLKIT,
    ),
    # per-save state, no longer a process-wide table
    "mark_requested": "ctx.mark_requested(image_id)",
    "requested_at": "ctx.requested_at(image_id)",
}


class MovedName(ImportError):
    """A name that left the plugin API: the message says where it went.

    An :class:`ImportError` (not an ``AttributeError``, which ``from ... import`` would
    replace with a message of its own), raised for ``from prism_core.plugin_api import
    NAME`` and for ``plugin_api.NAME`` alike.
    """


def moved_message(name: str) -> str:
    """One line: where ``name`` (a former name of this API) went."""
    where = MOVED[name]
    if where == _TOOLKIT:
        return (
            f"prism_core.plugin_api.{name} moved to {_TOOLKIT} (provisional): "
            f"use `from {_TOOLKIT} import {name}`"
        )
    return f"prism_core.plugin_api.{name} was removed (process-wide state): use {where}"


if not TYPE_CHECKING:  # mypy reports a missing name statically instead

    def __getattr__(name: str) -> NoReturn:
        """Only for names that left the API: raise, saying where they went."""
        if name in MOVED:
            raise MovedName(moved_message(name), name=__name__)
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
