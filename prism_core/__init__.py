"""prism: save customised EC2 research workstations as shareable, launchable templates.

Plugin authors need only this module::

    from prism_core import hookimpl

    @hookimpl
    def prism_pre_stop(ctx):
        ...
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "hookimpl"]

TYPE_CHECKING = False  # not typing's: importing typing would slow ``prism --version``
if TYPE_CHECKING:  # what type checkers see of the lazily created marker
    from pluggy import HookimplMarker

    hookimpl: HookimplMarker


def __getattr__(name: str) -> object:
    """``hookimpl`` (the marker for hook implementations; built-in and third-party
    plugins use the same one), created on first use so ``prism --version`` does not
    import pluggy (nor :mod:`typing`)."""
    if name == "hookimpl":
        import pluggy

        marker = pluggy.HookimplMarker("prism")
        globals()["hookimpl"] = marker
        return marker
    raise AttributeError(f"module 'prism_core' has no attribute {name!r}")
