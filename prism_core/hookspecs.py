"""The hooks prism calls, each declared once here: its signature, whether the first result
wins, and its docstring. docs/plugins.md's hook reference is generated from this module
(``python -m prism_core.hook_reference``; a unit test checks the docs are current), so a
docstring is written for plugin authors: a one-line summary, a ``Fires:`` paragraph,
a ``Returns:`` paragraph, then anything else they need.

The save phases come first, in the order ``prism save`` runs them (that order, with each
phase's failure policy and resume behaviour, is :mod:`prism_core.save.phases`); every one
takes the keyword argument ``ctx`` (a :class:`prism_core.save.context.SaveContext`), more
keyword arguments may be added later, and pluggy lets an implementation accept any subset
of them. A *first result wins* hook (``firstresult``) is answered by the first
implementation that returns something other than ``None``; the built-in providers are
registered ``trylast``, so a third-party plugin that returns a result replaces them and
one that returns ``None`` defers to them. Then the hooks that are not save phases: the
storage estimate, the CLI and configuration hooks (fired once per run, before the command
line is parsed) and the IAM statements.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from prism_core.plugin_api import Command, IamStatement, Option, PluginSettings
    from prism_core.save.context import SaveContext
    from prism_core.save.state import RegionImage

hookspec = pluggy.HookspecMarker("prism")


@hookspec
def prism_pre_stop(ctx: SaveContext) -> list[str] | str | None:
    """Check the save before anything changes in the cloud.

    Fires: after prism's own input checks, before the confirmation and before the
    instance is stopped; also during ``--dry-run``. Every implementation runs.
    ``prism save --resume`` runs every implementation again on the journaled request
    (with ``ctx.resuming`` true) before it changes anything more; a refusal refuses the
    resume (the journal is kept, ``--abort`` undoes the save). Skip checks that only
    make sense for a new save, such as free image names, when ``ctx.resuming``.

    Returns: a note or a list of notes shown in the plan (``Note: ...``), or ``None``.
    Raise (ideally ``InputError``) to refuse the save: the message is shown on one
    line, exit code 2, nothing changed.
    """


@hookspec(firstresult=True)
def prism_image(ctx: SaveContext) -> RegionImage | None:
    """Create the image of the instance in the source region. First result wins.

    Fires: once the instance is stopped with ``--stop``; at once in the default mode
    (``ctx.request.image_mode == "reboot"``: CreateImage without ``NoReboot``, EC2
    reboots the instance), with ``--no-reboot`` or for an instance already stopped.

    Returns: the source ``RegionImage``, as soon as every EBS mapping lists a snapshot
    id (not when the image is ``available``): with ``--stop`` prism restarts the
    instance right after. Record the new image id with ``ctx.record_image(...)`` as
    soon as it exists.
    """


@hookspec
def prism_post_image(ctx: SaveContext) -> None:
    """Work on the source image after the instance is running again.

    Fires: after the restart. The built-in implementation (``tryfirst``) waits until
    the image is ``available`` (or reports its ``StateReason`` if it ends ``failed``),
    applies ``--public``/``--share-with`` in the source region and sets the EC2
    deprecation time of ``--deprecate-after`` (``ctx.request.deprecate_after_days``),
    so later implementations see an available image. Every implementation runs.

    Returns: nothing (ignored). Raise ``ValidationFailed`` to stop the save here: the
    image is kept but not copied, registered or written as a template (the built-in
    ``boot-check`` plugin does this for ``prism save --validate``). Other exceptions
    are recorded as a failed step and the save goes on.
    """


@hookspec(firstresult=True)
def prism_copy(ctx: SaveContext) -> dict[str, RegionImage] | None:
    """Copy the image to ``ctx.request.copy_to_regions`` and share each copy. First result wins.

    Fires: after ``prism_post_image`` (and the scrub of ``--scrub``), also when there
    are no copy regions (return ``{}``). Record each copy with ``ctx.record_image(...)``
    as soon as its id exists.

    Returns: region to ``RegionImage``; a region that fails is returned with ``error``
    set, never raised, so the other regions are kept. Each copy gets the request's
    sharing and ``deprecate_after_days`` (EC2 deprecation time), as the built-in does.
    """


@hookspec
def prism_register(ctx: SaveContext) -> list[str] | None:
    """Register the saved template where others can find it.

    Fires: once the images are available (and fast restore enabled, when asked), with
    ``ctx.images()`` holding every region that succeeded. Every implementation runs.
    Register ``ctx.template_document()``: it runs ``prism_template_render`` once per
    save (later calls return a deep copy of the same document), so the registry holds
    exactly what the template file will hold.

    Returns: the locations written (e.g. SSM parameter names, prefixed with the
    region), so they are journaled, reported and removable; or ``None``.
    """


@hookspec(firstresult=True)
def prism_template_render(ctx: SaveContext) -> dict[str, Any] | None:
    """Build the template document that ``prism launch`` uses. First result wins.

    Fires: once per save, the first time the document is needed: when a
    ``prism_register`` implementation calls ``ctx.template_document()`` (the built-in
    ``ssm-registry`` does, at the start of the register phase), else in the last,
    template phase. The phase order does not change; rendering moves forward so that
    the registry stores the rendered document. prism validates the document against
    the template schema, journals it, registers it, and writes
    ``$PRISM_HOME/templates/<name>.yaml`` with PyYAML's safe dumper: the registry
    entry and the file hold the same document. It must keep the save's ``name``.

    Returns: the template dict (``name``, ``description``, ``base``, ``saved_from``,
    ``saved_date``, ``ami_config``, ``instance_defaults``, ``tags``, ...). To add
    fields or act on the final document, implement a wrapper
    (``@hookimpl(wrapper=True)``), amend what ``yield`` gives you (a deep copy: nested
    fields included, change it freely) and return it. An outer wrapper
    (``tryfirst=True``) sees what inner wrappers added.
    """


# -- estimates (not save phases) -----------------------------------------------------


@hookspec(firstresult=True)
def prism_snapshot_prices(ctx: SaveContext) -> dict[str, float] | None:
    """Snapshot storage prices for the save's storage estimate. First result wins.

    Fires: once per save when the plan is built (before the confirmation; also during
    ``--dry-run`` and for each entry of ``--batch``), after ``prism_pre_stop``.
    Wrappers are not called.

    Returns: ``{region: USD per GB-month}``, with an optional ``"default"`` key for
    regions not listed, or ``None`` to leave prism's default (0.05, the us-east-1 list
    price) to every region. The plan shows one storage estimate (``Storage: ...``), the
    instance's EBS volume sizes times the price in each of the save's regions
    (``ctx.source_region`` and ``ctx.request.copy_to_regions``), and names the plugin
    whose prices it used; ``--dry-run -o json`` gives them as
    ``storage_estimate.price_per_gb_month_usd_by_region`` and ``prices_from``. Each
    price must be a finite number from 0 to 100: an answer that is not, or an
    exception, is reported in the plan naming the plugin, and prism's default is used
    (the save goes on). Do not add an estimate line of your own from
    ``prism_pre_stop``; implement this hook instead.
    """


# -- extending the CLI and the configuration (not save phases) ---------------------


@hookspec
def prism_add_options(command: str) -> list[Option] | None:
    """Add options to a built-in command (today only ``command == "save"``).

    Fires: once per run, before the command line is parsed, with ``command="save"``.
    Every implementation runs.

    Returns: a list of ``Option(flags, help, action=..., default=..., metavar=...)``,
    or ``None``. The value reaches every phase as ``ctx.options[option.dest]`` and is
    journaled, so ``prism save --resume`` sees it too. Like prism's own save options
    (one table, ``prism_core/save/options.py``), a non-positional option is also a key
    of ``prism save --batch`` entries (its dest; checked as argparse checks it) and,
    given with ``--batch``, applies to every entry that does not set it. A flag or dest
    already used by prism or by another plugin stops prism with one line naming both
    (exit 2).
    """


@hookspec
def prism_add_commands() -> list[Command] | None:
    """Add top-level commands (``prism NAME ...``), each a command or a group.

    Fires: once per run, before the command line is parsed. Every implementation
    runs. Keep it cheap: ``prism --help`` imports the plugin, so import a command's
    code when its handler runs, not at the top of the plugin's module.

    Returns: a list of ``Command(name, help, handler, arguments)``, or groups
    ``Command(name, help, subcommands=(...))`` for ``prism NAME SUB``; or ``None``. The
    handler is called as ``handler(app, args)`` and returns the exit code (``None`` is
    0); every command also gets ``-o/--output`` and ``--debug``; a command declared
    with ``aws=True`` (it talks to AWS) also gets ``--profile NAME`` and builds its
    clients with ``aws_clients(app)``. Raise ``InputError`` for bad input. A name used
    by prism (``save``, ``ami``, ``plugins``, ``launch``, ``demo``, ...) or by another
    plugin stops prism with one line naming both (exit 2).
    """


@hookspec
def prism_settings() -> PluginSettings | list[PluginSettings] | None:
    """Declare the plugin's own section(s) of ``prism.yml``: defaults and schema.

    Fires: once per run, when the settings are first read (before a save checks
    anything, or when a command calls ``app.plugin_settings``). Every implementation
    runs.

    Returns: ``PluginSettings(section, defaults={...}, schema={...JSON Schema...})``,
    a list of them, or ``None``. Read the merged, validated section with
    ``ctx.plugin_settings(section)`` in hooks or ``app.plugin_settings(section)`` in
    commands. A value that breaks the schema refuses the command with a one-line error
    naming the field (exit 2), as for prism's own ``prism:`` section. A section
    declared by two plugins (or ``prism``) is an error that names both.
    """


@hookspec
def prism_config_defaults() -> dict[str, dict[str, Any]] | None:
    """Contribute configuration defaults for any section (an institution's packaged config).

    Fires: once per run, before the config files are read. Every implementation runs.

    Returns: ``{section: {key: value}}``, the shape of ``prism.yml``, or ``None``.
    These sit below ``/etc/prism/prism.yml`` and ``$PRISM_HOME/config.yml``, which
    override them key by key.
    """


# -- IAM (not a save phase) ----------------------------------------------------------


@hookspec
def prism_iam_statements(config: Mapping[str, Mapping[str, Any]]) -> list[IamStatement] | None:
    """Declare the IAM permissions the plugin's AWS calls need.

    Fires: when ``prism iam-policy`` prints the policy (and in tests, when the
    ``prism_iam_check`` fixture checks what was sent). Every implementation runs.
    ``config`` is the merged configuration, section name to settings, the plugin's
    section with its defaults, so a resource can name the configured bucket.

    Returns: a list of ``IamStatement(sid, actions, resources, uses, condition=None,
    kind="call")``, or ``None``. ``uses`` says when the statement is needed: prism's
    uses (``save``, ``launch``, ``templates``) for calls the plugin makes inside those
    commands (a phase hook of ``prism save``), and the plugin's own top-level command
    names. ``prism iam-policy`` includes every loaded plugin's statements in ``--for
    all`` and in the uses they name; ``prism iam-policy --for COMMAND`` prints the
    statements of one plugin command. A ``Sid`` already used by prism or another
    plugin stops ``iam-policy`` with one line naming both. Scope resources as prism
    does: an ARN of what the plugin owns (``{partition}`` is filled in), and a
    condition on prism's ownership tag (``aws:ResourceTag/prism:save-id`` on images and
    snapshots a save made) for anything that changes an existing resource;
    ``Resource: "*"`` only for read-only calls that have no resource-level permissions.
    """
