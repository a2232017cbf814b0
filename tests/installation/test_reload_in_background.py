"""A reload is prepared beside the running room: the main loop ran it in-line, so every reload froze the
camera's recognition until it was done (the curator's sweep: 5.0-6.5 s for an added artwork, 3.5 s for new
recognition settings; minutes when the Art2Mus model renders), and a 12 s one let the idle timer run out
behind it. Now the room recognises and decides on with the running configuration, the new one is swapped
in between two frames, a second reload asked for meanwhile ends with the newest file, and a stop during
a long preparation is not held up by it."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from pathlib import Path

import cv2
import yaml
from click.testing import CliRunner

from art2mus.installation.cli import main
from art2mus.installation.config import load_exhibit
from art2mus.installation.gallery import Gallery
from art2mus.installation.vision.sources import CameraSource, Frame, FrameStream
from tests.installation.small_exhibit import small_exhibit_spec

GIVE_UP = 120.0  # seconds: only a hang takes this long, however busy the machine


class _PointedCamera(CameraSource):
    """A real-time camera (10 fps) looking at whichever artwork photo :attr:`photo` names (the test turns
    it to another one)."""

    name = "pointed camera"
    nominal_fps = 10.0

    def __init__(self, photo: Path):
        self.photo = photo

    def open(self) -> FrameStream:
        camera = self

        class _Stream(FrameStream):
            def __init__(self) -> None:
                self.index = 0

            def read(self) -> Frame:
                time.sleep(0.1)
                image = cv2.imread(str(camera.photo), cv2.IMREAD_COLOR)
                frame = Frame(image, time.monotonic(), self.index)
                self.index += 1
                return frame

            def close(self) -> None:
                pass

        return _Stream()


def _wait(predicate, seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not predicate():
        time.sleep(0.02)
    return predicate()


def _slow_reloads(gallery: Gallery, rendering: threading.Event, release: threading.Event) -> None:
    """The soundscapes of a reload (made on whatever thread prepares it) wait until the test releases
    them, as a model's render of an added artwork takes minutes; the start's are made at once."""
    make_source = gallery.soundscape_source

    def slow_source(exhibit):
        source = make_source(exhibit)
        library = source.library

        def slow_library(*args, **kwargs):
            if kwargs.get("previous") is not None:  # a reload's
                rendering.set()
                assert release.wait(GIVE_UP)
            return library(*args, **kwargs)

        source.library = slow_library
        return source

    gallery.soundscape_source = slow_source


def test_the_room_follows_visitors_while_a_reload_is_prepared_and_the_newest_file_wins(
    tmp_path, repo_root, caplog
):
    caplog.set_level(logging.INFO, logger="art2mus.installation.background_reload")
    demo = repo_root / "exhibits/demo/artworks"
    spec = small_exhibit_spec(tmp_path, repo_root, {"amber-fields": None, "city-at-six": None})
    spec["idle"]["after_seconds"] = 30
    path = tmp_path / "exhibit.yaml"
    path.write_text(yaml.safe_dump(spec))
    camera = _PointedCamera(demo / "amber-fields.png")
    gallery = Gallery(load_exhibit(path), camera=camera).build()
    rendering, release = threading.Event(), threading.Event()
    stop = threading.Event()
    thread = threading.Thread(target=gallery.run, args=(stop,), daemon=True)
    thread.start()
    try:
        assert _wait(lambda: gallery.director.playing == "amber-fields")
        _slow_reloads(gallery, rendering, release)

        # a curator adds an artwork: its soundscape is rendered (slowly) for the reload
        spec["artworks"].append({"id": "hills-of-orvale", "images": [str(demo / "hills-of-orvale.png")]})
        path.write_text(yaml.safe_dump(spec))
        gallery.request_reload()
        assert rendering.wait(30)
        asked_at = gallery.reload_requested_at
        assert asked_at is not None

        # meanwhile a visitor moves on: the running configuration recognises and decides (before: the
        # loop was in the reload, and nothing followed the visitor until it was done)
        camera.photo = demo / "city-at-six.png"
        assert _wait(lambda: gallery.director.playing == "city-at-six"), gallery.director.playing
        assert gallery.last_reload is None and gallery.status()["reload_requested_at"] == asked_at
        assert "hills-of-orvale" not in gallery.library.clips

        # a second edit and reload during the preparation: it is not lost, and the newest file wins
        spec["idle"]["after_seconds"] = 40
        spec["audio"]["crossfade_seconds"] = 2.5
        path.write_text(yaml.safe_dump(spec))
        gallery.request_reload()
        release.set()
        assert _wait(lambda: gallery.reload_requested_at is None, GIVE_UP)
        assert gallery.last_reload is not None and gallery.last_reload["ok"], gallery.last_reload
        assert "hills-of-orvale" in gallery.library.clips
        assert "hills-of-orvale" in gallery.vision.recognizer.index.artwork_ids
        assert gallery.director.idle_after_s == 40 and gallery.engine.crossfade_seconds == 2.5
        assert _wait(lambda: gallery.telemetry.counters["reload_ok"] == 2)  # both applied, in turn
        # what the visitor chose meanwhile plays on after both swaps
        assert gallery.director.playing == "city-at-six"
        assert caplog.text.count("took the loop") == 2  # swapped in by the loop, between two frames
    finally:
        release.set()
        stop.set()
        thread.join(GIVE_UP)
    assert not thread.is_alive()


def test_a_stop_during_a_long_reload_preparation_ends_the_run_promptly(tmp_path, repo_root):
    spec = small_exhibit_spec(tmp_path, repo_root, {"amber-fields": None})
    path = tmp_path / "exhibit.yaml"
    path.write_text(yaml.safe_dump(spec))
    gallery = Gallery(load_exhibit(path)).build()
    rendering, release = threading.Event(), threading.Event()
    stop = threading.Event()
    thread = threading.Thread(target=gallery.run, args=(stop,), daemon=True)
    thread.start()
    try:
        assert _wait(lambda: gallery.engine.status()["state"] == "playing")
        _slow_reloads(gallery, rendering, release)
        spec["artworks"][0]["soundscape"]["seed"] = 7
        path.write_text(yaml.safe_dump(spec))
        gallery.request_reload()
        assert rendering.wait(30)
        stopped = time.monotonic()
        stop.set()  # SIGTERM's doing in the daemon
        thread.join(15)
        assert not thread.is_alive(), "the stop waited for the reload's render"
        assert time.monotonic() - stopped < 10
        assert gallery.last_reload is None  # nothing of it applied
    finally:
        release.set()
        stop.set()
        thread.join(GIVE_UP)


def test_sigterm_to_the_daemon_during_a_long_reload_preparation_ends_it_within_a_bound(
    tmp_path, repo_root, monkeypatch
):
    """The daemon as systemd runs it: SIGHUP, then SIGTERM while the reload's render is under way; the
    command ends (exit 0, a clean stop) well within the unit's TimeoutStopSec=20."""
    path = tmp_path / "exhibit.yaml"
    spec = small_exhibit_spec(tmp_path, repo_root, {"amber-fields": None})
    path.write_text(yaml.safe_dump(spec))
    release = threading.Event()
    times: dict[str, float] = {}
    source_of, start = Gallery.soundscape_source, Gallery.start

    def started_then_reloaded(self):
        start(self)
        spec["artworks"][0]["soundscape"]["seed"] = 7
        path.write_text(yaml.safe_dump(spec))
        os.kill(os.getpid(), signal.SIGHUP)

    def slow_reload_source(self, exhibit):
        source = source_of(self, exhibit)
        library = source.library

        def slow_library(*args, **kwargs):
            if kwargs.get("previous") is not None:  # the reload's render: it never ends by itself
                times["sigterm"] = time.monotonic()
                os.kill(os.getpid(), signal.SIGTERM)
                release.wait(30)  # before: the stop waited for this
            return library(*args, **kwargs)

        source.library = slow_library
        return source

    monkeypatch.setattr(Gallery, "start", started_then_reloaded)
    monkeypatch.setattr(Gallery, "soundscape_source", slow_reload_source)
    try:
        result = CliRunner().invoke(main, ["run", str(path), "--duration", str(GIVE_UP)])
        ended = time.monotonic()
    finally:
        release.set()
    assert result.exit_code == 0, (result.output, result.exception)
    assert "sigterm" in times
    assert ended - times["sigterm"] < 10, ended - times["sigterm"]
