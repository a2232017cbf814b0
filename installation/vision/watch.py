"""Recognition outside the daemon: one image, a video file or a live camera through a vision pipeline.

What ``art2mus recognize`` runs. A video is stamped with its own media time, so the decisions mean the
same at any playback speed; a camera is watched through the :class:`FrameGrabber` until a stop event is
set or a duration has passed. Each function reports a failure as a sentence (the file or camera and what
went wrong) instead of raising, so one bad source does not stop the others.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from art2mus.installation.vision.pipeline import VisionDecision, VisionPipeline

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".mjpeg", ".wmv"}

Emit = Callable[[VisionDecision], None]


def camera_target(source: str) -> int | str | None:
    """A camera for ``source`` (a device index, ``camera:N``, a /dev path or a stream URL), or None for a file."""
    if source.isdigit():
        return int(source)
    if source.startswith("camera:") and source[7:].isdigit():
        return int(source[7:])
    if "://" in source or source.startswith("/dev/"):
        return source
    return None


def source_kind(source: str) -> str:
    """``camera``, ``image`` or ``video``: how ``source`` is read (a file of unknown suffix that OpenCV can
    read as an image is an image)."""
    import cv2

    if camera_target(source) is not None:
        return "camera"
    suffix = Path(source).suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return "image"
    if suffix not in VIDEO_SUFFIXES and cv2.haveImageReader(source):
        return "image"
    return "video"


def recognize_image(recognizer: Any, path: Path, accept_inliers: int) -> Any:
    """The recognition of one image file (a single look needs full confidence: below ``accept_inliers``
    it is unknown); None if the file cannot be read as an image."""
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        return None
    result = recognizer.recognize(image)
    if result.artwork_id is not None and result.score < accept_inliers:
        result = dataclasses.replace(result, artwork_id=None, outline=None)
    return result


def watch_video(path: Path, pipeline: VisionPipeline, emit: Emit, *, realtime: bool = False) -> str | None:
    """Run ``pipeline`` over a video once, emitting each decision change; the failure, or None."""
    from art2mus.installation.vision.sources import CameraError, VideoFileSource

    try:
        stream = VideoFileSource(path, loop=False, realtime=realtime).open()
    except CameraError as exc:
        return str(exc)
    previous = None
    frames = 0
    try:
        for frame in stream:
            frames += 1
            decision = pipeline.process(dataclasses.replace(frame, timestamp=frame.media_time))
            if not decision.same_state(previous):
                emit(decision)
                previous = decision
    except CameraError as exc:
        return f"{path}: {exc} after {frames} frames"
    finally:
        stream.close()
    return f"{path}: no frames (not a video OpenCV can read?)" if frames == 0 else None


def watch_camera(
    target: int | str,
    pipeline: VisionPipeline,
    emit: Emit,
    stop: threading.Event,
    duration_s: float | None = None,
) -> str | None:
    """Watch a live camera until ``stop`` is set or ``duration_s`` seconds pass; the failure, or None."""
    from art2mus.installation.vision.grabber import FrameGrabber
    from art2mus.installation.vision.sources import OpenCVCameraSource, camera_named

    start = time.monotonic()
    # frames stamped in seconds since the watch began: the "t" of each printed line
    grabber = FrameGrabber(OpenCVCameraSource(target, clock=lambda: time.monotonic() - start)).start()
    previous = None
    last_index = None
    try:
        while not stop.is_set() and (duration_s is None or time.monotonic() - start < duration_s):
            frame = grabber.wait_for_frame(last_index, timeout=0.5)
            if frame is None:
                health = grabber.health()
                if health.state != "streaming":
                    logger.info("%s: %s (%s)", camera_named(health.source), health.state, health.last_error)
                continue
            last_index = frame.index
            decision = pipeline.process(frame)
            if not decision.same_state(previous):
                emit(decision)
                previous = decision
    finally:
        grabber.stop()
    health = grabber.health()
    return f"{target}: no frames from this camera ({health.last_error})" if health.frames == 0 else None
