"""argparse's messages are translated once per locale, and still follow the locale."""

from __future__ import annotations

import argparse
import gettext
import struct
from pathlib import Path

import pytest

from prism_core.cli.argparse_messages import remember_argparse_messages


def _write_mo(path: Path, catalog: dict[str, str]) -> None:
    """A GNU ``.mo`` file holding ``catalog`` (original -> translation)."""
    keys = sorted(catalog)
    ids = b"".join(k.encode() + b"\0" for k in keys)
    strs = b"".join(catalog[k].encode() + b"\0" for k in keys)
    start = 7 * 4 + 16 * len(keys)
    offsets, id_at, str_at = [], start, start + len(ids)
    for k in keys:
        offsets.append((len(k.encode()), id_at, len(catalog[k].encode()), str_at))
        id_at += len(k.encode()) + 1
        str_at += len(catalog[k].encode()) + 1
    header = struct.pack("Iiiiiii", 0x950412DE, 0, len(keys), 7 * 4, 7 * 4 + 8 * len(keys), 0, 0)
    table = b"".join(struct.pack("ii", n, o) for n, o, _, _ in offsets)
    table += b"".join(struct.pack("ii", n, o) for _, _, n, o in offsets)
    path.parent.mkdir(parents=True)
    path.write_bytes(header + table + ids + strs)


def test_messages_follow_the_locale(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    remember_argparse_messages()
    installed = argparse._  # type: ignore[attr-defined]
    remember_argparse_messages()  # idempotent: one layer
    assert argparse._ is installed and installed._prism_remembering  # type: ignore[attr-defined]
    for variable in ("LANGUAGE", "LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("LANG", "C")
    assert argparse._("options") == "options"
    _write_mo(tmp_path / "xx" / "LC_MESSAGES" / "prism-test.mo", {"options": "optionen"})
    domain = gettext.textdomain()
    folder = gettext.bindtextdomain(domain)
    try:
        gettext.textdomain("prism-test")
        gettext.bindtextdomain("prism-test", str(tmp_path))
        monkeypatch.setenv("LANGUAGE", "xx")
        assert argparse._("options") == "optionen"
        assert "optionen:" in argparse.ArgumentParser(prog="p").format_help()
        monkeypatch.setenv("LANGUAGE", "yy")  # no translation there
        assert argparse._("options") == "options"
    finally:
        gettext.textdomain(domain)
        gettext.bindtextdomain(domain, folder)


def test_without_a_catalog_the_answer_is_the_message(monkeypatch: pytest.MonkeyPatch) -> None:
    """No catalog for the locale (Python ships none for argparse): the message itself,
    ``None`` included (argparse passes a missing description through gettext)."""
    remember_argparse_messages()
    monkeypatch.setenv("LANGUAGE", "zz")
    assert argparse._("options") == "options"  # type: ignore[attr-defined]
    assert argparse._(None) is None  # type: ignore[attr-defined]
    parser = argparse.ArgumentParser(prog="p")
    parser.add_subparsers(title="sub-commands", metavar="COMMAND").add_parser("one")
    assert "None" not in parser.format_help()
