"""Tests of the institution build run with its plugin and the built-ins only."""

import pytest


@pytest.fixture(autouse=True)
def _only_this_plugin(prism_only_plugins):
    prism_only_plugins("institution-example")


@pytest.fixture(autouse=True)
def _calls_allowed_by_the_iam_policy(prism_iam_check):
    """Every request prism and this plugin send is allowed by `prism iam-policy`."""
