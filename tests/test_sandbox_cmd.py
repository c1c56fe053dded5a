"""`prism sandbox start | status | env | stop`: a real background server process."""

from __future__ import annotations

import os
import shlex
import subprocess
import time

import boto3
import pytest

from prism_core.testing import prism_argv


def _prism(home, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PRISM_"))}
    env["PRISM_HOME"] = str(home)
    return subprocess.run(
        prism_argv(*args),  # the test's choice of plugins goes along
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        stdin=subprocess.DEVNULL,
    )


def _exports(text: str) -> dict[str, str]:
    values = {}
    for line in text.splitlines():
        if line.startswith("export "):
            key, _, value = line[len("export ") :].partition("=")
            values[key] = shlex.split(value)[0]
    return values


def _gone(pid: int, timeout: float = 10.0) -> bool:
    """The process has exited (init may take a moment to reap the detached server)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def home(tmp_path):
    home = tmp_path / "prism-home"
    yield home
    if (home / "sandbox" / "server.pid").exists():  # never leave a server behind
        _prism(home, "sandbox", "stop")


def test_sandbox_lifecycle(home):
    assert "not running" in _prism(home, "sandbox", "status").stdout

    started = _prism(home, "sandbox", "start", "--timings", "fast")
    assert started.returncode == 0, started.stderr
    assert "Sandbox cloud running at http://127.0.0.1:" in started.stdout
    assert "genomics-box, my-analysis" in started.stdout
    pid_file = home / "sandbox" / "server.pid"
    pid = int(pid_file.read_text())

    status = _prism(home, "sandbox", "status")
    assert status.returncode == 0 and "running at http://127.0.0.1:" in status.stdout

    again = _prism(home, "sandbox", "start")
    assert again.returncode == 2
    assert "a sandbox is already running" in again.stderr
    assert "prism sandbox stop" in again.stderr and "Traceback" not in again.stderr

    printed = _prism(home, "sandbox", "env")
    assert printed.returncode == 0, printed.stderr
    variables = _exports(printed.stdout)
    endpoint = variables["AWS_ENDPOINT_URL"]
    assert endpoint in status.stdout
    assert variables["PRISM_HOME"] == str(home / "sandbox" / "home")
    assert variables["PRISM_SANDBOX_DIR"] == str(home / "sandbox")
    assert not os.path.exists(variables["AWS_CONFIG_FILE"])
    fish = _prism(home, "sandbox", "env", "--shell", "fish")
    assert f"set -gx AWS_ENDPOINT_URL {endpoint}" in fish.stdout

    ec2 = boto3.client(
        "ec2",
        region_name="us-east-1",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    names = {
        tag["Value"]
        for reservation in ec2.describe_instances()["Reservations"]
        for instance in reservation["Instances"]
        for tag in instance.get("Tags", [])
        if tag["Key"] == "Name" and instance["State"]["Name"] == "running"
    }
    assert names == {"my-analysis", "genomics-box"}

    stopped = _prism(home, "sandbox", "stop")
    assert stopped.returncode == 0, stopped.stderr
    assert f"pid {pid}" in stopped.stdout
    assert not pid_file.exists() and not (home / "sandbox" / "server.json").exists()
    assert _gone(pid)
    assert "not running" in _prism(home, "sandbox", "status").stdout


def test_stop_and_env_when_not_running(home):
    stopped = _prism(home, "sandbox", "stop")
    assert stopped.returncode == 2
    assert stopped.stderr.strip() == (
        f"prism: error: no sandbox is running (state in {home / 'sandbox'}): "
        "start one with `prism sandbox start`"
    )
    assert _prism(home, "sandbox", "env").returncode == 2


def test_start_on_a_busy_port_says_so(home):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        started = _prism(home, "sandbox", "start", "--port", str(port), "--no-instances")
    assert started.returncode == 1
    assert f"port {port} is in use" in started.stderr
    assert not (home / "sandbox" / "server.pid").exists()


def test_add_file_puts_a_file_in_an_instance_tree(home, tmp_path):
    started = _prism(home, "sandbox", "start", "--timings", "fast")
    assert started.returncode == 0, started.stderr
    added = _prism(
        home,
        "sandbox",
        "add-file",
        "my-analysis",
        "/home/ubuntu/.netrc",
        "--text",
        "machine x login y password z",
    )
    assert added.returncode == 0, added.stderr
    assert "Added /home/ubuntu/.netrc to my-analysis" in added.stdout
    trees = home / "sandbox" / "trees"
    assert [p.read_text() for p in trees.glob("i-*/home/ubuntu/.netrc")] == [
        "machine x login y password z"
    ]
    seeded = list(trees.glob("i-*/home/ubuntu/.aws/credentials"))
    assert len(seeded) == 1  # genomics-box's, seeded
    bad = _prism(home, "sandbox", "add-file", "my-analysis", "/../x", "--text", "y")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    missing = _prism(home, "sandbox", "add-file", "nobody", "/x", "--text", "y")
    assert missing.returncode == 2 and "no sandbox instance called 'nobody'" in missing.stderr
    assert _prism(home, "sandbox", "stop").returncode == 0
    assert not trees.exists()
