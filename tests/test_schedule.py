"""`prism schedule ...` and `prism sandbox advance`: scheduled saves run by the save engine
(EventBridge Scheduler's firings emulated on the sandbox's clock, everything else by
moto's Step Functions interpreter and the region function's handler)."""

from __future__ import annotations

import json

import pytest
from helpers import refused

from prism_core.aws.tags import TEMPLATE_VERSION_TAG, VERSION_TAG, tags_of
from prism_core.cloud.scheduled import SCHEDULE_TAG


@pytest.fixture
def engine(prism_sandbox, run_prism):
    result = run_prism("cloud", "setup", "--yes")
    assert result.exit_code == 0, result.stderr
    return prism_sandbox


def _add(run_prism, *extra):
    result = run_prism("schedule", "add", "box", "env", "--yes", "-o", "json", *extra)
    assert result.exit_code == 0, result.stderr
    return result.json()


def _advance(run_prism, duration):
    result = run_prism("sandbox", "advance", duration, "-o", "json")
    assert result.exit_code == 0, result.stderr
    return result.json()["fired"]


def _versions(sandbox, region="us-east-1"):
    """Template version -> image id of every image of template env in ``region``."""
    found = {}
    for image in sandbox.own_images(region):
        tags = tags_of(image)
        number = tags.get(VERSION_TAG) or tags.get(TEMPLATE_VERSION_TAG)
        if number:
            found[int(number)] = image["ImageId"]
    return found


def _registry_versions(sandbox, region="us-east-1"):
    params = sandbox.client("ssm", region).get_parameters_by_path(
        Path="/prism/templates/env/versions", Recursive=True)["Parameters"]
    return sorted(int(p["Name"].rsplit("/", 1)[-1]) for p in params
                  if p["Name"].rsplit("/", 1)[-1].isdigit())


def test_rate_schedule_keeps_two_versions_and_moves_the_channel(engine, run_prism):
    engine.create_instance("box")
    added = _add(run_prism, "--rate", "1d", "--keep", "2", "--channel", "nightly")
    assert added["name"] == "env-box" and added["expression"] == "rate(1 day)"
    assert added["state"] == "ENABLED" and added["next_run"]

    fired = _advance(run_prism, "4d")
    assert [f["status"] for f in fired] == ["SUCCEEDED"] * 4, fired
    saves = run_prism("saves", "list", "-o", "json").json()["saves"]
    assert len(saves) == 4 and {s["status"] for s in saves} == {"done"}
    assert {s["schedule"] for s in saves} == {"env-box"}
    assert sorted(_versions(engine)) == [3, 4]
    for image in engine.own_images():
        assert tags_of(image)[SCHEDULE_TAG] == "env-box"
    channel = json.loads(engine.client("ssm").get_parameter(
        Name="/prism/templates/env/channels/nightly")["Parameter"]["Value"])
    assert int(channel["version"]) == 4
