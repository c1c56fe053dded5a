"""Locked config keys and trusted image owners, without a cloud."""

from __future__ import annotations

import pytest

from prism_core.exceptions import InputError
from prism_core.settings import ConfigLocks
from prism_core.templates.provenance import ImageOwner, TrustedOwners
from prism_core.validation import owner_ids


def test_locked_keys_are_kept_from_the_user():
    locks = ConfigLocks()
    locks.add({"policy": {"allowed": [], "locked": ["allowed"]}}, "the installed defaults")
    user = {"policy": {"allowed": ["us-east-1"], "other": 1, "locked": []}}
    assert locks.enforce(user, "config.yml") == {"policy": {"other": 1}}
    assert any("policy.allowed is locked" in w for w in locks.warnings)
    assert any("policy.locked is ignored" in w for w in locks.warnings)
    assert locks.strip({"allowed": [], "locked": ["allowed"]}) == {"allowed": []}


def test_a_malformed_lock_list_is_refused():
    with pytest.raises(InputError, match="list of key names"):
        ConfigLocks().add({"policy": {"locked": {"a": 1}}}, "/etc/prism/prism.yml")


def test_who_is_trusted():
    trust = TrustedOwners(account="111111111111", configured=frozenset({"222222222222"}))
    trust._organization = frozenset({"333333333333"})

    def why(owner, alias=None):
        return trust.why(ImageOwner("r", "x86_64", "ami-1", owner_id=owner, owner_alias=alias))

    assert why("111111111111") == "this account"
    assert why("137112412989", "amazon") == "Amazon"
    assert why("222222222222") == "prism.trusted_image_owners"
    assert why("333333333333") == "organization"
    assert why("999999999999") is None


def test_owner_ids_are_checked():
    assert owner_ids([123456789012, "amazon"], "x") == ["123456789012", "amazon"]
    with pytest.raises(InputError, match="12-digit"):
        owner_ids(["12345"], "config prism.trusted_image_owners")
