"""Fault injection and the API call log of a sandbox server (no moto imports)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any


@dataclass
class _Fault:
    action: str
    region: str | None
    remaining: int  # -1 = forever
    code: str
    message: str
    status: int
    dry_run: bool = False
    after: str | None = None  # armed once a (non-dry-run) call of this action passed


@dataclass
class _ImageFailure:
    region: str | None
    remaining: int
    reason: str


class Faults:
    """Errors the sandbox answers instead of moto, and the log of calls it received.

    Thread-safe: tests arm faults from their own thread while the server thread
    consumes them.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[_Fault] = []
        self._image_failures: list[_ImageFailure] = []
        self._invisible: list[int] = []
        self._calls: list[tuple[str, str]] = []
        self._prism_actions: set[str] = set()
        self._authorizations: list[Any] = []
        self._delays: list[list[Any]] = []  # [action, region, seconds, remaining]

    # -- arming -------------------------------------------------------------
    def inject(
        self,
        action: str,
        *,
        region: str | None = None,
        times: int = 1,
        code: str = "InternalError",
        message: str = "Injected fault",
        status: int = 500,
        dry_run: bool = False,
        after: str | None = None,
    ) -> None:
        """Answer the next `times` calls of `action` (in `region`, None = any) with an error.

        `times=-1` keeps failing until :meth:`clear`. The request never reaches moto.
        Calls with ``DryRun=true`` are matched only when ``dry_run`` is true, so a fault
        aimed at the real call does not trip a pre-flight permission check instead.
        With ``after`` (an action) the fault is armed only once a call of that action
        (not a dry run, in the same region filter) has been received, so a fault aimed at
        a later step (``DescribeInstances`` while waiting for a new instance) lets the
        same action's earlier calls (a pre-flight lookup) through.
        """
        if times == 0:
            return
        with self._lock:
            self._faults.append(
                _Fault(action, region, times, code, message, status, dry_run, after)
            )

    def delay(
        self, action: str, seconds: float, *, region: str | None = None, times: int = 1
    ) -> None:
        """Hold the answer to the next ``times`` calls of ``action`` for ``seconds``
        *after* the call took effect: a client killed meanwhile made the change but
        never learned it (the moment between an upload and its record)."""
        with self._lock:
            self._delays.append([action, region, float(seconds), times])

    def fail_image(
        self,
        *,
        region: str | None = None,
        times: int = 1,
        reason: str = "Client.InternalError: Client error on snapshot creation",
    ) -> None:
        """The next `times` images created or copied in `region` end in state ``failed``."""
        if times == 0:
            return
        with self._lock:
            self._image_failures.append(_ImageFailure(region, times, reason))

    def invisible_image(self, *, times: int = 2) -> None:
        """The next new AMI id answers DescribeImages(ImageIds=[id]) with NotFound `times` times."""
        with self._lock:
            self._invisible.append(times)

    def calls(self) -> list[tuple[str, str]]:
        """(region, action) of every EC2/SSM/STS request received, in order."""
        with self._lock:
            return list(self._calls)

    def prism_actions(self) -> set[str]:
        """``service:Action`` of every request prism itself sent (its User-Agent says
        ``prism/``), whatever the service, since the last :meth:`clear_calls`."""
        with self._lock:
            return set(self._prism_actions)

    def authorizations(self) -> list[Any]:
        """What IAM would check for each request prism sent since the last
        :meth:`clear_calls` (:class:`prism_sandbox.iam_requests.Authorization`; recorded
        only while the sandbox's ``record_iam`` is on)."""
        with self._lock:
            return list(self._authorizations)

    def clear_calls(self) -> None:
        with self._lock:
            self._calls.clear()
            self._prism_actions.clear()
            self._authorizations.clear()

    def clear(self) -> None:
        """Disarm every fault (the call log is kept; see :meth:`clear_calls`)."""
        with self._lock:
            self._faults.clear()
            self._image_failures.clear()
            self._invisible.clear()
            self._delays.clear()

    # -- consumed by the server ---------------------------------------------
    def _record(self, region: str, action: str) -> None:
        with self._lock:
            self._calls.append((region, action))

    def _record_prism(self, service: str, action: str) -> None:
        with self._lock:
            self._prism_actions.add(f"{service}:{action}")

    def _record_authorizations(self, found: list[Any]) -> None:
        with self._lock:
            self._authorizations.extend(found)

    def _take_fault(self, region: str, action: str, dry_run: bool = False) -> _Fault | None:
        with self._lock:
            taken = self._matching_fault(region, action, dry_run)
            if not dry_run:
                for fault in self._faults:  # arm the faults waiting for this action
                    if fault.after == action and fault.region in (None, region):
                        fault.after = None
            return taken

    def _matching_fault(self, region: str, action: str, dry_run: bool) -> _Fault | None:
        """The armed fault answering this call, its count taken (caller holds the lock)."""
        for fault in self._faults:
            if fault.action != action or fault.region not in (None, region):
                continue
            if fault.after is not None or (dry_run and not fault.dry_run):
                continue
            if fault.remaining > 0:
                fault.remaining -= 1
                if fault.remaining == 0:
                    self._faults.remove(fault)
            return fault
        return None

    def _take_delay(self, region: str, action: str) -> float:
        with self._lock:
            for entry in self._delays:
                if entry[0] == action and entry[1] in (None, region):
                    entry[3] -= 1
                    if entry[3] == 0:
                        self._delays.remove(entry)
                    return float(entry[2])
        return 0.0

    def _take_image_failure(self, region: str) -> str | None:
        with self._lock:
            for failure in self._image_failures:
                if failure.region not in (None, region):
                    continue
                if failure.remaining > 0:
                    failure.remaining -= 1
                    if failure.remaining == 0:
                        self._image_failures.remove(failure)
                return failure.reason
        return None

    def _take_invisibility(self) -> int:
        with self._lock:
            return self._invisible.pop(0) if self._invisible else 0
