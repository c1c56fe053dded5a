"""Unit layer: the entry-point scan that replaces importlib.metadata at start-up."""

from __future__ import annotations

import sys
from pathlib import Path

from prism_core import entry_point_scan

GROUPS = frozenset({"prism.plugins", "prism.required_plugins", "console_scripts"})


def _distribution(site: Path, folder: str, name: str, version: str, entry_points: str) -> None:
    meta = site / folder
    meta.mkdir(parents=True)
    headers = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\nbody"
    (meta / "METADATA").write_text(headers)
    (meta / "entry_points.txt").write_text(entry_points)


def test_folder_scan_matches_importlib_metadata_here():
    """This environment's folders, in a fresh interpreter: other tests of the same
    process add zips, finders and fake distributions to the import machinery (those are
    left to importlib.metadata, as ``_needs_importlib`` says)."""
    import subprocess

    script = (
        "from prism_core import entry_point_scan as s\n"
        f"groups = frozenset({sorted(GROUPS)!r})\n"
        "assert not s._needs_importlib()\n"
        "folders, metadata = sorted(s._scan_folders(groups)), sorted(s._scan_importlib(groups))\n"
        "assert folders and folders == metadata, (folders, metadata)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_first_distribution_of_a_name_wins_and_removal_is_seen(tmp_path, monkeypatch):
    first, second = tmp_path / "a", tmp_path / "b"
    _distribution(
        first, "my_plugin-2.0.dist-info", "My.Plugin", "2.0",
        "# comment\n[prism.plugins]\nmine = my_plugin.hooks:plugin [extra]\n\n[other]\nx = y\n",
    )
    _distribution(
        second, "My_Plugin-1.0.dist-info", "my-plugin", "1.0", "[prism.plugins]\nold = x\n"
    )
    _distribution(
        second, "other-1.0.egg-info", "other", "1.0", "[prism.required_plugins]\nmine = z\n"
    )
    monkeypatch.setattr(sys, "path", [str(first), str(tmp_path / "missing"), str(second)])
    found = entry_point_scan._scan_folders(GROUPS)
    assert found == [
        entry_point_scan.Found("prism.plugins", "mine", "my_plugin.hooks:plugin [extra]",
                               "My.Plugin", "2.0"),
        entry_point_scan.Found("prism.required_plugins", "mine", "z", "other", "1.0"),
    ]
    assert sorted(found) == sorted(entry_point_scan._scan_importlib(GROUPS))
    for file in (first / "my_plugin-2.0.dist-info").iterdir():
        file.unlink()
    (first / "my_plugin-2.0.dist-info").rmdir()
    assert [f.name for f in entry_point_scan.entry_points({"prism.plugins"})] == ["old"]


def test_a_zip_on_the_path_uses_importlib_metadata(tmp_path, monkeypatch):
    archive = tmp_path / "packages.zip"
    archive.write_bytes(b"PK\x05\x06" + b"\0" * 18)
    monkeypatch.setattr(sys, "path", [str(archive)])
    assert entry_point_scan._needs_importlib()
