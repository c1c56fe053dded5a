"""How a save images the instance: the mode chosen, and whether it stops or reboots it.

The one home of these rules: the command line and batch entries choose a mode with
:func:`chosen`, the plan resolves it against the configuration with :func:`resolve`,
and the plan, the guard, the pre-flight and the detached save ask :func:`stops` and
:func:`reboots`.
"""

from __future__ import annotations

from prism_core.exceptions import InputError
from prism_core.settings import IMAGE_MODES

#: The modes, in the order ``--help`` names them (config ``prism.image_mode`` checks
#: its value against the same tuple).
MODES = IMAGE_MODES
REBOOT, STOP, NO_REBOOT = MODES


def chosen(*, reboot: bool = False, stop: bool = False, no_reboot: bool = False) -> str | None:
    """The mode the flags ``--reboot``/``--stop``/``--no-reboot`` choose (``None``: none
    given); more than one is refused."""
    modes = [mode for mode, on in ((REBOOT, reboot), (STOP, stop), (NO_REBOOT, no_reboot)) if on]
    if len(modes) > 1:
        raise InputError("--" + ", --".join(modes) + " exclude each other", "choose one image mode")
    return modes[0] if modes else None


def resolve(mode: str | None, no_reboot: bool, configured: str) -> str:
    """The save's mode: the one chosen, else ``no-reboot`` if ``no_reboot`` (the older
    field), else the configured default (``prism.image_mode``)."""
    return mode or (NO_REBOOT if no_reboot else configured)


def stops(mode: str, instance_state: str | None) -> bool:
    """Whether prism stops the instance: ``--stop`` and the instance running."""
    return mode == STOP and instance_state == "running"


def reboots(mode: str, instance_state: str | None) -> bool:
    """Whether EC2 reboots the instance during CreateImage: ``reboot`` and running."""
    return mode == REBOOT and instance_state == "running"
