"""The save: request, state, context, journal, plan, lock, guard, pipeline, abort, wizard."""
