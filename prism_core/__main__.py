"""``python -m prism_core`` runs the prism command."""

from prism_core.cli.entry import console

console()
