"""pytest plugin for prism and its plugin authors (entry point ``pytest11: prism``).

Fixtures:

``prism_sandbox_server``  (session) a started ``Sandbox(Timings.fast())``.
``prism_sandbox``         a reset sandbox with the AWS/PRISM environment pointing at it: a
                          :class:`SandboxFixture` (every ``Sandbox`` attribute plus readers of
                          the test's cloud and ``PRISM_HOME``: ``ec2``, ``instance``,
                          ``instance_state``, ``wait_running``, ``own_images``,
                          ``snapshot_tags``, ``prism_home``, ``journals``, ``write_config``).
``run_prism``             run the CLI in-process: ``run_prism("save", "box", "tpl", "--yes")``.
``prism_plugin``          register a plugin object for the duration of one test.
``prism_only_plugins``    ``prism_only_plugins("my-plugin")`` loads no other installed
                          third-party plugin (entry point) for one test, required ones
                          included, so tests do not depend on what else is installed.

The fixtures pass their choice of plugins to ``main(argv, plugins=..., entry_points=...)``
explicitly (:func:`main_options`); a test running ``prism`` in another process uses
:func:`prism_argv`, which does the same there. prism itself reads no test state.
``prism_iam_check``       after the test, every request prism sent to the sandbox is allowed by
                          ``prism iam-policy`` (the test's config and plugins).
``prism_only_plugins``    ``prism_only_plugins("my-plugin")`` blocks every other installed
                          third-party plugin (entry point) for one test, so tests do not
                          depend on what else is installed next to prism.

``iam_policy_denials(sandbox)`` lists the requests prism sent to the sandbox that the policy
``prism iam-policy`` prints (this test's config and plugins) does not allow: action,
resource ARN and condition keys, checked with :mod:`prism_sandbox.iam_evaluator`.

Cheap to import: moto and the sandbox are imported only when a fixture runs.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # pragma: no cover
    from prism_sandbox import Sandbox

#: Plugins registered by the ``prism_plugin`` fixture, as (name, plugin object); the
#: fixtures pass them to ``main(plugins=...)`` (see :func:`main_options`).
EXTRA_PLUGINS: list[tuple[str, object]] = []
#: The installed plugins (entry point names) a test chose with ``prism_only_plugins``;
#: ``None``: every installed one, as the ``prism`` command loads them.
ONLY_ENTRY_POINTS: list[frozenset[str] | None] = [None]


def main_options() -> dict[str, Any]:
    """The keyword arguments of ``prism_core.cli.app.main`` for this test's plugins."""
    return {"plugins": list(EXTRA_PLUGINS), "entry_points": ONLY_ENTRY_POINTS[0]}


def prism_program(prelude: str = "") -> str:
    """A Python program running the real ``prism`` command on ``sys.argv[1:]`` with this
    test's choice of installed plugins (objects registered with ``prism_plugin`` stay in
    this process): for ``python -c PROGRAM ARGS``. ``prelude`` runs first."""
    chosen = ONLY_ENTRY_POINTS[0]
    selected = None if chosen is None else sorted(chosen)
    return "\n".join(
        [
            "import sys",
            prelude,
            "from prism_core.cli.app import console",
            f"console(entry_points={selected!r})",
        ]
    )


def prism_argv(*args: str, prelude: str = "") -> list[str]:
    """``[python, -c, PROGRAM, *args]``: ``prism ARGS`` in a new process, as
    :func:`prism_program` runs it."""
    return [sys.executable, "-c", prism_program(prelude), *args]


@dataclass
class PrismResult:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


class _NoTTYStringIO(io.StringIO):
    def isatty(self) -> bool:
        return False


class SandboxFixture:
    """What the ``prism_sandbox`` fixture gives a test: the session's sandbox (every
    attribute of :class:`prism_sandbox.Sandbox` reads and writes through, e.g.
    ``create_instance``, ``faults``, ``timings``) plus readers of the test's cloud (boto3
    over HTTP, the sandbox's own clients) and of its ``PRISM_HOME``.
    """

    def __init__(self, server: Sandbox) -> None:
        object.__setattr__(self, "server", server)

    server: Sandbox

    def __getattr__(self, name: str) -> Any:
        if name == "server":  # not set yet (copy, pickle)
            raise AttributeError(name)
        return getattr(self.server, name)

    @property
    def prism_home(self) -> Path:
        """The test's ``PRISM_HOME``: a fresh empty folder, unless the test points the
        variable elsewhere (then that folder)."""
        return Path(os.environ["PRISM_HOME"])

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self.server, name, value)

    def ec2(self, region: str = "us-east-1") -> Any:
        """An EC2 client for the sandbox in ``region``."""
        return self.server.client("ec2", region)

    def instance(self, instance_id: str, region: str = "us-east-1") -> dict[str, Any]:
        """The instance's ``DescribeInstances`` record."""
        data = self.ec2(region).describe_instances(InstanceIds=[instance_id])
        return dict(data["Reservations"][0]["Instances"][0])

    def instance_state(self, instance_id: str, region: str = "us-east-1") -> str:
        """The instance's current state name."""
        return str(self.instance(instance_id, region)["State"]["Name"])

    def wait_running(
        self, instance_id: str, timeout: float = 30.0, region: str = "us-east-1"
    ) -> str:
        """The instance's state once ``running`` (or when ``timeout`` is spent: a generous
        bound for a loaded machine, well above the poll delay + start time it should take)."""
        deadline = time.monotonic() + timeout
        state = self.instance_state(instance_id, region)
        while state != "running" and time.monotonic() < deadline:
            time.sleep(0.05)
            state = self.instance_state(instance_id, region)
        return state

    def own_images(self, region: str = "us-east-1") -> list[dict[str, Any]]:
        """Images prism saved in ``region`` (tagged as templates; the sandbox's base images
        and deregistered ones left out)."""
        from prism_core.aws.tags import TEMPLATE_TAG

        images = self.ec2(region).describe_images(
            Owners=["self"], Filters=[{"Name": "tag-key", "Values": [TEMPLATE_TAG]}]
        )["Images"]
        return [i for i in images if i.get("State") != "deregistered"]

    def snapshot_tags(self, snapshot_id: str, region: str = "us-east-1") -> dict[str, str]:
        """Tags of one snapshot, as a dict."""
        from prism_core.aws.tags import tags_of

        snap = self.ec2(region).describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"][0]
        return tags_of(snap)

    def journals(self) -> list[Path]:
        """The save journals in ``PRISM_HOME``, sorted."""
        return sorted((self.prism_home / "journal").glob("*.json"))

    def write_config(self, text: str) -> Path:
        """Write the user's ``$PRISM_HOME/config.yml``; its path."""
        self.prism_home.mkdir(parents=True, exist_ok=True)
        path = self.prism_home / "config.yml"
        path.write_text(text)
        return path


_POLICIES: dict[tuple[Any, ...], dict[str, Any]] = {}

#: Condition keys of ``prism iam-policy`` that prism's requests do not meet yet, each with
#: the change that makes them met; the IAM checks count them as met. Remove an entry once
#: that change is merged (tests/test_iam_policy.py fails on one no request needs any more).
IAM_PENDING: dict[str, str] = {}


def current_iam_policy() -> dict[str, Any]:
    """The policy ``prism iam-policy`` prints now (this ``PRISM_HOME``'s config, the loaded
    plugins); prism's own with the default config when the config is refused."""
    config = Path(os.environ.get("PRISM_HOME", "~")).expanduser() / "config.yml"
    key = (
        config.read_text() if config.is_file() else None,
        tuple((name, id(plugin)) for name, plugin in EXTRA_PLUGINS),
        ONLY_ENTRY_POINTS[0],
        tuple(
            sorted(
                (k, v)
                for k, v in os.environ.items()
                if k.startswith("PRISM_") and k != "PRISM_HOME"  # its config is read above
            )
        ),
    )
    if key not in _POLICIES:
        from prism_core.cli.app import main

        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
            code = main(["iam-policy"], **main_options())
        if code:
            from prism_core.aws.iam_policy import policy

            _POLICIES[key] = policy()
        else:
            _POLICIES[key] = json.loads(out.getvalue())
    return _POLICIES[key]


def iam_policy_denials(sandbox: Any, waived: tuple[str, ...] = tuple(IAM_PENDING)) -> list[str]:
    """A line for each request prism sent to ``sandbox`` since its call log was cleared
    that :func:`current_iam_policy` does not allow (condition keys in ``waived`` count as
    met: requirements other branches are still implementing)."""
    from prism_sandbox.iam_evaluator import denied

    found = sandbox.faults.authorizations()
    if not found:
        return []
    return denied(current_iam_policy(), found, waived)


@pytest.fixture
def prism_iam_check(request: pytest.FixtureRequest) -> Iterator[None]:
    """After the test, every request prism (and the plugins it loaded) sent to the sandbox
    must be allowed by the policy ``prism iam-policy`` prints for the test's config and
    plugins. Plugin authors enable it for a whole suite with an autouse fixture."""
    if "prism_sandbox" not in request.fixturenames:
        yield
        return
    sandbox = request.getfixturevalue("prism_sandbox")
    request.getfixturevalue("prism_plugin")  # its plugins are still registered below
    request.getfixturevalue("prism_only_plugins")  # and the test's choice of installed ones
    yield
    denials = iam_policy_denials(sandbox)
    assert not denials, "`prism iam-policy` does not allow:\n" + "\n".join(denials[:20])


@pytest.fixture(scope="session")
def prism_sandbox_server() -> Iterator[Sandbox]:
    from prism_sandbox import Sandbox, Timings

    sandbox = Sandbox(Timings.fast())
    sandbox.record_iam = True  # the IAM policy checks of the tests read what it records
    sandbox.start()
    try:
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture
def prism_sandbox(
    prism_sandbox_server: Sandbox,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path_factory: pytest.TempPathFactory,
) -> SandboxFixture:
    from prism_sandbox import Timings
    from prism_sandbox.environment import changes, sandbox_variables

    sandbox = prism_sandbox_server
    sandbox.timings = Timings.fast()
    sandbox.reset()
    home = tmp_path_factory.mktemp("prism-home")
    aws = tmp_path_factory.mktemp("aws-config")
    # every other AWS_* variable of the person running the tests is unset (profiles,
    # tokens, service endpoints); AWS_DEFAULT_REGION decides the region
    wanted = sandbox_variables(sandbox.endpoint, aws, pin_region=False)
    for key, value in changes(wanted, os.environ).items():
        if value is None:
            monkeypatch.delenv(key, raising=False)
        else:
            monkeypatch.setenv(key, value)
    monkeypatch.setenv("PRISM_HOME", str(home))
    # ~/.ssh of the person running the tests stays out of launches (key pair import)
    monkeypatch.setenv("HOME", str(tmp_path_factory.mktemp("home")))
    monkeypatch.setenv("PRISM_POLL_DELAY_SECONDS", "0.01")
    # output is laid out as for a pipe unless a test asks for a width: the terminal the
    # tests were started from (readline exports COLUMNS/LINES to pytest-xdist's workers)
    # must not wrap what prism prints
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.delenv("LINES", raising=False)
    return SandboxFixture(sandbox)


@pytest.fixture
def run_prism() -> Callable[..., PrismResult]:
    def run(*args: str, input: str | None = None) -> PrismResult:  # noqa: A002
        from prism_core.cli.app import main

        out, err = io.StringIO(), io.StringIO()
        stdin = _NoTTYStringIO(input or "")
        old_stdin = sys.stdin
        sys.stdin = stdin
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = main(list(args), **main_options())
        finally:
            sys.stdin = old_stdin
        return PrismResult(int(code or 0), out.getvalue(), err.getvalue())

    return run


@pytest.fixture
def prism_plugin() -> Iterator[Callable[[object, str], None]]:
    """``register(plugin_obj, name)`` adds a plugin to EXTRA_PLUGINS for this test only.

    The list is changed in place (and restored afterwards), so code holding a
    reference to ``prism_core.testing.EXTRA_PLUGINS`` sees the change too.
    """
    saved = list(EXTRA_PLUGINS)

    def register(plugin_obj: object, name: str) -> None:
        EXTRA_PLUGINS.append((name, plugin_obj))

    try:
        yield register
    finally:
        EXTRA_PLUGINS[:] = saved


@pytest.fixture
def prism_only_plugins() -> Iterator[Callable[..., None]]:
    """``keep(*names)``: load no installed ``prism.plugins`` entry point but ``names``,
    required ones (an institution's build installed next to prism) included. The choice
    reaches prism as ``main(entry_points=...)`` (:func:`main_options`, :func:`prism_argv`);
    ``keep(None)`` goes back to every installed plugin, as the ``prism`` command loads."""
    saved = ONLY_ENTRY_POINTS[0]

    def keep(*names: str | None) -> None:
        ONLY_ENTRY_POINTS[0] = None if names == (None,) else frozenset(str(n) for n in names)

    try:
        yield keep
    finally:
        ONLY_ENTRY_POINTS[0] = saved
