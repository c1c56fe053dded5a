"""Condition keys of `prism iam-policy` that prism's requests do not meet yet, each with
the change that makes them met. The IAM checks of the tests count these as met; remove
an entry once that change is merged (tests/test_iam_policy.py fails on an entry no
request needs any more).
"""

from __future__ import annotations

#: condition key -> the change that makes every request meet it
PENDING: dict[str, str] = {
    # RunInstances: launches and boot checks ask for IMDSv2 (HttpTokens=required) and
    # encrypted volumes in the launch branch of issue 25
    "ec2:MetadataHttpTokens": "issue 25 (launch): IMDSv2 required on every launch",
    "ec2:Encrypted": "issue 25 (launch): encrypted volumes on every launch",
}
WAIVED_CONDITION_KEYS = tuple(PENDING)
