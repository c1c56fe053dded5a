"""Registering one template version in one region (``registry.publish``) against the
sandbox's SSM: the order of its writes, the newest-version read that runs alongside
the version write, and what a failure leaves reported."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from prism_core.templates import registry

PREFIX = "/prism/"


def _doc(version: int, ami: str = "ami-0123456789abcdef0") -> dict[str, Any]:
    return {
        "name": "shared",
        "description": f"version {version}",
        "base": "ami-based",
        "version": str(version),
        "ami_config": {"amis": {"us-east-1": {"x86_64": ami}}},
    }


def _current(ssm: Any) -> dict[str, Any]:
    value = ssm.get_parameter(Name=f"{PREFIX}current/shared")["Parameter"]["Value"]
    return json.loads(value)


def _puts(ssm: Any) -> list[tuple[str, dict[str, Any]]]:
    """Every PutParameter ``ssm`` will send, as (name, decoded value)."""
    seen: list[tuple[str, dict[str, Any]]] = []

    def note(params: dict[str, Any], **_: Any) -> None:
        seen.append((params["Name"], json.loads(params["Value"])))

    ssm.meta.events.register("provide-client-params.ssm.PutParameter", note)
    return seen


def test_publish_writes_the_version_then_the_current_entry(prism_sandbox):
    ssm = prism_sandbox.client("ssm")
    puts = _puts(ssm)
    names = list(registry.publish(ssm, PREFIX, _doc(1)))
    assert names == [f"{PREFIX}templates/shared/versions/1", f"{PREFIX}current/shared"]
    assert [name for name, _ in puts] == names
    assert _current(ssm)["version"] == "1"


def test_publish_never_turns_the_current_entry_back(prism_sandbox):
    """A slower save of an older version registers after a newer one: the current entry
    is only ever written with the newer document."""
    ssm = prism_sandbox.client("ssm")
    list(registry.publish(ssm, PREFIX, _doc(2, "ami-0fedcba9876543210")))
    puts = _puts(ssm)
    names = list(registry.publish(ssm, PREFIX, _doc(1)))
    assert names == [f"{PREFIX}templates/shared/versions/1", f"{PREFIX}current/shared"]
    currents = [value["version"] for name, value in puts if name.endswith("current/shared")]
    assert currents == ["2"]
    assert _current(ssm)["ami_config"]["amis"]["us-east-1"]["x86_64"] == "ami-0fedcba9876543210"


def test_publish_reads_the_newest_version_while_writing_its_own(prism_sandbox):
    """The version write waits (up to 10 s) for the newest-version read to be sent: had
    the read come after the write, the write would give up waiting."""
    ssm = prism_sandbox.client("ssm")
    read_sent = threading.Event()
    waited: list[bool] = []

    def reading(**_: Any) -> None:
        read_sent.set()

    def writing(params: dict[str, Any], **_: Any) -> None:
        if "/versions/" in params["Name"]:
            waited.append(read_sent.wait(timeout=10))

    ssm.meta.events.register("provide-client-params.ssm.GetParametersByPath", reading)
    ssm.meta.events.register("provide-client-params.ssm.PutParameter", writing)
    names = list(registry.publish(ssm, PREFIX, _doc(1)))
    assert waited == [True]
    assert names[-1] == f"{PREFIX}current/shared" and _current(ssm)["version"] == "1"


def test_a_failed_read_still_reports_the_version_written(prism_sandbox):
    """The version entry is yielded (so the save records it) before the read's error."""
    ssm = prism_sandbox.client("ssm")
    prism_sandbox.faults.inject(
        "GetParametersByPath", code="AccessDeniedException", message="no", status=400
    )
    names: list[str] = []
    with pytest.raises(Exception, match="AccessDenied"):
        for name in registry.publish(ssm, PREFIX, _doc(1)):
            names.append(name)
    assert names == [f"{PREFIX}templates/shared/versions/1"]
    assert json.loads(ssm.get_parameter(Name=names[0])["Parameter"]["Value"])["version"] == "1"
