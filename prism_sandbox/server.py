"""The sandbox cloud: moto's threaded server behind a WSGI layer that adds EC2 behaviour."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import socket
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from moto.ec2.utils import random_ami_id
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import WSGIRequestHandler, make_server

from . import console, engine, patches
from .faults import Faults
from .patches import Scheduler, runtime
from .schedules import ScheduleClock
from .timings import Timings

AMAZON_OWNER_ID = "137112412989"
_LOGGED_SERVICES = {"ec2", "ssm", "sts"}
_BPA_ACTIONS = {
    "GetImageBlockPublicAccessState",
    "EnableImageBlockPublicAccess",
    "DisableImageBlockPublicAccess",
}
_EC2_NS = "http://ec2.amazonaws.com/doc/2016-11-15/"
_STATUS_TEXT = {
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    412: "Precondition Failed",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}

StartResponse = Callable[..., Any]


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _lambda_action(method: str, path: str) -> str:
    """The API action of a Lambda REST request (for the call log), ``""`` if unknown."""
    parts = [p for p in path.split("/") if p]
    if len(parts) < 2:
        return ""
    if parts[1] == "tags":
        return {"GET": "ListTags", "POST": "TagResource", "DELETE": "UntagResource"}.get(
            method, "")
    if parts[1] != "functions":
        return ""
    if len(parts) == 2:
        return {"POST": "CreateFunction", "GET": "ListFunctions"}.get(method, "")
    tail = parts[3] if len(parts) > 3 else ""
    if tail == "invocations":
        return "Invoke"
    if tail == "code":
        return "UpdateFunctionCode"
    if tail == "configuration":
        return {"PUT": "UpdateFunctionConfiguration", "GET": "GetFunctionConfiguration"}.get(
            method, "")
    if not tail:
        return {"GET": "GetFunction", "DELETE": "DeleteFunction"}.get(method, "")
    return ""


def _scheduler_action(method: str, path: str) -> str:
    """The API action of an EventBridge Scheduler REST request, ``""`` if unknown."""
    parts = [p for p in path.split("/") if p]
    if parts[:1] != ["schedules"]:
        return ""
    if len(parts) == 1:
        return "ListSchedules" if method == "GET" else ""
    return {"POST": "CreateSchedule", "GET": "GetSchedule", "PUT": "UpdateSchedule",
            "DELETE": "DeleteSchedule"}.get(method, "")


class _Request:
    """What the middleware needs to know about one AWS request."""

    def __init__(self, environ: dict[str, Any]) -> None:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        self.body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(self.body)
        self.service, self.region = "", "us-east-1"
        auth = environ.get("HTTP_AUTHORIZATION", "")
        if "Credential=" in auth:
            scope = auth.split("Credential=", 1)[1].split(",", 1)[0].split("/")
            if len(scope) >= 5:
                self.region, self.service = scope[2], scope[3]
        #: Temporary credentials of an assumed role (``--copy-to-accounts`` acting in
        #: another account): that role's own policy applies, not the caller's.
        self.assumed = "Credential=ASIA" in auth
        self.path = environ.get("PATH_INFO", "")
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        self.json = bool(target)
        self.params: dict[str, list[str]] = {}
        if target:
            self.action = target.rsplit(".", 1)[-1]
        else:
            try:
                self.params = parse_qs(self.body.decode("utf-8"), keep_blank_values=True)
            except UnicodeDecodeError:
                self.params = {}
            query = parse_qs(environ.get("QUERY_STRING", ""))
            for key, value in query.items():
                self.params.setdefault(key, value)
            self.action = (self.params.get("Action") or [""])[0]
        if self.service == "lambda" and not self.action:
            self.action = _lambda_action(environ.get("REQUEST_METHOD", ""),
                                         environ.get("PATH_INFO", ""))
        if self.service == "scheduler" and not self.action:
            self.action = _scheduler_action(environ.get("REQUEST_METHOD", ""), self.path)
        #: S3 request headers that need a permission of their own (x-amz-tagging, ...).
        self.s3_headers: dict[str, str] = {}
        if self.service == "s3" and not self.action:
            self.action = _s3_action(environ.get("REQUEST_METHOD", ""), environ)
            self.s3_headers = {
                key[5:].lower().replace("_", "-"): str(value)
                for key, value in environ.items()
                if key.startswith("HTTP_X_AMZ_")
            }

    def param(self, name: str, default: str = "") -> str:
        return (self.params.get(name) or [default])[0]

    def indexed(self, prefix: str) -> list[str]:
        """Values of ``Prefix.1``, ``Prefix.2``, ... (EC2 query lists)."""
        return [v[0] for k, v in sorted(self.params.items()) if k.startswith(prefix + ".")]


#: Subresources of an S3 REST request (``?tagging``, ...) -> the API name's middle part.
_S3_SUBRESOURCES = {
    "tagging": "{bucket}Tagging",
    "publicAccessBlock": "PublicAccessBlock",
    "encryption": "BucketEncryption",
    "ownershipControls": "BucketOwnershipControls",
    "policy": "BucketPolicy",
    "acl": "{bucket}Acl",
    "versioning": "BucketVersioning",
    "lifecycle": "BucketLifecycleConfiguration",
}
_S3_VERBS = {"GET": "Get", "PUT": "Put", "DELETE": "Delete"}


def _s3_action(method: str, environ: dict[str, Any]) -> str:
    """The S3 API name of a path-style REST request (``/bucket`` or ``/bucket/key``),
    subresources included (``PUT /bucket?tagging`` is PutBucketTagging)."""
    path = environ.get("PATH_INFO", "").lstrip("/")
    has_key = "/" in path and path.split("/", 1)[1] != ""
    query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    for name, middle in _S3_SUBRESOURCES.items():
        if name in query and method in _S3_VERBS:
            return _S3_VERBS[method] + middle.format(bucket="Object" if has_key else "Bucket")
    if not has_key:
        bucket_actions = {"HEAD": "HeadBucket", "PUT": "CreateBucket", "DELETE": "DeleteBucket"}
        return bucket_actions.get(
            method, "ListObjectsV2" if "list-type" in query else "ListObjects"
        )
    object_actions = {
        "GET": "GetObject",
        "HEAD": "HeadObject",
        "PUT": "PutObject",
        "DELETE": "DeleteObject",
    }
    return object_actions.get(method, "")


def _respond(
    start_response: StartResponse,
    status: int,
    body: str,
    content_type: str,
    extra: dict[str, str] | None = None,
) -> list[bytes]:
    data = body.encode("utf-8")
    headers = [
        ("Content-Type", content_type),
        ("Content-Length", str(len(data))),
        ("x-amzn-RequestId", str(uuid.uuid4())),
    ]
    headers += list((extra or {}).items())
    start_response(f"{status} {_STATUS_TEXT.get(status, 'Error')}", headers)
    return [data]


def _error(
    req: _Request, start_response: StartResponse, code: str, message: str, status: int
) -> list[bytes]:
    request_id = str(uuid.uuid4())
    if req.json:
        body = json.dumps({"__type": code, "message": message})
        return _respond(
            start_response, status, body, "application/x-amz-json-1.1", {"x-amzn-ErrorType": code}
        )
    if req.service == "ec2":
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>'
            f"<Code>{escape(code)}</Code><Message>{escape(message)}</Message>"
            f"</Error></Errors><RequestID>{request_id}</RequestID></Response>"
        )
    else:  # other query-protocol services (STS, ...)
        kind = "Sender" if status < 500 else "Receiver"
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<ErrorResponse><Error>'
            f"<Type>{kind}</Type><Code>{escape(code)}</Code><Message>{escape(message)}</Message>"
            f"</Error><RequestId>{request_id}</RequestId></ErrorResponse>"
        )
    return _respond(start_response, status, body, "text/xml")


def _drain(body: Iterable[bytes]) -> list[bytes]:
    """Consume a WSGI body while still holding the lock (and close it, per PEP 3333)."""
    try:
        return list(body)
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()


#: The sandbox API that moves its clock (``prism sandbox advance``).
ADVANCE_PATH = "/prism-sandbox/advance"


class _SandboxApp:
    """WSGI layer in front of moto: call log, faults, serialisation, sandbox-only APIs."""

    def __init__(self, sandbox: Sandbox, inner: Any) -> None:
        self.sandbox = sandbox
        self.inner = inner

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        sb = self.sandbox
        path = environ.get("PATH_INFO", "")
        if path.startswith("/moto-api"):
            with runtime.LOCK:
                # as this sandbox: a reset re-creates the backends it had, and they load
                # (or skip) moto's default AMIs by this sandbox's choice like any other
                previous, runtime.current = runtime.current, sb
                try:
                    result = _drain(self.inner(environ, start_response))
                finally:
                    runtime.current = previous
                if path.rstrip("/") == "/moto-api/reset":  # not reset-auth
                    sb._reset_server_state()
                return result

        if path == ADVANCE_PATH and environ.get("REQUEST_METHOD") == "POST":
            # outside the lock: the executions it fires call this server
            from prism_sandbox import schedules

            length = int(environ.get("CONTENT_LENGTH") or 0)
            status, data = schedules.answer(sb, environ["wsgi.input"].read(length))
            start_response(status, [("Content-Type", "application/json"),
                                    ("Content-Length", str(len(data)))])
            return [data]
        req = _Request(environ)
        if req.action in sb.captured:  # the test asked to see these requests' parameters
            with runtime.LOCK:
                sb.captured[req.action].append({k: v[0] for k, v in req.params.items()})
        if req.service in _LOGGED_SERVICES and req.action:
            sb.faults._record(req.region, req.action)
        if req.action and "prism/" in environ.get("HTTP_USER_AGENT", ""):
            sb.faults._record_prism(req.service, req.action)
            if sb.record_iam:
                self._record_authorizations(req)
        dry_run = req.param("DryRun").lower() == "true"
        fault = sb.faults._take_fault(req.region, req.action, dry_run) if req.action else None
        if fault is not None:
            return _error(req, start_response, fault.code, fault.message, fault.status)
        if req.action == "Invoke" and req.service == "lambda" and engine.is_engine_invoke(
            sb, req.region, environ.get("PATH_INFO", "")
        ):  # outside the lock: the handler calls this server
            return engine.invoke(sb, req.body, start_response)

        with runtime.LOCK:
            runtime.current = sb
            try:
                sb.scheduler.tick()
                if req.service == "ec2":
                    handled = self._ec2_extras(req, start_response)
                    if handled is not None:
                        return handled
                answer = _drain(self.inner(environ, start_response))
            finally:
                runtime.current = None
        held = sb.faults._take_delay(req.region, req.action) if req.action else 0.0
        if held:  # outside the lock: the rest of the sandbox keeps answering
            time.sleep(held)
        return answer

    def _record_authorizations(self, req: _Request) -> None:
        """What IAM would check for this request, read before moto changes anything.
        Requests made as an assumed role in another account are that role's to allow."""
        from .iam_requests import Authorization, authorizations

        if req.assumed:
            return
        try:
            params: Any = json.loads(req.body or b"{}") if req.json else req.params
            if req.service == "s3":
                params = {"Path": req.path, "Headers": req.s3_headers}
            if req.service == "lambda":  # REST: the function is named by the path or body
                from urllib.parse import unquote

                parts = [unquote(p) for p in req.path.split("/") if p]
                body = json.loads(req.body or b"{}") if req.body else {}
                named = parts[2] if len(parts) > 2 else body.get("FunctionName")
                params = {"FunctionName": named} if named else {}
            if req.service == "scheduler":  # REST: /schedules/NAME?groupName=G
                from urllib.parse import unquote

                parts = [unquote(p) for p in req.path.split("/") if p]
                body = json.loads(req.body or b"{}") if req.body else {}
                group = (req.params.get("groupName") or [body.get("GroupName") or "default"])
                params = {"Name": parts[1] if len(parts) > 1 else None, "GroupName": group[0]}
            # as this sandbox: a region's backends made here for the first time are its
            # own (moto's default AMIs left out, as for any request it serves)
            with self.sandbox._serving():
                found = authorizations(
                    req.service, req.action, params, Sandbox._account_id(), req.region
                )
        except Exception as exc:  # noqa: BLE001 - reported by the test that reads it
            call = f"{req.service}:{req.action}"
            found = [Authorization(call, call, f"!unmodelled: {exc!r}"[:300], req.region)]
        self.sandbox.faults._record_authorizations(found)

    # EC2 behaviour answered by the sandbox itself -----------------------------
    def _ec2_extras(self, req: _Request, start_response: StartResponse) -> list[bytes] | None:
        sb = self.sandbox
        if req.action in _BPA_ACTIONS:
            if req.param("DryRun").lower() == "true":
                return _error(
                    req,
                    start_response,
                    "DryRunOperation",
                    "Request would have succeeded, but DryRun flag is set.",
                    412,
                )
            if req.action == "EnableImageBlockPublicAccess":
                wanted = req.param("ImageBlockPublicAccessState")
                if wanted != "block-new-sharing":
                    return _error(
                        req,
                        start_response,
                        "InvalidParameterValue",
                        f"Value ({wanted}) for parameter ImageBlockPublicAccessState "
                        "is invalid. Valid value: block-new-sharing",
                        400,
                    )
                sb._bpa[req.region] = True
            elif req.action == "DisableImageBlockPublicAccess":
                sb._bpa[req.region] = False
            state = "block-new-sharing" if sb.bpa_blocked(req.region) else "unblocked"
            extra = "<managedBy>account</managedBy>" if req.action.startswith("Get") else ""
            body = (
                f'<?xml version="1.0" encoding="UTF-8"?>\n<{req.action}Response xmlns="{_EC2_NS}">'
                f"<requestId>{uuid.uuid4()}</requestId>"
                f"<imageBlockPublicAccessState>{state}</imageBlockPublicAccessState>{extra}"
                f"</{req.action}Response>"
            )
            return _respond(start_response, 200, body, "text/xml")
        if req.action == "DescribeImages":
            ids = req.indexed("ImageId")
            hidden = [i for i in ids if sb.invisible.get(i, 0) > 0]
            if hidden:
                for i in hidden:
                    sb.invisible[i] -= 1
                if len(hidden) == 1:
                    msg = f"The image id '[{hidden[0]}]' does not exist"
                else:
                    msg = f"The image ids '[{', '.join(hidden)}]' do not exist"
                return _error(req, start_response, "InvalidAMIID.NotFound", msg, 400)
        return None


class _QuietHandler(WSGIRequestHandler):
    def log(self, type: str, message: str, *args: Any) -> None:  # noqa: A002
        pass


class _Server(ThreadedMotoServer):
    def __init__(self, sandbox: Sandbox, host: str, port: int) -> None:
        super().__init__(ip_address=host, port=port, verbose=False)
        self._sandbox = sandbox

    def _server_entry(self) -> None:
        app = _SandboxApp(self._sandbox, DomainDispatcherApplication(create_backend_app))
        self._server = make_server(
            self._ip_address, self._port, app, True, request_handler=_QuietHandler
        )
        self._server_ready_event.set()
        self._server.serve_forever()

    def stop(self) -> None:
        """Stop serving, join the thread and close the listening socket (moto leaves it open)."""
        super().stop()
        if self._server is not None:
            self._server.server_close()


def _register_ami(
    backend: Any,
    region: str,
    *,
    owner_id: str,
    name: str,
    description: str,
    architecture: str,
    public: bool = True,
    owner_alias: str | None = None,
) -> str:
    """Register an available EBS-backed HVM image of another account (a base image, a
    distribution's or a stranger's) straight in the moto backend; returns its id."""
    ami = patches.Ami(
        backend,
        random_ami_id(),
        name=name,
        description=description,
        owner_id=owner_id,
        owner_alias=owner_alias,
        public=public,
        architecture=architecture,
        virtualization_type="hvm",
        root_device_type="ebs",
        root_device_name="/dev/xvda",
        region_name=region,
    )
    ami.ebs_snapshot.owner_id = owner_id
    backend.amis[ami.id] = ami
    return str(ami.id)


class Sandbox:
    """An embedded EC2/SSM/STS endpoint on loopback that behaves like EC2 where moto does not."""

    def __init__(
        self,
        timings: Timings | None = None,
        port: int = 0,
        host: str = "127.0.0.1",
        block_public_access: bool = False,
        load_default_amis: bool = False,
        trees: Path | None = None,
        allow_any_command: bool = False,
    ) -> None:
        self.timings = timings if timings is not None else Timings()
        self.host = host
        self.port = port
        self.block_public_access_default = block_public_access
        #: moto's catalogue of public AMIs per region; off by default (slow, and
        #: their snapshots would show up in DescribeSnapshots).
        self.load_default_amis = load_default_amis
        self.faults = Faults()
        #: Record what IAM would check for each request prism sends (tests turn it on).
        self.record_iam = False
        self._server: _Server | None = None
        #: State the EC2 patches (prism_sandbox.patches) share with the server: the
        #: timed transitions, and how many more DescribeImages calls miss a new AMI.
        self.scheduler = Scheduler()
        #: The sandbox's clock and the EventBridge Scheduler schedules it fired.
        self.schedule_clock = ScheduleClock()
        self.invisible: dict[str, int] = {}
        self._bpa: dict[str, bool] = {}
        self._base_amis: dict[tuple[str, str], str] = {}
        #: EC2 reboots during CreateImage: instance_id, started, ended (monotonic clock).
        self.reboots: list[dict[str, Any]] = []
        #: How the setup script of launched instances ends on their console:
        #: "complete", "failed" or "hang" (see prism_sandbox.console).
        self.setup_outcome = "complete"
        self._session: Any = None
        self._session_lock = threading.Lock()
        #: Each instance's and image's disk as a directory tree (prism_sandbox.trees):
        #: ``trees`` given, or a temporary folder removed when the sandbox stops.
        self._trees_given = trees
        self.trees = Path(trees) if trees is not None else Path()
        #: instance id -> whether its SSM agent is online (default: yes, when running).
        self.ssm_agent: dict[str, bool] = {}
        #: Run Command runs any script, not only prism's (never on a shared machine).
        self.allow_any_command = allow_any_command
        #: Query parameters of every request of the actions :meth:`capture` named.
        self.captured: dict[str, list[dict[str, str]]] = {}

    # lifecycle ---------------------------------------------------------------
    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> Sandbox:
        if self._server is not None:
            return self
        patches.install()
        console.install()
        if self._trees_given is None:
            self.trees = Path(tempfile.mkdtemp(prefix="prism-sandbox-trees-"))
        else:
            self.trees.mkdir(parents=True, exist_ok=True)
        if not self.port:
            self.port = _free_port(self.host)
        self._server = _Server(self, self.host, self.port)
        self._server.start()
        self.port = self._server.get_host_and_port()[1]
        engine.enable_state_machines(self.port, self)
        return self

    def stop(self) -> None:
        if self._server is not None:
            engine.release_port(self.port)
            self._server.stop()
            self._server = None
            if self._trees_given is None:
                shutil.rmtree(self.trees, ignore_errors=True)

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def env(self, region: str = "us-east-1") -> dict[str, str]:
        """Environment variables that point AWS SDKs and CLIs at this sandbox (see
        :mod:`prism_sandbox.environment` for a fully isolated environment)."""
        from prism_sandbox.environment import endpoint_variables

        return endpoint_variables(self.endpoint, region)

    def reset(self) -> None:
        """Wipe moto's state and the sandbox's (faults, call log, BPA, pending transitions)."""
        req = urllib.request.Request(f"{self.endpoint}/moto-api/reset", data=b"", method="POST")
        with urllib.request.urlopen(req, timeout=30) as resp:
            resp.read()
        self.faults.clear()
        self.faults.clear_calls()
        with runtime.LOCK:
            self._reset_server_state()
        patches.forget_old_backends()

    def capture(self, action: str) -> list[dict[str, str]]:
        """Keep the query parameters (``Name.1.Field`` -> value) of every ``action``
        request from now on (until a reset); returns the list they are added to."""
        with runtime.LOCK:
            return self.captured.setdefault(action, [])

    def _reset_server_state(self) -> None:
        self.ssm_agent.clear()
        self.captured.clear()
        if self.trees.is_dir() and self.trees != Path():
            for child in self.trees.iterdir():
                shutil.rmtree(child, ignore_errors=True) if child.is_dir() else child.unlink()
        self.scheduler.clear()
        self.schedule_clock.clear()
        self.reboots.clear()
        self._bpa.clear()
        self.invisible.clear()
        self._base_amis.clear()
        self.setup_outcome = "complete"

    # instance trees (prism_sandbox.trees) ---------------------------------------
    def tree(self, resource_id: str) -> Path:
        """The directory tree of an instance's (or an image's) disk, made if missing."""
        if not resource_id.startswith(("i-", "ami-")) or "/" in resource_id:
            raise ValueError(f"not an instance or image id: {resource_id!r}")
        path = self.trees / resource_id
        path.mkdir(parents=True, exist_ok=True)
        return path

    def add_file(
        self, instance_id: str, path: str, content: bytes | str, mode: int = 0o600
    ) -> Path:
        """Put a file at ``path`` (absolute on the instance) in its tree."""
        from prism_sandbox.trees import add_file

        return add_file(self.tree(instance_id), path, content, mode)

    # block public access -----------------------------------------------------
    def set_block_public_access(self, region: str, blocked: bool) -> None:
        with runtime.LOCK:
            self._bpa[region] = blocked

    def bpa_blocked(self, region: str) -> bool:
        """Whether block public access for AMIs is on in ``region``."""
        return self._bpa.get(region, self.block_public_access_default)

    # fixtures ----------------------------------------------------------------
    def client(self, service: str, region: str = "us-east-1") -> Any:
        """A boto3 client for this sandbox (standard retries; ignores ~/.aws)."""
        import boto3
        from botocore.config import Config

        with self._session_lock:  # boto3 sessions are not thread-safe
            if self._session is None:
                self._session = boto3.session.Session(
                    aws_access_key_id="testing", aws_secret_access_key="testing"
                )
            return self._session.client(
                service,
                region_name=region,
                endpoint_url=self.endpoint,
                config=Config(retries={"mode": "standard", "total_max_attempts": 3}),
            )

    def create_instance(
        self,
        name: str,
        region: str = "us-east-1",
        *,
        state: str = "running",
        instance_type: str = "t3.medium",
        architecture: str = "x86_64",
        volume_size_gb: int = 30,
        extra_volumes: int = 0,
        tags: dict[str, str] | None = None,
        spot: bool = False,
        instance_store_root: bool = False,
        encrypted: bool = False,
        ports: list[int] | None = None,
        tree: str | None = None,
        windows: bool = False,
    ) -> str:
        """Launch an instance through the sandbox's API and wait for `state`; return its id.

        ``tree`` seeds its disk with a workstation profile (``prism_sandbox.trees``);
        ``windows`` makes it a Windows instance."""
        if state not in ("running", "stopped", "terminated"):
            raise ValueError(f"state must be running, stopped or terminated, not {state!r}")
        if state == "stopped" and (spot or instance_store_root):
            raise ValueError("spot and instance-store instances cannot be stopped")
        ec2 = self.client("ec2", region)
        image_id = self._base_image(ec2, region, architecture)

        ports = [22] if ports is None else list(ports)
        sg_name = f"prism-sandbox-{name}-{uuid.uuid4().hex[:8]}"
        group_id = ec2.create_security_group(GroupName=sg_name, Description=f"sandbox {name}")[
            "GroupId"
        ]
        if ports:
            ec2.authorize_security_group_ingress(
                GroupId=group_id,
                IpPermissions=[
                    {
                        "IpProtocol": "tcp",
                        "FromPort": p,
                        "ToPort": p,
                        "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
                    }
                    for p in ports
                ],
            )
        all_tags = {"Name": name, **(tags or {})}
        mappings: list[dict[str, Any]] = [
            {
                "DeviceName": "/dev/xvda",
                "Ebs": {
                    "VolumeSize": volume_size_gb,
                    "VolumeType": "gp3",
                    "DeleteOnTermination": True,
                    "Encrypted": encrypted,
                },
            }
        ]
        for i in range(extra_volumes):
            mappings.append(
                {
                    "DeviceName": f"/dev/sd{chr(ord('f') + i)}",
                    "Ebs": {
                        "VolumeSize": 10 * (i + 1),
                        "VolumeType": "gp3",
                        "DeleteOnTermination": True,
                        "Encrypted": encrypted,
                    },
                }
            )
        kwargs: dict[str, Any] = {}
        if spot:
            kwargs["InstanceMarketOptions"] = {
                "MarketType": "spot",
                "SpotOptions": {
                    "SpotInstanceType": "one-time",
                    "InstanceInterruptionBehavior": "terminate",
                },
            }
        instance_id = ec2.run_instances(
            ImageId=image_id,
            MinCount=1,
            MaxCount=1,
            InstanceType=instance_type,
            SecurityGroupIds=[group_id],
            BlockDeviceMappings=mappings,
            TagSpecifications=[
                {
                    "ResourceType": "instance",
                    "Tags": [{"Key": k, "Value": v} for k, v in all_tags.items()],
                }
            ],
            **kwargs,
        )["Instances"][0]["InstanceId"]

        with self._serving():
            backend_instance = self._backend_instance(region, instance_id)
            backend_instance.architecture = architecture
            backend_instance.root_device_name = "/dev/xvda"
            if spot:
                backend_instance.lifecycle = "spot"
            if instance_store_root:
                backend_instance.root_device_type = "instance-store"
                backend_instance._sbx_instance_store = True
            if windows:
                backend_instance.platform = "windows"
        if tree is not None:
            from prism_sandbox.trees import seed_workstation

            seed_workstation(self.tree(instance_id), tree)

        self._wait_instance(ec2, instance_id, "running")
        if state == "stopped":
            ec2.stop_instances(InstanceIds=[instance_id])
            self._wait_instance(ec2, instance_id, "stopped")
        elif state == "terminated":
            ec2.terminate_instances(InstanceIds=[instance_id])
            self._wait_instance(ec2, instance_id, "terminated")
        return instance_id

    def _base_image(self, ec2: Any, region: str, architecture: str) -> str:
        key = (region, architecture)
        with runtime.LOCK:
            if key in self._base_amis:
                return self._base_amis[key]
        # In-process (not over the wire) so that armed faults and the call log
        # are left for the code under test.
        from moto.ec2.models import ec2_backends

        with self._serving():
            backend = ec2_backends[self._account_id()][region]
            # Owned by "amazon" like a public base image: not in Owners=['self'] listings.
            image_id = _register_ami(
                backend,
                region,
                owner_id=AMAZON_OWNER_ID,
                owner_alias="amazon",
                name=f"prism-sandbox-base-{architecture}",
                description="Base image of sandbox instances",
                architecture=architecture,
            )
            self._base_amis[key] = image_id
        return image_id

    def create_foreign_image(
        self,
        owner_id: str,
        region: str = "us-east-1",
        *,
        public: bool = True,
        architecture: str = "x86_64",
        name: str | None = None,
    ) -> str:
        """Register an AMI owned by another account (``owner_id``), public by default, as
        a stranger's image in a marketplace would be; return its id."""
        from moto.ec2.models import ec2_backends

        with self._serving():
            return _register_ami(
                ec2_backends[self._account_id()][region],
                region,
                owner_id=owner_id,
                name=name or f"foreign-{owner_id}-{architecture}",
                description=f"An image of account {owner_id}",
                architecture=architecture,
                public=public,
            )

    def put_public_parameter(self, name: str, value: str, region: str = "us-east-1") -> None:
        """Put an AWS public parameter (``/aws/service/...``) into the sandbox's SSM.

        moto's API refuses to create parameters under that path, so this goes to the
        backend in-process.
        """
        import datetime

        from moto.ssm.models import Parameter, ssm_backends

        with self._serving():
            backend = ssm_backends[self._account_id()][region]
            backend._parameters[name].append(
                Parameter(
                    account_id=self._account_id(),
                    name=name,
                    value=value,
                    parameter_type="String",
                    description="AWS public parameter (sandbox)",
                    allowed_pattern=None,
                    keyid=None,
                    last_modified_date=datetime.datetime.now(datetime.UTC),
                    version=len(backend._parameters[name]) + 1,
                    data_type="aws:ec2:image",
                )
            )

    def publish_owner_image(
        self, owner_id: str, name: str, architecture: str, region: str = "us-east-1"
    ) -> str:
        """A public image owned by another account (a distribution's official one), e.g.
        Rocky Linux's, found with ``DescribeImages(Owners=[owner_id])``; returns its id."""
        from moto.ec2.models import ec2_backends

        with self._serving():
            backend = ec2_backends[self._account_id()][region]
            for ami in backend.amis.values():
                if ami.owner_id == owner_id and ami.name == name:
                    return str(ami.id)
            return _register_ami(
                backend,
                region,
                owner_id=owner_id,
                name=name,
                description=f"{name} (sandbox copy of a distribution image)",
                architecture=architecture,
            )

    def publish_base_images(
        self, parameters: dict[str, str], regions: Iterable[str] = ("us-east-1",)
    ) -> dict[str, dict[str, str]]:
        """Point public SSM parameters (name -> architecture) at the sandbox's base images.

        Built-in templates resolve their AMI from such parameters (e.g. Canonical's
        ``/aws/service/canonical/...``), which moto does not ship. Returns region ->
        parameter name -> AMI id.
        """
        published: dict[str, dict[str, str]] = {}
        for region in regions:
            published[region] = {}
            for name, architecture in parameters.items():
                # in-process (no client per region: seeding every region stays quick)
                image_id = self._base_image(None, region, architecture)
                self.put_public_parameter(name, image_id, region)
                published[region][name] = image_id
        return published

    @contextlib.contextmanager
    def _serving(self) -> Iterator[None]:
        """Act on moto's backends in-process as if serving a request of this sandbox."""
        with runtime.LOCK:
            previous, runtime.current = runtime.current, self
            try:
                yield
            finally:
                runtime.current = previous

    @staticmethod
    def _account_id() -> str:
        from moto.core import DEFAULT_ACCOUNT_ID

        return DEFAULT_ACCOUNT_ID

    def _backend_instance(self, region: str, instance_id: str) -> Any:
        from moto.ec2.models import ec2_backends

        return ec2_backends[self._account_id()][region].get_instance(instance_id)

    def _wait_instance(
        self, ec2: Any, instance_id: str, wanted: str, timeout: float = 60.0
    ) -> None:
        deadline = time.monotonic() + max(timeout, 5 * (self.timings.start + self.timings.stop))
        while True:
            res = ec2.describe_instances(InstanceIds=[instance_id])
            current = res["Reservations"][0]["Instances"][0]["State"]["Name"]
            if current == wanted:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{instance_id} did not reach {wanted} (is {current})")
            time.sleep(min(0.05, max(self.timings.start, self.timings.stop, 0.01)))
