"""The least-privilege IAM policy for prism, rendered from ``data/iam_policy.yaml``.

That file is the one list of the AWS actions prism may call, by use (``save``,
``launch``, ``templates``); ``prism iam-policy`` prints the policy for one use or all.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

USES = ("save", "launch", "templates", "instances", "cloud")
POLICY_VERSION = "2012-10-17"


@lru_cache(maxsize=1)
def statements() -> list[dict[str, Any]]:
    """The statements of ``data/iam_policy.yaml`` as written."""
    text = resources.files("prism_core").joinpath("data/iam_policy.yaml").read_text()
    return list(yaml.safe_load(text)["statements"])


def _wanted(uses: list[str], use: str) -> bool:
    unknown = set(uses) - set(USES)
    if unknown:
        raise ValueError(f"data/iam_policy.yaml: unknown use(s) {sorted(unknown)}")
    return use == "all" or use in uses


def policy(use: str = "all", prefix: str = "/prism/", partition: str = "aws") -> dict[str, Any]:
    """The IAM policy document (for ``aws iam create-policy``) that ``use`` needs."""
    rendered = []
    for statement in statements():
        actions = sorted(a for a, uses in statement["actions"].items() if _wanted(uses, use))
        if not actions:
            continue
        resource = [
            r.format(partition=partition, prefix=prefix.lstrip("/"))
            for r in statement["resources"]
        ]
        entry: dict[str, Any] = {
            "Sid": statement["sid"],
            "Effect": "Allow",
            "Action": actions,
            "Resource": resource[0] if len(resource) == 1 else resource,
        }
        if statement.get("condition"):
            entry["Condition"] = statement["condition"]
        rendered.append(entry)
    return {"Version": POLICY_VERSION, "Statement": rendered}


def actions(use: str = "all", kind: str | None = "call") -> set[str]:
    """The actions granted for ``use``; ``kind`` "call" (sent by prism), "authorization"
    (IAM-only permissions) or ``None`` for both."""
    found = set()
    for statement in statements():
        if kind is not None and statement.get("kind", "call") != kind:
            continue
        found.update(a for a, uses in statement["actions"].items() if _wanted(uses, use))
    return found
