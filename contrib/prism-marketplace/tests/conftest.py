"""Fixtures: an in-memory keyring and a configured marketplace bucket in the sandbox."""

from __future__ import annotations

import keyring
import pytest
from keyring.backend import KeyringBackend

BUCKET = "lab-templates"


class MemoryKeyring(KeyringBackend):
    """A keyring that lives in a dict (tests only)."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.secrets: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.secrets.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.secrets[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.secrets.pop((service, username), None)


@pytest.fixture
def memory_keyring():
    old = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(old)


@pytest.fixture
def marketplace(prism_sandbox, memory_keyring):
    """A sandbox with the marketplace bucket and its config; returns an S3 client."""
    s3 = prism_sandbox.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    prism_sandbox.write_config(f"marketplace:\n  bucket: {BUCKET}\n")
    return s3


@pytest.fixture(autouse=True)
def _only_this_plugin(prism_only_plugins):
    """Other installed prism plugins (e.g. an institution's policy) stay out of these tests."""
    prism_only_plugins("marketplace")


@pytest.fixture(autouse=True)
def _calls_allowed_by_the_iam_policy(prism_iam_check):
    """Every request prism and this plugin send is allowed by `prism iam-policy`."""
