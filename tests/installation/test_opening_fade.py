"""Opening a silent room fades it in from silence over ``schedule.ramp_seconds``, also when the camera
already sees an artwork (it saw it while closed) and when the period's volume differs from the last one:
a night close then a morning opening at volume 0.5 came in over 4 s at the old volume (-200 -> -31 dBFS),
the master ramping down from 0.8 to 0.4 over 20 s."""

from __future__ import annotations

import math

import pytest
import yaml
from test_schedule import _exhibit, rome

from art2mus.installation.audio.clock import ManualClock
from art2mus.installation.gallery import IDLE_KEY, Gallery
from art2mus.installation.vision.pipeline import ARTWORK, VisionDecision

SCHEDULE = {
    "periods": [
        {"days": "mon-sun", "open": "09:00", "close": "18:00", "volume": 0.5},
        {"days": "mon-sun", "open": "20:00", "close": "21:00", "volume": 1.0},
    ],
    "ramp_seconds": 20,
}


def _heard(status: dict) -> float:
    """The room's level: the master volume times the voices' fades (equal power)."""
    return status["master_volume"] * math.sqrt(sum(v["gain"] ** 2 for v in status["voices"]))


def _fades_in_from_silence(later, seconds: float = 22.0) -> None:
    """The room, sampled every 0.5 s from 10 ms after opening, rises from silence to 0.4 over the 20 s ramp,
    the master at 0.4 all along (it ran down from 0.8 over the 20 s before, the room in 4 s)."""
    statuses = [later(0.5) for _ in range(int(seconds / 0.5))]
    heard = [_heard(s) for s in statuses]
    assert max(s["master_volume"] for s in statuses) == pytest.approx(0.4)
    assert heard[0] < 0.05 * 0.4 and heard[7] < 0.5 * 0.4, heard  # 0.5 s and 4 s
    assert all(b >= a - 1e-3 for a, b in zip(heard, heard[1:], strict=False)), heard
    assert heard[35] < 0.99 * 0.4 and heard[-1] == pytest.approx(0.4, abs=1e-3), heard  # 18 s, 22 s


def _started(exhibit, **kwargs) -> tuple[Gallery, ManualClock, object]:
    clock = ManualClock()
    gallery = Gallery(exhibit, clock=clock, **kwargs).build()
    gallery.engine.open()
    gallery.director.start(0.0)

    def later(seconds: float) -> dict:
        clock.advance(seconds)
        gallery.engine.pump()
        return gallery.engine.status()

    return gallery, clock, later


def test_a_morning_opening_with_an_artwork_in_view_fades_in_from_silence(tmp_path, repo_root):
    gallery, clock, later = _started(_exhibit(tmp_path, repo_root, SCHEDULE))
    engine, director = gallery.engine, gallery.director
    gallery.apply_schedule(gallery.schedule.hours.state_at(rome(2026, 12, 1, 20, 30)))
    assert later(25.0)["master_volume"] == pytest.approx(0.8)  # the room's 0.8 times the night's 1.0
    gallery.apply_schedule(gallery.schedule.hours.state_at(rome(2026, 12, 1, 21, 0)))
    assert later(25.0)["voices"] == [] and director.closed  # faded out: silence
    seen = VisionDecision(clock.monotonic(), ARTWORK, "amber-fields", 30)
    director.update(seen, clock.monotonic())  # the camera sees the artwork while closed: not followed
    assert director.playing is None

    gallery.apply_schedule(gallery.schedule.hours.state_at(rome(2026, 12, 2, 9, 0)))  # volume 0.5
    assert director.playing == IDLE_KEY
    later(0.01)
    director.update(seen, clock.monotonic())  # 10 ms after opening, as the vision decision persists
    assert director.playing == "amber-fields"
    _fades_in_from_silence(later)
    engine.close()


def test_a_reload_that_opens_the_room_fades_it_in_from_silence(tmp_path, repo_root):
    """The curator's sweep: closed by a 20:00-21:00 period, reloaded with 09:00-18:00 at volume 0.5."""
    night = {"periods": [{"days": "mon-sun", "open": "20:00", "close": "21:00"}], "ramp_seconds": 20}
    exhibit = _exhibit(tmp_path, repo_root, night)
    gallery, clock, later = _started(exhibit, wall_clock=lambda: rome(2026, 12, 2, 10, 27))
    director = gallery.director
    try:
        gallery.apply_schedule(gallery.schedule.hours.state_at(rome(2026, 12, 1, 20, 30)))
        later(25.0)
        gallery.schedule.start()  # 10:27: closed, faded out over the ramp
        assert director.closed and later(25.0)["voices"] == []
        seen = VisionDecision(clock.monotonic(), ARTWORK, "amber-fields", 30)
        director.update(seen, clock.monotonic())
        path = exhibit.source_file
        spec = yaml.safe_load(path.read_text())
        spec["schedule"]["periods"] = [{"days": "mon-sun", "open": "09:00", "close": "18:00", "volume": 0.5}]
        path.write_text(yaml.safe_dump(spec))
        assert gallery.reload() is True and not director.closed and director.playing == IDLE_KEY
        later(0.01)
        director.update(seen, clock.monotonic())
        assert director.playing == "amber-fields"
        _fades_in_from_silence(later)
    finally:
        gallery.schedule.stop()
        gallery.engine.close()
