"""Opening hours: when the room sounds, at what volume, and the nightly pre-render.

:class:`OpeningHours` answers "open or closed, at what volume, until when?" for any moment, in the
collection's timezone: a period plays on each of its weekdays from its ``open`` time to its ``close``
time, a close at or before the open (``20:00-02:00``, ``close: "24:00"``) being on the next day; a period
belongs to the day it opens, so a ``closed_dates`` day cancels the periods that open on it and not the end
of the night before's; no periods means always open, except on closed dates (midnight to midnight).

Daylight-saving days are judged on instants, not wall times: a period opens at the first moment its open
time is reached and closes at the first moment its close time is reached. When the clocks go back, the
repeated hour neither closes an open period nor reopens a closed one; when they go forward, a time in the
skipped hour takes effect at the jump (02:30 on a night that goes from 02:00 to 03:00 is 03:00).

:class:`ScheduleKeeper` applies it to a running gallery: a thread checks every ``check_seconds`` by the
monotonic clock (so a clock change, a suspend or a late start catch up at the next check, and a clock
stepped back by NTP does not hold the checks back for as long as the step, as a wall-clock interval job
did), and APScheduler (one ``BackgroundScheduler``) runs a daily cron job at ``schedule.prerender_at``
that retries the soundscapes still on their bridge.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

logger = logging.getLogger(__name__)

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
UTC = dt.timezone.utc
#: days after the moment's own looked at for ``until`` (a week and a day: every weekday's next opening)
_HORIZON_DAYS = 8
_MIDNIGHT = dt.time(0, 0)


@dataclass(frozen=True)
class ScheduleState:
    """The room's state at a moment.

    Attributes:
        open: whether the installation should sound.
        volume: the period's master volume (0..1); 0 when closed.
        period: the period in words (``"mon-fri 10:00-18:00"``), ``"always"``, or why it is closed.
        until: when this state ends (timezone-aware, in the collection's zone, always after the moment
            asked about), or None if never (always open) or not within the next week.
    """

    open: bool
    volume: float
    period: str
    until: dt.datetime | None

    def to_json(self) -> dict[str, Any]:
        return {
            "open": self.open,
            "volume": self.volume,
            "period": self.period,
            "until": self.until.isoformat() if self.until else None,
        }


#: the one period of a schedule without periods: always open
_ALWAYS = object()


def _describe(period: Any) -> str:
    days = ",".join(period.days) if len(period.days) < 7 else "daily"
    close = "24:00" if period.close == _MIDNIGHT else f"{period.close:%H:%M}"
    return f"{days} {period.open:%H:%M}-{close}"


@dataclass(frozen=True)
class _Opening:
    """One occurrence of a period: open from ``start`` up to (not including) ``end``, both UTC."""

    start: dt.datetime
    end: dt.datetime
    rank: int  # the period's place in the list: the first one listed wins where two overlap
    period: Any


class OpeningHours:
    """The exhibit's ``schedule`` section, evaluated in ``timezone``."""

    def __init__(self, schedule: Any, timezone: str = "UTC"):
        self.schedule = schedule
        self.tz = ZoneInfo(timezone)

    @classmethod
    def from_exhibit(cls, exhibit: Any) -> OpeningHours:
        return cls(exhibit.schedule, exhibit.collection.timezone)

    def reached(self, day: dt.date, t: dt.time) -> dt.datetime:
        """The first instant (UTC) at which the gallery's clock reads ``t`` or later on ``day``: in a
        repeated hour its first pass, in a skipped hour the jump."""
        wall = dt.datetime.combine(day, t.replace(tzinfo=None))
        first = wall.replace(tzinfo=self.tz, fold=0).astimezone(UTC)
        second = wall.replace(tzinfo=self.tz, fold=1).astimezone(UTC)
        if first <= second:  # an ordinary time, or a repeated one (fold 0 is its first pass)
            return first
        # skipped: fold 1 reads the offset after the jump (an instant before it, when the clock still read an
        # earlier time), fold 0 the one before (after it); the jump lies between, found to the second
        lo, hi = int(second.timestamp()), int(first.timestamp()) + 1
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if dt.datetime.fromtimestamp(mid, self.tz).replace(tzinfo=None) >= wall:
                hi = mid
            else:
                lo = mid
        return dt.datetime.fromtimestamp(hi, UTC)

    def _openings(self, first: dt.date, last: dt.date) -> list[_Opening]:
        """The openings of the periods that open on ``first`` .. ``last`` (local dates)."""
        out = []
        closed = set(self.schedule.closed_dates)
        day = first
        while day <= last:
            if day not in closed:
                after = day + dt.timedelta(days=1)
                if not self.schedule.periods:
                    out.append(
                        _Opening(self.reached(day, _MIDNIGHT), self.reached(after, _MIDNIGHT), 0, _ALWAYS)
                    )
                for rank, period in enumerate(self.schedule.periods):
                    if WEEKDAYS[day.weekday()] not in period.days:
                        continue
                    # a close at or before the open is on the next day (24:00 is the next day's 00:00)
                    close_day = after if period.close <= period.open else day
                    start, end = self.reached(day, period.open), self.reached(close_day, period.close)
                    if start < end:  # both in one skipped hour: it never opens
                        out.append(_Opening(start, end, rank, period))
            day += dt.timedelta(days=1)
        return out

    @staticmethod
    def _period_in(openings: list[_Opening], instant: dt.datetime) -> Any | None:
        """The period (first listed) whose opening holds ``instant``; None when closed."""
        holding = [o for o in openings if o.start <= instant < o.end]
        return min(holding, key=lambda o: o.rank).period if holding else None

    def state_at(self, when: dt.datetime) -> ScheduleState:
        """The state at ``when`` (an aware datetime; a naive one is taken as UTC)."""
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        instant = when.astimezone(UTC)
        local = instant.astimezone(self.tz)
        if not self.schedule.periods and not self.schedule.closed_dates:
            return ScheduleState(True, 1.0, "always", None)
        # from the day before: a period over midnight that opened yesterday may still be open
        openings = self._openings(
            local.date() - dt.timedelta(days=1), local.date() + dt.timedelta(days=_HORIZON_DAYS)
        )
        period = self._period_in(openings, instant)
        until = None
        for boundary in sorted({o.start for o in openings} | {o.end for o in openings}):
            if boundary > instant and self._period_in(openings, boundary) is not period:
                until = boundary.astimezone(self.tz)
                break
        if period is None:
            reason = "closed (holiday)" if local.date() in self.schedule.closed_dates else "closed"
            return ScheduleState(False, 0.0, reason, until)
        if period is _ALWAYS:
            return ScheduleState(True, 1.0, "always", until)
        return ScheduleState(True, float(period.volume), _describe(period), until)


class ScheduleKeeper:
    """Keeps a gallery in step with its opening hours (see the module docstring).

    Args:
        hours: the opening hours.
        apply: called with the :class:`ScheduleState` whenever it changes (and once at start).
        prerender: called daily at ``prerender_at`` (None: no nightly job).
        prerender_at: local time of the nightly job.
        now: the wall clock (aware datetimes), for tests.
        check_seconds: how often the state is re-evaluated, in seconds of the monotonic clock.
        monotonic: the monotonic clock (seconds), for tests.
    """

    def __init__(
        self,
        hours: OpeningHours,
        apply: Callable[[ScheduleState], None],
        *,
        prerender: Callable[[], Any] | None = None,
        prerender_at: dt.time | None = None,
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.timezone.utc),
        check_seconds: float = 15.0,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self.hours = hours
        self.apply = apply
        self.prerender = prerender
        self.prerender_at = prerender_at
        self.now = now
        self.check_seconds = check_seconds
        self.monotonic = monotonic
        self.state: ScheduleState | None = None
        self._scheduler: Any = None
        self._stop = threading.Event()
        self._checks: threading.Thread | None = None
        self._last_check: float | None = None  # monotonic
        self._last_prerender: dt.date | None = None  # the gallery's date

    def check(self) -> ScheduleState:
        """Evaluate now; apply if the state changed (open/closed, volume or period)."""
        self._last_check = self.monotonic()
        state = self.hours.state_at(self.now())
        previous, self.state = self.state, state
        if previous is None or (state.open, state.volume, state.period) != (
            previous.open,
            previous.volume,
            previous.period,
        ):
            logger.info("schedule: %s%s%s", "open, " if state.open else "", state.period, self._until(state))
            self.apply(state)
        return state

    def check_until(self, wait: Callable[[float], bool]) -> None:
        """Check every ``check_seconds`` until ``wait(check_seconds)`` returns True. ``wait`` is a stop
        event's: it times out on the monotonic clock, so a step of the wall clock neither holds a check back
        nor hurries it (APScheduler's interval job waited for its next wall time, as long as a step back)."""
        while not wait(self.check_seconds):
            try:
                self.check()
            except Exception:  # the top of a background loop: the next check tries again
                logger.exception("schedule: the opening-hours check failed")

    def nightly_prerender(self) -> Any:
        """The nightly job: ``prerender`` once per day of the gallery's calendar. A ``prerender_at`` in the
        hour repeated when the clocks go back fires twice (APScheduler's cron trigger matches both passes);
        the second is skipped."""
        today = self.now().astimezone(self.hours.tz).date()
        if self._last_prerender == today:
            logger.info(
                "schedule: the nightly pre-render already ran today (%s); the clocks went back", today
            )
            return None
        self._last_prerender = today
        assert self.prerender is not None
        return self.prerender()

    def _until(self, state: ScheduleState) -> str:
        """``" until Tue 2026-12-01 10:00 (Europe/Rome)"``: the log's own time is the machine's clock (UTC on
        most servers), so the change is given on the gallery's, date included, and in an hour the clocks
        repeat with its abbreviation (``02:30 CET``)."""
        zone = self.hours.tz.key
        if state.until is None:
            # always open, or closed past the week :meth:`OpeningHours.state_at` looks ahead
            return "" if state.open else f", not opening in the next week ({zone})"
        local = state.until.astimezone(self.hours.tz)
        repeated = local.replace(fold=1 - local.fold).utcoffset() != local.utcoffset()
        return f" until {local:%a %Y-%m-%d %H:%M}{local.strftime(' %Z') if repeated else ''} ({zone})"

    def start(self) -> None:
        from apscheduler.schedulers.background import BackgroundScheduler
        from apscheduler.triggers.cron import CronTrigger

        self.check()
        self._stop.clear()
        self._checks = threading.Thread(
            target=self.check_until, args=(self._stop.wait,), name="opening-hours", daemon=True
        )
        self._checks.start()
        if self.prerender is None or self.prerender_at is None:
            return
        scheduler = BackgroundScheduler(
            timezone=self.hours.tz, job_defaults={"coalesce": True, "max_instances": 1}
        )
        scheduler.add_job(
            self.nightly_prerender,
            CronTrigger(hour=self.prerender_at.hour, minute=self.prerender_at.minute, timezone=self.hours.tz),
            id="nightly-prerender",
            misfire_grace_time=3600,
        )
        scheduler.start()
        self._scheduler = scheduler

    def jobs(self) -> list[dict[str, Any]]:
        """The scheduled jobs and when they next run (for status pages and tests)."""
        out = []
        if self._checks is not None and self._last_check is not None:
            due = self.check_seconds - (self.monotonic() - self._last_check)
            next_check = self.now().astimezone(self.hours.tz) + dt.timedelta(seconds=max(due, 0.0))
            out.append({"id": "opening-hours", "next_run": next_check.isoformat()})
        if self._scheduler is not None:
            out += [
                {"id": job.id, "next_run": job.next_run_time.isoformat() if job.next_run_time else None}
                for job in self._scheduler.get_jobs()
            ]
        return out

    def stop(self) -> None:
        self._stop.set()
        if self._checks is not None:
            self._checks.join(timeout=5.0)
            self._checks = None
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
