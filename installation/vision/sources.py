"""Camera sources: a local device (index or path), a network stream (RTSP/HTTP) or a video file.

Each camera type declares its ``*Config`` here beside its source class (built ``from_config``); the
:data:`CAMERAS` registry lists them once and gives the exhibit's ``camera`` union and the lookup
(see :mod:`art2mus.common.plugins`).

A :class:`CameraSource` is a description that can be opened any number of times; each
:meth:`CameraSource.open` returns a fresh :class:`FrameStream`, so a grabber can abandon a stream whose
``read`` hangs (OpenCV's FFmpeg reads can block for a long time on a dead RTSP server) and open a new
one. Sources raise :class:`CameraError` when they cannot open or read and :class:`EndOfStream` at the
end of a video file that does not loop.

Frames are BGR ``uint8`` arrays of shape ``(height, width, 3)``. Timestamps are seconds: the injected
clock's time for cameras and for a video file played in real time; the video's own time (frame index
over fps, continuing across loops) for a video file played as fast as possible, so that simulations
get the same decisions at any speed.
"""

from __future__ import annotations

import abc
import logging
import math
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
from pydantic import Field

from art2mus.common.plugins import Registry
from art2mus.common.schema import StrictModel, VideoPath, seconds, unit

logger = logging.getLogger(__name__)


class _CameraCommonConfig(StrictModel):
    width: int = Field(
        640,
        ge=0,
        le=7680,
        description="Requested frame width in pixels (0: the source's own; a video: its own).",
    )
    height: int = Field(
        480,
        ge=0,
        le=4320,
        description="Requested frame height in pixels (0: the source's own; a video: its own).",
    )
    fps: float = Field(
        15.0,
        gt=0,
        le=120,
        description="Requested frames per second (a video: its own).",
        json_schema_extra=unit("fps"),
    )
    reconnect_max_seconds: float = seconds(
        30.0,
        "Longest wait between attempts to reopen a camera that stopped delivering frames.",
        gt=0,
        le=3600,
    )


class DeviceCameraConfig(_CameraCommonConfig):
    """A local camera by index (``/dev/videoN`` on Linux)."""

    type: Literal["device"] = Field("device", description="A local camera chosen by index.")
    index: int = Field(0, ge=0, le=63, description="Camera index as OpenCV numbers them (0 is the first).")


class PathCameraConfig(_CameraCommonConfig):
    """A local camera by device path; ``/dev/v4l/by-id/...`` survives re-plugging, unlike an index."""

    type: Literal["path"] = Field("path", description="A local camera chosen by device path.")
    path: str = Field(
        "/dev/video0",
        pattern=r"^/",
        description="Absolute device path, e.g. /dev/v4l/by-id/usb-...-video-index0.",
    )


class StreamCameraConfig(_CameraCommonConfig):
    """A network camera (RTSP, or HTTP MJPEG)."""

    type: Literal["stream"] = Field("stream", description="A network camera stream.")
    url: str = Field(
        "rtsp://127.0.0.1:554/stream",
        pattern=r"^(rtsp|rtsps|http|https)://\S+$",
        description="Stream URL starting with rtsp://, rtsps://, http:// or https://.",
    )


class VideoCameraConfig(_CameraCommonConfig):
    """A video file standing in for a camera (demos, simulation, tests)."""

    type: Literal["video"] = Field("video", description="A video file played as if it were a camera.")
    path: VideoPath = Field(Path("camera.mp4"), description="The video file (relative to this YAML file).")
    loop: bool = Field(True, description="Start again at the end of the file.")
    realtime: bool = Field(
        True, description="Deliver frames at the video's own rate (false: as fast as possible)."
    )


class CameraError(RuntimeError):
    """A camera could not be opened or stopped delivering frames."""


class EndOfStream(CameraError):
    """A video file that does not loop has no more frames."""


@dataclass(frozen=True)
class Frame:
    """One camera frame.

    Attributes:
        image: BGR uint8 ``(height, width, 3)``.
        timestamp: seconds on the source's time base (see the module docstring).
        index: frames delivered by this source since it was opened (0-based; continues across loops).
        media_time: position in a video file (seconds from its start), None for cameras.
    """

    image: np.ndarray
    timestamp: float
    index: int
    media_time: float | None = None


class FrameStream(abc.ABC):
    """An opened source. ``read`` may block (that is why grabbers run it in their own thread)."""

    @abc.abstractmethod
    def read(self) -> Frame:
        """The next frame; raises :class:`CameraError` (or :class:`EndOfStream`)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the device/file; safe to call twice."""

    def __iter__(self) -> Iterator[Frame]:
        """Frames until the end of a video that does not loop (a camera's never end; errors propagate)."""
        while True:
            try:
                frame = self.read()
            except EndOfStream:
                return
            yield frame

    def __enter__(self) -> FrameStream:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class CameraSource(abc.ABC):
    """Something that can be opened into a :class:`FrameStream`."""

    #: a short human-readable description for logs and health reports
    name: str = "camera"
    #: the frame rate the source promises (frames per second), or None if unknown
    nominal_fps: float | None = None

    @abc.abstractmethod
    def open(self) -> FrameStream:
        """Open a new stream; raises :class:`CameraError` when it cannot."""


# ------------------------------------------------------------------------------------------ OpenCV


class _CaptureStream(FrameStream):
    def __init__(self, cap: cv2.VideoCapture, name: str, clock: Callable[[], float]):
        self._cap = cap
        self._name = name
        self._clock = clock
        self._index = 0

    def read(self) -> Frame:
        ok, image = self._cap.read()
        if not ok or image is None:
            raise CameraError(f"{self._name}: no frame (device unplugged or stream dropped?)")
        frame = Frame(image, self._clock(), self._index)
        self._index += 1
        return frame

    def close(self) -> None:
        self._cap.release()


def camera_named(name: str) -> str:
    """``camera NAME`` for a file or a URL; a device's name alone (it is ``camera #0`` already)."""
    return name if name.startswith("camera ") else f"camera {name}"


class OpenCVCameraSource(CameraSource):
    """A camera through ``cv2.VideoCapture``: a device index, a device path or an RTSP/HTTP URL.

    Args:
        target: device index (``0``), device path (``/dev/v4l/by-id/...``) or URL (``rtsp://...``).
        width, height, fps: requested format (0: leave the camera's own).
        open_timeout_s, read_timeout_s: passed to OpenCV's FFmpeg backend for URLs (it honours them);
            the grabber enforces its own timeouts for every source anyway.
        clock: timestamps frames (seconds).
    """

    #: the config field holding what ``cv2.VideoCapture`` opens (each camera type names its own)
    target_field = ""

    @classmethod
    def from_config(
        cls,
        config: Any,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Any] = time.sleep,
    ) -> OpenCVCameraSource:
        """The camera a ``device``, ``path`` or ``stream`` config describes (``sleep`` is not needed)."""
        return cls(
            getattr(config, cls.target_field),
            width=config.width,
            height=config.height,
            fps=config.fps,
            clock=clock,
        )

    def __init__(
        self,
        target: int | str,
        *,
        width: int = 0,
        height: int = 0,
        fps: float = 0.0,
        open_timeout_s: float = 10.0,
        read_timeout_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.target = target
        self.width = width
        self.height = height
        self.nominal_fps = fps or None
        self.open_timeout_s = open_timeout_s
        self.read_timeout_s = read_timeout_s
        self.clock = clock
        self.name = self._describe(target)

    @staticmethod
    def _describe(target: int | str) -> str:
        if isinstance(target, int):
            return f"camera #{target}"
        if "://" in str(target):  # never log credentials embedded in a URL
            scheme, rest = str(target).split("://", 1)
            return f"{scheme}://{rest.split('@')[-1]}"
        return str(target)

    def open(self) -> FrameStream:
        params: list[int] = []
        if isinstance(self.target, str) and "://" in self.target:
            params = [
                cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
                int(self.open_timeout_s * 1000),
                cv2.CAP_PROP_READ_TIMEOUT_MSEC,
                int(self.read_timeout_s * 1000),
            ]
        api = cv2.CAP_ANY
        cap = cv2.VideoCapture(self.target, api, params) if params else cv2.VideoCapture(self.target, api)
        if not cap.isOpened():
            cap.release()
            raise CameraError(f"{self.name}: cannot open (not connected, wrong index/path/URL, or busy)")
        if self.width and self.height:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
        if self.nominal_fps:
            cap.set(cv2.CAP_PROP_FPS, self.nominal_fps)
        logger.info("opened %s", self.name)
        return _CaptureStream(cap, self.name, self.clock)


# -------------------------------------------------------------------------------------- video file


def open_video(path: Path) -> cv2.VideoCapture:
    """``path`` opened for reading, decoded on one thread: a camera-sized video decodes many times faster
    than real time on one, and FFmpeg's frame threads spread over cores cost more CPU for the same frames
    (the demo walk's 783 frames on a 2-core machine: 0.27 CPU s on one thread, 0.37-0.42 s with
    FFmpeg's default two; pinned to one core the same). Falls back to OpenCV's default backend when its
    FFmpeg backend cannot open the file."""
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, 1])
    if cap.isOpened():
        return cap
    cap.release()
    return cv2.VideoCapture(str(path))


def video_seconds(path: Path | str) -> float | None:
    """How long the video at ``path`` plays once through (its frame count over its frame rate, as the
    file says), or None when it cannot be opened or does not say (a stream-like file without a count)."""
    cap = open_video(Path(path))
    try:
        if not cap.isOpened():
            return None
        frames, fps = cap.get(cv2.CAP_PROP_FRAME_COUNT), cap.get(cv2.CAP_PROP_FPS)
    finally:
        cap.release()
    if not (math.isfinite(frames) and frames > 0 and math.isfinite(fps) and 0 < fps <= 1000):
        return None
    return frames / fps


class _VideoFileStream(FrameStream):
    def __init__(self, source: VideoFileSource, cap: cv2.VideoCapture, fps: float):
        self._src = source
        self._cap = cap
        self._fps = fps
        self._index = 0  # frames delivered, across loops
        self._pos = 0  # frame position in the file
        self._start = source.clock()

    def read(self) -> Frame:
        ok, image = self._cap.read()
        if not ok or image is None:
            if not self._src.loop:
                raise EndOfStream(f"{self._src.name}: end of video after {self._pos} frames")
            if self._pos == 0:
                raise CameraError(
                    f"{self._src.name}: the video has no readable frames (truncated or corrupt?)"
                )
            # rewind; reopening is more robust than seeking for files cut short mid-frame
            self._cap.release()
            self._cap = open_video(self._src.path)
            ok, image = self._cap.read() if self._cap.isOpened() else (False, None)
            if not ok or image is None:
                raise CameraError(f"{self._src.name}: cannot read the video again after looping (removed?)")
            self._pos = 0
        media_time = self._pos / self._fps
        if self._src.realtime:
            due = self._start + self._index / self._fps
            delay = due - self._src.clock()
            if delay > 0:
                self._src.sleep(delay)
            timestamp = self._src.clock()
        else:
            timestamp = self._index / self._fps
        frame = Frame(image, timestamp, self._index, media_time)
        self._index += 1
        self._pos += 1
        return frame

    def close(self) -> None:
        self._cap.release()


def _not_a_video_file(path: Path) -> str:
    """Why ``path``, which is no regular file, cannot be played: a video replaced by a FIFO, a folder or a
    device was reported as "video file not found", which sends a technician looking for a missing file."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return f"{path}: video file not found"
    except OSError as exc:  # a folder on the way it may not enter, a loop of links
        return f"{path}: cannot look at the video file ({exc.strerror or exc})"
    if stat.S_ISDIR(mode):
        return f"{path} is a folder, not a video file"
    if stat.S_ISFIFO(mode):
        return f"{path} is a FIFO/named pipe, not a video file"
    if stat.S_ISCHR(mode):  # /dev/video0 under type: video
        return f"{path} is a device, not a video file (a camera by its device path is type: path)"
    what = "a socket" if stat.S_ISSOCK(mode) else "a block device" if stat.S_ISBLK(mode) else "not a file"
    return f"{path} is {what}, not a video file"


class VideoFileSource(CameraSource):
    """A video file standing in for a camera.

    Args:
        path: the video (mp4v, MJPG, XVID... whatever OpenCV's FFmpeg reads).
        loop: start again at the end (else :class:`EndOfStream`).
        realtime: deliver frames at the video's own rate using ``clock``/``sleep``; False delivers them
            as fast as they are read and stamps them with the video's time.
        fps: override the frame rate stored in the file (frames per second).
        clock, sleep: the time base and how to wait (seconds), injectable for tests.
    """

    config_class = VideoCameraConfig

    @classmethod
    def from_config(
        cls,
        config: Any,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Any] = time.sleep,
    ) -> VideoFileSource:
        """The video a ``type: video`` config describes."""
        return cls(config.path, loop=config.loop, realtime=config.realtime, clock=clock, sleep=sleep)

    def __init__(
        self,
        path: Path | str,
        *,
        loop: bool = True,
        realtime: bool = True,
        fps: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Any] = time.sleep,
    ):
        self.path = Path(path)
        self.loop = loop
        self.realtime = realtime
        self.clock = clock
        self.sleep = sleep
        self.name = str(self.path)
        self._fps_override = fps
        self.nominal_fps = fps

    def open(self) -> FrameStream:
        if not self.path.is_file():
            raise CameraError(_not_a_video_file(self.path))
        cap = open_video(self.path)
        if not cap.isOpened():
            cap.release()
            raise CameraError(f"{self.path}: OpenCV cannot open this video (not a video, or truncated)")
        fps = self._fps_override or cap.get(cv2.CAP_PROP_FPS)
        if not fps or not math.isfinite(fps) or fps <= 0 or fps > 1000:
            fps = 25.0
            logger.warning("%s reports no usable frame rate; assuming %.0f fps", self.path, fps)
        self.nominal_fps = fps
        return _VideoFileStream(self, cap, fps)


class DeviceCameraSource(OpenCVCameraSource):
    """A local camera by index (``type: device``)."""

    config_class = DeviceCameraConfig
    #: the config field that names what OpenCV opens
    target_field = "index"


class PathCameraSource(OpenCVCameraSource):
    """A local camera by device path (``type: path``)."""

    config_class = PathCameraConfig
    #: the config field that names what OpenCV opens
    target_field = "path"


class StreamCameraSource(OpenCVCameraSource):
    """A network camera, RTSP or HTTP MJPEG (``type: stream``)."""

    config_class = StreamCameraConfig
    #: the config field that names what OpenCV opens
    target_field = "url"


#: the camera backends, listed once: the exhibit's ``camera`` union and the lookup that builds one
CAMERAS = Registry("camera", [DeviceCameraSource, PathCameraSource, StreamCameraSource, VideoFileSource])
#: the ``camera`` section: one of the cameras' configs, chosen by ``type``
CameraConfig = CAMERAS.config_union()


def camera_source_from_config(
    config: Any,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Any] = time.sleep,
) -> CameraSource:
    """The source an exhibit's ``camera:`` section describes (``type``: device, path, stream or video)."""
    return CAMERAS.create(config, clock=clock, sleep=sleep)
