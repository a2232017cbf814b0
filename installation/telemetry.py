"""What the running gallery tells its control panel and monitoring, kept off the room's hot path.

:class:`Telemetry` is fed by the gallery's main loop (one cheap call per frame: references, no copies, no
encoding) and read by the control panel from its own threads:

* the newest camera frame with its recognition outline, encoded to JPEG on demand, at most
  ``max_fps`` times a second whatever the number of viewers (every viewer shares the last encoding);
* counters for Prometheus (frames, recognitions, decisions, director events by reason, reload results);
* the director's events with their wall-clock time in the gallery's timezone.

:class:`LogRing` is a logging handler that keeps the last few hundred records in memory for the panel's
log view.
"""

from __future__ import annotations

import collections
import datetime as dt
import logging
import threading
import time
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from art2mus.installation.vision.unseen import UNSEEN_PREFIX

#: how often the live view is re-encoded at most, per second (all viewers share one encoding)
DEFAULT_SNAPSHOT_FPS = 2.0
#: the live view's width in pixels (frames are scaled down to it, never up)
SNAPSHOT_WIDTH = 640


class LogRing(logging.Handler):
    """The last ``capacity`` log records, as dicts (wall-clock time, level, logger, message)."""

    def __init__(self, capacity: int = 500, timezone: str = "UTC"):
        super().__init__(logging.DEBUG)
        self.zone = ZoneInfo(timezone)
        self._records: collections.deque[dict[str, Any]] = collections.deque(maxlen=capacity)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string must not break the daemon's logging
            message = str(record.msg)
        self._records.append(
            {
                "time": dt.datetime.fromtimestamp(record.created, self.zone).isoformat(
                    timespec="milliseconds"
                ),
                "level": record.levelname,
                "levelno": record.levelno,
                "logger": record.name,
                "message": message[:2000],
            }
        )

    _shared: LogRing | None = None
    _shared_lock = threading.Lock()

    @classmethod
    def shared(cls, timezone: str = "UTC") -> LogRing:
        """The process's one ring, attached to the root logger on first use (a process runs one gallery;
        tests build many, and each must not add a handler)."""
        with cls._shared_lock:
            if cls._shared is None:
                cls._shared = cls()
                logging.getLogger().addHandler(cls._shared)
            cls._shared.zone = ZoneInfo(timezone)
            return cls._shared

    def records(self, min_level: int = logging.DEBUG, limit: int = 300) -> list[dict[str, Any]]:
        """The newest ``limit`` records at ``min_level`` or above, oldest first."""
        kept = [r for r in list(self._records) if r["levelno"] >= min_level]
        return kept[-limit:] if limit > 0 else []


def live_caption(label: str, score: float, present: bool | None, seen: str | None, held: bool) -> str:
    """The live view's caption: the decision (``label``, an artwork id or ``unknown``/``none``) with its
    score, and whether a visitor is present. ``held``: the decision is an artwork the latest recognition
    did not find (``seen``: what it found instead, None for nothing); the debouncer keeps a chosen artwork
    for ``presence.hold_seconds`` after it is last seen, and the caption read 'city-at-six  score 31'
    over a frame of the still life, with no outline drawn. ASCII only: OpenCV's font has no other."""
    if held:
        caption = f"{label} (held) | this frame: {seen or 'nothing'}"
    elif label not in ("", "none", "unknown"):
        caption = f"{label}  score {score:.0f}"
    else:
        caption = label or "-"
    if present is not None:
        caption += "  | visitor" if present else "  | nobody"
    return caption


class Telemetry:
    """The gallery's live state for the panel and /metrics (see the module docstring)."""

    def __init__(self, timezone: str = "UTC", *, max_fps: float = DEFAULT_SNAPSHOT_FPS):
        self.zone = ZoneInfo(timezone)
        self.max_fps = max_fps
        self.log = LogRing.shared(timezone)
        self._lock = threading.Lock()
        self._frame: Any = None
        self._outline: np.ndarray | None = None
        self._label = ""
        self._score = 0.0
        self._seen: str | None = None  # what the latest recognition found (None: nothing)
        self._held = False  # the decision is an artwork that latest recognition did not find
        self._present: bool | None = None
        self._jpeg: bytes | None = None
        self._jpeg_index: int | None = None
        self._jpeg_at = -1e9
        self.encodings = 0
        self.counters: collections.Counter[str] = collections.Counter()
        self.events: collections.deque[dict[str, Any]] = collections.deque(maxlen=200)

    # ------------------------------------------------------------------ fed by the gallery
    def observe_frame(self, frame: Any, decision: Any, result: Any, present: bool | None) -> None:
        """One processed frame: keeps references only (the main loop pays a few attribute stores)."""
        seen = result.artwork_id if result is not None else None
        recognised = decision.kind == "artwork" and result is not None and seen == decision.artwork_id
        # an unseen artwork (``unseen:<id>``) is found by its frame, never by the recognizer
        held = decision.kind == "artwork" and not recognised and not decision.label.startswith(UNSEEN_PREFIX)
        with self._lock:
            new_decision = self._label != decision.label
            self._frame = frame
            self._outline = result.outline if recognised else None
            self._label = decision.label
            self._score = float(decision.score)
            self._present = present
            self._seen, self._held = seen, held
        self.counters["frames"] += 1
        if new_decision:
            self.counters["decisions"] += 1

    def recognised(self) -> None:
        self.counters["recognitions"] += 1

    def director_event(self, what: str, reason: str, wall: dt.datetime | None = None) -> None:
        wall = (wall or dt.datetime.now(dt.timezone.utc)).astimezone(self.zone)
        self.events.append({"time": wall.isoformat(timespec="seconds"), "play": what, "reason": reason})
        self.counters[f"event:{reason}"] += 1

    def reloaded(self, ok: bool) -> None:
        self.counters["reload_ok" if ok else "reload_refused"] += 1

    # ------------------------------------------------------------------ read by the panel
    def caption(self) -> str:
        """The live view's caption for the newest frame (see :func:`live_caption`)."""
        with self._lock:
            return live_caption(self._label, self._score, self._present, self._seen, self._held)

    def snapshot_jpeg(self) -> tuple[bytes, int] | None:
        """The live view as JPEG and the frame's index, or None before the first frame. Re-encoded at most
        ``max_fps`` times a second and only when a newer frame has arrived."""
        import cv2

        with self._lock:
            frame, outline = self._frame, self._outline
            caption = live_caption(self._label, self._score, self._present, self._seen, self._held)
            now = time.monotonic()
            fresh = self._jpeg is not None and (
                now - self._jpeg_at < 1.0 / self.max_fps or frame is None or frame.index == self._jpeg_index
            )
            if fresh or frame is None:
                return None if self._jpeg is None else (self._jpeg, int(self._jpeg_index or 0))
            self._jpeg_at = now  # claim this encoding: concurrent viewers get the previous one meanwhile
        image = frame.image
        scale = min(1.0, SNAPSHOT_WIDTH / image.shape[1])
        if scale < 1.0:
            image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        else:
            image = image.copy()
        if outline is not None:
            points = np.round(np.asarray(outline, dtype=np.float32) * scale).astype(np.int32)
            cv2.polylines(image, [points], True, (60, 220, 60), 3, cv2.LINE_AA)
        cv2.rectangle(image, (0, 0), (image.shape[1], 26), (30, 30, 30), -1)
        cv2.putText(image, caption, (8, 19), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (240, 240, 240), 1, cv2.LINE_AA)
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 75])
        if not ok:
            return None
        with self._lock:
            self._jpeg, self._jpeg_index = data.tobytes(), frame.index
            self.encodings += 1
            return self._jpeg, frame.index
