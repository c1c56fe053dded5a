"""EC2's ``RequestExpired`` (and the other services' clock errors) is reported as this
computer's clock being off, not as expired credentials."""

from __future__ import annotations

import time

from helpers import refused


def _request_expired(prism_sandbox) -> None:
    prism_sandbox.faults.inject(
        "DescribeInstances", times=-1, code="RequestExpired",
        message="Request has expired.", status=400,
    )  # fmt: skip


def test_request_expired_is_clock_skew(prism_sandbox, run_prism):
    _request_expired(prism_sandbox)
    result = run_prism("list")
    refused(result, "(RequestExpired)", "clock is off", "timedatectl set-ntp")
    assert "credentials" not in result.stderr and "minutes" not in result.stderr


def test_the_skew_is_measured_from_the_answer_date(prism_sandbox, run_prism, monkeypatch):
    from prism_core.aws import clock

    _request_expired(prism_sandbox)
    monkeypatch.setattr(clock, "now", lambda: time.time() + 600)
    refused(run_prism("list"), "10 minutes ahead of AWS's")
    monkeypatch.setattr(clock, "now", lambda: time.time() - 3600)
    refused(run_prism("list"), "60 minutes behind AWS's")


def test_signature_expired_is_clock_skew(prism_sandbox, run_prism):
    prism_sandbox.faults.inject(
        "DescribeInstances", times=-1, code="SignatureDoesNotMatch",
        message="Signature expired: 20261207T100000Z is now earlier than 20261207T101000Z",
        status=403,
    )  # fmt: skip
    refused(run_prism("list"), "clock is off")
