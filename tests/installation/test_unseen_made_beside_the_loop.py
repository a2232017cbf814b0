"""An unseen artwork's soundscape is made beside the daemon's loop: made on it, a procedural one held the
loop 1.6 s in a real-time run of the unseen walk (about 4 s beside a reload's preparation), no camera frame
recognised and nothing decided meanwhile; with a model's bridge the same. Now the loop goes on while it is
made, a second sighting meanwhile starts nothing more, and the room crossfades to it once it is made."""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import yaml

from art2mus.exhibits.demo_collection.unseen_walk import STOPS, unseen_walk_script
from art2mus.exhibits.demo_collection.walk import render_walk_frames
from art2mus.installation.config import load_exhibit
from art2mus.installation.gallery import IDLE_KEY, Gallery
from art2mus.installation.generation_worker import GenerationResult
from art2mus.installation.vision.unseen import UNSEEN_PREFIX
from tests.installation.small_exhibit import small_exhibit_spec
from tests.installation.test_reload_in_background import GIVE_UP, _PointedCamera, _wait


def _new_loan_in_view(path: Path) -> Path:
    """``path``: a frame of the unseen walk with the painting the exhibit does not list in view."""
    middle = sum(STOPS["unseen"]) / 2
    cv2.imwrite(
        str(path), next(frame for t, frame in render_walk_frames(unseen_walk_script()) if t >= middle)
    )
    return path


class _Room:
    """A real-time run before the unlisted painting whose unseen soundscape renders until :attr:`release`
    is set (:attr:`rendering` is set once it has begun); :attr:`made` lists the unseen soundscapes a
    generator was asked for, :attr:`frames` the frames the loop processed, :attr:`decided` the director's
    updates."""

    def __init__(self, tmp_path: Path, repo_root: Path):
        spec = small_exhibit_spec(tmp_path, repo_root, {"amber-fields": None})
        spec["presence"] = {"dwell_seconds": 0.5, "hold_seconds": 4.0}
        spec["unseen"] = {"enabled": True, "dwell_seconds": 1, "duration": 3, "dir": str(tmp_path / "unseen")}
        spec["idle"]["after_seconds"] = 30
        path = tmp_path / "exhibit.yaml"
        path.write_text(yaml.safe_dump(spec))
        self.gallery = gallery = Gallery(
            load_exhibit(path), camera=_PointedCamera(_new_loan_in_view(tmp_path / "new-loan.png"))
        ).build()
        self.rendering, self.release = threading.Event(), threading.Event()
        self.made: list[str] = []
        self.frames = self.decided = 0
        make_source, follow, update = gallery.soundscape_source, gallery._follow, gallery.director.update

        def slow_source(exhibit):
            source = make_source(exhibit)
            make = source.make

            def slow_make(name, image, request, what, *args, **kwargs):
                if what.startswith(UNSEEN_PREFIX):
                    self.made.append(what)
                    self.rendering.set()
                    assert self.release.wait(GIVE_UP)
                return make(name, image, request, what, *args, **kwargs)

            source.make = slow_make
            return source

        def counted_follow(*args, **kwargs):
            follow(*args, **kwargs)
            self.frames += 1

        def counted_update(*args, **kwargs):
            update(*args, **kwargs)
            self.decided += 1

        gallery.soundscape_source = slow_source
        gallery._follow, gallery.director.update = counted_follow, counted_update
        self.stop = threading.Event()
        self.thread = threading.Thread(target=gallery.run, args=(self.stop,), daemon=True)

    def __enter__(self) -> _Room:
        self.thread.start()
        assert self.rendering.wait(60), "the painting was never taken for an unseen artwork"
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.stop.set()
        self.thread.join(GIVE_UP)
        assert not self.thread.is_alive()


def test_the_loop_follows_the_camera_while_an_unseen_soundscape_is_made(tmp_path: Path, repo_root: Path):
    with _Room(tmp_path, repo_root) as room:
        gallery = room.gallery
        (what,) = room.made
        # while it renders the loop goes on: frames recognised, the director told (before: both stood still)
        seen, told = room.frames, room.decided
        # both counters waited on: 'decided' may be read just before its frame's 'frames' count
        assert _wait(lambda: room.frames >= seen + 10 and room.decided >= told + 10, 10.0), (
            f"{room.frames - seen} frames processed, the director told {room.decided - told} times meanwhile"
        )
        assert gallery.decision.artwork_id == what  # still in view: a sighting at every frame
        assert what not in gallery.director.library.clips and gallery.director.playing == IDLE_KEY
        assert room.made == [what]  # the sightings meanwhile rendered nothing more

        room.release.set()
        assert _wait(lambda: gallery.director.playing == what), gallery.director.playing
        assert room.made == [what] and gallery.unseen_generated == [what]
        assert gallery.director.library.made_by[what] == "procedural"


def test_a_live_rendering_done_before_its_bridge_is_made_replaces_the_bridge(tmp_path: Path, repo_root: Path):
    """The generator process may finish while the bridge is still being made beside the loop: its
    rendering is applied once the bridge is in the library, not before (the bridge would then have been
    put over it, and played for good)."""
    with _Room(tmp_path, repo_root) as room:
        gallery = room.gallery
        (what,) = room.made
        applied: list[bool] = []  # for each result applied: whether the bridge was in the library then
        gallery._apply_generated = lambda result: applied.append(what in gallery.director.library.clips)
        gallery._on_generated(GenerationResult(1, what, "art2mus", "key", ok=True))  # the supervisor's call
        assert applied == []  # held
        room.release.set()
        assert _wait(lambda: applied != []), "the held rendering was never applied"
        assert applied == [True]
