"""Shared helpers for the CLI tests (fixtures come from prism_core.testing, the same
pytest plugin plugin authors use)."""

from __future__ import annotations

import datetime
import os
import sys
from typing import Any

import pytest

sys.path.insert(0, os.path.dirname(__file__))


@pytest.fixture
def saved_template(prism_sandbox: Any, run_prism: Any) -> dict[str, Any]:
    """``my-box`` saved as template ``env1`` in us-east-1 with a copy in us-east-2."""
    prism_sandbox.create_instance("my-box", ports=[22, 8888])
    result = run_prism(
        "save", "my-box", "env1", "--copy-to-regions", "us-east-2", "--yes", "-o", "json"
    )
    assert result.exit_code == 0, result.stderr
    return dict(result.json())


def put_public_parameter(name: str, value: str, region: str = "us-east-1") -> None:
    """Put an ``/aws/service/...`` parameter into moto's SSM in-process (the API refuses)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ssm.models import Parameter, ssm_backends

    backend = ssm_backends[DEFAULT_ACCOUNT_ID][region]
    backend._parameters[name].append(
        Parameter(
            account_id=DEFAULT_ACCOUNT_ID,
            name=name,
            value=value,
            parameter_type="String",
            description="public",
            allowed_pattern=None,
            keyid=None,
            last_modified_date=datetime.datetime.now(datetime.UTC),
            version=1,
            data_type="aws:ec2:image",
        )
    )




@pytest.fixture(autouse=True)
def _core_plugins_only(prism_only_plugins):
    """prism's own tests run with the built-ins only, whatever else is installed."""
    prism_only_plugins()
