"""Image modes: EC2's reboot by default, --stop, --no-reboot, prism.image_mode; an instance
found stopping or pending; instance-store volumes and the public IP in stop mode."""

from __future__ import annotations

import pytest
from helpers import refused

from prism_sandbox import Timings


def _actions(sandbox) -> list[str]:
    return [action for _, action in sandbox.faults.calls()]


def test_default_mode_lets_ec2_reboot_the_instance(prism_sandbox, run_prism):
    instance_id = prism_sandbox.create_instance("box")
    prism_sandbox.timings = Timings(snapshot=0.1, reboot=0.4, image=0.5)
    prism_sandbox.faults.clear_calls()
    result = run_prism("save", "box", "env1", "--yes", "-o", "json")
    assert result.exit_code == 0, result.stderr
    actions = _actions(prism_sandbox)
    assert "StopInstances" not in actions and "StartInstances" not in actions
    assert "DescribeInstanceStatus" in actions
    # CreateImage went without NoReboot: the sandbox emulated EC2's reboot of this instance
    assert [r["instance_id"] for r in prism_sandbox.reboots] == [instance_id]
    document = result.json()
    assert document["instance"]["image_mode"] == "reboot"
    assert document["instance"]["downtime_seconds"] is not None
    assert "The instance will reboot once" in result.stderr
    assert "public IP and instance-store data are kept" in result.stderr
    assert "EC2 has the snapshots: snap-" in result.stderr
    assert "Instance is back: status checks passed (downtime" in result.stderr
    assert prism_sandbox.instance_state(instance_id) == "running"
    text = run_prism("save", "box", "env2", "--yes")
    assert "Instance downtime: " in text.stdout and "EC2's reboot during CreateImage" in text.stdout


def test_stop_mode_stops_and_starts(prism_sandbox, run_prism):
    instance_id = prism_sandbox.create_instance("box")
    prism_sandbox.faults.clear_calls()
    result = run_prism("save", "box", "env1", "--stop", "--yes", "-o", "json")
    assert result.exit_code == 0, result.stderr
    actions = _actions(prism_sandbox)
    assert "StopInstances" in actions and actions.count("StartInstances") == 1
    assert prism_sandbox.reboots == []
    assert "Watchdog (pid" in result.stderr
    assert result.json()["instance"]["image_mode"] == "stop"
    assert prism_sandbox.instance_state(instance_id) == "running"


def test_no_reboot_neither_stops_nor_reboots(prism_sandbox, run_prism):
    instance_id = prism_sandbox.create_instance("box")
    prism_sandbox.faults.clear_calls()
    result = run_prism("save", "box", "env1", "--no-reboot", "--yes")
    assert result.exit_code == 0, result.stderr
    assert "StopInstances" not in _actions(prism_sandbox)
    assert prism_sandbox.reboots == []
    assert prism_sandbox.instance_state(instance_id) == "running"


def test_config_sets_the_default_mode_and_a_flag_overrides_it(prism_sandbox, run_prism):
    prism_sandbox.create_instance("box")
    prism_sandbox.write_config("prism:\n  image_mode: stop\n")
    prism_sandbox.faults.clear_calls()
    assert run_prism("save", "box", "env1", "--yes").exit_code == 0
    assert "StopInstances" in _actions(prism_sandbox)
    prism_sandbox.faults.clear_calls()
    assert run_prism("save", "box", "env2", "--reboot", "--yes").exit_code == 0
    assert "StopInstances" not in _actions(prism_sandbox)
    assert len(prism_sandbox.reboots) == 1


def test_bad_config_mode_and_clashing_flags_are_refused(prism_sandbox, run_prism):
    prism_sandbox.create_instance("box")
    refused(run_prism("save", "box", "env1", "--stop", "--no-reboot", "--yes"), "exclude")
    prism_sandbox.write_config("prism:\n  image_mode: hibernate\n")
    refused(run_prism("save", "box", "env1", "--yes"), "prism.image_mode is 'hibernate'")
    assert prism_sandbox.own_images() == []


def test_stop_mode_refuses_to_erase_instance_store(prism_sandbox, run_prism):
    instance_id = prism_sandbox.create_instance("gpu", instance_type="g5.xlarge")
    result = run_prism("save", "gpu", "env1", "--stop", "--yes")
    refused(result, "instance-store volumes ephemeral0 (250 GB NVMe SSD), which --stop erases")
    assert "--allow-instance-store-loss" in result.stderr
    assert prism_sandbox.own_images() == []
    assert prism_sandbox.instance_state(instance_id) == "running"
    dry = run_prism("save", "gpu", "env1", "--stop", "--allow-instance-store-loss", "--dry-run")
    assert dry.exit_code == 0, dry.stderr
    assert "--stop ERASES the instance-store volumes ephemeral0 (250 GB NVMe SSD)" in dry.stdout
    kept = run_prism("save", "gpu", "env1", "--dry-run")  # default: EC2's reboot keeps them
    assert kept.exit_code == 0 and "kept on the instance" in kept.stdout
    done = run_prism("save", "gpu", "env1", "--stop", "--allow-instance-store-loss", "--yes")
    assert done.exit_code == 0, done.stderr
    assert prism_sandbox.instance_state(instance_id) == "running"


def test_stop_mode_warns_that_the_public_ip_changes(prism_sandbox, run_prism):
    instance_id = prism_sandbox.create_instance("box")
    address = prism_sandbox.instance(instance_id).get("PublicIpAddress")
    if not address:
        pytest.skip("the sandbox gave the instance no public IP")
    dry = run_prism("save", "box", "env1", "--stop", "--dry-run")
    assert f"--stop changes the public IP address {address}" in dry.stdout
    allocation = prism_sandbox.ec2().allocate_address(Domain="vpc")
    prism_sandbox.ec2().associate_address(
        InstanceId=instance_id, AllocationId=allocation["AllocationId"]
    )
    eip = run_prism("save", "box", "env1", "--stop", "--dry-run")
    assert "changes the public IP" not in eip.stdout
    assert "changes the public IP" not in run_prism("save", "box", "env1", "--dry-run").stdout


def test_a_start_refused_while_stopping_is_sent_again_once_stopped(prism_sandbox, run_prism):
    """The restart sends StartInstances without describing the instance first; EC2's
    IncorrectInstanceState (still stopping) makes prism look, wait and start it."""
    instance_id = prism_sandbox.create_instance("box")
    prism_sandbox.faults.inject(
        "StartInstances", code="IncorrectInstanceState", message="still stopping", status=400
    )
    prism_sandbox.faults.clear_calls()
    result = run_prism("save", "box", "env1", "--stop", "--yes", "-o", "json")
    assert result.exit_code == 0, result.stderr
    actions = _actions(prism_sandbox)
    assert actions.count("StartInstances") == 2
    first = actions.index("StartInstances")
    assert "DescribeInstances" in actions[first : actions.index("StartInstances", first + 1)]
    assert prism_sandbox.instance_state(instance_id) == "running"
    assert len(prism_sandbox.own_images()) == 1 and prism_sandbox.journals() == []


def test_an_instance_that_cannot_stop_is_reported_and_left_alone(
    prism_sandbox, run_prism, monkeypatch
):
    """StopInstances is sent without describing the instance first; when EC2 refuses it
    (IncorrectInstanceState), prism looks and names the state; nothing is imaged."""
    from moto.ec2.models.instances import Instance

    instance_id = prism_sandbox.create_instance("box")
    stop = Instance.stop

    def shutting_down(self: Instance) -> object:
        self._state.name, self._state.code = "shutting-down", 32
        return stop(self)

    monkeypatch.setattr(Instance, "stop", shutting_down)
    result = run_prism("save", "box", "env1", "--stop", "--yes")
    assert result.exit_code == 1
    assert f"instance {instance_id} is shutting-down and cannot be stopped" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    assert prism_sandbox.own_images() == []


def test_instance_found_stopping_ends_stopped(prism_sandbox, run_prism):
    instance_id = prism_sandbox.create_instance("box")
    # long enough that prism still finds it stopping on a loaded machine
    prism_sandbox.timings = Timings(stop=8.0)
    prism_sandbox.ec2().stop_instances(InstanceIds=[instance_id])
    assert prism_sandbox.instance_state(instance_id) == "stopping"
    prism_sandbox.faults.clear_calls()
    result = run_prism("save", "box", "env1", "--yes", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert "the instance is stopping: prism waits until it is stopped" in result.stderr
    assert "is stopping; waiting until stopped" in result.stderr
    assert prism_sandbox.instance_state(instance_id) == "stopped"
    assert "StartInstances" not in _actions(prism_sandbox)
    assert prism_sandbox.reboots == []
    assert len(prism_sandbox.own_images()) == 1


def test_instance_found_pending_is_refused_before_any_change(prism_sandbox, run_prism):
    instance_id = prism_sandbox.create_instance("box", state="stopped")
    prism_sandbox.timings = Timings(start=30.0)
    prism_sandbox.ec2().start_instances(InstanceIds=[instance_id])
    prism_sandbox.faults.clear_calls()
    result = run_prism("save", "box", "env1", "--yes")
    refused(result, "is pending (starting up): wait until it is running")
    assert "Restarting" not in result.stderr
    changes = {"CreateTags", "PutParameter", "StopInstances", "CreateImage", "StartInstances"}
    assert not changes & set(_actions(prism_sandbox))
    assert prism_sandbox.own_images() == []


def test_impaired_after_the_reboot_is_reported_not_awaited(prism_sandbox, run_prism, monkeypatch):
    from moto.ec2.models.instances import Instance

    prism_sandbox.create_instance("box")
    monkeypatch.setattr(
        Instance,
        "instance_status",
        property(lambda self: {"Status": "impaired", "Details": []}),
    )
    result = run_prism("save", "box", "env1", "--yes", "-o", "json")
    assert result.exit_code == 0, result.stderr
    (note,) = [n for n in result.json()["notes"] if "status checks" in n]
    assert "had not passed its status checks (impaired)" in note
    assert "is impaired after EC2's reboot" in note
    assert result.json()["instance"]["downtime_seconds"] is None
