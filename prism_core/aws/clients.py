"""boto3 sessions and clients: one place that sets retries, regions and endpoints.

boto3 is imported only when a client is first needed, so commands that never talk to
AWS start fast. The AWS configuration is read as the AWS CLI v2 and the other SDKs
read it: ``--profile``/``AWS_PROFILE``, the region from ``--region``, then
``AWS_REGION``, then ``AWS_DEFAULT_REGION``, then the profile's ``region``; the
credential chain; ``AWS_ENDPOINT_URL``. Missing or expired credentials, unknown
profiles and unreachable endpoints become one-line :class:`InputError` s
(:func:`setup_error`).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from prism_core import __version__
from prism_core.aws import clock
from prism_core.exceptions import InputError
from prism_core.validation import one_line


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ``ClientError`` (``""`` for anything else)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def error_message(exc: BaseException) -> str:
    """One line: the AWS error code and message of a ``ClientError``, else ``str(exc)``."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error", {})
        code, message = error.get("Code", ""), error.get("Message", "")
        return one_line(f"{code}: {message}" if code else message or str(exc))
    return one_line(str(exc) or type(exc).__name__)


EXPIRED_CODES = frozenset(
    {"ExpiredToken", "ExpiredTokenException", "TokenRefreshRequired"}
)
REJECTED_CODES = frozenset(
    {
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "AuthFailure",
        "SignatureDoesNotMatch",
        "InvalidToken",
    }
)


def local_endpoint() -> str | None:
    """``AWS_ENDPOINT_URL`` when it points at this machine (a sandbox), else ``None``."""
    url = os.environ.get("AWS_ENDPOINT_URL", "").strip()
    if not url:
        return None
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return url
    import ipaddress

    try:
        return url if ipaddress.ip_address(host).is_loopback else None
    except ValueError:
        return None


def _profile_hint(profile: str | None) -> str:
    return f" --profile {profile}" if profile else ""


def setup_error(exc: BaseException, profile: str | None = None) -> InputError | None:
    """The one-line error for an AWS configuration problem, ``None`` for anything else.

    Covers missing, partial, expired and rejected credentials, expired SSO sessions,
    unknown profiles and endpoints that cannot be reached; each says what to run.
    """
    from botocore import exceptions as bx

    profile = profile or os.environ.get("AWS_PROFILE") or None
    flag = _profile_hint(profile)
    if isinstance(exc, bx.ProfileNotFound):
        name = exc.kwargs.get("profile", profile)
        return InputError(
            f"the AWS profile {name!r} is not in your AWS configuration",
            f"create it with `aws configure --profile {name}` "
            "(or `aws configure sso`), or list them with `aws configure list-profiles`",
        )
    if isinstance(exc, (bx.SSOTokenLoadError, bx.UnauthorizedSSOTokenError, bx.SSOError)) or (
        isinstance(exc, bx.TokenRetrievalError)
    ):
        return InputError(
            f"the AWS SSO session{' of profile ' + profile if profile else ''} has expired "
            "or was never started",
            f"run `aws sso login{flag}`",
        )
    if isinstance(exc, bx.NoCredentialsError):
        return InputError(
            "no AWS credentials found",
            f"run `aws configure{flag}` (or `aws sso login{flag}` for IAM Identity Center), "
            "or pick a configured profile with --profile / AWS_PROFILE",
        )
    if isinstance(exc, bx.PartialCredentialsError):
        return InputError(
            f"incomplete AWS credentials: {one_line(str(exc), 200)}",
            f"run `aws configure{flag}` to set both the access key id and the secret key",
        )
    if isinstance(exc, bx.CredentialRetrievalError):
        return InputError(
            f"AWS credentials could not be obtained: {one_line(str(exc), 200)}",
            f"check the credential_process / role settings of the profile, or run "
            f"`aws configure{flag}`",
        )
    if isinstance(
        exc, (bx.EndpointConnectionError, bx.ConnectTimeoutError, bx.ConnectionClosedError)
    ):
        local = local_endpoint()
        if local:
            return InputError(
                f"no sandbox answers at {local} (AWS_ENDPOINT_URL)",
                "start it with `prism sandbox start`, or unset AWS_ENDPOINT_URL to use AWS",
            )
        url = getattr(exc, "kwargs", {}).get("endpoint_url") or "the AWS endpoint"
        return InputError(
            f"cannot reach {url}",
            "check your network connection and proxy settings, and the region",
        )
    code = error_code(exc)
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and clock.is_skew(
        code, str(response.get("Error", {}).get("Message", ""))
    ):
        return clock.skew_error(code, response)
    if code in EXPIRED_CODES:
        return InputError(
            f"your AWS credentials have expired ({code})",
            f"run `aws sso login{flag}` if you use IAM Identity Center, else refresh the "
            f"temporary credentials (or `aws configure{flag}`)",
        )
    if code in REJECTED_CODES:
        return InputError(
            f"AWS rejected the credentials ({code})",
            f"check them with `aws sts get-caller-identity{flag}`, then `aws configure{flag}`",
        )
    return None


def problem_text(exc: BaseException) -> str:
    """One line for a warning: the setup error's advice when it is one, else the AWS error."""
    setup = setup_error(exc)
    return str(setup) if setup is not None else error_message(exc)


def check_local_endpoint(timeout: float = 2.0) -> None:
    """Refuse at once when ``AWS_ENDPOINT_URL`` names a local sandbox that is not running
    (instead of retrying connections for a minute)."""
    local = local_endpoint()
    if not local:
        return
    parts = urlsplit(local)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    import socket  # imported when a sandbox is checked: keeps the module light to import

    try:
        import socket

        with socket.create_connection((parts.hostname or "127.0.0.1", port), timeout=timeout):
            pass
    except OSError:
        raise InputError(
            f"no sandbox answers at {local} (AWS_ENDPOINT_URL)",
            "start it with `prism sandbox start`, or unset AWS_ENDPOINT_URL to use AWS",
        ) from None


_CLASSES_LOCK = threading.Lock()
#: Where :func:`share_client_classes` keeps a session's client classes: on its emitter.
_CLASSES_ATTRIBUTE = "_prism_client_classes"
#: Client methods of each (process-wide loader, service, API version): see
#: :func:`share_client_classes`.
_METHODS: dict[tuple[int, str, str], dict[str, Any]] = {}
_METHODS_LOCK = threading.Lock()
#: The service model of each (process-wide loader, service, API version): read-only once
#: built, it memoizes its operations and shapes, which every client then shares.
_MODELS: dict[tuple[int, str, str], Any] = {}


def share_client_classes() -> None:
    """Build each service's client class once per botocore session, not once per client.

    botocore makes a new class for every client it creates (one method and docstring
    per operation: EC2 has several hundred), which is about two thirds of a client's
    set-up and is the same for every region. The class depends only on the service
    model and the session's ``creating-client-class`` handlers, so it is kept per
    session event emitter, service and API version; everything regional (endpoint,
    credentials, config) is still built per client by botocore itself.

    The classes are kept on the emitter itself, so they go with their session: a
    table keyed by emitter would keep every session alive (each class refers back to
    its emitter), about 20 MB per session in a process that makes many.

    A class's methods (one function and docstring per operation, most of the class's
    cost) depend on the service model alone: for sessions that read the process-wide
    botocore data (:func:`new_session`), they are built once per process and service
    and each session's class is made from a copy of them (its own
    ``creating-client-class`` handlers still run). Their clients share one service model
    too (botocore builds one per client, then each memoizes the operation and error
    shapes it resolves: hundreds of EC2 operations looked at for endpoint discovery
    alone). Their docstrings keep the first such
    session's emitter for ``help()``: one session per service, not one per session.
    """
    from botocore.client import ClientCreator

    original = ClientCreator._create_client_class
    if getattr(original, "_prism_shared", False):
        return
    original_methods = ClientCreator._create_methods
    original_model = ClientCreator._load_service_model

    def load_service_model(self: Any, service_name: str, api_version: str | None = None) -> Any:
        from prism_core.aws.botocore_data import is_shared

        if not is_shared(self._loader):
            return original_model(self, service_name, api_version)
        key = (id(self._loader), service_name, str(api_version))
        with _METHODS_LOCK:
            model = _MODELS.get(key)
        if model is None:
            model = original_model(self, service_name, api_version)
            with _METHODS_LOCK:
                model = _MODELS.setdefault(key, model)
        return model

    def create_methods(self: Any, service_model: Any) -> dict[str, Any]:
        from prism_core.aws.botocore_data import is_shared

        if not is_shared(self._loader):
            return original_methods(self, service_model)  # type: ignore[no-any-return]
        key = (id(self._loader), service_model.service_name, str(service_model.api_version))
        with _METHODS_LOCK:  # (create_client_class holds _CLASSES_LOCK here)
            methods = _METHODS.get(key)
        if methods is None:
            methods = original_methods(self, service_model)
            with _METHODS_LOCK:
                methods = _METHODS.setdefault(key, methods)
        return dict(methods)

    def create_client_class(self: Any, service_name: str, service_model: Any) -> type:
        key = (service_name, str(service_model.api_version))
        emitter = self._event_emitter
        with _CLASSES_LOCK:
            known: dict[tuple[str, str], type] | None = getattr(emitter, _CLASSES_ATTRIBUTE, None)
            if known is None:
                known = {}
                try:
                    setattr(emitter, _CLASSES_ATTRIBUTE, known)
                except AttributeError:  # an emitter that takes no attributes: not shared
                    return original(self, service_name, service_model)
            if key not in known:
                known[key] = original(self, service_name, service_model)
            return known[key]

    create_client_class._prism_shared = True  # type: ignore[attr-defined]
    ClientCreator._create_client_class = create_client_class  # type: ignore[method-assign]
    ClientCreator._create_methods = create_methods  # type: ignore[method-assign]
    ClientCreator._load_service_model = load_service_model  # type: ignore[method-assign]


#: botocore's event name -> its aliased name, for emitters using botocore's own aliases.
_ALIASED: dict[str, str] = {}


def share_event_aliases() -> None:
    """Alias each botocore event name once per process, not once per session and client.

    botocore's ``EventAliaser`` rewrites every event name it registers or emits with its
    table of renamed services (``EVENT_ALIASES``) and keeps the result per aliaser; each
    session and each client has a new one, so the several hundred handlers a session
    registers are aliased again every time (about a fifth of a session's set-up). The
    result depends only on the name and that table: aliasers using botocore's table
    share one cache; any other table is aliased by botocore as before.
    """
    from botocore.hooks import EventAliaser
    from botocore.utils import EVENT_ALIASES

    original = EventAliaser._alias_event_name
    if getattr(original, "_prism_shared", False):
        return

    def alias_event_name(self: Any, event_name: str) -> str:
        default = self.__dict__.get("_prism_default_aliases")
        if default is None:
            default = self._prism_default_aliases = self._event_aliases == EVENT_ALIASES
        if not default:
            return original(self, event_name)  # type: ignore[no-any-return]
        aliased = _ALIASED.get(event_name)
        if aliased is None:
            aliased = _ALIASED[event_name] = original(self, event_name)
        return aliased

    alias_event_name._prism_shared = True  # type: ignore[attr-defined]
    alias_event_name.__wrapped__ = original  # type: ignore[attr-defined]
    EventAliaser._alias_event_name = alias_event_name  # type: ignore[method-assign]


def new_session(**kwargs: Any) -> Any:
    """A boto3 session that reads botocore's data once per process
    (:mod:`prism_core.aws.botocore_data`)."""
    import boto3

    from prism_core.aws.botocore_data import share_loader

    session = boto3.session.Session(**kwargs)
    share_loader(session._session)
    return session


class AwsClients:
    """Thread-safe cache of boto3 clients per (service, region)."""

    def __init__(
        self,
        default_region: str | None = None,
        max_attempts: int = 8,
        profile: str | None = None,
    ) -> None:
        self._default_region = default_region
        self._max_attempts = max_attempts
        self.profile = profile or None
        self._session: Any = None
        self._clients: dict[tuple[Any, ...], Any] = {}
        self._lock = threading.Lock()
        #: Held while botocore builds a client: a session builds one client at a time.
        self._building = threading.Lock()
        #: Clients :meth:`prewarm` is building: key -> set once it is done (or failed).
        self._pending: dict[tuple[Any, ...], threading.Event] = {}
        self._identity: dict[str, str] | None = None

    @property
    def session(self) -> Any:
        """The boto3 session (created on first use)."""
        with self._lock:
            if self._session is None:
                from botocore.exceptions import ProfileNotFound

                share_client_classes()
                share_event_aliases()
                check_local_endpoint()
                try:
                    self._session = new_session(profile_name=self.profile)
                except ProfileNotFound as exc:
                    raise setup_error(exc, self.profile) from None
            return self._session

    @property
    def region(self) -> str:
        """``--region``, else ``AWS_REGION``, else ``AWS_DEFAULT_REGION``, else the
        profile's ``region`` (the AWS CLI v2's order); checked against botocore's data."""
        from prism_core.validation import region_name

        if self._default_region:
            return region_name(self._default_region, "--region")
        for variable in ("AWS_REGION", "AWS_DEFAULT_REGION"):
            value = os.environ.get(variable, "").strip()
            if value:
                return region_name(value, variable)
        region = self.session.region_name
        if not region:
            flag = _profile_hint(self.profile)
            raise InputError(
                "no AWS region configured",
                f"pass --region REGION, set AWS_REGION, or run "
                f"`aws configure set region REGION{flag}`",
            )
        where = f"the region of AWS profile {self.profile or 'default'}"
        return region_name(region, where)

    def client(self, service: str, region: str | None = None, *, attempts: int = 0) -> Any:
        """A client for ``service`` in ``region`` with bounded standard retries.

        ``attempts`` overrides the configured botocore budget (see :meth:`critical_ec2`).
        A client :meth:`prewarm` is building is waited for, not built twice.
        """
        region = region or self.region
        attempts = attempts or self._max_attempts
        key = (service, region) if attempts == self._max_attempts else (service, region, attempts)
        while True:
            with self._lock:
                if key in self._clients:
                    return self._clients[key]
                pending = self._pending.get(key)
            if pending is None:
                return self._build(key, service, region, attempts)
            pending.wait()
            with self._lock:
                if key in self._clients:
                    return self._clients[key]
                self._pending.pop(key, None)  # the background build failed: build it here

    def _build(self, key: tuple[Any, ...], service: str, region: str, attempts: int) -> Any:
        """Build the client of ``key`` (once, whoever asks first) and keep it."""
        session = self.session
        with self._building:
            with self._lock:
                if key in self._clients:
                    return self._clients[key]
            from botocore.config import Config

            config = Config(
                retries={"mode": "standard", "total_max_attempts": attempts},
                user_agent_extra=user_agent(),
            )
            client = session.client(service, region_name=region, config=config)
            with self._lock:
                return self._clients.setdefault(key, client)

    def prewarm(self, services: Iterable[str], regions: Iterable[str]) -> None:
        """Build the clients of ``services`` in ``regions`` in a background thread.

        botocore's set-up of a client is CPU work (tens of milliseconds each, the same
        for every region); a save needs an SSM and an EC2 client in every region it
        touches, while its first calls (regions, instance, lock) leave the CPU idle
        waiting on AWS. :meth:`client` hands out a client built here, or waits for the
        one being built; a build that fails here is done again (and raises) there.
        """
        wanted = [(s, r) for r in dict.fromkeys(regions) for s in dict.fromkeys(services)]
        with self._lock:
            todo = [k for k in wanted if k not in self._clients and k not in self._pending]
            for key in todo:
                self._pending[key] = threading.Event()
        if not todo:
            return

        def build() -> None:
            for key in todo:
                try:
                    self._build(key, key[0], key[1], self._max_attempts)
                except Exception:  # noqa: BLE001 - client() builds it again and reports
                    pass
                finally:
                    with self._lock:
                        event = self._pending.pop(key, None)
                    if event is not None:
                        event.set()

        threading.Thread(target=build, name="prism-clients", daemon=True).start()

    def ec2(self, region: str | None = None) -> Any:
        """Shorthand for ``client("ec2", region)``."""
        return self.client("ec2", region)

    def critical_ec2(self, region: str | None = None) -> Any:
        """EC2 for the calls made while the instance is down: a small botocore budget
        (3 attempts), because prism's own loop (:func:`~prism_core.aws.waiting.retry_throttled`)
        retries throttling with back-off until the stop/start timeouts instead."""
        return self.client("ec2", region, attempts=3)

    def identity(self) -> dict[str, str]:
        """The caller's identity (STS GetCallerIdentity, cached)."""
        if self._identity is None:
            answer = self.client("sts").get_caller_identity()
            self._identity = {"Account": answer["Account"], "Arn": answer["Arn"]}
        return self._identity

    def account_id(self) -> str:
        """The caller's AWS account id."""
        return self.identity()["Account"]

    def partition(self) -> str:
        """The caller's partition (``aws``, ``aws-cn``, ``aws-us-gov``)."""
        return self.identity()["Arn"].split(":")[1]

    def assumed(self, account: str, role: str, session_name: str) -> AwsClients:
        """Clients acting as ``role`` in ``account`` (STS AssumeRole, one hour), cached
        per account and role for this object's life."""
        key = ("assumed", account, role)
        with self._lock:
            found = self._clients.get(key)
        if found is not None:
            return found  # type: ignore[no-any-return]
        arn = f"arn:{self.partition()}:iam::{account}:role/{role}"
        credentials = self.client("sts").assume_role(
            RoleArn=arn, RoleSessionName=session_name[:64], DurationSeconds=3600
        )["Credentials"]
        other = AwsClients(self._default_region, self._max_attempts)
        other._session = new_session(
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
        )
        with self._lock:
            self._clients.setdefault(key, other)
            return self._clients[key]  # type: ignore[no-any-return]

    def identity_name(self) -> str:
        """The caller's user or role name, for a template's ``maintainer``."""
        return self.identity()["Arn"].rsplit("/", 1)[-1].rsplit(":", 1)[-1]

    def available_regions(self) -> list[str]:
        """Regions enabled for this account (``DescribeRegions``)."""
        regions = self.ec2().describe_regions()["Regions"]
        return sorted(r["RegionName"] for r in regions)


def user_agent(plugin: str | None = None) -> str:
    """The ``user_agent_extra`` of prism's AWS clients (``prism/VERSION``), plus the plugin's
    name when given: a plugin that builds its own client sets it so its calls show as
    prism's in CloudTrail (and in the sandbox's record of prism's requests)."""
    return f"prism/{__version__}" + (f" {plugin}" if plugin else "")
