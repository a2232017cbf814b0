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

Frames that arrive are not always a picture. A stuck driver sends one frame again and again, bit for bit
(a real sensor never does: its noise changes every frame), and the room played the artwork in it all day
with the camera "streaming"; a covered lens or a room with its lights off sends black. Each frame's
:func:`picture_signature` (a CRC of a few thousand sampled pixels and their mean: about 0.05 ms a frame)
tells both. Identical frames for :data:`FROZEN_AFTER_S` (black ones aside: a capped lens can read 0 bit
for bit) are held back from the room, which then sees nothing, as with a lost camera, and the camera is
reopened as a lost one is (its reconnects, its backoff) until its picture moves again; a picture
darker than :data:`BLACK_BELOW` for :data:`BLACK_AFTER_S` is said in :class:`GrabberHealth` (``picture``)
and nothing else: the room goes idle by itself, and whether it needs a technician depends on the opening
hours (lights off at night are normal), which the panel knows.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
import weakref
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

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


#: seconds of bit-identical frames before the picture counts as frozen and the camera is reopened. A
#: sensor's noise changes every frame, but a compressed network stream can repeat a still room's decoded
#: picture bit for bit between its key frames (every 1-10 s, "smart" codecs included): 30 s is three times
#: the longest of those, and the room plays a stuck picture's artwork at most 30 s longer (then the idle
#: ambience idle.after_seconds later, as for a lost camera). 60 s let the sweep's stuck picture through: its
#: video of 60 s looped, and the restart's frame differed
FROZEN_AFTER_S = 30.0
#: seconds of a picture darker than :data:`BLACK_BELOW` before it counts as black: longer than a visitor
#: in front of the lens or lights that flicker; the room goes idle by itself, so nothing is urgent
BLACK_AFTER_S = 30.0
#: mean brightness (0-255) below which a picture is black: a capped or covered lens reads 0-5 even at full
#: gain, a room lit for visitors 60 and more, a dim corner 25 and more
BLACK_BELOW = 10.0
#: frames in a row, each unlike the one before and the stuck one, that end a frozen picture
MOVING_FRAMES = 5
#: pixels :func:`picture_signature` samples, about (a grid over the whole picture)
SIGNATURE_PIXELS = 4096


def picture_signature(image: np.ndarray) -> tuple[int, float]:
    """``(crc32, mean brightness 0-255)`` of an ``(height, width[, channels])`` uint8 picture, read from a
    grid of about :data:`SIGNATURE_PIXELS` pixels (every 8th pixel or sparser): two frames of a real sensor
    differ there (its noise), and a stuck driver's are equal. About 0.05 ms for 640x360 or 1920x1080."""
    step = max(8, int((image.shape[0] * image.shape[1] / SIGNATURE_PIXELS) ** 0.5))
    sample = np.ascontiguousarray(image[::step, ::step])
    return zlib.crc32(sample), float(sample.sum(dtype=np.uint64)) / max(1, sample.size)


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
        picture: ``ok``; ``frozen``: bit-identical frames for ``frozen_after_s`` or more, held back from
            the room while the camera is reopened (``state`` ``reconnecting``) until one differs;
            ``black``: streaming a picture darker than ``black_below`` for ``black_after_s`` or more.
        picture_s: seconds the picture has been frozen (since the first of the identical frames) or black
            (None when ``ok``).
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
    picture: str = "ok"
    picture_s: float | None = None


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
        frozen_after_s, black_after_s, black_below: when the picture is frozen or black
            (:data:`FROZEN_AFTER_S`, :data:`BLACK_AFTER_S`, :data:`BLACK_BELOW`).
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
        frozen_after_s: float = FROZEN_AFTER_S,
        black_after_s: float = BLACK_AFTER_S,
        black_below: float = BLACK_BELOW,
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
        self.frozen_after_s = frozen_after_s
        self.black_after_s = black_after_s
        self.black_below = black_below
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
        self._same: tuple[int, float] | None = (
            None  # (signature, clock seconds) of the identical frames' first
        )
        self._frozen = False  # frames are held back from the room (:meth:`_goes_to_room`)
        self._moving = 0  # frames in a row, while frozen, unlike the stuck one and the one before
        self._previous: int | None = None  # the signature of the frame before
        self._reopen_frozen = False  # one was, from the reader now watched: the supervisor reopens it
        self._dark_since: float | None = None  # clock seconds of the first frame of a black run
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
            picture, picture_s = "ok", None
            if self._frozen and self._same is not None:
                picture, picture_s = "frozen", max(0.0, now - self._same[1])
            elif self._state == "streaming" and self._dark_since is not None:
                if now - self._dark_since >= self.black_after_s:
                    picture, picture_s = "black", now - self._dark_since
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
                picture,
                picture_s,
            )

    # -------------------------------------------------------------------------------- supervisor

    def _publish(self, frame: Frame) -> None:
        now = self.clock()
        signature, brightness = picture_signature(frame.image)
        with self._cond:
            if not self._goes_to_room(signature, brightness < self.black_below, now):
                return
            if brightness >= self.black_below:
                self._dark_since = None
            elif self._dark_since is None:
                self._dark_since = now
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

    def _goes_to_room(self, signature: int, dark: bool, now: float) -> bool:
        """Whether a frame of ``signature`` arriving at ``now`` goes to the room (under :attr:`_cond`): not
        while the picture is frozen. A ``dark`` one does not make it frozen: a capped lens can read 0
        everywhere, bit for bit, and reopening mends no lens cap (it is a black picture).

        A frozen picture's camera is reopened at each frame equal to the stuck one or to the frame before
        it, and the picture moves again after :data:`MOVING_FRAMES` frames in a row that differ from both
        (a stuck driver reopened can send one other frame first: the sweep's video restarted at its own
        first frame, and the room held its artwork through every reopen)."""
        previous, self._previous = self._previous, signature
        if self._frozen and self._same is not None:
            if signature in (self._same[0], previous):
                self._moving = 0
                self._reopen_frozen = True
                self._wakeup.set()
                return False
            self._moving += 1
            if self._moving < MOVING_FRAMES:
                return False
            self._frozen = False
            self._same = (signature, now)
        elif dark:
            self._same = None
        elif self._same is None or self._same[0] != signature:
            self._same = (signature, now)
        elif now - self._same[1] >= self.frozen_after_s:
            self._frozen, self._moving = True, 0
            self._reopen_frozen = True  # the room is not to hold an artwork on a stuck picture
            self._wakeup.set()
            return False
        return True

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
            with self._cond:
                self._reopen_frozen = False
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
                # a camera back after an outage starts a new picture: its first frames equal to those
                # before it (a still room after a night unplugged) are not a stuck one; a frozen picture
                # stays frozen through its reopens until it moves (_goes_to_room)
                if not self._frozen:
                    self._same = None
                self._dark_since = None
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
            if self._reopen_frozen:
                reader.abandoned.set()  # it leaves OpenCV at its next frame
                with self._cond:
                    self._stuck.append(reader)
                    since = self._same[1] if self._same is not None else self.clock()
                return (
                    f"camera picture frozen: identical frames for {self.clock() - since:.0f} s "
                    "(a stuck driver?)"
                )
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
