"""Visitor presence: motion in the camera image plus external sensors, combined into one signal.

:class:`MotionDetector` runs OpenCV's MOG2 background subtraction on small grey frames and reports the
moving fraction of the image. :class:`SensorInput` takes events from external sensors (a PIR sensor
posting to the control panel's HTTP endpoint calls :meth:`PresenceMonitor.report_sensor_event`); each
event counts as presence for a hold time. :class:`PresenceMonitor` combines both: a visitor is present
while motion was seen within ``motion_hold_s`` or a sensor event is still holding.

All times are seconds on one time base: frame timestamps and the injected ``clock`` must agree (a
live camera stamps frames with the same monotonic clock; a simulation passes a clock that follows
the video's time).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:
    from art2mus.installation.config.vision import PresenceConfig

logger = logging.getLogger(__name__)


class MotionDetector:
    """Fraction of the image that moves, by MOG2 background subtraction.

    Args:
        width: frames are scaled to this width (pixels) first; motion needs no detail.
        history: frames the background model remembers (the default: 15 s of frames sampled every
            :attr:`PresenceMonitor.SAMPLE_S`).
        var_threshold: MOG2's squared Mahalanobis distance for "foreground" (higher: less sensitive).
        warmup_frames: frames after a (re)start during which nothing counts as motion (the default: 1 s).
    """

    def __init__(
        self, *, width: int = 160, history: int = 75, var_threshold: float = 32.0, warmup_frames: int = 5
    ):
        self.width = width
        self.history = history
        self.var_threshold = var_threshold
        self.warmup_frames = warmup_frames
        self.reset()

    def reset(self) -> None:
        self._bg = cv2.createBackgroundSubtractorMOG2(
            history=self.history, varThreshold=self.var_threshold, detectShadows=False
        )
        self._frames = 0
        self._kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))

    def update(self, image: np.ndarray) -> float:
        """Feed a BGR or grey frame; returns the moving fraction (0..1) of the image."""
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
        h, w = gray.shape[:2]
        small = cv2.resize(
            gray, (self.width, max(1, round(h * self.width / w))), interpolation=cv2.INTER_AREA
        )
        small = cv2.GaussianBlur(small, (3, 3), 0)  # sensor noise is not a visitor
        mask = self._bg.apply(small)
        self._frames += 1
        if self._frames <= self.warmup_frames:
            return 0.0
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, self._kernel)
        return float(np.count_nonzero(mask)) / mask.size


class SensorInput:
    """Presence events from external sensors; each event holds presence for ``hold_s`` seconds.

    Thread-safe: the control panel's request handlers call :meth:`report` while the vision loop reads.
    """

    def __init__(self, hold_s: float = 20.0, clock: Callable[[], float] = time.monotonic):
        if hold_s < 0:
            raise ValueError(f"hold_s must be >= 0 seconds, got {hold_s}")
        self.hold_s = hold_s
        self.clock = clock
        self._lock = threading.Lock()
        self._until: dict[str, float] = {}

    def report(self, sensor_id: str, present: bool = True, at: float | None = None) -> None:
        """A sensor saw someone (``present``) or reports that its zone is now empty (``present=False``);
        ``at`` defaults to the clock's now."""
        if not sensor_id:
            raise ValueError("sensor_id must be a non-empty string")
        t = self.clock() if at is None else at
        with self._lock:
            if present:
                self._until[sensor_id] = max(self._until.get(sensor_id, t), t + self.hold_s)
            else:
                self._until.pop(sensor_id, None)
        logger.debug("sensor %s reports %s at %.2f s", sensor_id, "presence" if present else "empty", t)

    def active(self, now: float | None = None) -> list[str]:
        """Sensors whose last event still holds presence at ``now`` (default: the clock's now)."""
        t = self.clock() if now is None else now
        with self._lock:
            return sorted(s for s, until in self._until.items() if until > t)


@dataclass(frozen=True)
class PresenceState:
    """The combined presence signal at time ``t`` (seconds).

    Attributes:
        present: a visitor is present (motion held or a sensor holding).
        motion: motion was seen within the motion hold time.
        motion_fraction: moving fraction of the last frame (0..1).
        sensors: sensors currently holding presence.
    """

    t: float
    present: bool
    motion: bool
    motion_fraction: float
    sensors: tuple[str, ...]


class PresenceMonitor:
    """Motion and sensor events combined into one presence signal.

    The motion detector sees at most one frame every :attr:`SAMPLE_S` of frame time, whatever the camera's
    frame rate: a visitor walks through the picture for seconds and presence holds ``motion_hold_s``
    (3 s), so more frames add CPU, not answers (at 10 fps every other frame: on the demo walk the same
    decisions, 0.4 ms a frame less).

    Args:
        motion: the motion detector, or None for sensor-only presence.
        sensors: external sensor input (created with ``sensor_hold_s`` if not given).
        motion_min_area: moving fraction of the frame that counts as a visitor.
        motion_hold_s: seconds presence lasts after the last frame with motion.
        sensor_hold_s: hold time of a sensor event when ``sensors`` is created here.
        clock: the time base shared with frame timestamps.
    """

    #: seconds of frame time between two frames the motion detector sees (the recognition interval's default)
    SAMPLE_S = 0.2

    def __init__(
        self,
        motion: MotionDetector | None = None,
        sensors: SensorInput | None = None,
        *,
        motion_min_area: float = 0.01,
        motion_hold_s: float = 3.0,
        sensor_hold_s: float = 20.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.motion = motion
        self.clock = clock
        self.sensors = sensors or SensorInput(sensor_hold_s, clock)
        self.motion_min_area = motion_min_area
        self.motion_hold_s = motion_hold_s
        self._last_motion_t: float | None = None
        self._last_fraction = 0.0
        self._last_frame_t: float | None = None
        self._last_sample_t: float | None = None  # the frame time the motion detector last saw

    @classmethod
    def from_config(
        cls, config: PresenceConfig, clock: Callable[[], float] = time.monotonic
    ) -> PresenceMonitor:
        return cls(
            MotionDetector() if config.motion else None,
            motion_min_area=config.motion_min_area,
            motion_hold_s=config.motion_hold_seconds,
            sensor_hold_s=config.sensor_hold_seconds,
            clock=clock,
        )

    def wants(self, t: float) -> bool:
        """Whether the motion detector would look at a frame taken at ``t`` (see :attr:`SAMPLE_S`): a
        caller may skip preparing one it does not want, and feed it with ``image=None``."""
        last = self._last_sample_t
        restarted = self._last_frame_t is not None and t < self._last_frame_t - 1e-6
        return self.motion is not None and (last is None or restarted or t >= last + self.SAMPLE_S - 1e-9)

    def update_frame(self, image: np.ndarray | None, t: float) -> None:
        """Feed a camera frame taken at ``t`` seconds (``image`` None: one :meth:`wants` declined)."""
        wanted = self.wants(t)
        if self._last_frame_t is not None and t < self._last_frame_t - 1e-6:
            self._last_motion_t = None  # a looping video restarted: motion history is void
            if self.motion is not None:
                self.motion.reset()
        self._last_frame_t = t
        if self.motion is None or not wanted:
            return
        if image is None:
            raise ValueError(f"the motion detector wants the frame at {t:.3f} s: image is None")
        self._last_sample_t = t
        self._last_fraction = self.motion.update(image)
        if self._last_fraction >= self.motion_min_area:
            self._last_motion_t = t

    def report_sensor_event(self, sensor_id: str, present: bool = True) -> None:
        """What the control panel's sensor endpoint calls (e.g. ``POST /api/presence {"sensor": "pir-1"}``)."""
        self.sensors.report(sensor_id, present)

    def state(self, now: float | None = None) -> PresenceState:
        """Presence at ``now`` (default: the clock's now)."""
        t = self.clock() if now is None else now
        motion = self._last_motion_t is not None and t - self._last_motion_t <= self.motion_hold_s
        sensors = tuple(self.sensors.active(t))
        return PresenceState(t, motion or bool(sensors), motion, self._last_fraction, sensors)
