"""Ctrl-Z (SIGTSTP) while prism holds an instance stopped: ignored, and said so.

A suspended prism would keep the instance down for as long as it stays suspended (its
watchdog sees a live owner for the grace first). So from just before StopInstances
until the instance is started again, SIGTSTP only prints a line on stderr; outside
those moments Ctrl-Z suspends prism as usual. SIGSTOP cannot be caught: the watchdog
handles a prism suspended that way (:mod:`prism_core.save.owner`).

The handler is installed from the main thread (:func:`install`; a batch installs it
before its worker threads start); :func:`instance_down` / :func:`instance_up` may be
called from any thread.
"""

from __future__ import annotations

import os
import signal
import threading
from typing import Any

_lock = threading.Lock()
_down: dict[str, int] = {}
_installed = False


def install() -> None:
    """Install the SIGTSTP handler (main thread only; elsewhere, and twice, a no-op)."""
    global _installed
    if _installed or not hasattr(signal, "SIGTSTP"):
        return
    if threading.current_thread() is not threading.main_thread():
        return
    signal.signal(signal.SIGTSTP, _on_tstp)
    _installed = True


def instance_down(instance_id: str) -> None:
    """``instance_id`` is about to be stopped by this process: Ctrl-Z is ignored."""
    install()
    with _lock:
        _down[instance_id] = _down.get(instance_id, 0) + 1


def instance_up(instance_id: str) -> None:
    """``instance_id`` was started again (or never stopped): Ctrl-Z works again."""
    with _lock:
        count = _down.get(instance_id, 0) - 1
        if count > 0:
            _down[instance_id] = count
        else:
            _down.pop(instance_id, None)


def held_down() -> list[str]:
    """The instances this process holds stopped now."""
    with _lock:
        return sorted(_down)


def _on_tstp(signum: int, frame: Any) -> None:
    down = held_down()
    if down:
        message = (
            f"prism: Ctrl-Z ignored while instance {', '.join(down)} is stopped; prism can "
            "be suspended again once it runs\n"
        )
        try:
            os.write(2, message.encode("utf-8", "replace"))
        except OSError:
            pass
        return
    # nothing held down: suspend as the default action would, then handle Ctrl-Z again
    signal.signal(signal.SIGTSTP, signal.SIG_DFL)
    try:
        os.kill(os.getpid(), signal.SIGTSTP)
    finally:
        signal.signal(signal.SIGTSTP, _on_tstp)
