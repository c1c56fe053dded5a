"""Small readers of sandbox state shared by the tests (all through boto3 over HTTP).

One definition each: test files import these instead of writing their own. A helper
that takes ``sandbox`` uses that sandbox's own clients (for tests whose environment does
not point at it, such as the pseudo-terminal tests); otherwise the test's environment
(the ``prism_sandbox`` fixture) does.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import boto3

from prism_core.aws.tags import TEMPLATE_TAG, tags_of

__all__ = ["tags_of"]  # re-exported: the one tag-dict conversion, prism's own


def ec2(region: str = "us-east-1", sandbox: Any = None) -> Any:
    """An EC2 client for the sandbox (``sandbox``'s, else the environment's)."""
    if sandbox is not None:
        return sandbox.client("ec2", region)
    return boto3.client("ec2", region_name=region)


def instance(instance_id: str, region: str = "us-east-1", sandbox: Any = None) -> dict[str, Any]:
    """The instance's ``DescribeInstances`` record."""
    data = ec2(region, sandbox).describe_instances(InstanceIds=[instance_id])
    return dict(data["Reservations"][0]["Instances"][0])


def instance_state(instance_id: str, region: str = "us-east-1", sandbox: Any = None) -> str:
    """The instance's current state name."""
    return str(instance(instance_id, region, sandbox)["State"]["Name"])


def wait_running(instance_id: str, timeout: float = 30.0) -> str:
    """The instance's state once ``running`` (or when ``timeout`` is spent: a generous
    bound for a loaded machine, well above the poll delay + start time it should take)."""
    deadline = time.monotonic() + timeout
    state = instance_state(instance_id)
    while state != "running" and time.monotonic() < deadline:
        time.sleep(0.05)
        state = instance_state(instance_id)
    return state


def own_images(region: str = "us-east-1", sandbox: Any = None) -> list[dict[str, Any]]:
    """Images prism saved in ``region`` (the sandbox's base images left out)."""
    images = ec2(region, sandbox).describe_images(
        Owners=["self"], Filters=[{"Name": "tag-key", "Values": [TEMPLATE_TAG]}]
    )["Images"]
    return [i for i in images if i.get("State") != "deregistered"]


def snapshot_tags(snapshot_id: str, region: str = "us-east-1") -> dict[str, str]:
    """Tags of one snapshot."""
    snap = ec2(region).describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"][0]
    return tags_of(snap)


def prism_home() -> Path:
    """The test's ``PRISM_HOME``."""
    return Path(os.environ["PRISM_HOME"])


def journals() -> list[Path]:
    """The save journals in ``PRISM_HOME``, sorted."""
    return sorted((prism_home() / "journal").glob("*.json"))


def write_config(text: str) -> None:
    """Write the user's ``$PRISM_HOME/config.yml``."""
    prism_home().mkdir(parents=True, exist_ok=True)
    (prism_home() / "config.yml").write_text(text)


def refused(result: Any, *expected: str) -> None:
    """Exit 2 with one line on stderr that holds every ``expected`` text."""
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for text in expected:
        assert text in lines[0], lines[0]


#: Address-space limit of a prism run in the hostile-input tests: far above what prism
#: needs, far below what an unbounded read (an alias bomb, /dev/zero) takes.
MEMORY_LIMIT_BYTES = 1024 * 1024 * 1024


def _limit_memory() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))


def run_prism_child(*args: str, system_config: str | None = None, timeout: float = 120.0) -> Any:
    """Run the real ``prism`` command in a child process under a memory limit
    (``resource.setrlimit``), with the test's environment (sandbox, PRISM_HOME).

    ``system_config`` replaces ``/etc/prism/prism.yml`` for this run. Returns a
    :class:`prism_core.testing.PrismResult`; an unbounded read fails the test (a
    MemoryError, a kill or the timeout), never the machine.
    """
    from prism_core.testing import PrismResult

    code = "import sys\nimport prism_core.cli.app as app\nimport prism_core.settings as settings\n"
    if system_config is not None:  # settings.system_config_path() reads it
        code += f"settings.SYSTEM_CONFIG = {system_config!r}\n"
    code += "sys.exit(app.main(sys.argv[1:]))\n"
    env = dict(os.environ, MALLOC_ARENA_MAX="2", PYTHONUNBUFFERED="1")
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        preexec_fn=_limit_memory,
        timeout=timeout,
    )
    return PrismResult(done.returncode, done.stdout, done.stderr)


def start_prism(*args: str) -> subprocess.Popen[str]:
    """Start ``python -m prism_core ARGS`` with the test's environment, pipes for
    stdout and stderr, no stdin."""
    return subprocess.Popen(
        [sys.executable, "-m", "prism_core", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )


class PrismProcess:
    """`python -m prism_core ...` with its stderr collected line by line."""

    def __init__(self, *args: str) -> None:
        self.proc = start_prism(*args)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)

    def wait_for(self, text: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in line for line in self.lines):
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        raise AssertionError(f"never saw {text!r}; stderr so far:\n{''.join(self.lines)}")

    def finish(self, timeout: float = 60.0) -> int:
        code = self.proc.wait(timeout)
        self._reader.join(5)
        return code

    @property
    def stderr(self) -> str:
        return "".join(self.lines)
