"""Opening hours: open/closed and volume at any moment in the gallery's timezone, and a gallery following them."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from zoneinfo import ZoneInfo

import pytest
import yaml

from art2mus.installation.audio.clock import ManualClock
from art2mus.installation.config import ScheduleConfig, load_exhibit
from art2mus.installation.gallery import CLOSED_KEY, IDLE_KEY, Gallery
from art2mus.installation.schedule import OpeningHours, ScheduleKeeper

ROME = ZoneInfo("Europe/Rome")
SCHEDULE = ScheduleConfig(
    periods=[
        {"days": "tue-fri", "open": "10:00", "close": "18:00", "volume": 0.8},
        {"days": ["sat", "sun"], "open": "10:00", "close": "20:00", "volume": 1.0},
    ],
    closed_dates=["2026-12-25"],
)


def rome(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=ROME)


@pytest.mark.parametrize(
    ("when", "open_", "volume", "until"),
    [
        (rome(2026, 12, 1, 9, 59), False, 0.0, rome(2026, 12, 1, 10, 0)),  # a Tuesday, before opening
        (rome(2026, 12, 1, 10, 0), True, 0.8, rome(2026, 12, 1, 18, 0)),
        (rome(2026, 12, 1, 18, 0), False, 0.0, rome(2026, 12, 2, 10, 0)),  # closing time is closed
        (rome(2026, 11, 30, 12, 0), False, 0.0, rome(2026, 12, 1, 10, 0)),  # Monday: closed all day
        (rome(2026, 12, 5, 19, 59), True, 1.0, rome(2026, 12, 5, 20, 0)),  # Saturday's longer hours
        (rome(2026, 12, 25, 12, 0), False, 0.0, rome(2026, 12, 26, 10, 0)),  # a Friday, but Christmas
    ],
)
def test_state_at(when, open_, volume, until):
    state = OpeningHours(SCHEDULE, "Europe/Rome").state_at(when)
    assert (state.open, state.volume, state.until) == (open_, volume, until)


def test_hours_are_local_time_across_daylight_saving():
    hours = OpeningHours(SCHEDULE, "Europe/Rome")
    utc = dt.timezone.utc
    # 08:30 UTC is 09:30 in Rome in winter (closed) but 10:30 after the clocks go forward (open)
    assert not hours.state_at(dt.datetime(2026, 3, 22, 8, 30, tzinfo=utc)).open
    assert hours.state_at(dt.datetime(2026, 3, 29, 8, 30, tzinfo=utc)).open
    assert hours.state_at(dt.datetime(2026, 3, 29, 8, 30)).open  # naive means UTC


def test_no_periods_is_always_open_but_closed_dates_still_close():
    always = OpeningHours(ScheduleConfig(), "UTC").state_at(
        dt.datetime(2026, 5, 1, 3, 0, tzinfo=dt.timezone.utc)
    )
    assert always.open and always.period == "always" and always.until is None
    holiday = OpeningHours(ScheduleConfig(closed_dates=["2026-05-01"]), "UTC")
    state = holiday.state_at(dt.datetime(2026, 5, 1, 3, 0, tzinfo=dt.timezone.utc))
    assert not state.open and state.period == "closed (holiday)"
    assert state.until == dt.datetime(2026, 5, 2, tzinfo=ZoneInfo("UTC"))


def test_keeper_applies_only_changes():
    now = [rome(2026, 12, 1, 9, 0)]
    applied = []
    keeper = ScheduleKeeper(OpeningHours(SCHEDULE, "Europe/Rome"), applied.append, now=lambda: now[0])
    keeper.check()
    keeper.check()
    now[0] = rome(2026, 12, 1, 10, 0, 5)
    keeper.check()
    keeper.check()
    assert [(s.open, s.volume) for s in applied] == [(False, 0.0), (True, 0.8)]


def test_the_log_says_until_when_on_the_gallerys_clock(caplog):
    """The log's own time is the machine's (UTC on most servers): "schedule: closed" said neither the
    gallery's time nor when it reopens."""
    caplog.set_level(logging.INFO, logger="art2mus.installation.schedule")
    utc = dt.timezone.utc
    now = [dt.datetime(2026, 12, 1, 8, 59, tzinfo=utc)]  # 09:59 in Rome, a Tuesday
    keeper = ScheduleKeeper(OpeningHours(SCHEDULE, "Europe/Rome"), lambda state: None, now=lambda: now[0])
    keeper.check()
    now[0] = dt.datetime(2026, 12, 1, 9, 0, tzinfo=utc)
    keeper.check()
    now[0] = rome(2026, 12, 24, 18, 0)  # Christmas Eve's closing; Christmas is a closed date
    keeper.check()
    assert [r.getMessage() for r in caplog.records] == [
        "schedule: closed until Tue 2026-12-01 10:00 (Europe/Rome)",
        "schedule: open, tue,wed,thu,fri 10:00-18:00 until Tue 2026-12-01 18:00 (Europe/Rome)",
        "schedule: closed until Sat 2026-12-26 10:00 (Europe/Rome)",
    ]
    caplog.clear()
    ScheduleKeeper(OpeningHours(ScheduleConfig(), "UTC"), lambda state: None).check()
    away = [dt.date(2026, 8, 1) + dt.timedelta(days=n) for n in range(14)]
    closed = ScheduleKeeper(
        OpeningHours(ScheduleConfig(closed_dates=away), "UTC"),
        lambda state: None,
        now=lambda: dt.datetime(2026, 8, 1, 12, 0, tzinfo=utc),
    )
    closed.check()
    assert [r.getMessage() for r in caplog.records] == [
        "schedule: open, always",
        "schedule: closed (holiday), not opening in the next week (UTC)",
    ]


def _exhibit(tmp_path, repo_root, schedule: dict):
    demo = repo_root / "exhibits/demo"
    spec = {
        "collection": {"timezone": "Europe/Rome"},
        "artworks": [
            {
                "id": "amber-fields",
                "images": [str(demo / "artworks/amber-fields.png")],
                "soundscape": {"duration": 3},
            }
        ],
        "camera": {"type": "video", "path": str(demo / "camera/walk.mp4")},
        "recognition": {"index_dir": str(tmp_path / "index")},
        "idle": {"duration": 3},
        "audio": {"output": {"type": "null"}},
        "schedule": schedule,
        "control_panel": {"enabled": False},
    }
    path = tmp_path / "exhibit.yaml"
    path.write_text(yaml.safe_dump(spec))
    return load_exhibit(path)


def test_the_gallery_falls_silent_at_closing_and_returns_at_opening(tmp_path, repo_root):
    schedule = {
        "periods": [{"days": "tue-fri", "open": "10:00", "close": "18:00", "volume": 0.6}],
        "ramp_seconds": 2,
    }
    clock = ManualClock()
    gallery = Gallery(_exhibit(tmp_path, repo_root, schedule), clock=clock).build()
    engine, director = gallery.engine, gallery.director
    engine.open()
    director.start(0.0)
    gallery.apply_schedule(gallery.schedule.hours.state_at(rome(2026, 12, 1, 17, 59)))
    clock.advance(3.0)
    engine.pump()
    # the period's volume multiplies the room's level (audio.master_volume, 0.8 by default)
    assert engine.status()["master_volume"] == pytest.approx(0.8 * 0.6) and director.playing == IDLE_KEY

    gallery.apply_schedule(gallery.schedule.hours.state_at(rome(2026, 12, 1, 18, 0)))
    clock.advance(3.0)
    engine.pump()
    assert director.closed and director.playing is None and engine.status()["playing"] is None
    assert director.events[-1].what == CLOSED_KEY
    assert engine.mixer.voices == []  # faded out and gone: silence
    # the camera is not followed while closed
    from art2mus.installation.vision.pipeline import ARTWORK, VisionDecision

    director.update(VisionDecision(7.0, ARTWORK, "amber-fields", 30), 7.0)
    assert director.playing is None

    gallery.apply_schedule(gallery.schedule.hours.state_at(rome(2026, 12, 2, 10, 0)))
    clock.advance(3.0)
    engine.pump()
    assert not director.closed and director.playing == IDLE_KEY and engine.status()["playing"] == IDLE_KEY
    director.update(VisionDecision(12.0, ARTWORK, "amber-fields", 30), 12.0)
    assert director.playing == "amber-fields"
    engine.close()


def test_a_gallery_started_after_hours_starts_silent_and_schedules_its_jobs(tmp_path, repo_root):
    schedule = {"periods": [{"days": "tue-fri", "open": "10:00", "close": "18:00"}], "prerender_at": "03:00"}
    monday = rome(2026, 11, 30, 12, 0)
    gallery = Gallery(_exhibit(tmp_path, repo_root, schedule), wall_clock=lambda: monday).build()
    stop = threading.Event()
    seen = {}

    def ready(g):
        seen["jobs"] = {job["id"]: job["next_run"] for job in g.schedule.jobs()}
        seen["status"] = g.status()
        stop.set()

    gallery.run(stop, on_ready=ready)
    assert gallery.director.closed and [e.what for e in gallery.director.events] == [CLOSED_KEY]
    assert seen["status"]["schedule"]["open"] is False
    assert seen["status"]["schedule"]["until"] == "2026-12-01T10:00:00+01:00"
    assert seen["status"]["volume"]["period"] == 0.0  # closed: not the last (or default) period's volume
    assert set(seen["jobs"]) == {"opening-hours", "nightly-prerender"}
    nightly = dt.datetime.fromisoformat(seen["jobs"]["nightly-prerender"])
    assert (nightly.hour, nightly.minute) == (3, 0) and nightly.utcoffset() == dt.timedelta(hours=1)


def test_the_rooms_level_is_master_volume_times_the_periods_volume(tmp_path, repo_root):
    """audio.master_volume is the room's level: without periods it is what plays (not 1.0), a period's
    volume multiplies it, and the panel's level survives a change of period."""
    clock = ManualClock()
    gallery = Gallery(_exhibit(tmp_path, repo_root, {}), clock=clock).build()
    engine = gallery.engine
    engine.open()
    gallery.director.start(0.0)

    def settle():
        clock.advance(25.0)  # longer than any ramp
        engine.pump()
        return engine.status()["master_volume"]

    gallery.apply_schedule(gallery.schedule.hours.state_at(rome(2026, 12, 1, 12, 0)))  # no periods: 1.0
    assert settle() == pytest.approx(0.8)
    assert gallery.status()["volume"] == {"room": 0.8, "period": 1.0}

    weekdays = _exhibit(tmp_path, repo_root, {"periods": [{"days": "mon-sun", "volume": 0.5}]})
    state = OpeningHours.from_exhibit(weekdays).state_at(rome(2026, 12, 1, 12, 0))
    gallery.apply_schedule(state)
    assert settle() == pytest.approx(0.4)
    gallery.set_master_volume(0.6, 0.0)  # the panel sets the room's level
    assert settle() == pytest.approx(0.3)
    assert gallery.status()["volume"] == {"room": 0.6, "period": 0.5}
    gallery.apply_schedule(OpeningHours.from_exhibit(gallery.exhibit).state_at(rome(2026, 12, 1, 13, 0)))
    assert settle() == pytest.approx(0.6)  # a new period keeps the panel's level
    engine.close()
