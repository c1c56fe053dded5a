"""Console output of sandbox instances: what cloud-init prints while running user data.

moto answers ``GetConsoleOutput`` with a fixed kernel log. A real instance launched
with a prism setup script shows cloud-init running it and the script's final marker
line on the console; this patch adds those lines once the instance is running. The
script's outcome is ``Sandbox.setup_outcome`` ("complete", "failed", or "hang" for
a script that never finishes), so tests can exercise each path of
``prism launch --wait-ready``.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import re
from typing import Any

from moto.core.responses import ActionResult
from moto.core.utils import utcnow
from moto.ec2.responses.general import SAMPLE_CONSOLE_OUTPUT, General
from moto.ec2.utils import Base64EncodedString

_MARKER = re.compile(r'prism_console "(PRISM-SETUP-COMPLETE template=[A-Za-z0-9_.-]+)"')
_installed = False


def _script(instance: Any) -> str | None:
    data = getattr(instance, "user_data", None)
    if data is None:
        return None
    try:
        raw = base64.b64decode(str(data))
    except (binascii.Error, ValueError):
        return None
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    return raw.decode("utf-8", "replace")


def cloud_init_lines(script: str, outcome: str) -> list[str]:
    """The console lines cloud-init (and the script's markers) would print."""
    lines = ["Cloud-init v. 24.4 running 'modules:final' (sandbox)"]
    found = _MARKER.search(script)
    if found is None or outcome == "hang":
        return lines
    if outcome == "failed":
        ready = found.group(1)
        template = ready.split("template=", 1)[1]
        lines.append(
            f"PRISM-SETUP-FAILED template={template} line=12 exit=100 "
            "(see /var/log/prism-setup.log)"
        )
        return lines
    lines += [found.group(1), "Cloud-init v. 24.4 finished (sandbox)"]
    return lines


def _patched_get_console_output(self: General) -> ActionResult:
    from .patches import _sandbox

    instance = self.ec2_backend.get_instance(self._get_param("InstanceId"))
    text = SAMPLE_CONSOLE_OUTPUT
    sb = _sandbox()
    script = _script(instance)
    if sb is not None and script is not None and instance.state == "running":
        text += "\n".join(cloud_init_lines(script, sb.setup_outcome)) + "\n"
    return ActionResult(
        {
            "InstanceId": instance.id,
            "Timestamp": utcnow(),
            "Output": Base64EncodedString.from_raw_string(text),
        }
    )


def install() -> None:
    """Install the patch (idempotent; called with the sandbox's other patches)."""
    global _installed
    if not _installed:
        General.get_console_output = _patched_get_console_output  # type: ignore[method-assign]
        _installed = True
