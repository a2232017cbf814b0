"""``cache prune`` keeps what a daemon plays from the start of its start: a first start renders for minutes,
and the record of its keys (``CACHE/in-use/<pid>.json``) was written only once the room ran, so a prune
naming another exhibit meanwhile removed what the start had just rendered or was about to read."""

from __future__ import annotations

import json
import os

from small_exhibit import procedural_exhibit

from art2mus.installation.cache_in_use import held_keys
from art2mus.installation.config import load_exhibit
from art2mus.installation.gallery import Gallery


def test_the_record_is_held_while_the_soundscapes_are_made_and_released_at_close(
    tmp_path, repo_root, monkeypatch
):
    path = procedural_exhibit(tmp_path, repo_root, ["amber-fields"], duration=1)
    gallery = Gallery(load_exhibit(path))
    seen: dict[str, list[str]] = {}
    make = Gallery.init_soundscapes

    def init_soundscapes(self, *args, **kwargs):
        seen.update(held_keys(tmp_path / "cache"))  # what a `cache prune` would keep at this moment
        return make(self, *args, **kwargs)

    monkeypatch.setattr(Gallery, "init_soundscapes", init_soundscapes)
    try:
        gallery.build()
        whats = sorted(what for whats in seen.values() for what in whats)
        assert whats == [
            f"amber-fields (running daemon, pid {os.getpid()})",
            f"idle (running daemon, pid {os.getpid()})",
        ], seen
    finally:
        gallery.close()
    assert held_keys(tmp_path / "cache") == {}
    assert not (tmp_path / "cache" / "in-use" / f"{os.getpid()}.json").exists()


def test_a_damaged_unseen_list_delays_the_record_to_the_run_without_a_warning(tmp_path, repo_root, caplog):
    """The record lists the unseen artworks too: with their list damaged, the early record cannot be
    written (the start moves the list aside later). That early try warned 'cannot record what this room
    plays' beside the start's own warning about the list; it is quiet, and the run writes the record."""
    import logging

    import yaml
    from small_exhibit import small_exhibit_spec

    from art2mus.installation.unseen_store import INDEX_FILENAME

    spec = small_exhibit_spec(tmp_path, repo_root, {"amber-fields": None})
    spec["unseen"] = {"enabled": True}
    path = tmp_path / "exhibit.yaml"
    path.write_text(yaml.safe_dump(spec))
    store = tmp_path / ".art2mus/unseen"
    store.mkdir(parents=True)
    (store / INDEX_FILENAME).write_bytes(b"")
    gallery = Gallery(load_exhibit(path))
    try:
        with caplog.at_level(logging.WARNING):
            gallery.build()
        assert not [r for r in caplog.records if "cannot record what this room plays" in r.getMessage()]
        assert any("not an unseen-artworks index" in r.getMessage() for r in caplog.records)  # moved aside
        gallery.hold_cache_record()  # as run() does once the room starts
        assert any(
            "amber-fields" in what for whats in held_keys(tmp_path / "cache").values() for what in whats
        )
    finally:
        gallery.close()


def test_a_start_removes_the_records_of_daemons_that_are_gone(tmp_path, repo_root):
    """A daemon killed with kill -9 left in-use/<pid>.json and <pid>.lock for ever (prune ignored them)."""
    import subprocess
    import sys

    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    pid = int(gone.stdout)  # a process that has ended
    folder = tmp_path / "cache" / "in-use"
    folder.mkdir(parents=True)
    (folder / f"{pid}.json").write_text(json.dumps({"pid": pid, "keys": {}}))
    (folder / f"{pid}.lock").touch()
    (folder / "notes.json").write_text("{}")  # not a record: left alone
    path = procedural_exhibit(tmp_path, repo_root, ["amber-fields"], duration=1)
    gallery = Gallery(load_exhibit(path))
    try:
        gallery.hold_cache_record()
        assert sorted(p.name for p in folder.iterdir()) == sorted(
            ["notes.json", f"{os.getpid()}.json", f"{os.getpid()}.lock"]
        )
    finally:
        gallery.close()
