"""Example University's prism build: packaged defaults plus a save policy plugin."""

__version__ = "0.1.0"
