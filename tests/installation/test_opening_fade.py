"""Opening a silent room fades it in from silence over ``schedule.ramp_seconds``, also when the camera
already sees an artwork (it saw it while closed) and when the period's volume differs from the last one:
a night close then a morning opening at volume 0.5 came in over 4 s at the old volume (-200 -> -31 dBFS),
the master ramping down from 0.8 to 0.4 over 20 s."""

from __future__ import annotations

import math

import pytest
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


def test_a_morning_opening_with_an_artwork_in_view_fades_in_from_silence(tmp_path, repo_root):
    clock = ManualClock()
    gallery = Gallery(_exhibit(tmp_path, repo_root, SCHEDULE), clock=clock).build()
    engine, director = gallery.engine, gallery.director
    engine.open()
    director.start(0.0)

    def later(seconds: float) -> dict:
        clock.advance(seconds)
        engine.pump()
        return engine.status()

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
    heard, masters = [], []
    for _ in range(44):  # 22 s, every 0.5 s
        status = later(0.5)
        masters.append(status["master_volume"])
        heard.append(status["master_volume"] * math.sqrt(sum(v["gain"] ** 2 for v in status["voices"])))
    # the master is the new period's level at once (it ran down from 0.8 over the 20 s before) ...
    assert max(masters) == pytest.approx(0.4)
    # ... and the room rises from silence to it over the ramp, not over a 4 s crossfade
    assert heard[0] < 0.05 * 0.4 and heard[7] < 0.5 * 0.4, heard  # 0.5 s and 4 s
    assert all(b >= a - 1e-3 for a, b in zip(heard, heard[1:], strict=False)), heard
    assert heard[35] < 0.99 * 0.4 and heard[-1] == pytest.approx(0.4, abs=1e-3), heard  # 18 s, 22 s
    engine.close()
