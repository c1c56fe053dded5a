"""The save: request, state, context, journal, plan, lock, guard, pipeline, abort.

The wizard that asks for missing arguments is the CLI's
(:mod:`prism_core.cli.commands.save_wizard`); the engine reports through
:class:`prism_core.reporting.ProgressReporter`."""
