"""Templates: the document format, the local store, the SSM registry, cleanup and launch."""
