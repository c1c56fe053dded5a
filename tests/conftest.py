"""prism's own tests use the same pytest plugin as plugin authors (prism_core.testing)."""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

import pytest


@pytest.fixture(autouse=True)
def _core_plugins_only(prism_only_plugins):
    """prism's own tests run with the built-ins only, whatever else is installed."""
    prism_only_plugins()
