"""Caches of work moto's server repeats on every request although its answer cannot change.

moto finds the backend of a request by listing its own package directory
(``backends.list_of_moto_modules``: a ``listdir`` and a ``stat`` per module, several
hundred, twice a request) and finds the method of an action by walking the response
class with ``inspect.getmembers`` (``core.utils.method_names_from_class``). Both are
about a tenth of the CPU a sandbox request costs; the answers are kept here instead.
The regions of a service's backends (``AccountSpecificBackend._generate_regions``,
botocore's endpoint data) are kept per service rather than per backend, which a reset
replaces. Nothing else of moto's behaviour changes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

_LOCK = threading.Lock()
_METHODS: dict[tuple[Any, ...], frozenset[str]] = {}
_installed = False


def _moto_modules(original: Callable[[], Iterable[str]]) -> Callable[[], Iterable[str]]:
    """``list_of_moto_modules`` read once: moto's installed package does not change."""
    found: list[tuple[str, ...]] = []

    def list_of_moto_modules() -> Iterable[str]:
        if not found:
            found.append(tuple(original()))
        return found[0]

    return list_of_moto_modules


def _method_names(original: Callable[[object], list[str]]) -> Callable[[object], Any]:
    """``method_names_from_class`` per class, as a set. A class (or a base) that gains or
    loses attributes later (a patch, a test's monkeypatch) is read again: the key holds
    the size of each class's namespace along its MRO."""

    def method_names_from_class(clazz: object) -> frozenset[str]:
        mro = getattr(clazz, "__mro__", (clazz,))
        key = (clazz, *(len(vars(k)) for k in mro))
        names = _METHODS.get(key)
        if names is None:
            names = frozenset(original(clazz))
            with _LOCK:
                _METHODS[key] = names
        return names

    return method_names_from_class


def _regions_per_service(original: Callable[[Any, str], list[str]]) -> Callable[..., list[str]]:
    """``_generate_regions`` per service name: its answer depends on nothing else."""
    found: dict[str, list[str]] = {}

    def _generate_regions(self: Any, service_name: str) -> list[str]:
        regions = found.get(service_name)
        if regions is None:
            regions = original(self, service_name)
            with _LOCK:
                found[service_name] = regions
        return regions

    return _generate_regions


def install() -> None:
    """Put the caches in front of moto's functions (idempotent)."""
    global _installed
    with _LOCK:
        if _installed:
            return
        import moto.backends
        import moto.core.responses
        from moto.core.base_backend import AccountSpecificBackend

        moto.backends.list_of_moto_modules = _moto_modules(moto.backends.list_of_moto_modules)
        responses: Any = moto.core.responses
        responses.method_names_from_class = _method_names(responses.method_names_from_class)
        generate = AccountSpecificBackend._generate_regions
        AccountSpecificBackend._generate_regions = _regions_per_service(  # type: ignore[method-assign]
            getattr(generate, "__wrapped__", generate)
        )
        _installed = True
