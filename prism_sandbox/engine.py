"""What the sandbox emulates of prism's save engine, and only that (docs/cloud.md).

moto 5.2 executes Step Functions state machines (``stepfunctions:
execute_state_machine``), its SDK tasks included, against its own backends; its
tasks reach the server on ``localhost:$MOTO_PORT`` (kept on a running sandbox of
this process, see :data:`_PORTS`). It cannot run a Lambda function
without Docker, so an ``Invoke`` of a function deployed from prism's region handler
is answered here by calling that handler in-process, with clients for the sandbox.
"""

from __future__ import annotations

import json
import os
import threading
import traceback
from collections.abc import Callable
from typing import Any

StartResponse = Callable[..., Any]


#: Ports of this process's running sandboxes, oldest first. moto's interpreter reaches
#: its server through one process-wide variable (``MOTO_PORT``), so it names the newest
#: running sandbox, and the one before it again when that one stops: a sandbox started
#: and stopped beside another (a test's, ``prism demo``'s) never leaves the engine's
#: tasks calling a closed port. moto's backends are the process's, so any running
#: sandbox answers them from the same account state.
_PORTS: list[int] = []
_PORTS_LOCK = threading.Lock()
#: ``MOTO_PORT`` as it was before the first of the running sandboxes started.
_PORT_BEFORE: dict[str, str | None] = {}


#: The running sandbox on each port (its timings scale the interpreter's waits).
_SANDBOXES: dict[int, Any] = {}


def enable_state_machines(port: int, sandbox: Any = None) -> None:
    """Switch moto's Step Functions interpreter on; its tasks call the server on ``port``
    until :func:`release_port` (then the sandbox started before it, if still running)."""
    from moto.core.config import default_user_config

    default_user_config.setdefault("stepfunctions", {})["execute_state_machine"] = True
    _scale_waits()
    with _PORTS_LOCK:
        if not _PORTS:
            _PORT_BEFORE["MOTO_PORT"] = os.environ.get("MOTO_PORT")
        _PORTS.append(port)
        if sandbox is not None:
            _SANDBOXES[port] = sandbox
        os.environ["MOTO_PORT"] = str(port)


def wait_scale() -> float:
    """How long a state machine's Wait and Retry seconds last on the sandbox's clock: the
    newest running sandbox's ``Timings.engine_seconds`` (1.0 when none is known)."""
    with _PORTS_LOCK:
        sandbox = _SANDBOXES.get(_PORTS[-1]) if _PORTS else None
    timings = getattr(sandbox, "timings", None)
    return float(getattr(timings, "engine_seconds", 1.0))


def _scale_waits() -> None:
    """moto's interpreter sleeps a Wait state's and a Retrier's seconds for real; on the
    sandbox's clock (:class:`prism_sandbox.timings.Timings`) they take ``wait_scale()``
    of that. Installed once."""
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function import (
        wait_function,
    )

    if getattr(wait_function.WaitFunction, "_prism_scaled", False):
        return
    original = wait_function.WaitFunction._wait_interval

    def wait_interval(self: Any, env: Any, wait_seconds: int) -> None:
        scale = wait_scale()
        if scale == 1.0:
            return original(self, env, wait_seconds)
        if wait_seconds > 0:
            env.program_state_event.wait(wait_seconds * scale)
        return None

    class _ScaledTime:
        """``time`` for the retrier module: its sleeps on the sandbox's clock."""

        def __getattr__(self, name: str) -> Any:
            import time

            return getattr(time, name)

        @staticmethod
        def sleep(seconds: float) -> None:
            import time

            time.sleep(seconds * wait_scale())

    wait_function.WaitFunction._wait_interval = wait_interval  # type: ignore[method-assign]
    wait_function.WaitFunction._prism_scaled = True  # type: ignore[attr-defined]
    retrier_decl.time = _ScaledTime()  # type: ignore[assignment]


def release_port(port: int) -> None:
    """The sandbox on ``port`` stops: the interpreter's tasks call the newest running one
    (or whatever ``MOTO_PORT`` was before any started)."""
    with _PORTS_LOCK:
        if port not in _PORTS:
            return
        _PORTS.remove(port)
        _SANDBOXES.pop(port, None)
        if _PORTS:
            os.environ["MOTO_PORT"] = str(_PORTS[-1])
        elif _PORT_BEFORE.get("MOTO_PORT") is not None:
            os.environ["MOTO_PORT"] = str(_PORT_BEFORE["MOTO_PORT"])
        else:
            os.environ.pop("MOTO_PORT", None)


def _function_name(path: str) -> str:
    parts = [p for p in path.split("/") if p]
    name = parts[2] if len(parts) > 2 else ""
    return name.rsplit(":", 1)[-1] if name.startswith("arn:") else name


def is_engine_invoke(sandbox: Any, region: str, path: str) -> bool:
    """Whether ``path`` invokes a function deployed from prism's region handler."""
    from prism_core.cloud.deploy import COMPONENT, COMPONENT_TAG, HANDLER

    name = _function_name(path)
    if not name:
        return False
    try:
        answer = sandbox.client("lambda", region).get_function(FunctionName=name)
    except Exception:  # noqa: BLE001 - not deployed: moto answers as it would
        return False
    tags = answer.get("Tags") or {}
    return (answer["Configuration"].get("Handler") == HANDLER
            and tags.get(COMPONENT_TAG) == COMPONENT)


#: ``service:Action`` of every call the region handler made in the sandbox (what the
#: function's role must grant; tests compare it with prism_core.cloud.deploy's policy).
ENGINE_ACTIONS: set[str] = set()
#: What IAM would check for each of those calls (resource ARN, tags, request values, as
#: :mod:`prism_sandbox.iam_requests` models them, read before the call changes anything):
#: tests evaluate them against the function role's policy, conditions included.
ENGINE_AUTHORIZATIONS: list[Any] = []


def _authorizations(service: str, action: str, request: dict[str, Any], region: str) -> None:
    from moto.core import DEFAULT_ACCOUNT_ID

    from .iam_requests import Authorization, authorizations
    from .patches import runtime

    body = request.get("body")
    try:
        if service == "s3":  # REST: the bucket and key are in the path, options in headers
            from urllib.parse import urlsplit

            path = urlsplit(str(request.get("url") or "")).path  # path-style here
            params: Any = {"Path": path, "Headers": dict(request.get("headers") or {})}
        elif isinstance(body, dict):  # query protocol (EC2): the form's fields
            params: Any = {k: [str(v)] for k, v in body.items()}
        else:  # JSON protocols (SSM, KMS): the document
            params = json.loads(body or b"{}")
        with runtime.LOCK:
            found = authorizations(service, action, params, DEFAULT_ACCOUNT_ID, region)
    except Exception as exc:  # noqa: BLE001 - reported by the test that reads it
        call = f"{service}:{action}"
        found = [Authorization(call, call, f"!unmodelled: {exc!r}"[:300], region)]
    ENGINE_AUTHORIZATIONS.extend(found)


def _recording_clients(sandbox: Any) -> Callable[[str, str], Any]:
    """Sandbox clients that note each operation in :data:`ENGINE_ACTIONS` and what IAM
    would check for it in :data:`ENGINE_AUTHORIZATIONS`."""

    def clients(service: str, region: str) -> Any:
        client = sandbox.client(service, region)
        prefix = client.meta.service_model.signing_name

        def note(model: Any, params: Any = None, **_: Any) -> None:
            ENGINE_ACTIONS.add(f"{prefix}:{model.name}")
            if isinstance(params, dict):
                _authorizations(prefix, model.name, params, region)

        client.meta.events.register("before-call.*.*", note)
        return client

    return clients


def invoke(sandbox: Any, body: bytes, start_response: StartResponse) -> list[bytes]:
    """Run the function's handler on the invoke's payload; answer as Lambda does (a raised
    error is ``X-Amz-Function-Error: Unhandled`` with the error as payload)."""
    from prism_core.cloud import engine_function

    headers = [("Content-Type", "application/json"), ("X-Amz-Executed-Version", "$LATEST")]
    try:
        event = json.loads(body.decode("utf-8") or "{}")
        result: Any = engine_function.run(event, _recording_clients(sandbox))
    except Exception as exc:  # noqa: BLE001 - the function's error, as Lambda reports it
        result = {
            "errorMessage": str(exc),
            "errorType": type(exc).__name__,
            "stackTrace": traceback.format_exc().splitlines()[-3:],
        }
        headers.append(("X-Amz-Function-Error", "Unhandled"))
    data = json.dumps(result, default=str).encode("utf-8")
    headers.append(("Content-Length", str(len(data))))
    start_response("200 OK", headers)
    return [data]
