"""The decisions of ``prism launch`` before anything is created, without a cloud:
revocation, inheritance, parameters, sizing, the image's provenance, root volume."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from prism_core.exceptions import InputError
from prism_core.templates import store
from prism_core.templates.base_images import BaseOS, known_base
from prism_core.templates.document import load_file
from prism_core.templates.launch_plan import (
    PACKAGE_ROOT_GB,
    LaunchRequest,
    plan_launch,
    refuse_revoked,
)
from prism_core.templates.provenance import ImageOwner, TrustedOwners

REGION = "eu-west-1"
ACCOUNT = "111122223333"
STRANGER = "999988887777"
FIXTURES = Path(__file__).resolve().parents[1] / "original_templates"


class Reads:
    """The cloud's answers: the template's images, their owners, the owners trusted."""

    def __init__(
        self,
        amis: dict[str, str],
        owner: str = ACCOUNT,
        deprecated: str | None = None,
        release: BaseOS | None = None,
        extra: frozenset[str] = frozenset(),
    ) -> None:
        self.amis, self.owner, self.deprecated, self.release = amis, owner, deprecated, release
        self.extra = extra
        self.owners_asked: list[tuple[str, str, str]] = []

    def images(
        self, doc: dict[str, Any], key: str, region: str
    ) -> tuple[dict[str, str], BaseOS | None]:
        return dict(self.amis), self.release

    def owners(self, region: str, arch: str, image_id: str) -> list[ImageOwner]:
        self.owners_asked.append((region, arch, image_id))
        return [
            ImageOwner(region, arch, image_id, owner_id=self.owner, state="available",
                       deprecation_time=self.deprecated)
        ]

    def trusted(self) -> TrustedOwners:
        return TrustedOwners(account=ACCOUNT, extra=self.extra)


def saved(**extra: Any) -> store.FoundTemplate:
    """A template saved by prism with x86_64 and arm64 images in the region."""
    doc = {
        "name": "lab",
        "version": "3",
        "source": "saved-from-instance",
        "ami_config": {
            "amis": {REGION: {"x86_64": "ami-0aaa1111", "arm64": "ami-0bbb2222"}},
            "ssh_user": "ubuntu",
        },
        "instance_defaults": {"type": "t3.large", "ports": [22, 8888]},
        "tags": {"team": "geo", "prism:template": "forged"},
        **extra,
    }
    return store.FoundTemplate("lab", 3, "registry", f"{REGION}:/prism/lab", doc)


def no_parents(name: str) -> dict[str, Any] | None:
    return None


def plan(found: store.FoundTemplate, reads: Reads, **request: Any):
    return plan_launch(
        found, LaunchRequest(name="box", region=REGION, **request), reads, finder=no_parents
    )


def test_a_saved_template_launches_its_default_type_from_a_trusted_image() -> None:
    reads = Reads({"x86_64": "ami-0aaa1111", "arm64": "ami-0bbb2222"})
    decision = plan(saved(), reads)
    assert (decision.instance_type, decision.architecture) == ("t3.large", "x86_64")
    assert decision.image_id == "ami-0aaa1111"
    assert decision.owner_line == f"Image owner: {ACCOUNT} (trusted: this account)"
    assert decision.root_volume_gb is None and decision.user_data_script is None
    assert decision.lines()[0] == (
        f"Template lab v3 (registry): t3.large (x86_64) from ami-0aaa1111 in {REGION}, "
        f"about ${decision.usd_per_hour}/hour"
    )
    launch = decision.launch_plan("arn:aws:iam::111122223333:user/ana")
    assert launch.tags["Name"] == "box"
    assert launch.tags["prism:template"] == "lab"  # never the template's own prism: tags
    assert launch.tags["team"] == "geo"
    assert (launch.ports, launch.ssh_user, launch.version) == ([22, 8888], "ubuntu", 3)


def test_a_size_picks_the_architecture_that_has_it() -> None:
    decision = plan(saved(instance_defaults={}), Reads({"arm64": "ami-0bbb2222"}), size="M")
    assert (decision.instance_type, decision.architecture) == ("t4g.large", "arm64")


def test_a_gpu_size_without_an_x86_image_is_refused() -> None:
    with pytest.raises(InputError, match="needs an x86_64 image"):
        plan(saved(instance_defaults={}), Reads({"arm64": "ami-0bbb2222"}), size="GPU-S")


def test_a_default_type_of_an_architecture_without_an_image_is_refused() -> None:
    with pytest.raises(InputError, match="has no x86_64 image in eu-west-1 for t3.large"):
        plan(saved(), Reads({"arm64": "ami-0bbb2222"}))


def test_an_untrusted_owner_is_refused_unless_trusted_for_the_launch() -> None:
    with pytest.raises(InputError, match=f"--trust-owner {STRANGER}"):
        plan(saved(), Reads({"x86_64": "ami-0aaa1111"}, owner=STRANGER))
    reads = Reads({"x86_64": "ami-0aaa1111"}, owner=STRANGER, extra=frozenset({STRANGER}))
    assert plan(saved(), reads).owner_line.endswith("(trusted: --trust-owner)")


def test_a_deprecated_image_is_launched_with_a_warning() -> None:
    reads = Reads({"x86_64": "ami-0aaa1111"}, deprecated="2020-01-01T00:00:00.000Z")
    (warning,) = plan(saved(), reads).warnings
    assert warning.startswith(f"ami-0aaa1111 in {REGION} was deprecated by EC2 at 2020-01-01")


def test_an_aws_public_parameter_needs_no_owner_lookup() -> None:
    found = store.builtin("python-ml")
    assert found is not None
    reads = Reads({"x86_64": "ami-0ccc3333", "arm64": "ami-0ddd4444"})
    decision = plan(found, reads)
    assert decision.owner_line.startswith("Image: from AWS public parameter /aws/service/")
    assert reads.owners_asked == []
    assert decision.root_volume_gb == 50


def test_a_package_template_starts_from_its_base_image_with_a_setup_script() -> None:
    doc = load_file(FIXTURES / "parameterised" / "basic-research.yml")
    found = store.FoundTemplate("basic-research-apt", 1, "local", "x.yml", doc)
    release = known_base("ubuntu-22.04")
    reads = Reads({"x86_64": "ami-0eee5555"}, release=release)
    decision = plan(found, reads)
    assert release is not None
    assert decision.owner_line == f"Image: ubuntu 22.04 base image ({_where(release)})"
    assert reads.owners_asked == []
    assert decision.root_volume_gb == PACKAGE_ROOT_GB
    assert decision.user_data_script and "r-base-core" in decision.user_data_script
    assert ", ubuntu 22.04 + apt)" in decision.lines()[0]
    assert decision.launch_plan("arn").user_data  # what RunInstances gets


def _where(release: BaseOS) -> str:
    from prism_core.templates.base_images import where

    return where(release)


def test_parameters_come_from_the_command_line_and_a_missing_one_is_asked() -> None:
    doc = load_file(FIXTURES / "parameterised" / "workshop.yml")
    found = store.FoundTemplate("workshop", 1, "local", "workshop.yml", doc)
    release = known_base("ubuntu-24.04")
    reads = Reads({"x86_64": "ami-0eee5555"}, release=release)
    decision = plan(found, reads, params=("course=GEN101", "seats=3"))
    assert decision.parameters == {"course": "GEN101", "seats": "3"}
    assert "Parameters: course=GEN101, seats=3" in decision.lines()
    assert "GEN101" in (decision.user_data_script or "")
    asked: list[str] = []

    def ask(parameter: Any) -> str | None:
        asked.append(parameter.name)
        return None  # no terminal: refused

    with pytest.raises(InputError, match="course"):
        plan_launch(found, LaunchRequest("box", REGION), reads, finder=no_parents, ask=ask)
    assert asked == ["course"]


def test_parents_are_merged_and_a_missing_parent_is_refused() -> None:
    parent = {"name": "base", "instance_defaults": {"type": "t3.small"}, "tags": {"a": "1"}}
    child = saved(inherits=["base"], instance_defaults={})
    decision = plan_launch(
        child, LaunchRequest("box", REGION), Reads({"x86_64": "ami-0aaa1111"}),
        finder={"base": parent}.get,
    )
    assert decision.instance_type == "t3.small"
    assert "inherits" not in decision.document
    with pytest.raises(InputError, match="inherits from 'base'"):
        plan(child, Reads({"x86_64": "ami-0aaa1111"}))


def test_a_revoked_version_is_refused_unless_allowed() -> None:
    found = saved()
    assert refuse_revoked(found, allow_revoked=False) is None
    found.revoked = {"revoked_at": "2026-11-30", "revoked_by": "ana", "reason": "CVE-1"}
    found.channel = "stable"
    with pytest.raises(InputError, match=r"version 3 \(channel stable\) was revoked "
                                          "2026-11-30 by ana: CVE-1"):
        refuse_revoked(found, allow_revoked=False)
    warning = refuse_revoked(found, allow_revoked=True)
    assert warning is not None and warning.endswith("launching it anyway (--allow-revoked)")
