"""The pytest plugin prism_core.testing: fixtures for prism and plugin authors."""

from __future__ import annotations

import os
import sys
import types

import pytest

import prism_core.testing as testing


@pytest.fixture
def fake_main(monkeypatch):
    """A stand-in prism_core.cli.app (the real one lives in the core's branch)."""
    module = types.ModuleType("prism_core.cli.app")
    seen: dict = {}

    def main(argv, *, plugins=(), entry_points=None):
        seen["argv"] = argv
        seen["plugins"] = list(plugins)
        seen["entry_points"] = entry_points
        seen["stdin_tty"] = sys.stdin.isatty()
        seen["stdin"] = sys.stdin.read()
        print('{"ok": true}')
        print("warning", file=sys.stderr)
        return 3

    module.main = main
    monkeypatch.setitem(sys.modules, "prism_core.cli.app", module)
    return seen


def test_run_prism_captures_output_and_exit_code(run_prism, fake_main):
    result = run_prism("save", "box", "tpl", "--yes", input="y\n")
    assert result.exit_code == 3
    assert result.json() == {"ok": True}
    assert result.stderr == "warning\n"
    assert fake_main == {
        "argv": ["save", "box", "tpl", "--yes"],
        "stdin_tty": False,
        "stdin": "y\n",
        "plugins": [],
        "entry_points": frozenset(),  # tests/conftest.py: the built-ins only
    }
    assert sys.stdin is sys.__stdin__ or not isinstance(sys.stdin, testing._NoTTYStringIO)


def test_prism_plugin_registers_for_one_test(prism_plugin):
    marker = object()
    prism_plugin(marker, "my-plugin")
    assert ("my-plugin", marker) in testing.EXTRA_PLUGINS


def test_prism_plugin_list_restored():
    assert testing.EXTRA_PLUGINS == []


def test_prism_sandbox_environment(prism_sandbox, tmp_path):
    assert os.environ["AWS_ENDPOINT_URL"] == prism_sandbox.endpoint
    assert os.environ["AWS_ACCESS_KEY_ID"] == "testing"
    assert os.environ["PRISM_POLL_DELAY_SECONDS"] == "0.01"
    home = os.environ["PRISM_HOME"]
    assert os.path.isdir(home) and os.listdir(home) == []
    assert not os.path.exists(os.environ["AWS_CONFIG_FILE"])
    assert not os.path.exists(os.environ["AWS_SHARED_CREDENTIALS_FILE"])
    assert "AWS_PROFILE" not in os.environ and "AWS_REGION" not in os.environ
    assert prism_sandbox.timings == prism_sandbox.timings.fast()


def test_prism_sandbox_readers(prism_sandbox, prism_sandbox_server, run_prism):
    """The fixture is the session's sandbox (attributes read and write through) plus the
    readers every test, prism's and plugin authors', shares."""
    from pathlib import Path

    from prism_sandbox import Timings

    assert prism_sandbox.server is prism_sandbox_server
    prism_sandbox.setup_outcome = "failed"
    assert prism_sandbox_server.setup_outcome == "failed"
    prism_sandbox.setup_outcome = "complete"
    prism_sandbox.timings = Timings.fast()
    assert prism_sandbox_server.timings is prism_sandbox.timings

    assert prism_sandbox.prism_home == Path(os.environ["PRISM_HOME"])
    path = prism_sandbox.write_config("prism:\n  default_copy_regions: us-east-2\n")
    assert path == prism_sandbox.prism_home / "config.yml" and "us-east-2" in path.read_text()

    box = prism_sandbox.create_instance("box")
    assert prism_sandbox.instance(box)["InstanceId"] == box
    assert prism_sandbox.instance_state(box) == prism_sandbox.wait_running(box) == "running"
    assert prism_sandbox.own_images() == []  # the sandbox's base images are left out
    result = run_prism("save", "box", "env1", "--yes", "-o", "json")
    assert result.exit_code == 0, result.stderr
    for region in ("us-east-1", "us-east-2"):
        (image,) = prism_sandbox.own_images(region)
        assert image["ImageId"] == result.json()["amis"][region]
        snapshot = image["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
        assert prism_sandbox.snapshot_tags(snapshot, region)["prism:template"] == "env1"
    assert prism_sandbox.ec2("us-east-2").meta.region_name == "us-east-2"
    assert prism_sandbox.journals() == sorted((prism_sandbox.prism_home / "journal").glob("*.json"))


def test_testing_module_is_cheap_to_import():
    import subprocess

    code = (
        "import sys, prism_core.testing; "
        "print(any(m.split('.')[0] in ('moto', 'boto3') for m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert out.stdout.strip() == "False", out.stderr
