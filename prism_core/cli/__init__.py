"""Command-line layer: the Cement app, output, progress and prompts; one module per command."""
