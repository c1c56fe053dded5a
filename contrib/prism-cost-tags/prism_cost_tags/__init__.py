"""prism-cost-tags: project and cost-centre tags, and snapshot storage cost estimates."""

__version__ = "0.1.0"
