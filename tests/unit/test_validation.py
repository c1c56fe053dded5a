"""Unit layer: the offline input checks (no sandbox, no subprocess)."""

from __future__ import annotations

import pytest

from prism_core import validation
from prism_core.exceptions import InputError


@pytest.mark.parametrize("name", ["seismic-env", "a", "R_4.3.env", "x" * 64])
def test_template_names_accepted(name: str) -> None:
    assert validation.template_name(name) == name


@pytest.mark.parametrize(
    "name", ["", "-lead", "../etc", "a/b", "a..b", "x" * 65, "naïve", "tab\tname", "a b"]
)
def test_template_names_refused(name: str) -> None:
    with pytest.raises(InputError):
        validation.template_name(name)


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-2", "ap-southeast-4", "us-gov-west-1"])
def test_region_names_accepted(region: str) -> None:
    assert validation.region_name(region) == region


@pytest.mark.parametrize("region", ["", "US-EAST-1", "us-east", "useast1", "us-east-1 ", "a-b-1"])
def test_region_names_refused(region: str) -> None:
    with pytest.raises(InputError):
        validation.region_name(region)


def test_copy_regions_parse_in_order() -> None:
    assert validation.copy_regions("us-east-2,us-west-1", "us-east-1") == ["us-east-2", "us-west-1"]
    assert validation.copy_regions(None, "us-east-1") == []


@pytest.mark.parametrize("value", ["us-east-2,,us-west-1", "us-east-2,us-east-2", "us-east-1"])
def test_copy_regions_refused(value: str) -> None:
    with pytest.raises(InputError):
        validation.copy_regions(value, "us-east-1")


def test_tags_parse() -> None:
    assert validation.tags(["team=seismo", "empty=", "eq=a=b"]) == {
        "team": "seismo",
        "empty": "",
        "eq": "a=b",
    }


@pytest.mark.parametrize(
    "pairs",
    [
        ["novalue"],
        ["=x"],
        ["aws:owner=x"],
        ["AWS:owner=x"],
        ["k=a", "k=b"],
        ["k=\x1b[31m"],
        ["k" * 129 + "=v"],
        ["k=" + "v" * 257],
        [f"k{i}=v" for i in range(45)],
    ],
)
def test_tags_refused(pairs: list[str]) -> None:
    with pytest.raises(InputError):
        validation.tags(pairs)


def test_share_targets() -> None:
    org = "arn:aws:organizations::111122223333:organization/o-abcdefghij"
    assert validation.share_targets(f"111122223333,{org}") == ["111122223333", org]
    for bad in ("11112222333", "111122223333,111122223333", "all", "arn:aws:iam::1:root"):
        with pytest.raises(InputError):
            validation.share_targets(bad)


def test_description_limits() -> None:
    assert validation.description("two\nlines\tok") == "two\nlines\tok"
    for bad in ("x" * 256, "bell\x07"):
        with pytest.raises(InputError):
            validation.description(bad)


def test_project_ids() -> None:
    assert validation.project_id("quake-study:2026") == "quake-study:2026"
    assert validation.project_id(None) is None
    with pytest.raises(InputError):
        validation.project_id("has space")


@pytest.mark.parametrize(
    ("typo", "meant"),
    [
        ("us-eats-1", "us-east-1"),
        ("us-esat-1", "us-east-1"),
        ("eu-wset-1", "eu-west-1"),
        ("ap-southeest-2", "ap-southeast-2"),
        ("eu-north-9", "eu-north-1"),
    ],
)
def test_unknown_regions_are_refused_offline_with_the_closest_known(typo: str, meant: str) -> None:
    with pytest.raises(InputError, match=f"does not exist.*did you mean {meant}\\?"):
        validation.region_name(typo)


@pytest.mark.parametrize(
    ("given", "cidrs"),
    [
        (["203.0.113.7"], ["203.0.113.7/32"]),
        (["10.1.2.3/16", "10.1.0.0/16"], ["10.1.0.0/16"]),
        (["2001:db8::1"], ["2001:db8::1/128"]),
        (["0.0.0.0/0"], ["0.0.0.0/0"]),
    ],
)
def test_allow_from_is_normalised(given: list[str], cidrs: list[str]) -> None:
    from prism_core.templates.launch_access import parse_cidrs

    assert parse_cidrs(given) == cidrs


@pytest.mark.parametrize("bad", ["10.0.0.300/8", "example.com", "10.0.0.0/33", ""])
def test_allow_from_refuses_what_is_not_a_cidr(bad: str) -> None:
    from prism_core.templates.launch_access import parse_cidrs

    with pytest.raises(InputError, match="is not an address or CIDR"):
        parse_cidrs([bad])


def test_config_sections_close_to_a_known_one_are_reported() -> None:
    from prism_core.settings import section_typos

    known = ["prism", "cost-tags"]
    found = section_typos(
        ["prism", "cost-tags", "prsim", "cost-tag", "lab-notes", "\x1b[2J"], known
    )
    assert len(found) == 2
    assert "'prsim'" in found[0] and found[0].endswith("did you mean prism?")
    assert "'cost-tag'" in found[1] and found[1].endswith("did you mean cost-tags?")
    assert section_typos([], known) == [] and section_typos(known, known) == []
