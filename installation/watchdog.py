"""systemd's readiness and watchdog protocol: the daemon says READY once it plays, and keeps saying
WATCHDOG=1 only while the room is alive, so a wedged daemon is killed and restarted by systemd.

The protocol (sd_notify(3)) is one datagram per message on the ``AF_UNIX`` socket named by
``NOTIFY_SOCKET`` (a path, or ``@name`` for the abstract namespace), with ``KEY=value`` lines. systemd
sets ``WATCHDOG_USEC`` (and ``WATCHDOG_PID``) when the unit has ``WatchdogSec=``; a service that sends no
``WATCHDOG=1`` for that long is killed with SIGABRT and restarted (``Restart=always``). Without
``NOTIFY_SOCKET`` (a terminal, the tests) every call does nothing.

:class:`Watchdog` decides *when* to feed it: the gallery's loop calls :meth:`Watchdog.beat` with the mix
clock (seconds of audio rendered) and the camera's frame count; the watchdog is fed at most every half
``WATCHDOG_USEC``, and only when the mix clock advanced since the last feed and a frame arrived (or the
camera is knowingly reconnecting: restarting the daemon does not bring an unplugged camera back, and the
room keeps playing meanwhile). A mixer or a camera thread that hangs stops the feeding.

A reload runs on the loop's own thread and can take minutes (a collection re-rendered, a photo added to a
large index): :meth:`Watchdog.reloading` tells systemd ``RELOADING=1`` and then ``READY=1`` around it, and
meanwhile a helper thread beats on the loop's behalf with the same checks, so a slow reload is not
killed and a mixer that hangs during one still is. After it, READY=1 carries the room's status line, so a
refused reload says so there (``systemctl status``), not "playing".

The unit's ``STATUS=`` line follows the room (:class:`RoomStatusLine`, sent by :meth:`Watchdog.show` only
when its text changes): open and what plays, closed until when, a lost camera or audio device, a refused
reload. During the start each progress line also carries ``EXTEND_TIMEOUT_USEC``
(:data:`START_PROGRESS_WITHIN_S`), so a first start that renders a large collection for an hour is not
killed by ``TimeoutStartSec=`` while it makes progress, and one that hangs still is.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from zoneinfo import ZoneInfo

logger = logging.getLogger(__name__)

#: during the start, each progress line (a step begun, a soundscape made, photos checked) gives systemd's
#: start timeout this long again (EXTEND_TIMEOUT_USEC): a model's soundscape takes minutes on a slow GPU,
#: a step that says nothing for longer is taken to hang, and systemd kills and restarts the daemon
START_PROGRESS_WITHIN_S = 20 * 60.0
#: the room's status line is looked at no more often than this (seconds of the loop's clock)
STATUS_EVERY_S = 1.0
#: the longest refused-reload problem quoted in the status line (characters)
STATUS_PROBLEM_CHARS = 120


class SystemdNotifier:
    """Sends sd_notify messages to systemd (or nowhere, without ``NOTIFY_SOCKET``).

    Until it has sent READY=1, each ``STATUS=`` also sends ``EXTEND_TIMEOUT_USEC`` of
    ``extend_start_s``: the start's progress lines keep systemd's start timeout from killing a long first
    start (module docstring).

    Args:
        environ: where to read ``NOTIFY_SOCKET``, ``WATCHDOG_USEC``, ``WATCHDOG_PID`` (default ``os.environ``).
        extend_start_s: seconds of start timeout each progress line grants (None: none).
    """

    def __init__(
        self,
        environ: Mapping[str, str] | None = None,
        *,
        extend_start_s: float | None = START_PROGRESS_WITHIN_S,
    ):
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        if address.startswith("@"):  # the abstract namespace
            address = "\0" + address[1:]
        self.address = address or None
        self.watchdog_interval_s: float | None = None
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        if usec.isdigit() and int(usec) > 0 and (not pid or pid == str(os.getpid())):
            self.watchdog_interval_s = int(usec) / 1e6
        self._socket: socket.socket | None = None
        self._failed = False
        self.extend_start_s = extend_start_s
        self.readied = False  # READY=1 sent: the start is over

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, **fields: str | int) -> bool:
        """Send ``KEY=value`` lines (``send(READY=1, STATUS="playing")``); False when not sent."""
        if self.address is None:
            return False
        message = "\n".join(f"{key}={value}" for key, value in fields.items()).encode()
        try:
            if self._socket is None:
                self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._socket.sendto(message, self.address)
        except OSError as exc:
            if not self._failed:  # once: a missing socket must not fill the journal
                logger.warning("cannot notify systemd at %s: %s", self.address.lstrip("\0"), exc)
                self._failed = True
            return False
        self._failed = False
        return True

    def ready(self, status: str = "") -> bool:
        self.readied = True
        return self.send(READY=1, **({"STATUS": status} if status else {}))

    def status(self, text: str) -> bool:
        """``STATUS=text``; before READY=1 (the start's progress) with ``EXTEND_TIMEOUT_USEC`` too."""
        if self.readied or self.extend_start_s is None:
            return self.send(STATUS=text)
        return self.send(STATUS=text, EXTEND_TIMEOUT_USEC=int(self.extend_start_s * 1e6))

    @contextlib.contextmanager
    def progress_as_status(self) -> Iterator[None]:
        """While in the block, each progress line of long work (the reference photo checks, the index
        build: :data:`~art2mus.installation.logs.PROGRESS_LOGGER`) is also sent as ``STATUS=``, so
        ``systemctl status`` counts a long start's photos. Does nothing without ``NOTIFY_SOCKET``."""
        if not self.enabled:
            yield
            return
        from art2mus.installation.logs import PROGRESS_LOGGER

        notifier = self

        class _Forward(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                notifier.status(record.getMessage())

        handler = _Forward(logging.INFO)
        progress = logging.getLogger(PROGRESS_LOGGER)
        level = progress.level
        if progress.getEffectiveLevel() > logging.INFO:
            progress.setLevel(logging.INFO)  # as configure_logging sets it at every verbosity
        progress.addHandler(handler)
        try:
            yield
        finally:
            progress.removeHandler(handler)
            progress.setLevel(level)

    def stopping(self, status: str = "stopping") -> bool:
        return self.send(STOPPING=1, STATUS=status)

    def reloading(self, status: str = "reloading") -> bool:
        """RELOADING=1 (systemd shows the unit as reloading until the next READY=1), stamped with
        ``MONOTONIC_USEC`` as sd_notify(3) asks."""
        return self.send(
            RELOADING=1, MONOTONIC_USEC=time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000, STATUS=status
        )

    def watchdog(self) -> bool:
        return self.send(WATCHDOG=1)

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


class Watchdog:
    """Feeds systemd's watchdog while the mix clock advances and camera frames arrive (module docstring).

    Args:
        notifier: where the messages go.
        clock: monotonic seconds (how often to feed).
        interval_s: feed at most this often (default: half of ``WATCHDOG_USEC``; None: never feed).
        describe: ``() -> the room's status line`` (a :class:`RoomStatusLine`) for READY=1 and :meth:`show`;
            None: "playing".
    """

    def __init__(
        self,
        notifier: SystemdNotifier,
        *,
        clock: Callable[[], float] = time.monotonic,
        interval_s: float | None = None,
        describe: Callable[[], str] | None = None,
    ):
        self.notifier = notifier
        self.clock = clock
        self.describe = describe
        self._describe_failed = False
        if interval_s is None and notifier.watchdog_interval_s is not None:
            interval_s = notifier.watchdog_interval_s / 2
        self.interval_s = interval_s
        self.fed = 0
        self.withheld: str | None = None  # why the last due feed was not sent
        self._last_feed = -float("inf")
        self._mix_s: float | None = None
        self._frames: int | None = None
        self.status_text: str | None = None  # the STATUS= line sent last
        self._status_at = -float("inf")

    @classmethod
    def from_environment(
        cls,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
        describe: Callable[[], str] | None = None,
    ) -> Watchdog:
        return cls(SystemdNotifier(environ), clock=clock, describe=describe)

    def ready(self, status: str | None = None) -> None:
        """The room plays: READY=1 (systemd's start job finishes here with ``Type=notify``), with ``status``
        (default: the room's line, or "playing")."""
        text = status if status is not None else self._describe() or "playing"
        self.status_text = text
        self.notifier.ready(text)

    def show(self) -> bool:
        """The loop's call: ``STATUS=`` the room's line when its text differs from the line sent last.
        Looked at no more often than :data:`STATUS_EVERY_S`, and never without ``NOTIFY_SOCKET`` or
        ``describe``. True when sent."""
        if not self.notifier.enabled or self.describe is None:
            return False
        now = self.clock()
        if now - self._status_at < STATUS_EVERY_S:
            return False
        self._status_at = now
        text = self._describe()
        if text is None or text == self.status_text:
            return False
        self.status_text = text
        return self.notifier.status(text)

    def _describe(self) -> str | None:
        """``describe()``; None without one or when it fails (logged once: the room plays on regardless)."""
        if self.describe is None:
            return None
        try:
            text = self.describe()
        except Exception:  # noqa: BLE001 - a status line must not stop the loop or keep READY=1 back
            if not self._describe_failed:
                logger.exception("describing the room for systemd's status line failed")
                self._describe_failed = True
            return None
        self._describe_failed = False
        return text

    def stopping(self) -> None:
        self.notifier.stopping()

    @contextlib.contextmanager
    def reloading(
        self,
        vital_signs: Callable[[], tuple[float, int, bool]],
        *,
        max_s: float | None = None,
        poll_s: float | None = None,
    ) -> Iterator[None]:
        """Around a reload on the thread that calls :meth:`beat`: RELOADING=1 before, READY=1 after, and
        meanwhile a helper thread beats on that thread's behalf.

        Args:
            vital_signs: ``() -> (mix_s, frames, camera_reconnecting)``, :meth:`beat`'s arguments, read
                only when a feed is due. A mix clock that stops (or a camera thread that hangs) stops the
                feeding, as in the loop, and systemd kills the daemon.
            max_s: stop feeding once the block has run this many seconds (a reload that never ends leaves
                the room deaf to its camera; a restart is better). None: no limit.
            poll_s: how often the helper looks whether a feed is due (default: a tenth of the interval, at
                most 1 s).

        READY=1 after it carries the room's status line (``describe``), which says a refused reload: a bare
        "playing" after one left ``systemctl status`` looking as if it had been applied.
        """
        ready_again = self.ready
        self.notifier.reloading()
        if self.interval_s is None:  # no watchdog to feed
            try:
                yield
            finally:
                ready_again()
            return
        done = threading.Event()
        poll = poll_s if poll_s is not None else min(1.0, self.interval_s / 10)
        started = self.clock()

        def feed() -> None:
            gave_up = False
            while not done.wait(poll):
                try:
                    if not self.due() or gave_up:
                        continue
                    if max_s is not None and self.clock() - started > max_s:
                        logger.warning(
                            "not feeding the systemd watchdog: the reload has run %.0f s (more than %.0f s)",
                            self.clock() - started,
                            max_s,
                        )
                        gave_up = True
                        continue
                    self.beat(*vital_signs())
                except Exception:  # noqa: BLE001 - top of a thread: no feed this time, the reload goes on
                    logger.exception("feeding the systemd watchdog during a reload failed")

        helper = threading.Thread(target=feed, name="watchdog-reload", daemon=True)
        helper.start()
        try:
            yield
        finally:
            done.set()
            helper.join()
            ready_again()

    def due(self) -> bool:
        """Whether :meth:`beat` would consider feeding now (lets a caller skip gathering its figures)."""
        return self.interval_s is not None and self.clock() - self._last_feed >= self.interval_s

    def beat(self, mix_s: float, frames: int, camera_reconnecting: bool = False) -> bool:
        """Called from the gallery's loop: feed the watchdog if it is due and the room is alive.

        Args:
            mix_s: the mix clock (seconds of audio rendered so far).
            frames: camera frames received so far.
            camera_reconnecting: the camera is down and its grabber is reopening it.
        Returns True when WATCHDOG=1 was sent.
        """
        if not self.due():
            return False
        if self._mix_s is not None and mix_s <= self._mix_s:
            reason = f"the mix clock stands at {mix_s:.2f} s"
        elif self._frames is not None and frames <= self._frames and not camera_reconnecting:
            reason = f"no camera frame since frame {frames}"
        else:
            reason = None
        self._mix_s, self._frames = mix_s, frames
        if reason is not None:
            if reason != self.withheld:
                logger.warning("not feeding the systemd watchdog: %s", reason)
            self.withheld = reason
            return False
        self.withheld = None
        self._last_feed = self.clock()
        self.fed += 1
        return self.notifier.watchdog()


class RoomStatusLine:
    """The room's state in one line, for the unit's ``STATUS=`` (``systemctl status``): what a technician
    asks first. Built from what the gallery holds anyway (the director's choice, the opening hours' state,
    the camera grabber's health, the audio engine's state, the last reload), cheaply enough for
    :meth:`Watchdog.show` to ask once a second. A fault comes first, a refused reload last:

    * ``open: playing Amber Fields``, ``open: idle ambience``, ``closed until 08:00`` (``Mon 08:00``
      beyond today), ``open: playing Amber Fields (chosen on the control panel)``;
    * ``camera lost since 14:02:11 (reopening), open: idle ambience``, ``audio device lost, reopening, ...``;
    * ``camera picture frozen since 14:02:11 (reopening), ...`` (a stuck driver's identical frames),
      ``camera picture black since 14:02:11, ...`` (covered, lights off; said only while open);
    * ``open: idle ambience; running the previous configuration: reload refused, 1 problem in exhibit.yaml
      line 4: artworks[0].soundscape.duration: ...`` until a reload is applied.

    Its text changes only when the room does (a lost camera says since when, not for how long).

    Args:
        gallery: the running :class:`~art2mus.installation.gallery.Gallery` (read, never changed).
        wall_clock: now, an aware datetime (the gallery's).
    """

    def __init__(self, gallery: Any, wall_clock: Callable[[], dt.datetime] | None = None):
        from art2mus.installation.director import CLOSED_KEY
        from art2mus.installation.soundscapes import IDLE_KEY

        self.gallery = gallery
        self.wall_clock = wall_clock or (lambda: dt.datetime.now(dt.timezone.utc))
        self._idle, self._silence = IDLE_KEY, CLOSED_KEY
        self._camera_lost_at: str | None = None
        self._picture_since: tuple[str, str] | None = None  # (frozen or black, since when)

    def __call__(self) -> str:
        gallery = self.gallery
        now = self.wall_clock().astimezone(ZoneInfo(gallery.exhibit.collection.timezone))
        faults = [f for f in (self._camera(now), self._audio()) if f]
        line = ", ".join([*faults, self._room(now)])
        reload = _refused_reload(gallery.last_reload)
        return f"{line}; {reload}" if reload else line

    def _room(self, now: dt.datetime) -> str:
        director, schedule = self.gallery.director, self.gallery.schedule
        if director is None:
            return "starting"
        if director.closed:
            state = schedule.state if schedule is not None else None
            until = state.until if state is not None else None
            if until is None:
                return "closed"
            day = "" if until.date() == now.date() else f"{until:%a} "
            return f"closed until {day}{until:%H:%M}"
        override = director.override
        what = override or director.playing
        if what is None or what == self._silence:
            sounds = "silent"
        elif what == self._idle:
            sounds = "idle ambience"
        else:
            sounds = f"playing {self._title(what)}"
        return f"open: {sounds}" + (" (chosen on the control panel)" if override else "")

    def _title(self, what: str) -> str:
        artwork = next((a for a in self.gallery.exhibit.artworks if a.id == what), None)
        if artwork is not None:
            return artwork.display_title
        return self.gallery.unseen_titles([what]).get(what, what)  # an unseen artwork, as the panel names it

    def _camera(self, now: dt.datetime) -> str | None:
        grabber = self.gallery.grabber
        if grabber is None:
            return None
        health = grabber.health()
        picture = self._picture(health, now)
        if picture is not None:
            return picture
        if health.state == "streaming":
            self._camera_lost_at = None
            return None
        if health.state != "reconnecting":
            return "camera: the video has ended" if health.state == "ended" else f"camera {health.state}"
        if self._camera_lost_at is None:  # since its last frame, said the same way until it is back
            lost = now - dt.timedelta(seconds=health.last_frame_age_s or 0.0)
            self._camera_lost_at = f"{lost:%H:%M:%S}"
        return f"camera lost since {self._camera_lost_at} (reopening)"

    def _picture(self, health: Any, now: dt.datetime) -> str | None:
        """``camera picture frozen since 14:02:11 (reopening)`` (a stuck driver's identical frames), ``camera
        picture black since 14:02:11`` while open (closed, a dark room is normal), or None."""
        director, picture = self.gallery.director, getattr(health, "picture", "ok")
        frozen = picture == "frozen"
        if not frozen and not (picture == "black" and director is not None and not director.closed):
            self._picture_since = None
            return None
        if self._picture_since is None or self._picture_since[0] != picture:
            since = now - dt.timedelta(seconds=health.picture_s or 0.0)
            self._picture_since = (picture, f"{since:%H:%M:%S}")
        return f"camera picture {picture} since {self._picture_since[1]}" + (
            " (reopening)" if frozen else ""
        )

    def _audio(self) -> str | None:
        engine = self.gallery.engine
        state = engine.state if engine is not None else None
        return {"lost": "audio device lost, reopening", "opening": "audio device opening"}.get(state or "")


#: a problem as validate words it: ``path:line:col field: message``
_PROBLEM_AT = re.compile(r"^(?P<file>.+?):(?P<line>\d+):\d+ (?P<what>.*)$", re.S)


def _refused_reload(outcome: Mapping[str, Any] | None) -> str | None:
    """The status line's words for the last reload when it was not applied (None when it was, or none ran):
    its first problem with the file's name and line, shortened to :data:`STATUS_PROBLEM_CHARS`."""
    if not outcome or outcome.get("ok", True):
        return None
    problems = list(outcome.get("problems") or ["no reason given"])
    count = f"{len(problems)} problem{'' if len(problems) == 1 else 's'}"
    first = problems[0].splitlines()[0] if problems[0] else ""
    at = _PROBLEM_AT.match(first)
    if at is None:  # not the file's: the reload failed while preparing it (an error, a full disk)
        said = f"reload failed: {first}"
    else:
        where = f"{os.path.basename(at['file'])} line {at['line']}"
        where = where if len(problems) == 1 else where.replace(" line ", ", the first at line ")
        said = f"reload refused, {count} in {where}: {at['what']}"
    if len(said) > STATUS_PROBLEM_CHARS:
        said = said[: STATUS_PROBLEM_CHARS - 1].rstrip() + "…"
    return f"running the previous configuration: {said}"
