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


UTC = dt.timezone.utc


def utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def _hours(*periods: dict, closed_dates: tuple[str, ...] = ()) -> OpeningHours:
    return OpeningHours(ScheduleConfig(periods=list(periods), closed_dates=list(closed_dates)), "Europe/Rome")


def _changes(
    hours: OpeningHours, start: dt.datetime, end: dt.datetime, step_minutes: int = 1
) -> list[tuple[dt.datetime, bool]]:
    """Each instant, at ``step_minutes`` steps, where the room opens or closes; every state's ``until`` is checked on
    the way: after the moment, and the scan's next opening, closing or change of period when it has one."""
    steps = []
    t = start
    while t < end:
        steps.append((t, hours.state_at(t)))
        t += dt.timedelta(minutes=step_minutes)

    def key(state):  # what `until` ends: an opening's period, or being closed (whatever the reason)
        return state.period if state.open else None

    changes = [t for i, (t, s) in enumerate(steps) if i == 0 or key(s) != key(steps[i - 1][1])]
    for t, state in steps:
        assert state.until is not None and state.until > t, (t, state)
        assert state.until.tzinfo is ROME
        # == between zones is False for a time in a repeated hour (PEP 495): compare in UTC
        following = [c for c in changes if c > t]
        if following:
            assert state.until.astimezone(UTC) == following[0], (t, state)
    return [(t, s.open) for i, (t, s) in enumerate(steps) if i == 0 or s.open != steps[i - 1][1].open]


FALL_BACK = (utc(2026, 10, 24, 21, 0), utc(2026, 10, 25, 23, 0))  # 25 Oct: 03:00 CEST -> 02:00 CET at 01:00Z
SPRING_FORWARD = (
    utc(2026, 3, 28, 22, 0),
    utc(2026, 3, 29, 22, 0),
)  # 29 Mar: 02:00 CET -> 03:00 CEST at 01:00Z


@pytest.mark.parametrize(
    ("day", "open_", "close", "opens", "closes"),
    [
        # the first 02:30 (CEST) to 04:00 CET: 2 h 30 without a break (it closed 30 minutes at 02:00 CET)
        (FALL_BACK, "02:30", "04:00", utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 3, 0)),
        # closed at the first 02:30, not reopened at 02:00 CET (it was, "until 02:30 CEST", already past)
        (FALL_BACK, "01:00", "02:30", utc(2026, 10, 24, 23, 0), utc(2026, 10, 25, 0, 30)),
        # 02:30 does not exist: the jump to 03:00 CEST opens it (the closed state said "until Sun 02:30")
        (SPRING_FORWARD, "02:30", "04:00", utc(2026, 3, 29, 1, 0), utc(2026, 3, 29, 2, 0)),
        (SPRING_FORWARD, "01:00", "02:30", utc(2026, 3, 29, 0, 0), utc(2026, 3, 29, 1, 0)),
    ],
)
def test_on_daylight_saving_nights_a_period_opens_and_closes_once(day, open_, close, opens, closes):
    """Minute by minute over the whole day: one opening at the first moment its open time is reached, one
    closing at the first moment its close time is reached, and `until` always ahead and right."""
    hours = _hours({"days": "sun", "open": open_, "close": close})
    assert _changes(hours, *day) == [(day[0], False), (opens, True), (closes, False)]


def test_until_is_an_instant_to_come_shown_in_the_zone():
    late = _hours({"days": "sun", "open": "02:30", "close": "04:00"})
    early = _hours({"days": "sun", "open": "01:00", "close": "02:30"})
    in_the_repeated_hour = utc(2026, 10, 25, 1, 15)  # 02:15 CET
    assert late.state_at(in_the_repeated_hour).until.astimezone(UTC) == utc(2026, 10, 25, 3, 0)
    next_sunday = early.state_at(in_the_repeated_hour).until
    assert (next_sunday.astimezone(UTC), f"{next_sunday:%a %d %H:%M %Z}") == (
        utc(2026, 11, 1, 0, 0),
        "Sun 01 01:00 CET",
    )
    until = late.state_at(utc(2026, 3, 29, 0, 30)).until  # 01:30 CET, before the clocks go forward
    assert (until, f"{until:%H:%M %Z}") == (utc(2026, 3, 29, 1, 0), "03:00 CEST")
    # a period wholly inside the skipped hour never opens (and is not a state of its own)
    gone = _hours({"days": "sun", "open": "02:10", "close": "02:50"})
    assert _changes(gone, *SPRING_FORWARD) == [(SPRING_FORWARD[0], False)]


def test_the_log_names_the_offset_of_a_time_the_clocks_repeat(caplog):
    caplog.set_level(logging.INFO, logger="art2mus.installation.schedule")
    now = [utc(2026, 10, 24, 23, 30)]  # 01:30 CEST, the night the clocks go back
    hours = _hours({"days": "sun", "open": "01:00", "close": "02:30"})
    ScheduleKeeper(hours, lambda state: None, now=lambda: now[0]).check()
    assert caplog.messages == [
        "schedule: open, sun 01:00-02:30 until Sun 2026-10-25 02:30 CEST (Europe/Rome)"
    ]


def test_a_period_over_midnight_belongs_to_the_day_it_opens():
    """A Friday-night event 20:00-02:00 could not be written: close before open was refused."""
    week = (rome(2026, 6, 1, 0, 0), rome(2026, 6, 8, 12, 0))  # Monday to next Monday
    friday = _hours({"days": "fri", "open": "20:00", "close": "02:00"})
    assert _changes(friday, *week, step_minutes=5) == [
        (week[0], False),
        (rome(2026, 6, 5, 20, 0), True),
        (rome(2026, 6, 6, 2, 0), False),
    ]
    # Sunday night runs into Monday, across the week's end, and a week before is still open on Monday
    sunday = _hours({"days": "sun", "open": "22:00", "close": "02:00"})
    assert _changes(sunday, *week, step_minutes=5) == [
        (week[0], True),
        (rome(2026, 6, 1, 2, 0), False),
        (rome(2026, 6, 7, 22, 0), True),
        (rome(2026, 6, 8, 2, 0), False),
    ]
    assert sunday.state_at(rome(2026, 6, 8, 1, 0)).period == "sun 22:00-02:00"
    # 24:00 is the end of the day
    late = _hours({"days": "fri", "open": "20:00", "close": "24:00"})
    assert _changes(late, *week, step_minutes=5) == [
        (week[0], False),
        (rome(2026, 6, 5, 20, 0), True),
        (rome(2026, 6, 6, 0, 0), False),
    ]
    assert late.state_at(rome(2026, 6, 5, 21, 0)).period == "fri 20:00-24:00"


def test_a_closed_date_cancels_the_night_that_opens_on_it_not_the_one_before():
    nights = {"days": ["fri", "sat"], "open": "20:00", "close": "02:00"}
    weekend = (rome(2026, 6, 5, 12, 0), rome(2026, 6, 7, 12, 0))
    # Saturday closed: Friday's night plays to its close at 02:00 on Saturday, then closed (holiday)
    saturday_closed = _hours(nights, closed_dates=("2026-06-06",))
    assert _changes(saturday_closed, *weekend) == [
        (weekend[0], False),
        (rome(2026, 6, 5, 20, 0), True),
        (rome(2026, 6, 6, 2, 0), False),
    ]
    assert saturday_closed.state_at(rome(2026, 6, 6, 1, 0)).open
    assert saturday_closed.state_at(rome(2026, 6, 6, 21, 0)).period == "closed (holiday)"
    # Friday closed: no Friday night, not even its hours after midnight
    friday_closed = _hours(nights, closed_dates=("2026-06-05",))
    assert _changes(friday_closed, *weekend) == [
        (weekend[0], False),
        (rome(2026, 6, 6, 20, 0), True),
        (rome(2026, 6, 7, 2, 0), False),
    ]


def test_periods_that_meet_at_midnight_play_on_without_a_fade():
    """fri 20:00-23:59 and sat 00:00-02:00 closed the room for the minute between: a fade to silence and
    back; 24:00 and 00:00 meet, and the keeper's checks every 15 s never see it closed."""
    hours = _hours(
        {"days": "fri", "open": "20:00", "close": "24:00"},
        {"days": "sat", "open": "00:00", "close": "02:00"},
    )
    now = [rome(2026, 6, 5, 23, 58)]
    applied = []
    keeper = ScheduleKeeper(hours, applied.append, now=lambda: now[0])
    for _ in range(16):  # four minutes across midnight
        keeper.check()
        now[0] += dt.timedelta(seconds=15)
    assert [(s.open, s.volume, s.period) for s in applied] == [
        (True, 1.0, "fri 20:00-24:00"),
        (True, 1.0, "sat 00:00-02:00"),
    ]
    assert _changes(hours, rome(2026, 6, 5, 12, 0), rome(2026, 6, 6, 12, 0)) == [
        (rome(2026, 6, 5, 12, 0), False),
        (rome(2026, 6, 5, 20, 0), True),
        (rome(2026, 6, 6, 2, 0), False),
    ]


def test_a_wall_clock_stepped_back_does_not_hold_the_checks_back():
    """NTP stepping back a clock that started ahead: APScheduler's interval job waited for its next wall
    time, so no check ran for as long as the step. The checks follow the monotonic clock: each timed-out
    wait is a check, whatever the wall clock reads."""
    hours = _hours({"open": "10:00", "close": "18:00"})
    wall = [rome(2026, 6, 3, 18, 5)]  # five minutes after closing, by a clock that is 10 minutes fast
    applied = []
    keeper = ScheduleKeeper(hours, applied.append, now=lambda: wall[0], check_seconds=15)
    keeper.check()
    waits = []

    def wait(seconds: float) -> bool:  # the stop event's wait: 15 s pass on the monotonic clock
        waits.append(seconds)
        wall[0] += dt.timedelta(seconds=seconds)
        if len(waits) == 2:
            wall[0] -= dt.timedelta(minutes=10)  # NTP steps the clock back: it is 17:55:30
        return len(waits) > 4

    keeper.check_until(wait)
    assert waits == [15, 15, 15, 15, 15]
    assert [s.open for s in applied] == [False, True]  # reopened at the first check after the step
    assert keeper.state == hours.state_at(rome(2026, 6, 3, 17, 56))


def test_a_failed_check_is_logged_and_the_checks_go_on(caplog):
    hours = _hours({"open": "10:00", "close": "18:00"})
    calls = []

    def now() -> dt.datetime:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("clock unreadable")
        return rome(2026, 6, 3, 12, 0)

    keeper = ScheduleKeeper(hours, lambda state: None, now=now)
    keeper.check_until(lambda seconds: len(calls) >= 2)
    assert keeper.state is not None and keeper.state.open
    assert "the opening-hours check failed" in caplog.text


def test_a_prerender_time_the_clocks_repeat_runs_once():
    """APScheduler's cron trigger fires at both passes of 02:30 on the night the clocks go back."""
    now = [utc(2026, 10, 24, 12, 0)]
    rendered = []
    keeper = ScheduleKeeper(
        _hours(),
        lambda state: None,
        prerender=lambda: rendered.append(now[0]),
        prerender_at=dt.time(2, 30),
        now=lambda: now[0],
    )
    keeper.start()
    job = keeper._scheduler.get_job("nightly-prerender")
    keeper.stop()
    fire = job.trigger.get_next_fire_time(None, now[0])
    fired = []
    while fire < utc(2026, 10, 27, 0, 0):
        now[0] = fire.astimezone(UTC)
        fired.append(now[0])
        job.func()
        fire = job.trigger.get_next_fire_time(fire, fire)
    assert fired == [utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 1, 30), utc(2026, 10, 26, 1, 30)]
    assert rendered == [utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)]
