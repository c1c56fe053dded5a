"""A launch that would give a second live instance an existing ``Name`` is refused in
pre-flight (exit 2, nothing created) naming the first, unless --allow-duplicate-name."""

from __future__ import annotations

from helpers import refused


def _count_named(prism_sandbox, name: str) -> int:
    data = prism_sandbox.ec2().describe_instances(
        Filters=[{"Name": "tag:Name", "Values": [name]},
                 {"Name": "instance-state-name", "Values": ["running", "stopped"]}]
    )
    return sum(len(r["Instances"]) for r in data["Reservations"])


def test_second_instance_with_a_name_is_refused(saved_template, prism_sandbox, run_prism):
    first = run_prism("launch", "env1", "twin", "--yes", "-o", "json")
    assert first.exit_code == 0, first.stderr
    first_id = first.json()["id"]
    prism_sandbox.faults.clear_calls()
    result = run_prism("launch", "env1", "twin", "--yes")
    refused(result, "an instance named 'twin' already exists in us-east-1", first_id,
            "from env1@1", "--allow-duplicate-name")
    assert "ec2:RunInstances" not in prism_sandbox.faults.prism_actions()
    assert _count_named(prism_sandbox, "twin") == 1
    # dry runs check it too
    refused(run_prism("launch", "env1", "twin", "--dry-run"), first_id)


def test_a_stopped_instance_holds_its_name(saved_template, prism_sandbox, run_prism):
    instance_id = prism_sandbox.create_instance("parked", state="stopped")
    refused(run_prism("launch", "env1", "parked", "--yes"), instance_id, "stopped")


def test_allow_duplicate_name_launches_with_a_warning(saved_template, prism_sandbox, run_prism):
    assert run_prism("launch", "env1", "twin", "--yes").exit_code == 0
    result = run_prism("launch", "env1", "twin", "--allow-duplicate-name", "--yes")
    assert result.exit_code == 0, result.stderr
    assert "already exists" in result.stderr and "use instance ids" in result.stderr
    assert _count_named(prism_sandbox, "twin") == 2


def test_a_terminated_instance_frees_its_name(saved_template, prism_sandbox, run_prism):
    prism_sandbox.create_instance("gone", state="terminated")
    assert run_prism("launch", "env1", "gone", "--yes").exit_code == 0
