"""``python -m prism_core`` runs the prism command."""

from prism_core.main import console

console()
