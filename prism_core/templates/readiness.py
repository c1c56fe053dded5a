"""``prism launch --wait-ready``: wait until the setup script says it is done.

The script prism renders (:mod:`prism_core.templates.userdata`) prints a marker on the
instance's console when it finishes or fails; EC2 shows the console through
``GetConsoleOutput`` with no agent or network access to the instance.
"""

from __future__ import annotations

import base64
import binascii
import threading
from typing import Any

from prism_core.aws.waiting import wait_for
from prism_core.exceptions import OperationFailed
from prism_core.settings import Settings
from prism_core.templates.userdata import FAILED_MARKER, READY_MARKER


def console_text(ec2: Any, instance_id: str) -> str:
    """The instance's console output, decoded ("" while EC2 has none yet)."""
    answer = ec2.get_console_output(InstanceId=instance_id, Latest=True)
    output = str(answer.get("Output") or "")
    try:  # EC2 sends base64; some endpoints (and SDK versions) hand back the text
        return base64.b64decode(output, validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return output


def marker_state(text: str) -> tuple[str, str] | None:
    """``("ready", line)`` or ``("failed", line)`` for the last marker in ``text``."""
    for line in reversed(text.splitlines()):
        if READY_MARKER in line:
            return "ready", line.strip()
        if FAILED_MARKER in line:
            return "failed", line.strip()
    return None


def wait_ready(
    ec2: Any, instance_id: str, settings: Settings, cancel: threading.Event | None = None
) -> str:
    """Poll the console until the setup marker appears; return its line.

    Raises :class:`OperationFailed` when the script reports a failure or the wait
    exceeds ``prism.timeouts.setup``.
    """

    def ready() -> str | None:
        state = marker_state(console_text(ec2, instance_id))
        if state is None:
            return None
        kind, line = state
        if kind == "failed":
            raise OperationFailed(
                f"setup of {instance_id} failed: {line[line.find(FAILED_MARKER) :]}",
            )
        return line

    return str(
        wait_for(
            ready,
            what=f"the setup script of {instance_id} to finish",
            timeout=settings.timeouts["setup"],
            poll=max(settings.poll_delay, 0.01),
            hint="it keeps running: see /var/log/prism-setup.log on the instance; "
            "raise prism.timeouts.setup in config",
            cancel=cancel,
        )
    )
