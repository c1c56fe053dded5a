"""The sandbox models what IAM checks for prism's requests (prism_sandbox/iam_requests.py):
the resources, their current tags and the request's condition keys, which the autouse
fixture of tests/conftest.py evaluates against `prism iam-policy` after every test."""

from __future__ import annotations

from prism_core.aws.tags import LOCK_TAG, SAVE_ID_TAG


def _by(sandbox, call: str, action: str | None = None) -> list:
    return [
        a
        for a in sandbox.faults.authorizations()
        if a.call == call and a.action == (action or call)
    ]


def test_save_launch_and_delete_requests_carry_resources_and_tags(prism_sandbox, run_prism):
    instance_id = prism_sandbox.create_instance("box", ports=[22])
    prism_sandbox.faults.clear_calls()
    result = run_prism("save", "box", "env1", "--share-with", "111122223333", "--yes")
    assert result.exit_code == 0, result.stderr
    recorded = prism_sandbox.faults.authorizations()
    assert recorded and not [a for a in recorded if a.resource.startswith("!")]
    (lock,) = [a for a in _by(prism_sandbox, "ec2:CreateTags") if "@" in str(a.context)]
    assert lock.resource.endswith(f":instance/{instance_id}")
    assert lock.context["aws:TagKeys"] == [LOCK_TAG]
    (image,) = _by(prism_sandbox, "ec2:CreateImage", "ec2:CreateTags")[:1]
    assert image.context["ec2:CreateAction"] == "CreateImage"
    assert SAVE_ID_TAG in image.context["aws:TagKeys"]
    shares = _by(prism_sandbox, "ec2:ModifyImageAttribute")
    assert shares and all(a.context.get(f"aws:ResourceTag/{SAVE_ID_TAG}") for a in shares)

    prism_sandbox.faults.clear_calls()
    assert run_prism("launch", "env1", "a", "--yes").exit_code == 0
    runs = _by(prism_sandbox, "ec2:RunInstances")
    kinds = {a.resource.split(":")[5].split("/")[0] for a in runs}
    assert {"instance", "volume", "image", "security-group", "subnet"} <= kinds
    instance = next(a for a in runs if ":instance/" in a.resource)
    assert "ec2:MetadataHttpTokens" in instance.context
    assert instance.context["aws:RequestTag/prism:template"] == "env1"
    opened = _by(prism_sandbox, "ec2:AuthorizeSecurityGroupIngress")
    assert opened and all(a.context.get("aws:ResourceTag/prism:template") for a in opened)

    prism_sandbox.faults.clear_calls()
    assert run_prism("templates", "delete", "env1", "--purge", "--yes").exit_code == 0
    for call in ("ec2:DeregisterImage", "ec2:DeleteSnapshot"):
        found = _by(prism_sandbox, call)
        assert found and all(a.context.get(f"aws:ResourceTag/{SAVE_ID_TAG}") for a in found)
    deletes = _by(prism_sandbox, "ssm:DeleteParameters") + _by(prism_sandbox, "ssm:DeleteParameter")
    assert deletes and all(":parameter/prism/" in a.resource for a in deletes)
