"""Opening hours: when the room sounds, at what volume, and the nightly pre-render.

:class:`OpeningHours` answers "open or closed, at what volume, until when?" for any moment, in the
collection's timezone (so daylight-saving changes are the tz database's business, not ours): a moment is
open when it falls in one of ``schedule.periods`` on one of its weekdays and is not one of
``schedule.closed_dates``; no periods means always open.

:class:`ScheduleKeeper` applies it to a running gallery with APScheduler (one ``BackgroundScheduler`` in
the daemon): a check every ``check_seconds`` (so a clock change, a suspend or a late start all catch up
at once, rather than depending on one trigger firing at the right second) and a daily cron job at
``schedule.prerender_at`` that retries the soundscapes still on their bridge.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

logger = logging.getLogger(__name__)

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class ScheduleState:
    """The room's state at a moment.

    Attributes:
        open: whether the installation should sound.
        volume: the period's master volume (0..1); 0 when closed.
        period: the period in words (``"mon-fri 10:00-18:00"``), ``"always"``, or why it is closed.
        until: when this state ends (timezone-aware), or None if never (always open).
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
    return f"{days} {period.open:%H:%M}-{period.close:%H:%M}"


class OpeningHours:
    """The exhibit's ``schedule`` section, evaluated in ``timezone``."""

    def __init__(self, schedule: Any, timezone: str = "UTC"):
        self.schedule = schedule
        self.tz = ZoneInfo(timezone)

    @classmethod
    def from_exhibit(cls, exhibit: Any) -> OpeningHours:
        return cls(exhibit.schedule, exhibit.collection.timezone)

    def _period_at(self, local: dt.datetime) -> Any | None:
        """The period ``local`` falls in (:data:`_ALWAYS` when there are no periods), or None when closed."""
        if local.date() in self.schedule.closed_dates:
            return None
        if not self.schedule.periods:
            return _ALWAYS
        day = WEEKDAYS[local.weekday()]
        t = local.time().replace(tzinfo=None)
        for period in self.schedule.periods:
            if day in period.days and period.open <= t < period.close:
                return period
        return None

    def _boundaries(self, local: dt.datetime) -> list[dt.datetime]:
        """Every opening and closing instant from ``local``'s day to a week later (local, aware)."""
        out = []
        for offset in range(9):
            day = (local + dt.timedelta(days=offset)).date()
            for period in self.schedule.periods:
                for t in (period.open, period.close):
                    out.append(dt.datetime.combine(day, t, tzinfo=self.tz))
            out.append(
                dt.datetime.combine(day, dt.time(0, 0), tzinfo=self.tz)
            )  # closed dates start at midnight
        return sorted(set(out))

    def state_at(self, when: dt.datetime) -> ScheduleState:
        """The state at ``when`` (an aware datetime; a naive one is taken as UTC)."""
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.timezone.utc)
        local = when.astimezone(self.tz)
        period = self._period_at(local)
        until = None
        for boundary in self._boundaries(local):
            if boundary > local and self._period_at(boundary) is not period:
                until = boundary
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
        check_seconds: how often the state is re-evaluated.
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
    ):
        self.hours = hours
        self.apply = apply
        self.prerender = prerender
        self.prerender_at = prerender_at
        self.now = now
        self.check_seconds = check_seconds
        self.state: ScheduleState | None = None
        self._scheduler: Any = None

    def check(self) -> ScheduleState:
        """Evaluate now; apply if the state changed (open/closed, volume or period)."""
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

    def _until(self, state: ScheduleState) -> str:
        """``" until Tue 2026-12-01 10:00 (Europe/Rome)"``: the log's own time is the machine's clock (UTC on
        most servers), so the change is given on the gallery's, date included."""
        zone = self.hours.tz.key
        if state.until is None:
            # always open, or closed past the week :meth:`OpeningHours.state_at` looks ahead
            return "" if state.open else f", not opening in the next week ({zone})"
        return f" until {state.until.astimezone(self.hours.tz):%a %Y-%m-%d %H:%M} ({zone})"

    def start(self) -> None:
        from apscheduler.schedulers.background import BackgroundScheduler
        from apscheduler.triggers.cron import CronTrigger
        from apscheduler.triggers.interval import IntervalTrigger

        self.check()
        scheduler = BackgroundScheduler(
            timezone=self.hours.tz, job_defaults={"coalesce": True, "max_instances": 1}
        )
        scheduler.add_job(self.check, IntervalTrigger(seconds=self.check_seconds), id="opening-hours")
        if self.prerender is not None and self.prerender_at is not None:
            scheduler.add_job(
                self.prerender,
                CronTrigger(
                    hour=self.prerender_at.hour, minute=self.prerender_at.minute, timezone=self.hours.tz
                ),
                id="nightly-prerender",
                misfire_grace_time=3600,
            )
        scheduler.start()
        self._scheduler = scheduler

    def jobs(self) -> list[dict[str, Any]]:
        """The scheduled jobs and when they next run (for status pages and tests)."""
        if self._scheduler is None:
            return []
        return [
            {"id": job.id, "next_run": job.next_run_time.isoformat() if job.next_run_time else None}
            for job in self._scheduler.get_jobs()
        ]

    def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
