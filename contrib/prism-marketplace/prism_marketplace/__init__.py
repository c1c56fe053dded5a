"""prism-marketplace: publish saved templates to an S3 catalog others browse and install."""

__version__ = "0.1.0"
