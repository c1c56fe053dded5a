"""A save phase nobody provides (its built-in plugin blocked) is refused in pre-flight,
before anything changes: never after the instance was stopped. Real prism command in
a memory-limited child process. (Every phase in every image mode, in milliseconds:
tests/unit/test_pipeline_seam.py.)"""

from __future__ import annotations

import os

from helpers import refused, run_prism_child

CHANGES = {"StopInstances", "StartInstances", "CreateImage", "CopyImage", "PutParameter",
           "CreateTags", "RebootInstances"}


def _block(monkeypatch, name: str) -> None:
    others = os.environ.get("PRISM_DISABLE_PLUGINS", "")
    monkeypatch.setenv("PRISM_DISABLE_PLUGINS", f"{others},{name}".strip(","))


def test_a_phase_without_provider_is_refused_before_anything_changes(prism_sandbox, monkeypatch):
    """The built-in image plugin blocked, --stop: refused, and not one change on the wire."""
    instance_id = prism_sandbox.create_instance("box")
    _block(monkeypatch, "ec2-image")
    prism_sandbox.faults.clear_calls()
    result = run_prism_child("save", "box", "env1", "--stop", "--yes")
    refused(result, "prism_image", "ec2-image is blocked by PRISM_DISABLE_PLUGINS")
    assert not CHANGES & {a for _, a in prism_sandbox.faults.calls()}
    assert prism_sandbox.instance_state(instance_id) == "running"
    assert prism_sandbox.journals() == []


def test_a_phase_the_request_does_not_need_may_be_blocked(prism_sandbox, monkeypatch):
    """No copy regions: the copy plugin is not needed and the save goes through."""
    prism_sandbox.create_instance("box")
    _block(monkeypatch, "ec2-copy")
    result = run_prism_child("save", "box", "env1", "--stop", "--yes")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert len(prism_sandbox.own_images()) == 1
