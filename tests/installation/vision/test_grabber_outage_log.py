"""A camera outage over a closure, on a scripted clock: the warnings it writes per hour are bounded, and the
journal (WARNING and up) says when the camera came back.

The sweep counted 480 warning lines an hour of outage at the 30 s reconnect backoff: the grabber's
"reopening in 30.0 s" every 30 s and the gallery's "no new frame" every 10 s, and the "back after" line
at INFO, which the journal does not show. The grabber here is the real one, its backoff waited out on the
scripted clock (no wall time passes); the gallery's line is its :class:`FrameGapLog` stepped as the main
loop steps it (a 0.25 s wait for each frame that does not come).
"""

from __future__ import annotations

import logging
import threading

import numpy as np

from art2mus.installation.gallery import FrameGapLog
from art2mus.installation.vision.grabber import FrameGrabber, reconnect_said
from art2mus.installation.vision.sources import CameraError, CameraSource, Frame, FrameStream

HOUR = 3600.0
OUTAGE_HOURS = 3


class _ScriptedClock:
    """Monotonic seconds that move only when the grabber waits out a backoff (its ``pause``)."""

    def __init__(self) -> None:
        self.t = 0.0
        self.lock = threading.Lock()

    def __call__(self) -> float:
        with self.lock:
            return self.t

    def pause(self, stop: threading.Event, seconds: float) -> bool:
        with self.lock:
            self.t += seconds
        return stop.is_set()


class _Stream(FrameStream):
    """``frames`` frames, then an unplugged camera (``fail``) or a read that waits until ``closed``."""

    def __init__(self, clock: _ScriptedClock, frames: int, fail: bool, closed: threading.Event):
        self.clock, self.left, self.fail, self.closed, self.index = clock, frames, fail, closed, 0

    def read(self) -> Frame:
        if self.left == 0:
            if self.fail:
                raise CameraError("USB camera unplugged")
            self.closed.wait(30)
            raise CameraError("closed")
        self.left -= 1
        self.index += 1
        return Frame(np.zeros((4, 4, 3), np.uint8), self.clock(), self.index)

    def close(self) -> None:
        pass


class _UnpluggedCamera(CameraSource):
    """Streams 3 frames, is unplugged until the clock reaches ``back_at``, then streams again."""

    name = "camera #0"

    def __init__(self, clock: _ScriptedClock, back_at: float):
        self.clock, self.back_at, self.opens = clock, back_at, 0
        self.closed = threading.Event()

    def open(self) -> FrameStream:
        self.opens += 1
        if self.opens == 1:
            return _Stream(self.clock, 3, True, self.closed)
        if self.clock() < self.back_at:
            raise CameraError("camera #0: cannot open /dev/video0")
        return _Stream(self.clock, 3, False, self.closed)


class _Lines(logging.Handler):
    """Each record at WARNING and up, with the scripted clock's time."""

    def __init__(self, clock: _ScriptedClock):
        super().__init__(logging.WARNING)
        self.clock = clock
        self.lines: list[tuple[float, str]] = []
        self.back = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((self.clock(), record.getMessage()))
        if "back after" in record.getMessage():
            self.back.set()


def _gallery_lines(outage_s: float) -> list[float]:
    """When the gallery's main loop says "no new frame" over an outage of ``outage_s`` seconds."""
    gap = FrameGapLog(0.0)
    return [t for t in (step * 0.25 for step in range(1, int(outage_s * 4) + 1)) if gap.due(t)]


def _per_hour(times: list[float], hours: int) -> list[int]:
    return [sum(1 for t in times if h * HOUR <= t < (h + 1) * HOUR) for h in range(hours)]


def test_a_long_camera_outage_writes_a_bounded_number_of_warnings_and_says_when_it_is_over():
    clock = _ScriptedClock()
    camera = _UnpluggedCamera(clock, back_at=OUTAGE_HOURS * HOUR)
    lines = _Lines(clock)
    grabber_log = logging.getLogger("art2mus.installation.vision.grabber")
    grabber_log.addHandler(lines)
    level = grabber_log.level
    grabber_log.setLevel(logging.INFO)
    grabber = FrameGrabber(camera, clock=clock, backoff_max_s=30.0, pause=clock.pause, poll_s=0.05)
    try:
        grabber.start()
        assert lines.back.wait(120)  # the camera came back after the scripted hours (the grabber's own pace)
        assert grabber.health().state == "streaming"
    finally:
        camera.closed.set()
        grabber.stop()
        grabber_log.removeHandler(lines)
        grabber_log.setLevel(level)

    reconnects = [(t, m) for t, m in lines.lines if "reopening in" in m]
    back = [m for _, m in lines.lines if "back after" in m]
    assert len(back) == 1 and back[0].startswith("camera #0 back after 108")  # WARNING: the journal has it
    assert len(lines.lines) == len(reconnects) + 1
    attempts = camera.opens - 2  # the first stream, and the one that came back
    assert attempts > 350  # the grabber really retried every 30 s for three hours
    said = [int(m.split("reconnect ")[1].split(",")[0].rstrip(")")) for _, m in reconnects]
    assert said[:7] == [1, 2, 5, 10, 20, 50, 100]
    assert (
        "cannot open /dev/video0; reopening in 30.0 s (reconnect 100, attempt 100 of this outage, down 28"
        in reconnects[6][1]
    )
    assert reconnects[0][1] == "camera #0: USB camera unplugged; reopening in 0.5 s (reconnect 1)"

    grabber_per_hour = _per_hour([t for t, _ in reconnects], OUTAGE_HOURS)
    gallery_per_hour = _per_hour(_gallery_lines(OUTAGE_HOURS * HOUR), OUTAGE_HOURS)
    total = [a + b for a, b in zip(grabber_per_hour, gallery_per_hour, strict=True)]
    # before: 120 + 360 = 480 lines in each hour of the outage
    assert total[0] <= 12, (grabber_per_hour, gallery_per_hour)
    assert all(n <= 3 for n in total[1:]), (grabber_per_hour, gallery_per_hour)


def test_reconnects_are_said_at_one_two_five_and_at_least_hourly():
    assert [n for n in range(1, 1001) if reconnect_said(n, 30.0)] == [
        1,
        2,
        5,
        10,
        20,
        50,
        100,
        200,
        500,
        1000,
    ]
    assert reconnect_said(501, HOUR) and not reconnect_said(501, HOUR - 1)
