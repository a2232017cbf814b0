"""Recording the room's camera to a video file (``art2mus record``), for ``art2mus simulate`` later.

The camera is read through the daemon's own :class:`~.grabber.FrameGrabber` (reconnects, time limits),
at the camera's own rate: a video file's, a live camera's configured ``fps`` (the source's
``nominal_fps``). Each new frame is written once, in the slot its arrival falls in; a frame repeats only
where the camera falls a whole frame behind that rate (slower than it promised, or stalled), and one is
skipped only where it runs a whole frame ahead, so that the clip plays back at the room's real pace.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2

from art2mus.installation.vision.grabber import FrameGrabber
from art2mus.installation.vision.sources import CameraSource, camera_named

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recording:
    """A recorded clip: the file, frames written, distinct camera frames among them, size and rate."""

    path: Path
    frames: int
    distinct_frames: int
    width: int
    height: int
    fps: float

    @property
    def duration_s(self) -> float:
        return self.frames / self.fps


def record_camera(
    source: CameraSource,
    output: Path,
    duration_s: float,
    *,
    fps: float = 15.0,
    reconnect_max_s: float = 30.0,
    first_frame_timeout_s: float = 20.0,
    stop: threading.Event | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Recording:
    """Write ``duration_s`` seconds of ``source`` to ``output`` (mp4v) at the source's own frame rate
    (its ``nominal_fps`` once open: a video file's, a camera's configured rate), or at ``fps`` (frames per
    second) for a source that promises none; stops early when ``stop`` is set. Raises ``OSError`` when
    the file cannot be written or no frame comes within ``first_frame_timeout_s``."""
    stop = stop or threading.Event()
    grabber = FrameGrabber.from_config(source, reconnect_max_s, clock=clock).start()
    writer = None
    tmp = output.with_name(output.stem + ".partial" + output.suffix)
    frames = distinct = 0
    try:
        first = grabber.wait_for_frame(None, timeout=first_frame_timeout_s)
        if first is None:
            health = grabber.health()
            raise OSError(
                f"{camera_named(source.name)}: no frame within {first_frame_timeout_s:g} s ({health.last_error})"
            )
        fps = source.nominal_fps or fps  # known once the grabber has opened it (a video file's own)
        height, width = first.image.shape[:2]
        output.parent.mkdir(parents=True, exist_ok=True)
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
        if not writer.isOpened():
            raise OSError(f"OpenCV cannot write an mp4v video at {tmp}")

        def write(image) -> None:
            if image.shape[:2] != (height, width):  # a reconnected camera with another size
                image = cv2.resize(image, (width, height))
            writer.write(image)

        start, last = clock(), first
        total = max(1, round(duration_s * fps))
        write(first.image)
        frames = distinct = 1
        while frames < total and not stop.is_set():
            frame = grabber.wait_for_frame(last.index, timeout=1 / fps)
            # slot k is due at start + k / fps: the slots due by now, 0 to `due` - 1
            due = int((clock() - start) * fps) + 1
            if frame is not None and frame.index != last.index and due >= frames:
                write(frame.image)  # else it came a whole frame early: a camera faster than fps
                frames, distinct, last = frames + 1, distinct + 1, frame
            while frames < min(total, due - 1):  # a whole frame behind: keep the room's pace
                write(last.image)
                frames += 1
    finally:
        if writer is not None:
            writer.release()
        grabber.stop()
    tmp.replace(output)
    logger.info("recorded %d frames (%d distinct) of %s to %s", frames, distinct, source.name, output)
    return Recording(output, frames, distinct, width, height, fps)
