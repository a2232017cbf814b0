"""A reload prepared beside the running room rebuilt recognition with a new store of unseen pictures, read
from ``unseen.json`` while the reload was prepared: a picture the running room first remembered (or saw
again) in those seconds was missing from it, and dropped from ``unseen.json`` at its next save, its crop
left behind. The running memory now carries on at the swap, and what the curator changed on disk
(``art2mus unseen forget|ignore``) before the reload or during its preparation still takes effect then."""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import yaml

from art2mus.exhibits.demo_collection.artworks import DEMO_ARTWORKS, render_demo_artwork
from art2mus.installation.config import load_exhibit
from art2mus.installation.gallery import Gallery
from art2mus.installation.unseen_store import UnseenStore
from art2mus.installation.vision.pipeline import VisionPipeline
from art2mus.installation.vision.unseen import UnseenSighting, describe
from tests.installation.small_exhibit import small_exhibit_spec

GIVE_UP = 120.0  # seconds: only a hang takes this long, however busy the machine


class _Notifier:
    def reloading(self) -> None:
        pass

    def progress_as_status(self):
        return contextlib.nullcontext()


class _Watchdog:
    notifier = _Notifier()

    def ready(self) -> None:
        pass


def _sighting(index: int) -> UnseenSighting:
    crop = cv2.resize(render_demo_artwork(DEMO_ARTWORKS[index]), (256, 200))
    return UnseenSighting(crop, describe(crop), np.zeros((4, 2)))


def test_what_the_room_remembers_while_a_reload_is_prepared_is_kept_and_the_curators_edits_win(
    tmp_path, repo_root, monkeypatch
):
    unseen = tmp_path / "unseen"
    spec = small_exhibit_spec(tmp_path, repo_root, {"amber-fields": None})
    spec["unseen"] = {"enabled": True, "dir": str(unseen), "dwell_seconds": 3, "duration": 2}
    path = tmp_path / "exhibit.yaml"
    path.write_text(yaml.safe_dump(spec))
    gallery = Gallery(load_exhibit(path)).build()
    running = gallery.vision.unseen
    forgotten, ignored = running.name(_sighting(1)), running.name(_sighting(2))
    UnseenStore(unseen).forget(forgotten)  # `art2mus unseen forget`, before the reload

    # the new recognition (and its store, read from unseen.json) is built, then held back
    built, release = threading.Event(), threading.Event()
    from_config = VisionPipeline.from_config

    def held_from_config(exhibit, **kwargs):
        pipeline = from_config(exhibit, **kwargs)
        built.set()
        assert release.wait(GIVE_UP)
        return pipeline

    monkeypatch.setattr(VisionPipeline, "from_config", held_from_config)
    spec["unseen"]["dwell_seconds"] = 4  # the recognition is rebuilt
    path.write_text(yaml.safe_dump(spec))
    gallery.request_reload()
    watchdog = _Watchdog()
    gallery.reload_between_frames(watchdog)
    assert built.wait(GIVE_UP)

    # meanwhile the running room remembers a new picture and sees another again, and the curator
    # ignores that one
    new = running.name(_sighting(3))
    assert running.name(_sighting(2)) == ignored
    UnseenStore(unseen).ignore(ignored)  # `art2mus unseen ignore`, during the preparation
    release.set()
    deadline = time.monotonic() + GIVE_UP
    while gallery.reload_requested_at is not None and time.monotonic() < deadline:
        gallery.reload_between_frames(watchdog)  # the loop, between two frames: swaps it in
        time.sleep(0.02)
    gallery.reload_between_frames(watchdog)
    assert gallery.last_reload is not None and gallery.last_reload["ok"], gallery.last_reload
    assert gallery.vision.unseen is not running and gallery.vision.unseen.dwell_s == 4

    # the next picture remembered saves the index: what was remembered meanwhile is still in it
    later = gallery.vision.unseen.name(_sighting(4))
    on_disk = UnseenStore(unseen).artworks
    assert new in on_disk, sorted(on_disk)
    assert later in on_disk and Path(unseen / f"{new}.jpg").is_file()
    assert on_disk[ignored].ignored and on_disk[ignored].sightings == 2
    assert forgotten not in on_disk
    assert {p.stem for p in unseen.glob("u*.jpg")} == set(on_disk)  # no crop left unlisted

    # as the curator asked: the ignored picture is nothing, the forgotten one is new when seen again
    assert gallery.vision.unseen.name(_sighting(2)) is None
    assert gallery.vision.unseen.name(_sighting(1)) is not None
    assert forgotten in UnseenStore(unseen).artworks
    assert gallery.vision.unseen.store.listing()[0]["id"] == forgotten


def test_a_reload_that_keeps_the_recognition_takes_the_curators_forget_too(tmp_path, repo_root):
    unseen = tmp_path / "unseen"
    spec = small_exhibit_spec(tmp_path, repo_root, {"amber-fields": None})
    spec["unseen"] = {"enabled": True, "dir": str(unseen), "dwell_seconds": 3, "duration": 2}
    path = tmp_path / "exhibit.yaml"
    path.write_text(yaml.safe_dump(spec))
    gallery = Gallery(load_exhibit(path)).build()
    running = gallery.vision.unseen
    forgotten = running.name(_sighting(1))
    UnseenStore(unseen).forget(forgotten)  # `art2mus unseen forget` while the daemon runs
    # seen again before a reload: its soundscape plays on, it is not written back
    assert running.name(_sighting(1)) == forgotten and forgotten not in UnseenStore(unseen).artworks

    spec["idle"]["after_seconds"] = 45  # the recognition is kept
    path.write_text(yaml.safe_dump(spec))
    assert gallery.reload()
    assert gallery.vision.unseen is running
    # after the reload, as after a start: seen again, it is new (before: never remembered until a restart)
    assert running.name(_sighting(1)) == forgotten
    assert forgotten in UnseenStore(unseen).artworks and (unseen / f"{forgotten}.jpg").is_file()
