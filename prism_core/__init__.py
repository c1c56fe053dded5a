"""prism: save customised EC2 research workstations as shareable, launchable templates.

Plugin authors need only this module::

    from prism_core import hookimpl

    @hookimpl
    def prism_pre_stop(ctx):
        ...
"""

import pluggy

__version__ = "0.1.0"

#: Marker for hook implementations; built-in and third-party plugins use the same one.
hookimpl = pluggy.HookimplMarker("prism")

__all__ = ["__version__", "hookimpl"]
