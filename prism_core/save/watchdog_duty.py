"""What the ``--stop`` watchdog does about its instance, decided by the cloud's answer.

Kept apart from the process plumbing (:mod:`prism_core.save.watchdog`) so the rules are
read, and tested, on their own: the instance's state in EC2 decides, never a local file.
Once it decided to start the instance, the restart is the guard's routine
(:mod:`prism_core.save.restart`), confirmation included.
"""

from __future__ import annotations

from prism_core.save.restart import GONE
from prism_core.save.restart import UP as BACK

# What to do next.
DONE = "done"  # the instance is back: leave
LEAVE = "leave"  # the instance is gone: nothing to restart, leave at once
WAIT = "wait"  # still stopping, or EC2 did not answer: look again
START = "start"  # stopped: start it


def next_step(state: str | None, *, seen_back: bool, stop_in_flight: bool) -> str:
    """The watchdog's next step once its owner is gone, from the instance's ``state``.

    ``seen_back``: the previous look also found it up. ``stop_in_flight``: a StopInstances
    may have been sent just before the owner went (the watchdog assumes so: no file
    tells it otherwise); an instance found up is then looked at once more before the
    watchdog leaves, so a stop that lands late is not left unguarded.
    """
    if state in GONE:
        return LEAVE
    if state in BACK:
        return DONE if seen_back or not stop_in_flight else WAIT
    if state == "stopped":
        return START
    return WAIT  # stopping, or "unknown" (EC2 did not answer)
