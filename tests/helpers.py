"""Small readers of sandbox state shared by the tests (all through boto3 over HTTP)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from typing import Any

import boto3


def ec2(region: str = "us-east-1") -> Any:
    """An EC2 client for the sandbox (env points boto3 at it)."""
    return boto3.client("ec2", region_name=region)


def instance_state(instance_id: str, region: str = "us-east-1") -> str:
    """The instance's current state name."""
    data = ec2(region).describe_instances(InstanceIds=[instance_id])
    return data["Reservations"][0]["Instances"][0]["State"]["Name"]


def own_images(region: str = "us-east-1") -> list[dict[str, Any]]:
    """Images prism saved in ``region`` (the sandbox's base images left out)."""
    images = ec2(region).describe_images(
        Owners=["self"], Filters=[{"Name": "tag-key", "Values": ["prism:template"]}]
    )["Images"]
    return [i for i in images if i.get("State") != "deregistered"]


def tags_of(resource: dict[str, Any]) -> dict[str, str]:
    """A Describe* record's tags as a dict."""
    return {t["Key"]: t["Value"] for t in resource.get("Tags", [])}


def snapshot_tags(snapshot_id: str, region: str = "us-east-1") -> dict[str, str]:
    """Tags of one snapshot."""
    snap = ec2(region).describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"][0]
    return tags_of(snap)


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
    import os
    import subprocess
    import sys

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


class PrismProcess:
    """`python -m prism_core ...` with its stderr collected line by line."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "prism_core", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )
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
