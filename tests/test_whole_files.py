"""Files the daemon and the tools write whole: after a power cut, the old file or the new one."""

from __future__ import annotations

import os
import stat

from art2mus.common.whole_files import write_whole


def test_a_file_written_whole_reaches_the_disk_before_its_rename_and_the_rename_after(tmp_path, monkeypatch):
    """The soundscape cache's FLAC and sidecars, the photo check and saved aligners are written through
    write_whole: renamed into place without a flush, a power cut soon after could leave an empty file
    under the final name (the data still in the page cache, the rename already in the journal)."""
    steps: list[str] = []
    fsync, replace = os.fsync, os.replace

    def synced(fd: int) -> None:
        mode = os.fstat(fd).st_mode
        steps.append("folder synced" if stat.S_ISDIR(mode) else f"file synced ({os.fstat(fd).st_size} bytes)")
        fsync(fd)

    def renamed(src, dst) -> None:
        steps.append(f"renamed to {os.path.basename(dst)}")
        replace(src, dst)

    monkeypatch.setattr(os, "fsync", synced)
    monkeypatch.setattr(os, "replace", renamed)
    target = tmp_path / "entry.flac"
    write_whole(target, b"x" * 1000)
    assert steps == ["file synced (1000 bytes)", "renamed to entry.flac", "folder synced"]
    assert target.read_bytes() == b"x" * 1000
    assert [p.name for p in tmp_path.iterdir()] == ["entry.flac"]  # no temporary file left
