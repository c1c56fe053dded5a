"""Tests of prism-cost-tags run with this plugin and the built-ins only."""

import pytest


@pytest.fixture(autouse=True)
def _only_this_plugin(prism_only_plugins):
    """Other installed prism plugins (e.g. an institution's policy) stay out of these tests."""
    prism_only_plugins("cost-tags")


@pytest.fixture(autouse=True)
def _calls_allowed_by_the_iam_policy(prism_iam_check):
    """Every request prism and this plugin send is allowed by `prism iam-policy`."""
