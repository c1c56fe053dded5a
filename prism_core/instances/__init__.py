"""Instances prism launches: their own security groups, the launch's rollback, pre-flight
checks, hardening (IMDSv2, encrypted volumes), ``prism terminate`` and ``prism cleanup``."""
