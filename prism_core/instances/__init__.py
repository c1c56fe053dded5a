"""Instances prism launches and the commands a user reaches for after a launch: their
own security groups and key pairs, the launch's rollback, pre-flight checks, hardening
(IMDSv2, encrypted volumes), ``prism connect``/``stop``/``start``, ``prism terminate``
and ``prism cleanup``.

Below :mod:`prism_core.templates` in prism's layers: templates plan launches from these
pieces; nothing here imports from them (docs/architecture.md)."""
