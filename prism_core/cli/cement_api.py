"""The parts of Cement prism uses, imported without running ``cement/__init__.py``.

Cement's package ``__init__`` imports every utility module, among them
``cement.utils.shell`` (``multiprocessing``, ``subprocess``, ``getpass``): about a
quarter of Cement's import time, at every ``prism`` start, for helpers prism never
calls. prism imports the submodules it needs directly; the ``cement`` package module
is registered first without its body, which runs on the first use of a name it
defines (``import cement; cement.App`` or ``from cement import shell`` in a plugin
work as before, at their usual cost).
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType
from typing import Any


def _install_lazy_package() -> None:
    """Register ``cement`` without executing its ``__init__`` (once; never over an
    already imported one)."""
    if "cement" in sys.modules:
        return
    spec = importlib.util.find_spec("cement")
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        return  # not installed: the imports below fail with Python's own message
    package = importlib.util.module_from_spec(spec)
    loader = spec.loader
    running = [False]

    def __getattr__(name: str) -> Any:  # noqa: N807 - the module-level hook (PEP 562)
        if (name.startswith("__") and name != "__all__") or running[0]:
            raise AttributeError(f"module 'cement' has no attribute {name!r}")
        running[0] = True
        try:
            loader.exec_module(package)  # the real package body, in this module
        finally:
            running[0] = False
        return ModuleType.__getattribute__(package, name)

    package.__getattr__ = __getattr__  # type: ignore[method-assign]
    sys.modules["cement"] = package


_install_lazy_package()

from cement.core.foundation import App  # noqa: E402
from cement.core.log import LogHandler  # noqa: E402
from cement.ext.ext_argparse import ArgparseArgumentHandler  # noqa: E402
from cement.ext.ext_argparse import ArgparseController as Controller  # noqa: E402
from cement.ext.ext_argparse import expose as ex  # noqa: E402
from cement.ext.ext_configparser import ConfigParserConfigHandler  # noqa: E402

__all__ = [
    "App",
    "ArgparseArgumentHandler",
    "ConfigParserConfigHandler",
    "Controller",
    "LogHandler",
    "ex",
]
