"""Every ``prism save`` option, declared once: :data:`SAVE_OPTIONS`.

One row per option (flags, help, kind, scope, group, config key). Derived from it:

- the argparse arguments of ``prism save`` / ``prism ami save`` (:meth:`SaveOption.argparse`)
  and the names plugins may not reuse (``reserved_save_names`` in the CLI);
- the keys of a ``--batch`` entry and their coercion from YAML (:meth:`SaveOption.coerce`);
- the batch-wide flags: every ``save`` scoped option given on the command line with
  ``--batch`` applies to every entry, and a key in an entry overrides it (for a
  :attr:`~SaveOption.group` such as the image mode, any key of the group overrides the
  whole group) -- :func:`merge_batch`;
- the :class:`SaveOptions` of one save (:func:`build`; ``field`` names the attribute
  each row fills);
- the :class:`~prism_core.save.request.SaveRequest` fields (``request``): each row
  declares the fields it ends in and how each is checked from its value
  (:mod:`~prism_core.save.request_fields`); ``plan_save`` takes them from
  :func:`request_fields` and decides only what needs the cloud or the previous version
  (the :class:`Decided` fields, and completing the ``inherited`` ones).
  ``tests/unit/test_save_options.py`` checks every field of both has a row.

Options plugins add (``prism_add_options``) get the same representation
(:func:`from_plugin`): they are batch keys and batch-wide flags too, and reach the
request as ``ctx.options[dest]``.

Adding a built-in option is one row here, plus a field in :class:`SaveOptions` and in
``SaveRequest`` when the pipeline reads it (the row's ``request`` says how the value is
checked into it); the unit tests say which is missing. ``--help``, ``--batch`` entries,
batch-wide flags and the names plugins may not take follow from the row. Use
``scope=SAVE`` for anything that describes one save (it then works in batch entries and
as a batch-wide flag), ``scope=COMMAND`` for how the command runs (``--yes``). Rows keep
the order ``prism save --help`` lists them in; ``--profile``, ``-o`` and ``--debug`` are
shared with other commands and placed by the CLI (:data:`PROFILE_AFTER`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from prism_core import validation
from prism_core.exceptions import InputError
from prism_core.save import image_mode
from prism_core.save.request_fields import (
    AFTER_LOCKS,
    AFTER_REGIONS,
    ASKED,
    PLUGIN_OPTIONS,
    STAGES,
    Checked,
    Decided,
    Given,
    as_given,
    asked_by,
    by,
    copy_accounts,
    copy_regions,
    deprecation_days,
    fast_restore_zones,
    region,
)

# -- kinds: how a value is written on the command line and in a batch entry ------------
TEXT = "text"  #: one value (``--project ID``)
LIST = "list"  #: comma-separated on the command line, a list or text in YAML
FLAG = "flag"  #: ``store_true``; ``true``/``false`` in YAML
TAGS = "tags"  #: repeatable ``KEY=VALUE``; a mapping, list or text in YAML
DAYS = "days"  #: a number of days (text or a number in YAML; checked by the plan)
OPTIONAL = "optional"  #: ``--resume [SAVE_ID]``: a flag that may take a value
PLUGIN = "plugin"  #: a plugin's option, coerced as argparse would (action, type, choices)

# -- scopes: where an option is accepted -----------------------------------------------
#: One save's option: on the command line, in a batch entry and as a batch-wide flag.
SAVE = "save"
#: Names the save's instance or template: positional, and a required batch-entry key.
TARGET = "target"
#: How the command runs (``--yes``, ``--dry-run``, ``--batch`` ...): command line only.
COMMAND = "command"

#: The shared ``--profile`` argument comes right after this option in ``--help``.
PROFILE_AFTER = "region"


@dataclass(frozen=True)
class SaveOption:
    """One option of ``prism save``."""

    flags: tuple[str, ...]
    help: str
    kind: str = TEXT
    scope: str = SAVE
    metavar: str | None = None
    #: The :class:`SaveOptions` attribute the value fills (``None``: read elsewhere, e.g.
    #: through its :attr:`group`, or by the command itself).
    field: str | None = None
    #: Options resolved together (``image_mode``, ``secrets_policy``): a batch entry that
    #: names any of them overrides every batch-wide flag of the group.
    group: str | None = None
    #: The ``prism:`` config key that supplies the default when the option is not given.
    config_key: str | None = None
    #: The :class:`~prism_core.save.request.SaveRequest` fields it ends in (what plugins
    #: read as ``ctx.request``; journaled): each :class:`Checked` from the value by
    #: :func:`request_fields`, or :class:`Decided` by ``plan_save``.
    request: tuple[Checked | Decided, ...] = ()
    #: Whether an empty value in a batch entry ("", [], {}) is a value; otherwise it
    #: counts as not given (write ``none`` for no copy regions).
    empty_is_value: bool = False
    #: The plugin's :class:`~prism_core.plugin_api.Option` (kind :data:`PLUGIN`).
    plugin: Any = None

    @property
    def positional(self) -> bool:
        """Whether this is a positional argument."""
        return not self.flags[0].startswith("-")

    @property
    def dest(self) -> str:
        """The argparse dest, which is also the batch key (``--copy-to-regions`` is
        ``copy_to_regions``; an entry may write it with dashes)."""
        longs = [f for f in self.flags if f.startswith("--")]
        return (longs or list(self.flags))[0].lstrip("-").replace("-", "_")

    @property
    def batch_key(self) -> bool:
        """Whether a ``--batch`` entry may name it."""
        return self.scope in (SAVE, TARGET) and not (self.plugin and self.positional)

    @property
    def default(self) -> Any:
        """The value when it is not given (as argparse gives it)."""
        if self.kind == PLUGIN:
            if self.plugin.default is not None:
                return self.plugin.default
            return {"store_true": False, "store_false": True}.get(self.plugin.action or "")
        return {FLAG: False, TAGS: [], OPTIONAL: False}.get(self.kind)

    def argparse(self) -> tuple[list[str], dict[str, Any]]:
        """The ``(flags, kwargs)`` pair Cement's ``arguments=`` lists hold."""
        if self.kind == PLUGIN:
            return self.plugin.argparse()
        kwargs: dict[str, Any] = {"help": self.help}
        if self.positional:
            kwargs["nargs"] = "?"
        elif self.kind == FLAG:
            kwargs["action"] = "store_true"
        elif self.kind == TAGS:
            kwargs.update(action="append", default=[])
        elif self.kind == OPTIONAL:
            kwargs.update(nargs="?", const=True, default=False)
        if self.metavar:
            kwargs["metavar"] = self.metavar
        return list(self.flags), kwargs

    def coerce(self, value: Any, where: str) -> Any:
        """A batch entry's value, checked and converted as the command line gives it."""
        key = self.dest
        if self.kind == PLUGIN:
            return _plugin_value(self.plugin, value, where, key)
        if self.kind == FLAG:
            if not isinstance(value, bool):
                raise InputError(f"{where}: {key} must be true or false")
            return value
        if self.kind == LIST:
            if isinstance(value, list):
                return ",".join(_text(v, where, key) for v in value)
            return _text(value, where, key)
        if self.kind == TAGS:
            if isinstance(value, dict):
                return [f"{_text(k, where, key)}={_text(v, where, key)}" for k, v in value.items()]
            if isinstance(value, list):
                return [_text(v, where, key) for v in value]
            return [_text(value, where, key)]
        if self.kind == DAYS:
            if isinstance(value, bool) or not isinstance(value, int | str):
                raise InputError(f"{where}: {key} must be a number of days")
            return value
        return _text(value, where, key)


def _text(value: Any, where: str, key: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InputError(f"{where}: {key} must be text, not {type(value).__name__}")
    return str(value)


def _plugin_value(option: Any, value: Any, where: str, key: str) -> Any:
    """A plugin option's value from YAML, checked like argparse would check it."""
    if option.action in ("store_true", "store_false"):
        if not isinstance(value, bool):
            raise InputError(f"{where}: {key} must be true or false")
        return value
    text = _text(value, where, key)
    if option.type is not None:
        try:
            converted = option.type(text)
        except (TypeError, ValueError) as exc:
            raise InputError(f"{where}: {key}: {exc}") from None
    else:
        converted = text
    if option.choices is not None and converted not in option.choices:
        raise InputError(f"{where}: {key} must be one of {', '.join(map(str, option.choices))}")
    return converted


def from_plugin(option: Any) -> SaveOption:
    """A plugin's :class:`~prism_core.plugin_api.Option` as a row of the table."""
    return SaveOption(
        flags=tuple(option.flags),
        help=option.help,
        kind=PLUGIN,
        scope=SAVE,
        metavar=option.metavar,
        plugin=option,
        request=(PLUGIN_OPTIONS,),
    )


#: What decides the request fields ``plan_save`` fills itself (:class:`Decided`).
INHERITANCE = "the template's previous version (version_inheritance.merge)"
RESOLVED_MODE = "image_mode.resolve against prism.image_mode"
IMAGE_MODE = Decided("image_mode", RESOLVED_MODE)
#: ``--allow-secrets``/``--scrub``/``--no-inspect``: one field, made by their group.
SECRETS_POLICY = Checked("secrets_policy", as_given)


SAVE_OPTIONS: tuple[SaveOption, ...] = (
    SaveOption(("instance",), "the instance's Name tag or its id (i-...)", scope=TARGET,
               field="instance",
               request=(Decided("instance_id", "the instance lookup"),
                        Decided("instance_name", "the instance lookup"))),
    SaveOption(("template",), "name of the template to create", scope=TARGET, field="template",
               request=(Checked("template_name", by(validation.template_name), order=1),)),
    SaveOption(("--description",), "what the template is for (at most 255 characters)",
               field="description", empty_is_value=True,
               request=(Checked("description", asked_by(validation.description), order=8,
                                inherited=True),)),
    SaveOption(("--copy-to-regions",), "also copy the AMI to these regions (none: no copies)",
               LIST, metavar="R1,R2", field="copy_to_regions",
               config_key="default_copy_regions",
               request=(Checked("copy_to_regions", copy_regions, order=3, inherited=True),)),
    SaveOption(("--project",), "project the template and its costs belong to", metavar="ID",
               field="project",
               request=(Checked("project_id", by(validation.project_id), order=7,
                                inherited=True),)),
    SaveOption(("--public",), "make the AMI launchable by every AWS account", FLAG,
               field="public",
               request=(Checked("public", as_given, inherited=True),)),
    SaveOption(("--share-with",), "account ids, organization or OU ARNs", LIST,
               metavar="ID[,ID]", field="share_with",
               request=(Checked("share_with", asked_by(validation.share_targets), order=5,
                                inherited=True),)),
    SaveOption(("--copy-to-accounts",),
               "copy the AMI into these accounts (assuming ROLE there, default "
               "prism.account_role), in every region the save has an image in",
               LIST, metavar="ACCOUNT[:ROLE],...", field="copy_to_accounts",
               config_key="account_role",
               request=(Checked("copy_to_accounts", copy_accounts, order=6),)),
    SaveOption(("--fast-restore",),
               "enable fast snapshot restore of the image's snapshots in these zones "
               "(each zone for the image in its region; billed per snapshot, zone and hour "
               "until disabled: the plan shows the cost)",
               LIST, metavar="AZ[,AZ]", field="fast_restore",
               request=(Checked("fast_restore", fast_restore_zones, stage=AFTER_REGIONS),)),
    SaveOption(("--allow-secrets",),
               "share the image (--public, --share-with) although the inspection found "
               "secrets in it; asks on a terminal even with --yes",
               FLAG, group="secrets_policy", request=(SECRETS_POLICY,)),
    SaveOption(("--scrub",),
               "share (--public, --share-with) a scrubbed derivative: a short-lived "
               "helper removes the secrets found from a copy; the team image stays complete "
               "and private",
               FLAG, group="secrets_policy", request=(SECRETS_POLICY,)),
    SaveOption(("--no-inspect",),
               "do not look inside the instance (Run Command) before imaging; a share "
               "then prints the checklist of what to remove by hand",
               FLAG, group="secrets_policy", request=(SECRETS_POLICY,)),
    SaveOption(("--tag",), "tag for the AMI, its snapshots and copies (repeatable)", TAGS,
               metavar="KEY=VALUE", field="tags",
               request=(Checked("tags", by(validation.tags), order=4, inherited=True),)),
    SaveOption(("--region",), "region of the instance (default: your AWS configuration)",
               request=(Checked("region", region, order=2),)),
    SaveOption(("--reboot",),
               "EC2 reboots the instance once during CreateImage (the default unless "
               "prism.image_mode says otherwise)",
               FLAG, group="image_mode", config_key="image_mode", request=(IMAGE_MODE,)),
    SaveOption(("--stop",),
               "stop -> image -> start, a watchdog holding the restart (public IP "
               "changes, instance store erased)",
               FLAG, group="image_mode", config_key="image_mode", request=(IMAGE_MODE,)),
    SaveOption(("--no-reboot",), "image the running instance without stopping or rebooting it",
               FLAG, group="image_mode", config_key="image_mode",
               request=(IMAGE_MODE, Decided("no_reboot", RESOLVED_MODE))),
    SaveOption(("--allow-instance-store-loss",),
               "with --stop: go ahead although the stop erases instance-store volumes",
               FLAG, field="allow_instance_store_loss",
               request=(Checked("allow_instance_store_loss", as_given),)),
    SaveOption(("--validate",),
               "boot a throwaway instance from the new AMI and register the "
               "template only if it runs and passes its status checks",
               FLAG, field="validate",
               request=(Checked("validate", as_given),)),
    SaveOption(("--deprecate-after",),
               "EC2 deprecation of the AMI and every copy after DAYS days "
               "(default: prism.deprecate_after_days in config)",
               DAYS, metavar="DAYS", field="deprecate_after", config_key="deprecate_after_days",
               request=(Checked("deprecate_after_days", deprecation_days, stage=AFTER_LOCKS),)),
    SaveOption(("--batch",),
               "save several instances: a YAML list of mappings with instance, template "
               "and any save option by its long name (copy_to_regions, stop, ...); save "
               "options given with --batch apply to every entry unless it says otherwise",
               scope=COMMAND, metavar="FILE.yaml"),
    SaveOption(("-y", "--yes"),
               "do not ask for confirmation (required when stdin is not a terminal)",
               FLAG, scope=COMMAND),
    SaveOption(("--detach",),
               "request the image here, then let the save engine in your account "
               "(`prism cloud setup`) do the rest; returns at once (see `prism saves`); "
               "with --stop the engine starts the instance again",
               FLAG, scope=COMMAND),
    SaveOption(("--dry-run",), "run every check, show the plan, change nothing", FLAG,
               scope=COMMAND),
    SaveOption(("--no-inherit",),
               "take nothing from the template's previous version (description, "
               "project, tags, sharing, copy regions)",
               FLAG, field="no_inherit",
               request=(Decided("inherited_from", INHERITANCE), Decided("inherited", INHERITANCE),
                        Decided("changed", INHERITANCE))),
    SaveOption(("--resume",), "finish the save(s) interrupted on this machine (or only SAVE_ID)",
               OPTIONAL, scope=COMMAND, metavar="SAVE_ID"),
    SaveOption(("--abort",),
               "undo the save(s) interrupted on this machine (or only SAVE_ID): bring the "
               "instance back and remove what they created in every region",
               OPTIONAL, scope=COMMAND, metavar="SAVE_ID"),
)

#: How each group's options become one :class:`SaveOptions` field.
GROUPS: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {}


def _image_mode(values: Mapping[str, Any]) -> dict[str, Any]:
    mode = image_mode.chosen(
        reboot=bool(values.get("reboot")),
        stop=bool(values.get("stop")),
        no_reboot=bool(values.get("no_reboot")),
    )
    return {"image_mode": mode, "no_reboot": mode == image_mode.NO_REBOOT}


def _secrets_policy(values: Mapping[str, Any]) -> dict[str, Any]:
    chosen = [
        name
        for name, key in (
            ("allow-secrets", "allow_secrets"),
            ("no-inspect", "no_inspect"),
            ("scrub", "scrub"),
        )
        if values.get(key)
    ]
    if len(chosen) > 1:
        hint = (
            "--scrub shares an image without the secrets, --allow-secrets one with them: "
            "choose one"
            if "scrub" in chosen and "allow-secrets" in chosen
            else "choose one"
        )
        raise InputError(f"--{chosen[0]} and --{chosen[1]} exclude each other", hint)
    return {"secrets_policy": chosen[0] if chosen else ""}


GROUPS.update(image_mode=_image_mode, secrets_policy=_secrets_policy)


@dataclass
class SaveOptions:
    """The raw options of one save, before validation (built by :func:`build`)."""

    instance: str
    template: str
    description: str | None = None
    copy_to_regions: str | None = None
    project: str | None = None
    public: bool = False
    share_with: str | None = None
    copy_to_accounts: str | None = None
    #: ``--fast-restore AZ[,AZ]``: zones of the save's regions (never inherited: it bills).
    fast_restore: str | None = None
    tags: list[str] = field(default_factory=list)
    no_reboot: bool = False
    #: ``reboot``, ``stop`` or ``no-reboot``; None: ``no-reboot`` if ``no_reboot``, else
    #: the configured default (``prism.image_mode``); see :func:`image_mode.resolve`.
    image_mode: str | None = None
    allow_instance_store_loss: bool = False
    validate: bool = False
    deprecate_after: int | str | None = None
    #: ``--allow-secrets`` / ``--no-inspect`` / ``--scrub`` (see ``SaveRequest.secrets_policy``).
    secrets_policy: str = ""
    plugin_options: dict[str, Any] = field(default_factory=dict)
    #: ``--no-inherit``: nothing is taken from the template's previous version.
    no_inherit: bool = False
    #: Copy regions when neither the command nor a previous version names any
    #: (``prism.default_copy_regions``).
    default_copy_regions: str | list[str] | None = None


def config_flags(config_key: str) -> str:
    """The flags that override a ``prism:`` config key (``--reboot/--stop/--no-reboot``)."""
    return "/".join(row.flags[-1] for row in SAVE_OPTIONS if row.config_key == config_key)


def table(plugin_options: Iterable[Any] = ()) -> tuple[SaveOption, ...]:
    """The built-in rows followed by the plugins' options as rows."""
    return (*SAVE_OPTIONS, *(from_plugin(o) for o in plugin_options))


def save_values(source: Any, rows: Iterable[SaveOption]) -> dict[str, Any]:
    """The values of the rows that describe a save (scopes SAVE and TARGET), read from
    parsed arguments (``app.pargs``)."""
    return {
        row.dest: getattr(source, row.dest, row.default)
        for row in rows
        if row.scope in (SAVE, TARGET)
    }


def build(
    values: Mapping[str, Any],
    rows: Iterable[SaveOption],
    default_copy_regions: str | list[str] | None = None,
) -> SaveOptions:
    """One save's :class:`SaveOptions` from ``values`` (dest -> value; a missing dest
    takes the row's default). Refuses options of one group that exclude each other."""
    rows = tuple(rows)
    kwargs: dict[str, Any] = {"default_copy_regions": default_copy_regions, "plugin_options": {}}
    groups: set[str] = set()
    for row in rows:
        value = values.get(row.dest, row.default)
        if row.kind == PLUGIN:
            kwargs["plugin_options"][row.dest] = value
        elif row.field is not None:
            kwargs[row.field] = value
        if row.group:
            groups.add(row.group)
    kwargs["instance"] = kwargs.get("instance") or ""
    kwargs["template"] = kwargs.get("template") or ""
    kwargs["tags"] = list(kwargs.get("tags") or [])
    for group in sorted(groups):
        kwargs.update(GROUPS[group](values))
    return SaveOptions(**kwargs)


def request_checks() -> list[tuple[str, Checked]]:
    """Every :class:`Checked` request field of the table once (a group's rows share one),
    with the :class:`SaveOptions` attribute it reads, in the order they run: by stage,
    then by ``order``, then as the rows come."""
    found: dict[str, tuple[str, Checked]] = {}
    for row in SAVE_OPTIONS:
        for item in row.request:
            if isinstance(item, Checked) and item.field not in found:
                found[item.field] = (item.source or row.field or item.field, item)
    found.setdefault(PLUGIN_OPTIONS.field, (PLUGIN_OPTIONS.source or "", PLUGIN_OPTIONS))
    return sorted(found.values(), key=lambda pair: (STAGES.index(pair[1].stage), pair[1].order))


def request_fields(options: SaveOptions, given: Given, stage: str = ASKED) -> dict[str, Any]:
    """The request fields the rows check at ``stage`` of ``plan_save``, from ``options``
    (:class:`InputError` for the first refused; nothing here reads the cloud but
    ``given.account``). Each is also kept in ``given.checked`` for the later checks.

    A check reads the attribute :attr:`Checked.source`, else the row's ``field``, else
    the one named as the request field (a group's ``secrets_policy``); ``--region`` has
    none and reads ``None`` (its value is :attr:`Given.region`)."""
    fields: dict[str, Any] = {}
    for source, item in request_checks():
        if item.stage == stage:
            raw = getattr(options, source, None)
            fields[item.field] = given.checked[item.field] = item.check(raw, given)
    return fields


def entry_values(
    entry: Any, where: str, rows: Iterable[SaveOption]
) -> dict[str, Any]:
    """A batch entry's keys (dashes or underscores; ``tags`` for ``tag``), checked and
    coerced; ``instance`` and ``template`` are required."""
    keys = {row.dest: row for row in rows if row.batch_key}
    if not isinstance(entry, dict):
        raise InputError(f"{where}: each entry must be a mapping with instance and template")
    values: dict[str, Any] = {}
    for raw_key, value in entry.items():
        key = str(raw_key).replace("-", "_")
        if key == "tags":
            key = "tag"
        if key not in keys:
            raise InputError(
                f"{where}: unknown option {str(raw_key)[:40]!r}", f"use {', '.join(sorted(keys))}"
            )
        values[key] = value
    for row in keys.values():
        if row.scope == TARGET and not values.get(row.dest):
            raise InputError(
                f"{where}: {row.dest} is missing", "every entry needs instance and template"
            )
    return {
        key: keys[key].coerce(value, where)
        for key, value in values.items()
        if keys[key].kind in (FLAG, PLUGIN) or _given(keys[key], value)
    }


def _given(row: SaveOption, value: Any) -> bool:
    if value is None:
        return False
    return row.empty_is_value or not (isinstance(value, str | list | dict) and not value)


def merge_batch(
    flags: Mapping[str, Any], entry: Mapping[str, Any], rows: Iterable[SaveOption]
) -> dict[str, Any]:
    """One entry's values over the batch-wide flags: a key the entry gives wins; a key of
    a group the entry names (e.g. ``stop``) drops the flags of that whole group."""
    rows = tuple(rows)
    named = {row.group for row in rows if row.group and row.dest in entry}
    merged = {
        row.dest: flags[row.dest]
        for row in rows
        if row.scope == SAVE and row.dest in flags and row.group not in named - {None}
    }
    merged.update(entry)
    return merged
