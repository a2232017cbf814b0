"""The frame grabber: a thread that keeps only the newest camera frame, reconnects, and never hangs.

OpenCV's ``VideoCapture.open``/``read`` can block for a long time (a dead RTSP server, a USB camera that
was unplugged mid-read). So every stream is opened and read in its own *reader* thread, and a
*supervisor* thread watches it: a reader that makes no progress for ``open_timeout_s`` (opening) or
``read_timeout_s`` (reading) is abandoned, and a fresh stream is opened after a backoff that doubles up
to ``backoff_max_s``. An abandoned reader closes its stream and exits if its call ever returns; until
then it is counted in :attr:`GrabberHealth.stuck_readers`.

A reader must not be inside OpenCV when the interpreter exits: Python ends daemon threads by unwinding
them, and OpenCV's C++ ``catch (...)`` blocks turn that into ``terminate called without an active
exception`` or ``FATAL: exception not rethrown`` (exit 134, a core dump at every stop). So
:meth:`FrameGrabber.stop` asks its readers to finish and waits for them (OpenCV's FFmpeg backend returns
within its read timeout on a network stream), and an ``atexit`` hook does the same for any reader still
running on whatever path leads to exit.

An outage can last a whole closure (a camera unplugged over a weekend). Each reconnect is a warning only
at the outage's attempts 1, 2, 5, 10, 20, 50, ... and at least once an hour (:func:`reconnect_said`), and
the camera's return is a warning too, so the journal (WARNING and up) tells both ends of an outage in a
few lines: it was 120 lines an hour at the 30 s backoff, and never said that the camera came back.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from art2mus.installation.vision.sources import (
    CameraError,
    CameraSource,
    EndOfStream,
    Frame,
    FrameStream,
    camera_named,
)

logger = logging.getLogger(__name__)

#: an outage's reconnects are logged again at least this often (seconds), whatever their count
RECONNECT_SAID_EVERY_S = 3600.0


def reconnect_said(attempt: int, since_said_s: float) -> bool:
    """Whether an outage's ``attempt``-th reconnect (1, 2, ...) is logged: at 1, 2, 5, 10, 20, 50, ... and
    whenever ``since_said_s`` seconds since the last line said reach :data:`RECONNECT_SAID_EVERY_S`."""
    if since_said_s >= RECONNECT_SAID_EVERY_S:
        return True
    while attempt % 10 == 0:
        attempt //= 10
    return attempt in (1, 2, 5)


#: reader threads still running, of every grabber (joined at exit, see the module docstring)
_LIVE_READERS: weakref.WeakSet[_Reader] = weakref.WeakSet()


def _join_readers(readers: list[_Reader], timeout: float) -> list[_Reader]:
    """Tell ``readers`` to stop and wait up to ``timeout`` seconds in all; returns those still running."""
    for reader in readers:
        reader.abandoned.set()
    deadline = time.monotonic() + timeout
    for reader in readers:
        reader.done.wait(max(0.0, deadline - time.monotonic()))
    return [r for r in readers if not r.done.is_set()]


@atexit.register
def _join_readers_at_exit() -> None:
    left = _join_readers(list(_LIVE_READERS), timeout=15.0)
    if left:
        logger.error(
            "%d camera reader(s) still inside OpenCV at exit (%s)",
            len(left),
            ", ".join(r.source.name for r in left),
        )


@dataclass(frozen=True)
class GrabberHealth:
    """What the control panel shows about a camera.

    Attributes:
        source: the camera's description.
        state: ``starting``, ``connecting``, ``streaming``, ``reconnecting``, ``ended`` (a video file
            that does not loop) or ``stopped``.
        fps: frames per second over the last few seconds (0 when none).
        last_frame_age_s: seconds since the newest frame arrived (None before the first).
        frames: frames received since start.
        reconnects: streams that failed or stalled and were reopened.
        stuck_readers: abandoned reader threads still blocked inside OpenCV.
        last_error: the most recent failure, or None. It stays after the camera is back (``state``
            ``streaming``): what went wrong last is still worth knowing, and ``last_error_age_s`` says
            how long ago it was.
        last_error_age_s: seconds since ``last_error`` happened (None without one).
    """

    source: str
    state: str
    fps: float
    last_frame_age_s: float | None
    frames: int
    reconnects: int
    stuck_readers: int
    last_error: str | None
    last_error_age_s: float | None = None


@dataclass(frozen=True)
class _Outage:
    """A camera without frames: since when (clock seconds), the reconnects counted before it began, and
    whether frames had come before (a camera that never streamed is not "back")."""

    since: float
    reconnects_before: int
    had_frames: bool


class _Reader:
    """One stream's reader thread: opens the source, then reads frames until told to stop."""

    def __init__(
        self,
        source: CameraSource,
        publish: Callable[[Frame], None],
        clock: Callable[[], float],
        on_done: Callable[[], None] = lambda: None,
    ):
        self.source = source
        self.publish = publish
        self.clock = clock
        self.on_done = on_done
        self.phase = "opening"
        self.progress_t = clock()
        self.frames = 0
        self.error: BaseException | None = None
        self.done = threading.Event()
        self.abandoned = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"camera-reader:{source.name}", daemon=True)
        _LIVE_READERS.add(self)

    def _run(self) -> None:
        stream: FrameStream | None = None
        try:
            stream = self.source.open()
            self.phase = "reading"
            self.progress_t = self.clock()
            while not self.abandoned.is_set():
                frame = stream.read()
                if self.abandoned.is_set():
                    break
                self.frames += 1
                self.progress_t = self.clock()
                self.publish(frame)
        except CameraError as exc:
            self.error = exc
        except Exception as exc:  # top of a background thread: keep the traceback, let the supervisor decide
            logger.exception("camera reader for %s crashed", self.source.name)
            self.error = exc
        finally:
            if stream is not None:
                try:
                    stream.close()
                except Exception:  # closing a broken capture must not mask the original error
                    logger.debug("closing %s failed", self.source.name, exc_info=True)
            self.done.set()
            self.on_done()
            _LIVE_READERS.discard(self)


class FrameGrabber:
    """Keeps the newest frame of a camera source, reconnecting with backoff.

    Args:
        source: the camera.
        clock: monotonic seconds for health and timeouts.
        open_timeout_s: longest time a stream may take to open.
        read_timeout_s: longest time without a frame before the stream counts as stalled.
        backoff_initial_s, backoff_max_s: wait before reopening; doubles after each failure, resets once a
            stream has delivered frames for ``healthy_after_s``.
        poll_s: longest time the supervisor sleeps between two looks at its reader (a reader that ends
            wakes it at once, and it wakes when the reader would time out).
        pause: how the supervisor waits out a backoff: ``pause(stop, seconds)``, True when ``stop`` was set
            meanwhile (default ``stop.wait(seconds)``; a test's scripted clock advances there instead).
    """

    def __init__(
        self,
        source: CameraSource,
        *,
        clock: Callable[[], float] = time.monotonic,
        open_timeout_s: float = 15.0,
        read_timeout_s: float = 5.0,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 30.0,
        healthy_after_s: float = 10.0,
        poll_s: float = 1.0,
        pause: Callable[[threading.Event, float], bool] = lambda stop, seconds: stop.wait(seconds),
    ):
        if read_timeout_s <= 0 or open_timeout_s <= 0:
            raise ValueError(
                f"timeouts must be > 0 seconds, got open={open_timeout_s}, read={read_timeout_s}"
            )
        if not 0 < backoff_initial_s <= backoff_max_s:
            raise ValueError(
                f"need 0 < backoff_initial_s <= backoff_max_s, got {backoff_initial_s}, {backoff_max_s}"
            )
        self.source = source
        self.clock = clock
        self.open_timeout_s = open_timeout_s
        self.read_timeout_s = read_timeout_s
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.healthy_after_s = healthy_after_s
        self.poll_s = poll_s
        self.pause = pause
        self._stop = threading.Event()
        self._wakeup = threading.Event()  # the supervisor's: set by stop and by a reader that ends
        self._cond = threading.Condition()
        self._latest: Frame | None = None
        self._latest_arrival: float | None = None
        self._arrivals: deque[float] = deque(maxlen=30)
        self._frames = 0
        self._reconnects = 0
        self._state = "starting"
        self._last_error: str | None = None
        self._last_error_t: float | None = None
        self._started_t = 0.0  # clock seconds at start()
        self._outage: _Outage | None = None
        self._reconnect_said_t = -float("inf")  # clock seconds of the last reconnect line
        self._stuck: list[_Reader] = []
        self._reader: _Reader | None = None
        self._thread: threading.Thread | None = None

    @classmethod
    def from_config(
        cls, source: CameraSource, reconnect_max_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> FrameGrabber:
        return cls(source, clock=clock, backoff_max_s=reconnect_max_seconds)

    # ----------------------------------------------------------------------------------- control

    def start(self) -> FrameGrabber:
        if self._thread is not None:
            raise RuntimeError("grabber already started")
        self._started_t = self.clock()
        self._thread = threading.Thread(
            target=self._supervise, name=f"camera:{self.source.name}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop grabbing and wait up to ``timeout`` seconds for the supervisor and the readers (each out
        of OpenCV); returns True when all ended in time."""
        self._stop.set()
        self._wakeup.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is None:
            return True
        deadline = time.monotonic() + timeout
        self._thread.join(timeout)
        with self._cond:
            readers = [r for r in [self._reader, *self._stuck] if r is not None]
        left = _join_readers(readers, max(0.0, deadline - time.monotonic()))
        if left:
            logger.warning(
                "%s: a reader is still inside OpenCV %.0f s after stop; it is left to the exit hook",
                self.source.name,
                timeout,
            )
        return not self._thread.is_alive() and not left

    def __enter__(self) -> FrameGrabber:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -------------------------------------------------------------------------------------- read

    def latest(self) -> Frame | None:
        """The newest frame (or None before the first)."""
        with self._cond:
            return self._latest

    def wait_for_frame(self, after_index: int | None = None, timeout: float = 1.0) -> Frame | None:
        """Block up to ``timeout`` seconds for a frame newer than ``after_index``; None on timeout/stop."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._stop.is_set():
                f = self._latest
                if f is not None and (after_index is None or f.index != after_index):
                    return f
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)
        return None

    def health(self) -> GrabberHealth:
        now = self.clock()
        with self._cond:
            arrivals = list(self._arrivals)
            fps = 0.0
            if len(arrivals) >= 2 and now - arrivals[-1] < max(2.0, self.read_timeout_s):
                span = arrivals[-1] - arrivals[0]
                fps = (len(arrivals) - 1) / span if span > 0 else 0.0
            age = None if self._latest_arrival is None else max(0.0, now - self._latest_arrival)
            self._stuck = [r for r in self._stuck if not r.done.is_set()]
            return GrabberHealth(
                self.source.name,
                self._state,
                round(fps, 2),
                age,
                self._frames,
                self._reconnects,
                len(self._stuck),
                self._last_error,
                None if self._last_error_t is None else max(0.0, now - self._last_error_t),
            )

    # -------------------------------------------------------------------------------- supervisor

    def _publish(self, frame: Frame) -> None:
        now = self.clock()
        with self._cond:
            self._latest = frame
            self._latest_arrival = now
            self._arrivals.append(now)
            self._frames += 1
            if self._state != "streaming":
                self._state = "streaming"
            outage, self._outage = self._outage, None
            attempts = self._reconnects - outage.reconnects_before if outage is not None else 0
            self._cond.notify_all()
        if outage is not None:
            # the reconnects were warnings: the end of the outage is one too (the journal shows WARNING and
            # up), or the log reads as if the camera were still down
            logger.warning(
                "%s %s after %.1f s (%d attempt%s)",
                camera_named(self.source.name),
                "back" if outage.had_frames else "streaming",
                now - outage.since,
                attempts,
                "" if attempts == 1 else "s",
            )

    def _set(self, state: str, error: str | None = None) -> None:
        with self._cond:
            self._state = state
            if error is not None:
                self._last_error = error
                self._last_error_t = self.clock()
            self._cond.notify_all()

    def _supervise(self) -> None:
        backoff = self.backoff_initial_s
        while not self._stop.is_set():
            self._set("connecting" if self._frames == 0 and self._reconnects == 0 else "reconnecting")
            reader = self._reader = _Reader(self.source, self._publish, self.clock, self._wakeup.set)
            started = self.clock()
            reader.thread.start()
            failure = self._watch(reader)
            if self._stop.is_set():
                reader.abandoned.set()
                if not reader.done.is_set():
                    with self._cond:
                        self._stuck.append(reader)
                break
            if isinstance(reader.error, EndOfStream):
                logger.info("%s ended", self.source.name)
                self._set("ended", str(reader.error))
                return
            if reader.frames and self.clock() - started >= self.healthy_after_s:
                backoff = self.backoff_initial_s
            with self._cond:
                if self._outage is None:  # since the last frame, or since the start when none came
                    since = self._latest_arrival if self._latest_arrival is not None else self._started_t
                    self._outage = _Outage(since, self._reconnects, self._frames > 0)
                self._reconnects += 1
                outage, reconnects = self._outage, self._reconnects
            self._set("reconnecting", failure)
            self._say_reconnect(failure, backoff, reconnects, outage)
            if self.pause(self._stop, backoff):
                break
            backoff = min(self.backoff_max_s, backoff * 2)
        self._set("stopped")

    def _say_reconnect(self, failure: str | None, backoff: float, reconnects: int, outage: _Outage) -> None:
        """The reconnect warning, at the attempts :func:`reconnect_said` picks (a long outage wrote 120
        lines an hour); a later one says how long the camera has been down."""
        now = self.clock()
        attempt = reconnects - outage.reconnects_before
        if not reconnect_said(attempt, now - self._reconnect_said_t):
            return
        self._reconnect_said_t = now
        logger.warning(
            "%s: %s; reopening in %.1f s (reconnect %d%s)",
            self.source.name,
            # a source's errors already name it ("camera #0: no frame"): not twice in one line
            (failure or "").removeprefix(f"{self.source.name}: "),
            backoff,
            reconnects,
            ""
            if attempt <= 2
            else f", attempt {attempt} of this outage, down {now - outage.since:.0f} s; logged at attempts 1, "
            "2, 5, 10, 20, 50, ... and hourly",
        )

    def _watch(self, reader: _Reader) -> str | None:
        """Wait until the reader fails, stalls or the grabber stops; returns why the stream ended.

        A wake-up of a thread costs a small machine as much as the check itself, so the supervisor
        sleeps until the reader ends (it sets :attr:`_wakeup`), until the reader would time out if no
        progress came meanwhile, or at most ``poll_s``."""
        while not self._stop.is_set():
            if reader.done.is_set():
                return str(reader.error) if reader.error else "stream ended"
            limit = self.open_timeout_s if reader.phase == "opening" else self.read_timeout_s
            stalled = self.clock() - reader.progress_t
            if stalled > limit:
                reader.abandoned.set()
                with self._cond:
                    self._stuck.append(reader)
                what = "opening" if reader.phase == "opening" else "no frame"
                return f"{what} for {stalled:.1f} s (> {limit:.1f} s timeout): stream abandoned"
            self._wakeup.wait(min(self.poll_s, limit - stalled + 0.01))
            self._wakeup.clear()
        return None
