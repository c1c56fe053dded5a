"""The one place prism parses YAML: PyYAML's safe loader (its C version where built),
bounded in size.

Template files, ``prism.yml`` config files and the data files shipped with prism are
all read through :func:`load`, so limits on untrusted YAML live here.
"""

from __future__ import annotations

from typing import Any

#: The largest YAML text prism parses (templates and config files are a few KiB).
MAX_YAML_BYTES = 256 * 1024


class YamlTooLarge(ValueError):
    """The text is larger than the limit; nothing was parsed."""


def _loader() -> Any:
    import yaml

    return getattr(yaml, "CSafeLoader", None) or yaml.SafeLoader


def load(text: str | bytes, max_bytes: int = MAX_YAML_BYTES) -> Any:
    """Parse one YAML document safely (no Python objects), at most ``max_bytes`` long.

    Raises :class:`YamlTooLarge` above the limit and ``yaml.YAMLError`` when the text
    is not valid YAML.
    """
    import yaml

    size = len(text) if isinstance(text, bytes) else len(text.encode("utf-8", "replace"))
    if size > max_bytes:
        raise YamlTooLarge(f"larger than {max_bytes // 1024} KiB")
    return yaml.load(text, Loader=_loader())  # noqa: S506  (a SafeLoader, C or Python)
