"""Instances prism launches and the commands a user reaches for after a launch: their
own security groups, the launch's rollback, pre-flight checks, hardening (IMDSv2,
encrypted volumes), ``prism connect``/``stop``/``start``, ``prism terminate`` and
``prism cleanup``."""
