"""A reload keeps what the camera has chosen: it built a new vision pipeline every time, even for a file
that changed nothing, so the artwork had to dwell again while the idle timer ran. In the daemon two
SIGHUPs 3 s apart sent the room to the idle ambience at 13.01 s and back to the artwork at 14.47 s."""

from __future__ import annotations

from pathlib import Path

import cv2
import yaml

from art2mus.installation.audio.clock import ManualClock
from art2mus.installation.config import load_exhibit
from art2mus.installation.gallery import Gallery
from art2mus.installation.vision.sources import Frame
from tests.installation.small_exhibit import small_exhibit_spec


def _camera_on(image_path, fps: float = 10.0):
    """A scripted camera looking at one artwork: frame ``i`` at ``i / fps`` seconds."""
    image = cv2.imread(str(image_path), cv2.IMREAD_COLOR)
    index = 0
    while True:
        yield Frame(image, index / fps, index)
        index += 1


def started_gallery(path: Path, spec: dict) -> tuple[Gallery, ManualClock]:
    """A gallery of ``spec`` (written to ``path``) on a manual clock, its engine open and its director
    started at 0 s; the caller steps the clock, pumps the engine and closes both."""
    path.write_text(yaml.safe_dump(spec))
    clock = ManualClock()
    gallery = Gallery(load_exhibit(path), clock=clock)
    gallery.init_audio()
    gallery.init_soundscapes()
    gallery.engine.open()
    gallery.director.start(0.0)
    return gallery, clock


def test_reloads_neither_forget_the_chosen_artwork_nor_let_the_room_go_idle(tmp_path, repo_root):
    spec = small_exhibit_spec(tmp_path, repo_root, {"amber-fields": None, "city-at-six": None})
    spec["idle"]["after_seconds"] = 0.5  # shorter than presence.dwell_seconds (1.5 s): a lost choice shows
    path = tmp_path / "exhibit.yaml"
    gallery, clock = started_gallery(path, spec)
    gallery.init_vision()
    camera = _camera_on(repo_root / "exhibits/demo/artworks/amber-fields.png")

    def watch(until: float) -> None:
        for frame in camera:
            clock.advance(max(0.0, frame.timestamp - clock.monotonic()))
            gallery._follow(frame, frame.timestamp)
            gallery.engine.pump()
            if frame.timestamp >= until:
                return

    try:
        watch(4.0)
        assert gallery.director.playing == "amber-fields"
        first = gallery.vision
        chosen = len(gallery.director.events)

        assert gallery.reload(), gallery.last_reload  # nothing changed: the same pipeline goes on
        watch(6.0)
        assert [(e.what, e.reason) for e in list(gallery.director.events)[chosen:]] == []
        assert gallery.vision is first and gallery.decision.artwork_id == "amber-fields"

        spec["recognition"]["accept_inliers"] = 14  # recognition changed: a new pipeline, the choice kept
        spec["presence"] = {"dwell_seconds": 1.0, "hold_seconds": 5.0}
        path.write_text(yaml.safe_dump(spec))
        assert gallery.reload(), gallery.last_reload
        assert gallery.vision is not first and gallery.vision.debouncer.current == "amber-fields"
        assert gallery.vision.debouncer.hold_s == 5.0 and gallery.vision.debouncer.accept_score == 14
        watch(9.0)
        assert gallery.decision.artwork_id == "amber-fields"
        assert [(e.what, e.reason) for e in list(gallery.director.events)[chosen:]] == []
    finally:
        gallery.close()
        gallery.engine.close()
