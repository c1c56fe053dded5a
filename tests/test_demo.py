"""`prism demo`: the whole workflow on its own sandbox cloud, leaving nothing behind."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time


def _port_closed(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) != 0


def test_demo_fast_end_to_end(run_prism, monkeypatch, tmp_path):
    user_home = tmp_path / "user-prism-home"
    monkeypatch.setenv("PRISM_HOME", str(user_home))
    # Settings that would break (or leak to real AWS) if the demo used them.
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")
    monkeypatch.setenv("AWS_ENDPOINT_URL_EC2", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "must-not-be-created"))
    environ_before = dict(os.environ)
    threads_before = set(threading.enumerate())

    result = run_prism("demo", "--fast")

    assert result.exit_code == 0, result.stderr
    err, out = result.stderr, result.stdout
    for step in range(1, 8):
        assert f"Step {step}/7: " in err
    assert "$ prism launch python-ml my-analysis --yes" in err
    assert "--copy-to-regions us-east-2,us-west-1 --project quake-study" in err
    # the save's progress and summary, as with real AWS
    assert "Saving instance 'my-analysis' as template 'seismic-env'" in err
    assert "AMI copied to region us-east-2" in err and "AMI copied to region us-west-1" in err
    assert "Instance saved as AMI successfully!" in out
    assert re.search(r"us-west-1: ami-\w+", out)
    # a launch from the built-in template, then from the saved one
    assert "Instance 'my-analysis' is running" in out
    assert "Instance 'aftershock-prediction' is running" in out
    assert "Template: seismic-env v1 (local)" in out
    assert "Demo finished" in err and "Traceback" not in err
    # the detached save, finished by the save engine
    assert "$ prism save my-analysis seismic-env --copy-to-regions us-east-2,us-west-1 " \
        "--detach --yes" in err
    assert "detached" in out and re.search(r"Save seismic-env-\S+: done", out)

    # nothing left: environment restored, user's home untouched, server and threads gone
    assert dict(os.environ) == environ_before
    assert not user_home.exists()
    assert not (tmp_path / "must-not-be-created").exists()
    port = int(re.search(r"running at http://127\.0\.0\.1:(\d+)", err).group(1))
    assert _port_closed(port)
    deadline = time.monotonic() + 5
    while set(threading.enumerate()) - threads_before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not set(threading.enumerate()) - threads_before


def test_demo_without_moto_is_one_line(tmp_path):
    code = (
        "import sys; sys.modules['moto'] = None\n"
        "from prism_core.cli.app import main\n"
        "sys.exit(main(['demo', '--fast'], entry_points=[]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ, PRISM_HOME=str(tmp_path)),
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "prism: error: moto is not installed; install the sandbox extra: "
        "pip install 'prism-cloud[sandbox]'"
    ]
