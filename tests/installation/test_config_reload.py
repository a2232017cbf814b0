"""A reload with a hostile exhibit file keeps the running configuration and says why, with positions.

(An artwork whose audio is NaN is not refused: that artwork is left out, see test_degrade.py.)"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from small_exhibit import small_exhibit_spec

from art2mus.installation.config import load_exhibit
from art2mus.installation.gallery import Gallery


@pytest.mark.timeout(120)
def test_hostile_reloads_keep_the_running_exhibit(tmp_path: Path, repo_root: Path) -> None:
    spec = small_exhibit_spec(tmp_path, repo_root, {"amber-fields": None})
    path = tmp_path / "exhibit.yaml"
    good = yaml.safe_dump(spec, sort_keys=False)
    path.write_text(good)
    gallery = Gallery(load_exhibit(path)).build()
    running = gallery.exhibit

    os.mkfifo(tmp_path / "fifo")
    bomb = "".join(f"b{i}: &b{i} [" + ", ".join([f"*b{i - 1}"] * 9 if i else ['"x"'] * 9) + "]\n" for i in range(12))
    hostile = {
        "fifo include": good + "include: fifo\n",
        "device include": good + "include: /dev/zero\n",
        "alias bomb": bomb + good,
        "deep nesting": good + "x:\n" + "".join(" " * (i + 1) + f"k{i}:\n" for i in range(1000)),
        "control character": good.replace("amber-fields", "amber\x07fields", 1),
        "not UTF-8": good.encode().replace(b"amber", b"amb\xe9r", 1),
        "bad date": good + "schedule: {closed_dates: [2026-13-45]}\n",
        "timezone folder": good + "collection: {timezone: Europe}\n",
        "NUL in cache.dir": good.replace(f"dir: {tmp_path / 'cache'}", f'dir: "{tmp_path}/ca\\0che"'),
        "empty": "",
    }
    for name, text in hostile.items():
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        assert gallery.reload() is False, name
        assert gallery.exhibit is running, name
        report = gallery.last_reload
        assert report is not None and not report["ok"] and report["problems"], name
        assert all(":" in problem.split(" ", 1)[0] for problem in report["problems"]), (name, report["problems"])

    path.write_text(good.replace("duration: 2", "duration: 3", 1))
    assert gallery.reload() is True
    assert gallery.exhibit.artworks[0].soundscape.duration == 3
    gallery.close()
