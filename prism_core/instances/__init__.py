"""The instance commands a user reaches for after a launch: connect, stop, start."""
