"""The save phases plugins implement, in the order ``prism save`` runs them (that order,
with each phase's failure policy and resume behaviour, is :mod:`prism_core.save.phases`).

Every hook takes the keyword argument ``ctx`` (a :class:`prism_core.save.context.SaveContext`);
more keyword arguments may be added later, and pluggy lets an implementation accept
any subset, so write ``def prism_image(ctx):``. ``ctx.request`` is the save request
(``instance_id``, ``instance_name``, ``template_name``, ``description``,
``copy_to_regions``, ``tags``, ``project_id``, ``public``, ``share_with``, ``region``).

Phases marked *first result wins* are answered by one provider: the first
implementation to return something other than ``None`` stops the call. The built-in
providers are registered ``trylast``, so a third-party plugin that returns a result
replaces them, and one that returns ``None`` defers to them.

``prism_snapshot_prices`` is not a save phase either: it supplies the prices of the
storage estimate shown in the plan.

The CLI hooks at the end (``prism_add_options``, ``prism_add_commands``,
``prism_settings``, ``prism_config_defaults``) are not save phases: they fire once
per run, before the command line is parsed, and must be fast (no AWS calls, no
heavy imports). ``prism_iam_statements`` fires only when the IAM policy is printed.
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

    Fires after prism's own input checks, before the confirmation and before the
    instance is stopped; also during ``--dry-run``. Every implementation runs.
    ``prism save --resume`` runs it again, with ``ctx.resuming`` true, on the journaled
    request before it changes anything more: a refusal then refuses the resume (checks
    that only make sense for a new save, such as free image names, should be skipped
    when ``ctx.resuming``).

    Raise an exception (ideally :class:`prism_core.exceptions.InputError`) to refuse
    the save: its message is shown to the user and nothing is changed. Return a note
    (or a list of notes) to show in the plan, or ``None``.
    """


@hookspec(firstresult=True)
def prism_image(ctx: SaveContext) -> RegionImage | None:
    """Create the image of the instance in the source region. First result wins.

    Fires once the instance is stopped with ``--stop``; straight away in the default
    mode (``ctx.request.image_mode == "reboot"``: CreateImage without ``NoReboot``, EC2
    reboots the instance), with ``--no-reboot`` or for an instance already stopped.
    The implementation must record the new image id with ``ctx.record_image(...)`` as
    soon as it exists, and return only when it is safe to start the instance again
    (every EBS mapping lists a snapshot id), not when the image is ``available``.
    prism restarts the instance (``--stop``) right after.

    Return the source :class:`~prism_core.save.state.RegionImage`.
    """


@hookspec
def prism_post_image(ctx: SaveContext) -> None:
    """Work on the source image after the instance is running again.

    Fires after the instance restart; the built-in implementation (``tryfirst``)
    waits until the image is ``available`` (or reports its ``StateReason`` if it
    ends ``failed``), applies ``--public``/``--share-with`` in the source region and
    sets the EC2 deprecation time of ``--deprecate-after``
    (``ctx.request.deprecate_after_days``), so later implementations see an available
    image. Every implementation runs;
    the return value is ignored.

    Raise :class:`prism_core.exceptions.ValidationFailed` to stop the save here: the
    image is kept but not copied, registered or written as a template (the built-in
    ``boot-check`` plugin does this for ``prism save --validate``). Other exceptions
    are recorded as a failed step and the save goes on.
    """


@hookspec(firstresult=True)
def prism_copy(ctx: SaveContext) -> dict[str, RegionImage] | None:
    """Copy the image to ``ctx.request.copy_to_regions`` and share each copy. First result wins.

    Fires after ``prism_post_image``, also when there are no copy regions (return
    ``{}``). Record each copy with ``ctx.record_image(...)`` as soon as its id exists.
    A region that fails is returned with ``error`` set, never raised, so the other
    regions are kept. Apply the request's sharing and ``deprecate_after_days`` (EC2
    deprecation time) to each copy as the built-in does. Return a dict of region to
    :class:`~prism_core.save.state.RegionImage`.
    """


@hookspec
def prism_register(ctx: SaveContext) -> list[str] | None:
    """Register the saved template where others can find it.

    Fires once the images are available, with ``ctx.images()`` holding every region
    that succeeded. Every implementation runs. Register the rendered document:
    ``ctx.template_document()`` runs ``prism_template_render`` (once per save; later
    calls return a deep copy of the same result), so the registry holds exactly what
    the template file will hold. Return the locations written (e.g. SSM parameter
    names, prefixed with the region) so they are journaled, reported and removable,
    or ``None``.
    """


@hookspec(firstresult=True)
def prism_template_render(ctx: SaveContext) -> dict[str, Any] | None:
    """Build the template document that ``prism launch`` uses. First result wins.

    Fires once per save, the first time the document is needed: when a
    ``prism_register`` implementation calls ``ctx.template_document()`` (the built-in
    ``ssm-registry`` does, at the start of the register phase), else in the template
    phase that comes last. The phase order is unchanged; only the rendering moves
    forward, so the registry stores the rendered document. Return a dict (the
    template: ``name``, ``description``, ``base``, ``saved_from``, ``saved_date``,
    ``ami_config``, ``instance_defaults``, ``tags``, ...); prism validates it against
    the template schema, journals it, registers it and writes it to
    ``$PRISM_HOME/templates/<name>.yaml``. To add fields, implement this hook as a
    wrapper (``@hookimpl(wrapper=True)``) and amend the document it yields (a deep
    copy: change it freely).
    """


# -- estimates (not save phases) -----------------------------------------------------


@hookspec(firstresult=True)
def prism_snapshot_prices(ctx: SaveContext) -> dict[str, float] | None:
    """Snapshot storage prices for the save's storage estimate. First result wins.

    Fires once per save when the plan is built (before the confirmation; also during
    ``--dry-run`` and for each entry of ``--batch``), after ``prism_pre_stop``. The
    plan shows one storage estimate: the instance's EBS volume sizes times the price
    in each of the save's regions (``ctx.source_region`` and
    ``ctx.request.copy_to_regions``). Return ``{region: USD per GB-month}``, with an
    optional ``"default"`` key for regions not listed, or ``None`` to leave prism's
    default (0.05, the us-east-1 list price) to every region. Each price must be a
    finite number from 0 to 100; an answer that is not, or an exception, is reported
    in the plan naming the plugin and prism's default is used (the save goes on).
    Wrappers are not called.
    """


# -- extending the CLI and the configuration (not save phases) ---------------------


@hookspec
def prism_add_options(command: str) -> list[Option] | None:
    """Add options to a built-in command (today only ``command == "save"``).

    Fires once per run, before the command line is parsed. Every implementation
    runs. Return a list of :class:`~prism_core.plugin_api.Option` (or ``None``); their
    values reach the save phases as ``ctx.options[option.dest]``. An option name
    (any of its flags, or its dest) used by prism or by another plugin is an error
    that names both.
    """


@hookspec
def prism_add_commands() -> list[Command] | None:
    """Add top-level commands (``prism NAME ...``), each a command or a group.

    Fires once per run, before the command line is parsed. Every implementation
    runs. Return a list of :class:`~prism_core.plugin_api.Command` (or ``None``); the
    handler is called as ``handler(app, args)`` and returns the exit code. A command
    name used by prism or by another plugin is an error that names both.
    """


@hookspec
def prism_settings() -> PluginSettings | list[PluginSettings] | None:
    """Declare the plugin's own section(s) of ``prism.yml``: defaults and schema.

    Fires once per run, when settings are first read (before a save checks
    anything). Every implementation runs. Return a
    :class:`~prism_core.plugin_api.PluginSettings` (or a list, or ``None``); a config
    section that does not match its schema refuses the command (exit 2). A section
    declared by two plugins is an error that names both.
    """


@hookspec
def prism_config_defaults() -> dict[str, dict[str, Any]] | None:
    """Contribute configuration defaults for any section (an institution's packaged config).

    Fires once per run, before the config files are read. Every implementation
    runs. Return a mapping of section name to settings (the shape of ``prism.yml``),
    or ``None``. These sit below ``/etc/prism/prism.yml`` and
    ``$PRISM_HOME/config.yml``, which override them key by key.
    """


@hookspec
def prism_iam_statements(config: Mapping[str, Mapping[str, Any]]) -> list[IamStatement] | None:
    """Declare the IAM permissions the plugin's AWS calls need.

    Fires when ``prism iam-policy`` prints the policy (and in tests that check what
    prism sends against it). Every implementation runs. ``config`` is the merged
    configuration, section name to settings (the plugin's own section with its
    defaults), so resources can name e.g. the configured bucket. Return a list of
    :class:`~prism_core.plugin_api.IamStatement` (or ``None``); ``prism iam-policy``
    includes them in ``--for all``, in ``--for save|launch|templates`` when their
    ``uses`` name that, and ``--for COMMAND`` prints a plugin command's own. A ``sid``
    used twice is an error that names both.
    """
