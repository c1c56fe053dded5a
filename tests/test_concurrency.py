"""One save per instance and one save per version number, under real concurrency: two
`prism` processes started together, repeated to catch the race."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from helpers import start_prism

from prism_core.templates.document import load_file

ROUNDS = 4


def _together(*commands: tuple[str, ...]) -> list[tuple[int, str, str]]:
    """Start every command at once; (exit code, stdout, stderr) of each."""
    procs = [start_prism(*command) for command in commands]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=180)
        results.append((proc.returncode, out, err))
    return results


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_two_saves_of_one_instance_exactly_one_images(prism_sandbox, round_):
    instance_id = prism_sandbox.create_instance("box")
    results = _together(
        ("save", "box", "env-a", "--yes", "-o", "json"),
        ("save", "box", "env-b", "--yes", "-o", "json"),
    )
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 2], results
    (refused,) = [err for code, _, err in results if code == 2]
    assert "is being saved already: save env-" in refused
    assert "on host " in refused and "aws ssm delete-parameter" in refused
    # refused by the pre-check (one line) or, when both passed it, by the conditional
    # write after the plan: either way the error is the last line and nothing changed
    assert refused.strip().splitlines()[-1].startswith("prism: error: instance box is being")
    assert len(prism_sandbox.own_images()) == 1
    assert len(prism_sandbox.client("ec2").describe_snapshots(OwnerIds=["self"])["Snapshots"]) == 1
    assert prism_sandbox.instance_state(instance_id) == "running"
    ssm = prism_sandbox.client("ssm")
    locks = [p["Name"] for p in ssm.describe_parameters()["Parameters"] if "/locks/" in p["Name"]]
    assert locks == []  # released by the winner


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_two_saves_to_one_template_get_distinct_versions(prism_sandbox, run_prism, round_):
    prism_sandbox.create_instance("box-1")
    prism_sandbox.create_instance("box-2")
    results = _together(
        ("save", "box-1", "shared", "--yes", "-o", "json"),
        ("save", "box-2", "shared", "--yes", "-o", "json"),
    )
    assert [code for code, _, _ in results] == [0, 0], results
    documents = [json.loads(out) for _, out, _ in results]
    assert sorted(d["version"] for d in documents) == [1, 2]
    amis = {d["version"]: d["amis"]["us-east-1"] for d in documents}
    assert amis[1] != amis[2]
    ssm = prism_sandbox.client("ssm")
    for version in (1, 2):
        value = ssm.get_parameter(Name=f"/prism/templates/shared/versions/{version}")
        doc = json.loads(value["Parameter"]["Value"])
        assert doc["version"] == str(version)  # a string, as the original tool needs
        assert doc["ami_config"]["amis"]["us-east-1"]["x86_64"] == amis[version]
        launched = run_prism("launch", f"shared@{version}", f"from-v{version}", "--yes")
        assert launched.exit_code == 0, launched.stderr
        (reservation,) = prism_sandbox.ec2().describe_instances(
            Filters=[{"Name": "tag:Name", "Values": [f"from-v{version}"]}]
        )["Reservations"]
        assert reservation["Instances"][0]["ImageId"] == amis[version]
    current = ssm.get_parameter(Name="/prism/current/shared")["Parameter"]
    current = json.loads(current["Value"])
    assert current["version"] == "2"
    home = Path(os.environ["PRISM_HOME"])
    assert load_file(home / "templates" / "shared.yaml")["version"] == "2"
    assert load_file(home / "archive" / "shared" / "1.yaml")["version"] == "1"
