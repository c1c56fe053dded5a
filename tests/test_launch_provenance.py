"""`prism launch` checks who owns a template's image before anything is created."""

from __future__ import annotations

from typing import Any

import yaml

STRANGER = "999988887777"


def _point_at(sandbox, image_id: str, name: str = "env1") -> None:
    """Rewrite the local template ``name`` so its us-east-1 x86_64 image is ``image_id``."""
    path = sandbox.prism_home / "templates" / f"{name}.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["ami_config"]["amis"]["us-east-1"]["x86_64"] = image_id
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def _instances_of(prism_sandbox: Any, image_id: str) -> list[dict[str, Any]]:
    reservations = prism_sandbox.client("ec2").describe_instances()["Reservations"]
    return [i for r in reservations for i in r["Instances"] if i["ImageId"] == image_id]


def test_an_untrusted_owner_is_refused_before_anything_is_created(
    prism_sandbox, run_prism, saved_template
):
    image = prism_sandbox.create_foreign_image(STRANGER)
    _point_at(prism_sandbox, image)
    result = run_prism("launch", "env1", "box2", "--yes")
    assert result.exit_code == 2, result.stderr
    assert STRANGER in result.stderr and "--trust-owner" in result.stderr
    assert "Traceback" not in result.stderr
    assert _instances_of(prism_sandbox, image) == []

    trusted = run_prism("launch", "env1", "box2", "--yes", "--trust-owner", STRANGER)
    assert trusted.exit_code == 0, trusted.stderr
    assert f"Image owner: {STRANGER}" in trusted.stdout + trusted.stderr
    assert len(_instances_of(prism_sandbox, image)) == 1


def test_owners_trusted_in_config_and_the_organization(prism_sandbox, run_prism, saved_template):
    image = prism_sandbox.create_foreign_image(STRANGER)
    _point_at(prism_sandbox, image)
    config = prism_sandbox.write_config(f"prism:\n  trusted_image_owners: ['{STRANGER}']\n")
    assert run_prism("launch", "env1", "box2", "--yes").exit_code == 0
    config.unlink()

    org = prism_sandbox.client("organizations")
    org.create_organization(FeatureSet="ALL")
    created = org.create_account(Email="lab@example.org", AccountName="lab")
    member = created["CreateAccountStatus"]["AccountId"]
    _point_at(prism_sandbox, prism_sandbox.create_foreign_image(member))
    result = run_prism("launch", "env1", "box3", "--yes")
    assert result.exit_code == 0, result.stderr
    assert "organization" in result.stdout + result.stderr


def test_a_bad_trusted_owner_in_config_is_refused(prism_sandbox, run_prism, saved_template):
    prism_sandbox.write_config("prism:\n  trusted_image_owners: ['not-an-account']\n")
    result = run_prism("launch", "env1", "box2", "--yes")
    assert result.exit_code == 2
    assert "trusted_image_owners" in result.stderr
