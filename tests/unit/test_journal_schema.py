"""Unit layer: every journal is checked field by field on load. Any field of the wrong
type, out of its range, too long, or missing (when required) is refused naming it,
whatever the field (the cases are generated from the schema, not listed by hand)."""

from __future__ import annotations

import json

import pytest

from prism_core.exceptions import InputError
from prism_core.save.journal import Journal
from prism_core.save.journal_schema import (
    REQUEST,
    STATE,
    JournalShapeError,
    _anything,
    check_journal,
)
from prism_core.save.request import SaveRequest
from prism_core.save.state import RegionImage, SaveState

SAVE_ID = "env1-20260101T000000Z-abc123"


def _journal() -> dict:
    request = SaveRequest(
        instance_id="i-0123456789abcdef0", instance_name="box", template_name="env1",
        region="us-east-1", copy_to_regions=["us-east-2"], tags={"team": "geo"},
        image_mode="stop", deprecate_after_days=30,
    )
    state = SaveState(
        save_id=SAVE_ID, request=request.to_dict(), started_at="2026-01-01T00:00:00Z",
        image_name="prism-env1-v1-20260101T000000Z", instance_original_state="running",
        pid=123, pid_started=456, stopped_by_prism=True, downtime_started=1.5,
        template_version=1, images={"us-east-1": RegionImage("us-east-1", image_id="ami-1")},
        claims=["us-east-1:/prism/templates/env1/versions/1"], summary=["note"],
    )
    return json.loads(json.dumps(state.to_dict()))


def test_a_journal_prism_writes_passes() -> None:
    check_journal(_journal())


#: Fields a mapping of anything fits (the request's fields are checked on their own).
MAPPINGS_OF_ANYTHING = ("request", "document", "options")


def _cases() -> list[tuple[str, str, object]]:
    cases = []
    for where, fields in (("", STATE), ("request.", REQUEST)):
        for name, (check, required) in fields.items():
            if check is _anything:
                continue
            cases.append((where, name, [[]]))  # wrong for every typed field
            if name not in MAPPINGS_OF_ANYTHING:
                cases.append((where, name, {"$": [1]}))
            if required:
                cases.append((where, name, "<missing>"))
    return cases


@pytest.mark.parametrize(
    ("where", "name", "value"), _cases(), ids=lambda v: v if isinstance(v, str) else None
)
def test_any_field_of_the_wrong_type_or_missing_is_refused_by_name(where, name, value) -> None:
    data = _journal()
    target = data["request"] if where else data
    if value == "<missing>":
        del target[name]
    else:
        target[name] = value
    with pytest.raises(JournalShapeError) as caught:
        check_journal(data)
    assert repr(f"{where}{name}") in str(caught.value) or "request" in str(caught.value)


BAD_VALUES = {
    "status not known": ("status", "finished"),
    "bool as pid": ("pid", True),
    "negative pid": ("pid", -1),
    "version out of range": ("template_version", 1_000_001),
    "version as text": ("template_version", "1"),
    "infinite downtime": ("downtime_started", float("inf")),
    "huge text": ("image_name", "x" * 10_000),
    "traversal save id": ("save_id", "../../etc"),
    "unknown instance state": ("instance_original_state", "melting"),
    "image record not a mapping": ("images", {"us-east-1": "ami-1"}),
    "image without region": ("images", {"us-east-1": {"image_id": "ami-1"}}),
    "snapshot ids not strings": ("images", {"us-east-1": {"region": "r", "snapshot_ids": [1]}}),
    "too many summary lines": ("summary", ["x"] * 10_001),
    "template none": ("request", {"instance_id": "i-1", "instance_name": "b",
                                  "template_name": None, "region": "us-east-1"}),
    "copy regions a string": ("request", {"instance_id": "i-1", "instance_name": "b",
                                          "template_name": "t", "region": "us-east-1",
                                          "copy_to_regions": "us-east-2"}),
    "tags a list": ("request", {"instance_id": "i-1", "instance_name": "b",
                                "template_name": "t", "region": "us-east-1", "tags": ["a=b"]}),
}


@pytest.mark.parametrize("case", list(BAD_VALUES))
def test_values_out_of_their_bounds_are_refused(case) -> None:
    data = _journal()
    name, value = BAD_VALUES[case]
    data[name] = value
    with pytest.raises(JournalShapeError):
        check_journal(data)


@pytest.mark.parametrize("case", ["not-an-object", "wrong-field", "other-save-id"])
def test_loading_a_bad_journal_is_one_input_error_naming_the_file(tmp_path, case) -> None:
    path = tmp_path / f"{SAVE_ID}.json"
    data = _journal()
    if case == "not-an-object":
        data = [data]
    elif case == "wrong-field":
        data["request"]["template_name"] = None
    else:
        data["save_id"] = "env2-20260101T000000Z-abc123"
    path.write_text(json.dumps(data))
    with pytest.raises(InputError) as caught:
        Journal.load(path)
    assert str(path) in str(caught.value) and "move it aside" in str(caught.value.hint)


def test_unknown_fields_are_ignored(tmp_path) -> None:
    data = _journal()
    data["from_a_newer_prism"] = {"x": 1}
    data["images"]["us-east-1"]["new_field"] = 2
    path = tmp_path / f"{SAVE_ID}.json"
    path.write_text(json.dumps(data))
    assert Journal.load(path).state.images["us-east-1"].image_id == "ami-1"
