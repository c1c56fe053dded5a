"""botocore's data (service models, endpoint rules), read once per process.

botocore gives each session its own loader, which parses EC2's model (about 4 MB of
JSON) again for every session: region checks, each command of a process, each account a
save assumes a role in. The data is read only; botocore shares it between the clients of
one session in the same way, and prism shares it between sessions.
"""

from __future__ import annotations

import threading
from typing import Any

_LOCK = threading.Lock()
#: The loader of each data path (``AWS_DATA_PATH``, the profile's ``data_path``).
_LOADERS: dict[str, Any] = {}


def share_loader(session: Any) -> Any:
    """Give the botocore ``session`` the process-wide loader of its data path; returns it."""
    from botocore.loaders import create_loader

    path = str(session.get_config_variable("data_path") or "")
    with _LOCK:
        loader = _LOADERS.get(path)
        if loader is None:
            loader = _LOADERS[path] = create_loader(path or None)
    session.register_component("data_loader", loader)
    return session


def is_shared(loader: Any) -> bool:
    """Whether ``loader`` is one of the process-wide loaders (what it reads stays)."""
    with _LOCK:
        return any(loader is known for known in _LOADERS.values())


def botocore_session() -> Any:
    """A new botocore session that reads the process-wide data."""
    import botocore.session

    return share_loader(botocore.session.get_session())
