"""The save engine in the user's account: the state machine, its deployment, its executions
(docs/cloud.md)."""
