"""Unit layer: the save request fields the option table checks
(``options.request_fields``): valid values, each refusal and its message, the order of
the refusals, the stages and the defaults from the settings (no sandbox, no AWS)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from prism_core.exceptions import InputError
from prism_core.save.options import SaveOptions, request_fields
from prism_core.save.request_fields import AFTER_LOCKS, AFTER_REGIONS, ASKED, Given
from prism_core.settings import DEFAULT_ACCOUNT_ROLE, Settings

OWN = "111122223333"
ORG = "arn:aws:organizations::123456789012:organization/o-abcdefghij"


def _settings(**values: Any) -> Settings:
    return Settings(home=Path("/nonexistent-prism-home"), **values)


def _given(settings: Settings | None = None, region: str = "us-east-1") -> Given:
    def account() -> str:
        return OWN

    return Given(settings or _settings(), region, account=account)


def _options(**values: Any) -> SaveOptions:
    return SaveOptions(**{"instance": "box", "template": "env", **values})


def _all_stages(options: SaveOptions, given: Given) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for stage in (ASKED, AFTER_LOCKS, AFTER_REGIONS):
        fields.update(request_fields(options, given, stage))
    return fields


def test_valid_values_are_checked_into_the_request_fields() -> None:
    options = _options(
        description="lab image\nsecond line",
        copy_to_regions="us-east-2,eu-west-1",
        project="cs229",
        public=True,
        share_with=f"444455556666,{ORG}",
        copy_to_accounts="555566667777,666677778888:Deployer",
        fast_restore="us-east-1a, eu-west-1b",
        tags=["team=bio", "cost=lab=1"],
        allow_instance_store_loss=True,
        validate=True,
        deprecate_after="30",
        secrets_policy="scrub",
        plugin_options={"publish": True},
    )
    given = _given()
    fields = _all_stages(options, given)
    assert fields == {
        "template_name": "env",
        "region": "us-east-1",
        "description": "lab image\nsecond line",
        "copy_to_regions": ["us-east-2", "eu-west-1"],
        "project_id": "cs229",
        "public": True,
        "share_with": ["444455556666", ORG],
        "copy_to_accounts": [f"555566667777:{DEFAULT_ACCOUNT_ROLE}", "666677778888:Deployer"],
        "fast_restore": ["us-east-1a", "eu-west-1b"],
        "tags": {"team": "bio", "cost": "lab=1"},
        "allow_instance_store_loss": True,
        "validate": True,
        "deprecate_after_days": 30,
        "secrets_policy": "scrub",
        "options": {"publish": True},
    }
    assert fields["options"] is not options.plugin_options  # the request's own copy
    assert given.checked == fields


def test_options_not_given_leave_the_previous_version_and_the_settings_to_decide() -> None:
    fields = _all_stages(_options(), _given())
    # None: not given (plan_save completes them from the previous version or a default)
    assert fields["description"] is None and fields["copy_to_regions"] is None
    assert fields["share_with"] is None and fields["project_id"] is None
    assert fields["tags"] == {} and fields["public"] is False
    assert fields["copy_to_accounts"] == [] and fields["fast_restore"] == []
    assert fields["deprecate_after_days"] is None and fields["options"] == {}
    assert fields["secrets_policy"] == ""
    assert _all_stages(_options(copy_to_regions="none"), _given())["copy_to_regions"] == []
    assert _all_stages(_options(description=""), _given())["description"] == ""


@pytest.mark.parametrize("not_given", [None, "", 0])
def test_deprecation_defaults_to_the_configured_days(not_given) -> None:
    given = _given(_settings(deprecate_after_days=90))
    days = request_fields(_options(deprecate_after=not_given), given, AFTER_LOCKS)
    assert days == {"deprecate_after_days": 90}
    assert request_fields(_options(deprecate_after=7), given, AFTER_LOCKS) == {
        "deprecate_after_days": 7
    }


def test_a_locked_deprecation_refuses_another_value_but_not_the_same() -> None:
    settings = _settings(deprecate_after_days=90, locked={"deprecate_after_days": "/etc/prism"})
    given = _given(settings)
    assert request_fields(_options(deprecate_after="90"), given, AFTER_LOCKS) == {
        "deprecate_after_days": 90
    }
    assert request_fields(_options(), given, AFTER_LOCKS) == {"deprecate_after_days": 90}
    with pytest.raises(InputError) as refused:
        request_fields(_options(deprecate_after=30), given, AFTER_LOCKS)
    assert refused.value.args[0] == (
        "--deprecate-after would change prism.deprecate_after_days, which is locked by "
        "/etc/prism"
    )


def test_copy_accounts_take_the_configured_role() -> None:
    given = _given(_settings(account_role="PrismCopier"))
    fields = request_fields(_options(copy_to_accounts="444455556666"), given)
    assert fields["copy_to_accounts"] == ["444455556666:PrismCopier"]


def test_the_account_is_asked_only_when_accounts_are_named() -> None:
    def no_call() -> str:
        raise AssertionError("STS asked without --copy-to-accounts")

    given = Given(_settings(), "us-east-1", account=no_call)
    assert request_fields(_options(), given)["copy_to_accounts"] == []


# (SaveOptions values, the region of the clients, the start of the message)
REFUSALS = [
    ({"template": ""}, "us-east-1", "the template name is empty"),
    ({"template": "x" * 65}, "us-east-1", "template name 'xxxx"),
    ({"template": "a/b"}, "us-east-1", "invalid template name 'a/b'"),
    ({"template": ".."}, "us-east-1", "invalid template name '..'"),
    ({}, "US_EAST", "--region: 'US_EAST' is not a region name"),
    ({}, "eu-north-9", "--region: region 'eu-north-9' does not exist"),
    ({"copy_to_regions": "us-east-2,,eu-west-1"}, "us-east-1",
     "--copy-to-regions has an empty entry"),
    ({"copy_to_regions": "us-east-2,us-east-2"}, "us-east-1",
     "--copy-to-regions names us-east-2 twice"),
    ({"copy_to_regions": "us-east-1"}, "us-east-1",
     "--copy-to-regions includes the source region us-east-1"),
    ({"copy_to_regions": "not a region"}, "us-east-1",
     "--copy-to-regions: 'not a region' is not a region name"),
    ({"tags": ["novalue"]}, "us-east-1", "--tag 'novalue' is not KEY=VALUE"),
    ({"tags": ["aws:x=1"]}, "us-east-1", "--tag aws:x: the 'aws:' prefix is reserved"),
    ({"tags": ["prism:x=1"]}, "us-east-1", "--tag prism:x: the 'prism:' prefix is reserved"),
    ({"tags": ["a=1", "a=2"]}, "us-east-1", "--tag a is given twice"),
    ({"tags": ["k=v\x01"]}, "us-east-1", "--tag 'k' contains control characters"),
    ({"tags": [f"k{i}=v" for i in range(45)]}, "us-east-1", "45 tags is too many"),
    ({"share_with": "12345"}, "us-east-1",
     "--share-with: '12345' is not an account id or organization/OU ARN"),
    ({"share_with": f"{ORG},{ORG}"}, "us-east-1", f"--share-with names {ORG} twice"),
    ({"copy_to_accounts": "12345"}, "us-east-1",
     "--copy-to-accounts: '12345' is not ACCOUNT or ACCOUNT:ROLE"),
    ({"copy_to_accounts": "444455556666,444455556666:R"}, "us-east-1",
     "--copy-to-accounts names 444455556666 twice"),
    ({"copy_to_accounts": f"444455556666,{OWN}:Role"}, "us-east-1",
     f"--copy-to-accounts names this account ({OWN})"),
    ({"project": "bad project!"}, "us-east-1", "invalid --project 'bad project!'"),
    ({"description": "d" * 256}, "us-east-1", "the description has 256 characters"),
    ({"description": "red \x1b[31m"}, "us-east-1", "the description contains control"),
]


@pytest.mark.parametrize(
    ("values", "region", "message"), REFUSALS, ids=[r[2][:40] for r in REFUSALS]
)
def test_each_asked_refusal(values, region, message) -> None:
    with pytest.raises(InputError) as refused:
        request_fields(_options(**values), _given(region=region))
    assert str(refused.value).startswith(message), str(refused.value)


LATE_REFUSALS = [
    ({"deprecate_after": "soon"}, AFTER_LOCKS,
     "--deprecate-after must be a whole number of days, not 'soon'"),
    ({"deprecate_after": 4000}, AFTER_LOCKS,
     "--deprecate-after must be between 1 and 3650 days, not 4000"),
    ({"deprecate_after": "-3"}, AFTER_LOCKS,
     "--deprecate-after must be between 1 and 3650 days, not -3"),
    ({"fast_restore": "us-east-1"}, AFTER_REGIONS,
     "--fast-restore: 'us-east-1' is not an availability zone name"),
    ({"fast_restore": "us-east-1a,us-east-1a"}, AFTER_REGIONS,
     "--fast-restore names us-east-1a twice"),
    ({"fast_restore": ","}, AFTER_REGIONS, "--fast-restore names no zone"),
]


@pytest.mark.parametrize(
    ("values", "stage", "message"), LATE_REFUSALS, ids=[r[2][:40] for r in LATE_REFUSALS]
)
def test_each_later_refusal_waits_for_its_stage(values, stage, message) -> None:
    given = _given()
    request_fields(_options(**values), given)  # not checked with the command's own values
    other = AFTER_REGIONS if stage == AFTER_LOCKS else AFTER_LOCKS
    request_fields(_options(**values), given, other)
    with pytest.raises(InputError) as refused:
        request_fields(_options(**values), given, stage)
    assert refused.value.args[0] == message


def test_the_refusals_come_in_plan_save_order() -> None:
    """With every value bad, the first refusal names the template; fixing each in turn
    shows the next, in the order plan_save has always refused them."""
    bad: dict[str, Any] = {
        "template": "a/b",
        "copy_to_regions": "us-east-2,us-east-2",
        "tags": ["novalue"],
        "share_with": "12345",
        "copy_to_accounts": f"{OWN}",
        "project": "bad project!",
        "description": "d" * 256,
        "deprecate_after": "soon",
        "fast_restore": "nowhere",
    }
    fixes = [
        ("invalid template name", "template", "env"),
        ("--region", None, None),
        ("--copy-to-regions names us-east-2 twice", "copy_to_regions", "us-east-2"),
        ("--tag 'novalue'", "tags", ["a=b"]),
        ("--share-with:", "share_with", "444455556666"),
        ("--copy-to-accounts names this account", "copy_to_accounts", "555566667777"),
        ("invalid --project", "project", "cs229"),
        ("the description has 256", "description", "fine"),
    ]
    region = "nowhere"
    for message, key, good in fixes:
        with pytest.raises(InputError, match=f"^{message}"):
            request_fields(_options(**bad), _given(region=region))
        if key is None:
            region = "us-east-1"
        else:
            bad[key] = good
    fields = request_fields(_options(**bad), _given(region=region))
    assert fields["copy_to_regions"] == ["us-east-2"] and fields["tags"] == {"a": "b"}
    with pytest.raises(InputError, match="^--deprecate-after must be a whole number"):
        request_fields(_options(**bad), _given(), AFTER_LOCKS)
    with pytest.raises(InputError, match="^--fast-restore: 'nowhere'"):
        request_fields(_options(**bad), _given(), AFTER_REGIONS)


def test_copy_regions_are_checked_against_the_checked_region() -> None:
    given = _given(region="eu-west-1")
    fields = request_fields(_options(copy_to_regions="us-east-1"), given)
    assert fields["region"] == "eu-west-1" and fields["copy_to_regions"] == ["us-east-1"]
