"""Forged registry versions cannot steer a decision: a ``versions/<N>`` entry whose
images the cloud does not prove this template's (a stranger's image, one that does not
exist, one of another template or version, ours under a forged save id) is neither kept
by ``templates prune`` in place of a real version nor taken as the newest version by the
next save, and no forged number pushes a save past version 1,000,000. Every prism run is
a child process under a memory limit."""

from __future__ import annotations

import json

import pytest
from helpers import run_prism_child

TEMPLATE = "env1"
BASE = f"/prism/templates/{TEMPLATE}"


def _save(prism_sandbox, instance: str = "my-box") -> dict:
    result = run_prism_child("save", instance, TEMPLATE, "--yes", "-o", "json")
    assert result.exit_code == 0, result.stderr
    return result.json()


def _registered(prism_sandbox, version: int) -> dict:
    ssm = prism_sandbox.client("ssm", "us-east-1")
    value = ssm.get_parameter(Name=f"{BASE}/versions/{version}")["Parameter"]["Value"]
    return json.loads(value)


def _forge(prism_sandbox, number: int, doc: dict) -> None:
    prism_sandbox.client("ssm", "us-east-1").put_parameter(
        Name=f"{BASE}/versions/{number}", Value=json.dumps(doc), Type="String", Overwrite=True
    )


def _other_template_image(prism_sandbox) -> str:
    prism_sandbox.create_instance("other-box")
    result = run_prism_child("save", "other-box", "other", "--yes", "-o", "json")
    assert result.exit_code == 0, result.stderr
    return result.json()["amis"]["us-east-1"]


#: How a forged version's document points at images: (id, function(sandbox, real v1
#: document) -> (AMI id, save id)).
FORGERIES = {
    "stranger-ami": lambda sb, real: (sb.create_foreign_image("999988887777"), real["save_id"]),
    "missing-ami": lambda sb, real: ("ami-0badc0ffee0000000", real["save_id"]),
    "our-v1-ami": lambda sb, real: (_v1_ami(real), real["save_id"]),
    "other-template-ami": lambda sb, real: (_other_template_image(sb), real["save_id"]),
    "v1-ami-forged-save-id": lambda sb, real: (_v1_ami(real), "env1-forged-000000"),
}


def _v1_ami(real: dict) -> str:
    return real["ami_config"]["amis"]["us-east-1"]["x86_64"]


def _forged_doc(prism_sandbox, real: dict, how: str, number: int) -> dict:
    ami, save_id = FORGERIES[how](prism_sandbox, real)
    doc = json.loads(json.dumps(real))
    doc.update(version=str(number), save_id=save_id, description="forged")
    doc["ami_config"]["amis"] = {"us-east-1": {"x86_64": ami}}
    return doc


@pytest.fixture
def real_v1(prism_sandbox):
    prism_sandbox.create_instance("my-box")
    _save(prism_sandbox)
    return _registered(prism_sandbox, 1)


def _spread(numbers: list[int]) -> list[tuple[str, int]]:
    """Every forgery once, the numbers taken in turn (every number at least once): the
    number and the kind of forgery are independent (every number against a canned proof:
    tests/unit/test_forged_versions.py)."""
    return [(how, numbers[i % len(numbers)]) for i, how in enumerate(sorted(FORGERIES))]


@pytest.mark.parametrize(("how", "number"), _spread([2, 1_000_000]))
def test_prune_never_keeps_a_forged_version_in_place_of_the_real_one(
    prism_sandbox, real_v1, how, number
):
    _forge(prism_sandbox, number, _forged_doc(prism_sandbox, real_v1, how, number))
    ami = _v1_ami(real_v1)
    result = run_prism_child("templates", "prune", TEMPLATE, "--keep", "1", "--yes", "-o", "json")
    assert result.exit_code in (0, 3), result.stderr
    assert result.json()["kept"] == [1], result.stdout
    assert f"v{number} is not proven" in result.stderr
    image = prism_sandbox.ec2().describe_images(ImageIds=[ami])["Images"][0]
    assert image["State"] == "available"
    assert _registered(prism_sandbox, 1)["version"] == "1"
    assert (prism_sandbox.prism_home / "templates" / f"{TEMPLATE}.yaml").exists()
    assert run_prism_child("launch", f"{TEMPLATE}@1", "new-box", "--yes").exit_code == 0


def test_prune_refuses_when_no_version_is_proven(prism_sandbox, real_v1):
    prism_sandbox.ec2().deregister_image(ImageId=_v1_ami(real_v1))
    result = run_prism_child("templates", "prune", TEMPLATE, "--keep", "1", "--yes")
    assert result.exit_code == 2, result.stderr
    assert "no version of env1 is proven" in result.stderr
    assert _registered(prism_sandbox, 1)["version"] == "1"


@pytest.mark.parametrize(("how", "number"), _spread([3, 999_999, 1_000_000]))
def test_a_forged_version_is_not_the_newest_for_the_next_save(
    prism_sandbox, real_v1, how, number
):
    _forge(prism_sandbox, number, _forged_doc(prism_sandbox, real_v1, how, number))
    saved = _save(prism_sandbox)
    assert saved["version"] == 2, saved
    assert _registered(prism_sandbox, 2)["save_id"] != real_v1["save_id"]


@pytest.mark.parametrize("number", [2, 1_000_000])
def test_a_forged_claim_is_not_a_version(prism_sandbox, real_v1, number):
    claim = {"claim": {"save_id": "x-1", "host": "elsewhere", "claimed": True}}
    _forge(prism_sandbox, number, claim)
    saved = _save(prism_sandbox)
    assert saved["version"] == (3 if number == 2 else 2), saved


def test_a_local_file_at_the_last_version_is_refused_before_anything_changes(
    prism_sandbox, real_v1
):
    path = prism_sandbox.prism_home / "templates" / f"{TEMPLATE}.yaml"
    path.write_text(path.read_text().replace("version: '1'", "version: '1000000'"))
    result = run_prism_child("save", "my-box", TEMPLATE, "--yes")
    assert result.exit_code == 2, result.stderr
    assert "1,000,000" in result.stderr
    assert len(prism_sandbox.own_images()) == 1
