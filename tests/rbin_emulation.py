"""What moto does not serve: the Recycle Bin (``rbin``) rules API.

:func:`emulate_recycle_bin` answers ``CreateRule``, ``ListRules`` and ``UpdateRule``
(REST-JSON, as botocore sends them) in front of the sandbox for one test, keeps the
rules per region, and records prism's calls like the sandbox records the others (for
the IAM policy check).
"""

from __future__ import annotations

import io
import json
import uuid
from typing import Any


def emulate_recycle_bin(monkeypatch: Any) -> dict[str, dict[str, dict[str, Any]]]:
    """Install the emulation; returns region -> rule id -> rule, filled as prism calls."""
    from prism_sandbox.server import _SandboxApp

    rules: dict[str, dict[str, dict[str, Any]]] = {}
    original = _SandboxApp.__call__

    def answer(start_response: Any, status: str, body: dict[str, Any]) -> list[bytes]:
        data = json.dumps(body).encode()
        start_response(status, [("Content-Type", "application/json"),
                                ("Content-Length", str(len(data)))])
        return [data]

    def call(self: Any, environ: dict[str, Any], start_response: Any) -> Any:
        auth = environ.get("HTTP_AUTHORIZATION", "")
        if "/rbin/aws4_request" not in auth:
            return original(self, environ, start_response)
        region = auth.split("Credential=", 1)[1].split("/")[2]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(raw)
        body = json.loads(raw or b"{}")
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
        here = rules.setdefault(region, {})
        if method == "POST" and path == "/rules":
            action = "CreateRule"
            identifier = uuid.uuid4().hex[:11]
            here[identifier] = {**body, "Identifier": identifier, "Status": "available"}
            result, status = here[identifier], "201 Created"
        elif method == "POST" and path == "/list-rules":
            action, status = "ListRules", "200 OK"
            wanted = body.get("ResourceTags") or []
            result = {"Rules": [
                {k: r[k] for k in ("Identifier", "Description", "RetentionPeriod") if k in r}
                for r in here.values()
                if r.get("ResourceType") == body.get("ResourceType")
                and all(t in (r.get("ResourceTags") or []) for t in wanted)
            ]}
        elif method == "PATCH" and path.startswith("/rules/"):
            action, status = "UpdateRule", "200 OK"
            rule = here[path.rsplit("/", 1)[1]]
            rule.update({k: v for k, v in body.items() if k != "Identifier"})
            result = rule
        else:
            return answer(start_response, "400 Bad Request", {"message": f"{method} {path}"})
        if "prism/" in environ.get("HTTP_USER_AGENT", ""):
            self.sandbox.faults._record_prism("rbin", action)
        return answer(start_response, status, result)

    monkeypatch.setattr(_SandboxApp, "__call__", call)
    return rules
