"""prism's own tests use the same pytest plugin as plugin authors (prism_core.testing)."""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
