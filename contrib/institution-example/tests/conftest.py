"""Tests of the institution build run with its plugin and the built-ins only."""

import pytest


@pytest.fixture(autouse=True)
def _only_this_plugin(prism_only_plugins):
    prism_only_plugins("institution-example")
