"""AMI parameters (`<prefix>images/<template>/<alias>`, `aws:ec2:image`) through the real
CLI: save, promote, revoke, restore, demote and delete keep them in line, and another
tool launches with `resolve:ssm:` (EC2's resolution emulated in tests/ec2_resolve.py)."""

from __future__ import annotations

from typing import Any

from ec2_resolve import resolving_run_instances

ROOT = "/prism/images/env1"


def image_parameters(sandbox: Any, region: str) -> dict[str, str]:
    ssm = sandbox.client("ssm", region)
    found = ssm.get_parameters_by_path(Path=ROOT, Recursive=True)["Parameters"]
    return {p["Name"][len(ROOT) + 1 :]: p["Value"] for p in found}


def data_types(sandbox: Any, region: str) -> set[str]:
    ssm = sandbox.client("ssm", region)
    found = ssm.get_parameters_by_path(Path=ROOT, Recursive=True)["Parameters"]
    return {p.get("DataType", "text") for p in found}


def ok(result: Any) -> Any:
    assert result.exit_code == 0, result.stderr
    return result


def test_parameters_follow_every_change_and_resolve(prism_sandbox, run_prism, monkeypatch):
    prism_sandbox.create_instance("box")
    first = ok(
        run_prism("save", "box", "env1", "--copy-to-regions", "us-east-2", "--yes", "-o", "json")
    ).json()["amis"]
    for region in ("us-east-1", "us-east-2"):
        assert image_parameters(prism_sandbox, region) == {
            "1": first[region],
            "latest": first[region],
        }
        assert data_types(prism_sandbox, region) == {"aws:ec2:image"}
    # --no-inherit: v2 would otherwise inherit v1's copy regions (issue 28)
    second = ok(
        run_prism("save", "box", "env1", "--no-inherit", "--yes", "-o", "json")
    ).json()["amis"]
    assert image_parameters(prism_sandbox, "us-east-1") == {
        "1": first["us-east-1"],
        "2": second["us-east-1"],
        "latest": second["us-east-1"],
    }
    # v2 has no copy in us-east-2: latest there stays v1
    assert image_parameters(prism_sandbox, "us-east-2")["latest"] == first["us-east-2"]

    ok(run_prism("templates", "promote", "env1@1", "--channel", "stable", "--yes"))
    for region in ("us-east-1", "us-east-2"):
        assert image_parameters(prism_sandbox, region)["stable"] == first[region]

    # another tool launches through the parameter (EC2 resolves it; emulated)
    resolving_run_instances(monkeypatch)
    ec2 = prism_sandbox.client("ec2", "us-east-2")
    answer = ec2.run_instances(
        ImageId=f"resolve:ssm:{ROOT}/stable", MinCount=1, MaxCount=1, InstanceType="t3.micro"
    )
    assert answer["Instances"][0]["ImageId"] == first["us-east-2"]
    ec2 = prism_sandbox.client("ec2", "us-east-1")
    answer = ec2.run_instances(
        ImageId=f"resolve:ssm:{ROOT}/latest", MinCount=1, MaxCount=1, InstanceType="t3.micro"
    )
    assert answer["Instances"][0]["ImageId"] == second["us-east-1"]

    # a revoked version leaves `latest`, its number and the channels that point at it
    ok(run_prism("templates", "promote", "env1@2", "--channel", "beta", "--yes"))
    ok(run_prism("templates", "revoke", "env1@2", "--reason", "broken", "--yes"))
    assert image_parameters(prism_sandbox, "us-east-1") == {
        "1": first["us-east-1"],
        "latest": first["us-east-1"],
        "stable": first["us-east-1"],
    }
    ok(run_prism("templates", "restore", "env1@2", "--yes"))
    params = image_parameters(prism_sandbox, "us-east-1")
    assert params["latest"] == params["beta"] == params["2"] == second["us-east-1"]

    ok(run_prism("templates", "demote", "env1", "--channel", "stable", "--yes"))
    ok(run_prism("templates", "demote", "env1", "--channel", "beta", "--yes"))
    assert set(image_parameters(prism_sandbox, "us-east-1")) == {"1", "2", "latest"}
    assert set(image_parameters(prism_sandbox, "us-east-2")) == {"1", "latest"}

    ok(run_prism("templates", "prune", "env1", "--keep", "1", "--yes", "--force"))
    assert image_parameters(prism_sandbox, "us-east-1") == {
        "2": second["us-east-1"],
        "latest": second["us-east-1"],
    }
    assert image_parameters(prism_sandbox, "us-east-2") == {}

    deleted = ok(run_prism("templates", "delete", "env1", "--yes", "-o", "json")).json()
    assert f"us-east-1:{ROOT}/latest" in deleted["removed"]["registry"]
    assert image_parameters(prism_sandbox, "us-east-1") == {}


def test_a_forged_document_never_reaches_a_parameter(prism_sandbox, run_prism):
    """A registry document that lists someone else's image: no alias points at it."""
    import json

    prism_sandbox.create_instance("box")
    saved = ok(run_prism("save", "box", "env1", "--yes", "-o", "json")).json()["amis"]
    stranger = prism_sandbox.create_foreign_image("999988887777", "us-east-1")
    ssm = prism_sandbox.client("ssm", "us-east-1")
    key = "/prism/templates/env1/versions/1"
    doc = json.loads(ssm.get_parameter(Name=key)["Parameter"]["Value"])
    doc["ami_config"]["amis"]["us-east-1"] = {"x86_64": stranger}
    ssm.put_parameter(Name=key, Value=json.dumps(doc), Type="String", Overwrite=True)
    ok(run_prism("templates", "promote", "env1@1", "--channel", "stable", "--yes"))
    params = image_parameters(prism_sandbox, "us-east-1")
    assert stranger not in params.values()
    assert saved["us-east-1"] not in params.values()  # the document no longer lists it
