"""Unit layer: the journal's group commit. Concurrent records (one per copy region) share
disk writes, yet every record is on disk when its call returns, and a finished journal
never comes back."""

from __future__ import annotations

import threading

from prism_core.save import journal as journal_module
from prism_core.save.journal import Journal
from prism_core.save.state import RegionImage, SaveState


def _state() -> SaveState:
    return SaveState(
        save_id="save-1",
        request={"instance_id": "i-1", "instance_name": "box", "template_name": "x",
                 "region": "us-east-1"},
        started_at="2026-01-01T00:00:00Z",
        image_name="prism-x-v1-1",
        instance_original_state="running",
    )


def test_concurrent_records_are_all_on_disk_with_fewer_writes(tmp_path, monkeypatch) -> None:
    journal = Journal(tmp_path, _state())
    writes: list[int] = []
    real = journal_module.write_private_atomic
    gate = threading.Event()

    def slow_write(path, text):  # type: ignore[no-untyped-def]
        writes.append(1)
        gate.wait(0.05)  # an fsync that takes a while: the others queue up meanwhile
        real(path, text)

    monkeypatch.setattr(journal_module, "write_private_atomic", slow_write)
    seen_on_disk: dict[str, bool] = {}

    def record(region: str) -> None:
        with journal.lock:
            journal.state.images[region] = RegionImage(region, image_id=f"ami-{region}")
        journal.write()
        # when write() returns, this region's change is in the file
        seen_on_disk[region] = region in Journal.load(journal.path).state.images

    regions = [f"region-{i}" for i in range(16)]
    threads = [threading.Thread(target=record, args=(r,)) for r in regions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(seen_on_disk[r] for r in regions)
    assert set(Journal.load(journal.path).state.images) == set(regions)
    assert len(writes) < len(regions)


def test_a_write_racing_finish_leaves_no_journal(tmp_path, monkeypatch) -> None:
    journal = Journal(tmp_path, _state())
    journal.write()
    real = journal_module.write_private_atomic
    started, release = threading.Event(), threading.Event()

    def paused_write(path, text):  # type: ignore[no-untyped-def]
        started.set()
        release.wait(5)
        real(path, text)

    monkeypatch.setattr(journal_module, "write_private_atomic", paused_write)
    writer = threading.Thread(target=journal.write)
    writer.start()
    started.wait(5)
    journal.finish()  # the save completed while that write was on its way to disk
    release.set()
    writer.join()
    assert not journal.path.exists()
    journal.write()  # and nothing writes it again
    assert not journal.path.exists()
