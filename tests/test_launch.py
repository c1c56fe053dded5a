"""``prism launch`` and ``prism list`` against the sandbox, through the real CLI."""

from __future__ import annotations

from pathlib import Path

from prism_core.aws.tags import tags_of


def test_launch_saved_template_in_source_region(saved_template, prism_sandbox, run_prism):
    result = run_prism("launch", "env1", "new-box", "--yes", "-o", "json")
    assert result.exit_code == 0, result.stderr
    doc = result.json()
    assert doc["state"] == "running"
    assert doc["image_id"] == saved_template["amis"]["us-east-1"]
    assert doc["type"] == "t3.medium"  # the saved instance's type
    assert doc["template_version"] == 1 and doc["template_source"] == "local"
    assert doc["ssh"].startswith("ssh ec2-user@")
    data = prism_sandbox.instance(doc["id"])
    tags = tags_of(data)
    assert tags["Name"] == "new-box"
    assert tags["prism:template"] == "env1"
    assert tags["prism:template-version"] == "1"
    assert tags["prism:launched-by"].startswith("arn:aws:")
    assert tags["Source"] == "prism-save"  # the template's own tags
    ec2 = prism_sandbox.client("ec2")
    group = ec2.describe_security_groups(GroupIds=[doc["security_group"]])["SecurityGroups"][0]
    assert group["GroupName"] == "prism-new-box"  # named after the instance
    assert tags_of(group)["prism:launch-id"] == tags["prism:launch-id"]
    assert sorted(r["FromPort"] for r in group["IpPermissions"]) == [22, 8888]
    # a second launch gets a group of its own
    again = run_prism("launch", "env1", "other-box", "--yes", "-o", "json").json()
    assert again["security_group"] != doc["security_group"]


def test_launch_in_copy_region_with_size(saved_template, prism_sandbox, run_prism):
    result = run_prism(
        "launch", "env1", "east2-box", "--region", "us-east-2", "--size", "L", "--yes", "-o", "json"
    )
    assert result.exit_code == 0, result.stderr
    doc = result.json()
    assert doc["region"] == "us-east-2"
    assert doc["image_id"] == saved_template["amis"]["us-east-2"]
    assert doc["type"] == "t3.xlarge"
    text = run_prism("launch", "env1", "gpu-box", "--size", "GPU-L", "--yes")
    assert text.exit_code == 0, text.stderr
    assert "g5.12xlarge" in text.stdout and "aws ssm start-session --target" in text.stdout
    assert "ssh ec2-user@" not in text.stdout  # no key pair: SSH could not log in


def test_region_without_copy_is_one_line_error(saved_template, prism_sandbox, run_prism):
    prism_sandbox.faults.clear_calls()
    result = run_prism("launch", "env1", "box", "--region", "eu-west-1", "--yes")
    assert result.exit_code == 2
    assert "no image in eu-west-1; it has one in us-east-1, us-east-2" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert ("eu-west-1", "RunInstances") not in prism_sandbox.faults.calls()


def test_teammate_launches_from_registry_alone(
    saved_template, prism_sandbox, run_prism, monkeypatch, tmp_path
):
    monkeypatch.setenv("PRISM_HOME", str(tmp_path / "teammate"))
    result = run_prism(
        "launch", "env1", "their-box", "--region", "us-east-2", "--yes", "-o", "json"
    )
    assert result.exit_code == 0, result.stderr
    doc = result.json()
    assert doc["template_source"] == "registry"
    assert doc["image_id"] == saved_template["amis"]["us-east-2"]
    assert not (tmp_path / "teammate" / "templates").exists()
    # a region whose registry lacks it says where it is
    elsewhere = run_prism("launch", "env1", "x", "--region", "eu-west-1", "--yes")
    assert elsewhere.exit_code == 2
    assert "is in us-east-1, us-east-2" in elsewhere.stderr
    assert "--region us-east-1" in elsewhere.stderr


def test_builtin_templates_launch_on_fresh_account(prism_sandbox, run_prism):
    from prism_core.cli.sandbox_seed import builtin_image_parameters

    # the public parameters point at real sandbox images (RunInstances checks the AMI)
    published = prism_sandbox.publish_base_images(builtin_image_parameters(), ["us-east-1"])
    ami = published["us-east-1"][
        "/aws/service/canonical/ubuntu/server/22.04/stable/current/amd64/hvm/ebs-gp2/ami-id"
    ]
    result = run_prism("launch", "python-ml", "earthquake-analysis", "--yes", "-o", "json")
    assert result.exit_code == 0, result.stderr
    doc = result.json()
    assert doc["image_id"] == ami and doc["template_source"] == "built-in"
    assert doc["type"] == "t3.large" and doc["ssh"].startswith("ssh ubuntu@")
    assert doc["ports"] == [22, 8888]
    # a template saved from it keeps the base's login user and open ports
    saved = run_prism("save", "earthquake-analysis", "seismic", "--yes", "-o", "json")
    assert saved.exit_code == 0, saved.stderr
    relaunched = run_prism("launch", "seismic", "aftershock", "--yes", "-o", "json").json()
    assert relaunched["ssh"].startswith("ssh ubuntu@")
    assert relaunched["ports"] == [22, 8888]
    # r-research resolves the Amazon Linux 2023 parameter
    arm = run_prism("launch", "r-research", "r-box", "--size", "S", "-y", "-o", "json")
    assert arm.exit_code == 0, arm.stderr
    assert arm.json()["image_id"].startswith("ami-")


def test_launch_older_version_with_at(prism_sandbox, run_prism):
    prism_sandbox.create_instance("my-box")
    first = run_prism("save", "my-box", "env1", "--yes", "-o", "json").json()
    second = run_prism("save", "my-box", "env1", "--yes", "-o", "json").json()
    assert (first["version"], second["version"]) == (1, 2)
    newest = run_prism("launch", "env1", "a", "--yes", "-o", "json").json()
    assert newest["image_id"] == second["amis"]["us-east-1"]
    older = run_prism("launch", "env1@1", "b", "--yes", "-o", "json").json()
    assert older["image_id"] == first["amis"]["us-east-1"]
    assert older["template_version"] == 1
    missing = run_prism("launch", "env1@7", "c", "--yes")
    assert missing.exit_code == 2 and "has no version 7 (versions: 1, 2)" in missing.stderr


def test_version_comes_from_registry_too(prism_sandbox, run_prism, monkeypatch, tmp_path):
    prism_sandbox.create_instance("my-box")
    assert run_prism("save", "my-box", "env1", "--yes").exit_code == 0
    monkeypatch.setenv("PRISM_HOME", str(tmp_path / "teammate"))
    again = run_prism("save", "my-box", "env1", "--yes", "-o", "json")
    assert again.exit_code == 0, again.stderr
    assert again.json()["version"] == 2
    ssm = prism_sandbox.client("ssm")
    names = {
        p["Name"]
        for p in ssm.get_parameters_by_path(Path="/prism/templates/env1/versions")["Parameters"]
    }
    assert names == {"/prism/templates/env1/versions/1", "/prism/templates/env1/versions/2"}


def test_bad_input_changes_nothing(prism_sandbox, run_prism):
    prism_sandbox.faults.clear_calls()
    for args in (
        ("launch", "../etc", "x", "--yes"),
        ("launch", "env@x", "x", "--yes"),
        ("launch", "nope", "x", "--yes"),
        ("launch", "env", "x", "--region", "mars"),
    ):
        result = run_prism(*args)
        assert result.exit_code == 2, args
        assert "Traceback" not in result.stderr
    assert not [c for c in prism_sandbox.faults.calls() if c[1] == "RunInstances"]


def test_launch_needs_yes_without_terminal(saved_template, run_prism):
    result = run_prism("launch", "env1", "box")
    assert result.exit_code == 2 and "--yes" in result.stderr


def test_malformed_template_does_not_break_launch(saved_template, run_prism):
    home = Path(saved_template["template_path"]).parent
    (home / "broken.yaml").write_text("name: [unclosed\n")
    archive = home / "versions" / "env1"
    archive.mkdir(parents=True)
    (archive / "7.yaml").write_text("name: env1\nversion: seven\n")
    result = run_prism("launch", "env1", "box", "--yes", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["template_version"] == 1
    assert "prism: warning:" in result.stderr and "7.yaml" in result.stderr
    assert len(result.json()["problems"]) == 1
    broken = run_prism("launch", "broken", "box2", "--yes")
    assert broken.exit_code == 2 and "broken.yaml" in broken.stderr


def test_list_instances(saved_template, prism_sandbox, run_prism):
    launched = run_prism("launch", "env1", "listed-box", "--yes", "-o", "json").json()
    rows = run_prism("list", "-o", "json").json()["instances"]
    assert [r["name"] for r in rows] == ["listed-box"]
    assert rows[0]["template"] == "env1@1" and rows[0]["id"] == launched["id"]
    everything = run_prism("list", "--all", "-o", "json").json()["instances"]
    assert {"my-box", "listed-box"} <= {r["name"] for r in everything}
    text = run_prism("list").stdout
    assert "listed-box" in text and "NAME" in text
    assert run_prism("list", "--region", "us-east-2", "-o", "json").json()["instances"] == []
