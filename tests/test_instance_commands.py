"""``prism connect``, ``prism stop`` and ``prism start`` on prism-launched and named
instances, against the sandbox."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from helpers import refused, run_prism_child
from test_launch_access import ssh_key


def _launch(run_prism, name: str) -> dict:
    result = run_prism("launch", "env1", name, "--yes", "-o", "json")
    assert result.exit_code == 0, result.stderr
    return result.json()


def test_connect_uses_the_imported_key_and_the_templates_user(saved_template, run_prism):
    ssh_key(Path(os.environ["HOME"]))
    doc = _launch(run_prism, "keyed")
    result = run_prism("connect", "keyed", "--print")
    assert result.exit_code == 0, result.stderr
    key = str(Path(os.environ["HOME"]) / ".ssh" / "id_ed25519")
    assert result.stdout.split() == [
        "ssh", "-o", "StrictHostKeyChecking=accept-new", "-i", key,
        f"ec2-user@{doc['public_ip']}",
    ]
    forward = run_prism("connect", "keyed", "--port", "8888", "-o", "json").json()
    assert forward["how"] == "ssh" and "8888:localhost:8888" in forward["command"]
    assert any("http://localhost:8888" in note for note in forward["notes"])
    user = run_prism("connect", doc["id"], "--user", "ubuntu", "--print").stdout
    assert f"ubuntu@{doc['public_ip']}" in user


def test_connect_without_a_key_pair_uses_session_manager(saved_template, run_prism):
    doc = _launch(run_prism, "keyless")
    result = run_prism("connect", "keyless", "--port", "8787", "-o", "json")
    assert result.exit_code == 0, result.stderr
    got = result.json()
    assert got["how"] == "ssm"
    assert got["command"][:6] == ["aws", "ssm", "start-session", "--target", doc["id"],
                                  "--region"]
    assert "portNumber=8787,localPortNumber=8787" in got["command"]
    assert "no key pair" in got["notes"][0]


def test_connect_runs_ssh(saved_template, run_prism, tmp_path, monkeypatch):
    ssh_key(Path(os.environ["HOME"]))
    _launch(run_prism, "live")
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "ssh").write_text('#!/bin/sh\necho "fake ssh $*"\n')
    (fake / "ssh").chmod(stat.S_IRWXU)
    monkeypatch.setenv("PATH", f"{fake}:{os.environ['PATH']}")
    result = run_prism_child("connect", "live")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("fake ssh -o StrictHostKeyChecking=accept-new -i ")


def test_connect_refusals(saved_template, prism_sandbox, run_prism):
    refused(run_prism("connect", "nobody"), "no instance named 'nobody'", "prism list")
    refused(run_prism("connect", "my-box", "--port", "99999"), "not a port number")
    stopped = prism_sandbox.create_instance("cold", state="stopped")
    refused(run_prism("connect", "cold"), stopped, "not running", "prism start cold")
    prism_sandbox.create_instance("twin")
    prism_sandbox.create_instance("twin")
    refused(run_prism("connect", "twin"), "2 instances are named 'twin'", "instance id")


def test_stop_then_start_prints_the_new_address(saved_template, prism_sandbox, run_prism):
    doc = _launch(run_prism, "worker")
    asked = run_prism("stop", "worker")  # no terminal: the plan, then "add --yes"
    assert asked.exit_code == 2 and asked.stderr.splitlines()[-1].endswith("add --yes")
    assert prism_sandbox.instance_state(doc["id"]) == "running"
    dry = run_prism("stop", "worker", "--dry-run")
    assert dry.exit_code == 0 and f"public IP {doc['public_ip']} is released" in dry.stderr
    assert prism_sandbox.instance_state(doc["id"]) == "running"

    stopped = run_prism("stop", "worker", "--yes")
    assert stopped.exit_code == 0, stopped.stderr
    assert prism_sandbox.instance_state(doc["id"]) == "stopped"
    assert "prism start worker" in stopped.stdout
    again = run_prism("stop", "worker", "--yes")
    assert again.exit_code == 0 and "already stopped" in again.stdout

    asked = run_prism("start", "worker")  # the plan (with the cost), then "add --yes"
    assert asked.exit_code == 2 and "about $0.0416/hour" in asked.stderr
    assert prism_sandbox.instance_state(doc["id"]) == "stopped"
    started = run_prism("start", "worker", "--yes")
    assert started.exit_code == 0, started.stderr
    address = prism_sandbox.instance(doc["id"]).get("PublicIpAddress")
    assert prism_sandbox.instance_state(doc["id"]) == "running"
    assert f"Public IP: {address} (new)" in started.stdout
    assert "prism connect worker" in started.stdout
    running = run_prism("start", "worker", "-o", "json").json()
    assert running["changed"] is False and running["public_ip"] == address


def test_one_time_spot_cannot_be_stopped(prism_sandbox, run_prism):
    spot = prism_sandbox.create_instance("spotty", spot=True)
    refused(run_prism("stop", "spotty", "--yes"), spot, "one-time Spot", "terminate")
    assert prism_sandbox.instance_state(spot) == "running"


def test_list_shows_state_address_template_and_cost(saved_template, prism_sandbox, run_prism):
    doc = _launch(run_prism, "listed")
    assert run_prism("stop", "listed", "--yes").exit_code == 0
    other = _launch(run_prism, "busy")
    rows = {r["name"]: r for r in run_prism("list", "-o", "json").json()["instances"]}
    assert rows["busy"]["address"] == other["public_ip"] and rows["busy"]["state"] == "running"
    assert rows["busy"]["usd_per_hour"] == 0.0416  # t3.medium, prism's price data
    assert rows["busy"]["uptime_hours"] is not None
    assert rows["listed"]["state"] == "stopped" and rows["listed"]["uptime_hours"] is None
    text = run_prism("list").stdout.splitlines()
    assert text[1].split() == ["NAME", "STATE", "ADDRESS", "TEMPLATE", "TYPE", "COST", "ID"]
    busy = next(line for line in text if line.startswith("busy"))
    assert other["public_ip"] in busy and "env1@1" in busy and "running" in busy
    assert "$0.0416/h, up 0h00m $0.00" in busy
    listed = next(line for line in text if line.startswith("listed"))
    assert "stopped" in listed and "$0.0416/h" in listed and doc["id"] in listed


def test_save_stop_summary_gives_the_public_ip(prism_sandbox, run_prism):
    instance_id = prism_sandbox.create_instance("box")
    result = run_prism("save", "box", "env-stop", "--stop", "--yes")
    assert result.exit_code == 0, result.stderr
    address = prism_sandbox.instance(instance_id)["PublicIpAddress"]
    assert f"public IP unchanged: {address}" in result.stdout or (
        f"new public IP: {address}" in result.stdout
    )
