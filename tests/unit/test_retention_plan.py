"""The decisions of lifecycle policies (prism_core.templates.retention), without a cloud."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from prism_core.exceptions import InputError
from prism_core.templates.cleanup import Inventory
from prism_core.templates.retention import Policy, parse_days, plan

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def inventory(ages: dict[int, int]) -> Inventory:
    found = Inventory("lab")
    for version, days in ages.items():
        parts = found.version(version)
        image = f"ami-{version:08x}"
        parts.images = {"us-east-1": {image}}
        created = (NOW - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        parts.image_records[image] = {"ImageId": image, "CreationDate": created}
        parts.document = {"name": "lab", "version": str(version)}
    return found


def test_stages_by_age_and_the_newest_always_stays():
    found = inventory({1: 400, 2: 200, 3: 100, 4: 10, 5: 500})
    policy = Policy(max_age_days=90, disable_after_days=180, delete_after_days=365)
    steps = {s.version: s.action for s in plan(found, policy, {}, NOW).steps}
    # v5 is the newest (whatever its age): never touched
    assert steps == {1: "delete", 2: "disable", 3: "deprecate"}


def test_keep_alone_deletes_every_older_version_and_holds_are_named():
    found = inventory({1: 1, 2: 1, 3: 1, 4: 1})
    found.channels = {"stable": {"us-east-1": 1}}
    found.versions[2].image_records["ami-00000002"]["DeregistrationProtection"] = "enabled"
    due = plan(found, Policy(keep=1), {3: "1 instance(s) use it (i-1)"}, NOW)
    assert due.steps == []
    assert "channel stable" in due.held[1]
    assert "protected" in due.held[2]
    assert "i-1" in due.held[3]


@pytest.mark.parametrize("text", ["0", "0d", "-1d", "1w", "36501d", "", "d"])
def test_bad_days_are_refused(text):
    with pytest.raises(InputError):
        parse_days(text, "--max-age")


def test_policies_that_cannot_be_meant_are_refused():
    assert parse_days("180d", "--max-age") == parse_days("180", "--max-age") == 180
    for policy in (Policy(), Policy(keep=0), Policy(max_age_days=200, delete_after_days=100),
                   Policy(recycle_bin_days=30)):
        with pytest.raises(InputError):
            policy.check()
