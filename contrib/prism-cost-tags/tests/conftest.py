"""Tests of prism-cost-tags run with this plugin and the built-ins only."""

import pytest


@pytest.fixture(autouse=True)
def _only_this_plugin(prism_only_plugins):
    """Other installed prism plugins (e.g. an institution's policy) stay out of these tests."""
    prism_only_plugins("cost-tags")
