"""A camera that streams a picture that is no picture: a stuck driver's one frame again and again, bit for bit,
or black (a covered lens, the lights off).

The sweep ran the daemon on a video of one frame repeated for 60 s: the status said 'playing Amber Fields
at Dusk (following the camera)', 'camera streaming, 10.0 fps', 'attention none' (the room would play one
artwork all day); 60 s of black frames said 'camera streaming', 'attention none'. Here the real grabber
reads small videos written with OpenCV, with its bounds shortened (30 s each in the daemon), and its
health goes through the panel's attention, the metric and systemd's status line as the daemon's does.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from test_grabber import _wait_until

from art2mus.installation.vision.grabber import FrameGrabber, picture_signature
from art2mus.installation.vision.sources import CameraSource, Frame, FrameStream, VideoFileSource
from art2mus.installation.watchdog import RoomStatusLine
from art2mus.kiosk_ui.insight import GalleryCollector, attention

FPS = 20
QUICK = dict(backoff_initial_s=0.05, backoff_max_s=0.2, poll_s=0.05)


def _video(path: Path, frames: list[np.ndarray]) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (64, 48))
    assert writer.isOpened()
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


def _noisy(rng: np.random.Generator, level: float, count: int) -> list[np.ndarray]:
    """``count`` frames of a still grey wall at ``level`` with a sensor's noise (each frame differs)."""
    return [np.clip(level + rng.normal(0, 3, (48, 64, 3)), 0, 255).astype(np.uint8) for _ in range(count)]


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("picture")
    rng = np.random.default_rng(0)
    return {
        # one frame repeated: what a stuck driver sends. As the sweep's static_frozen.avi (600 frames, of
        # which the first decodes unlike the others), each reopening starts with one other frame
        "frozen": _video(folder / "frozen.avi", _noisy(rng, 128, 1) + _noisy(rng, 128, 1) * 2 * FPS),
        # a still room: 5 frames looped, so the loop's restart comes every 0.25 s (frames still differ)
        "still": _video(folder / "still.avi", _noisy(rng, 128, 5)),
        "black": _video(folder / "black.avi", _noisy(rng, 2, 5)),
        # a capped lens whose camera clamps its black level: 0 everywhere, bit for bit (the sweep's all_black)
        "zeros": _video(folder / "zeros.avi", [np.zeros((48, 64, 3), np.uint8)] * FPS),
    }


def _status(grabber: FrameGrabber, open_: bool = True) -> dict:
    """The parts of /api/status that attention and the metric read (the camera as control.py says it)."""
    return {
        "camera": dataclasses.asdict(grabber.health()),
        "audio": {"healthy": True, "master_volume": 0.8},
        "schedule": {"open": open_},
    }


def _picture_ok(status: dict) -> float:
    gallery = SimpleNamespace(status=lambda: status, cache=None)
    return (
        next(f for f in GalleryCollector(gallery).collect() if f.name == "art2mus_camera_picture_ok")
        .samples[0]
        .value
    )


def _status_line(grabber: FrameGrabber, closed: bool = False) -> str:
    gallery = SimpleNamespace(
        exhibit=SimpleNamespace(collection=SimpleNamespace(timezone="UTC"), artworks=[]),
        director=SimpleNamespace(closed=closed, override=None, playing="idle"),
        schedule=None,
        grabber=grabber,
        engine=SimpleNamespace(state="playing"),
        last_reload=None,
    )
    return RoomStatusLine(gallery, lambda: dt.datetime(2026, 12, 7, 14, 3, tzinfo=dt.timezone.utc))()


def test_identical_frames_are_held_back_and_the_camera_is_reopened(videos):
    grabber = FrameGrabber(VideoFileSource(videos["frozen"]), frozen_after_s=0.5, **QUICK).start()
    try:
        assert _wait_until(lambda: grabber.health().reconnects >= 2)
        health = grabber.health()
        assert health.picture == "frozen" and health.state == "reconnecting"
        assert health.last_error.startswith("camera picture frozen: identical frames for ")
        assert health.last_error.endswith(" s (a stuck driver?)")
        # the room gets none of them past the bound, also from the reopened stream (the same picture)
        delivered = health.frames
        assert delivered <= 0.5 * FPS + 3
        time.sleep(0.5)
        assert grabber.health().frames == delivered
        assert grabber.health().reconnects >= 3

        status = _status(grabber)
        said = [c for c in attention(status) if "camera" in c]
        assert len(said) == 1  # not also 'no camera frames ... (camera reconnecting)'
        assert said[0].startswith("camera picture frozen: identical frames for ")
        assert said[0].endswith(" s (a stuck driver?); reopening it")
        assert _picture_ok(status) == 0.0
        line = _status_line(grabber)
        assert line.startswith("camera picture frozen since 14:0") and line.endswith(
            " (reopening), open: idle ambience"
        )
    finally:
        assert grabber.stop()


def test_a_still_room_and_a_looping_video_are_not_frozen(videos):
    """A real sensor's frames differ even facing a still wall, and a looping video's restart brings a frame
    unlike the one before it (the demo's camera loops)."""
    grabber = FrameGrabber(VideoFileSource(videos["still"]), frozen_after_s=0.3, **QUICK).start()
    try:
        time.sleep(1.2)  # 4 loops of the video, 4 bounds
        health = grabber.health()
        assert (health.picture, health.state, health.reconnects) == ("ok", "streaming", 0)
        assert health.frames >= 15
        status = _status(grabber)
        assert attention(status) == []
        assert _picture_ok(status) == 1.0
        assert _status_line(grabber) == "open: idle ambience"
    finally:
        assert grabber.stop()


class _StuckThenMoving(CameraSource):
    """One frame again and again until ``moving`` is set, then a sensor's frames."""

    name = "camera #0"

    def __init__(self) -> None:
        self.moving = threading.Event()
        self.opens = 0
        self.rng = np.random.default_rng(1)
        self.stuck = np.full((48, 64, 3), 128, np.uint8)

    def open(self) -> FrameStream:
        self.opens += 1
        source, index = self, [0]

        class Stream(FrameStream):
            def read(self) -> Frame:
                time.sleep(1 / FPS)
                index[0] += 1
                if not source.moving.is_set():
                    return Frame(source.stuck.copy(), time.monotonic(), index[0])
                return Frame(_noisy(source.rng, 128, 1)[0], time.monotonic(), index[0])

            def close(self) -> None:
                pass

        return Stream()


def test_the_camera_streams_again_once_its_picture_moves():
    source = _StuckThenMoving()
    grabber = FrameGrabber(source, frozen_after_s=0.4, **QUICK).start()
    try:
        assert _wait_until(lambda: grabber.health().picture == "frozen" and source.opens >= 2)
        source.moving.set()
        assert _wait_until(lambda: grabber.health().state == "streaming")
        frames = grabber.health().frames
        assert _wait_until(lambda: grabber.health().frames > frames + 3)
        assert grabber.health().picture == "ok"
        assert attention(_status(grabber)) == []
    finally:
        assert grabber.stop()


@pytest.mark.parametrize("video", ["black", "zeros"])
def test_a_black_picture_is_said_while_open_and_nothing_is_reopened(videos, video):
    """Also when its frames are identical (all 0): that is no stuck driver a reopening mends."""
    grabber = FrameGrabber(
        VideoFileSource(videos[video]), black_after_s=0.4, frozen_after_s=0.2, **QUICK
    ).start()
    try:
        assert _wait_until(lambda: grabber.health().picture == "black")
        time.sleep(0.3)
        health = grabber.health()
        assert (health.state, health.reconnects) == ("streaming", 0)
        frames = health.frames
        assert _wait_until(lambda: grabber.health().frames > frames)  # the room still gets its frames

        status = _status(grabber)
        said = [c for c in attention(status) if "camera" in c]
        assert len(said) == 1 and said[0].startswith("camera picture black for ")
        assert said[0].endswith(" s (covered, lights off?)")
        assert _picture_ok(status) == 0.0
        assert _status_line(grabber).startswith("camera picture black since 14:0")
        assert ", open: idle ambience" in _status_line(grabber)

        # closed: a dark room at night is normal
        closed = _status(grabber, open_=False)
        assert attention(closed) == []
        assert _picture_ok(closed) == 1.0
        assert not _status_line(grabber, closed=True).startswith("camera")
    finally:
        assert grabber.stop()


def test_the_signature_reads_a_few_thousand_pixels_quickly():
    """The daemon's CPU goal is 5 % of one core at 10 fps (5 ms a frame for everything): the check is
    about 0.05 ms of it at 640x360 and at 1920x1080."""
    rng = np.random.default_rng(2)
    for shape in ((360, 640, 3), (1080, 1920, 3), (480, 640)):
        image = rng.integers(0, 256, shape, dtype=np.uint8)
        other = image.copy()
        other[::2, ::2] ^= 1  # every sampled pixel of a sensor's next frame differs in its noise
        assert picture_signature(image)[0] == picture_signature(image.copy())[0]
        assert picture_signature(image)[0] != picture_signature(other)[0]
        started = time.perf_counter()
        for _ in range(100):
            picture_signature(image)
        assert (time.perf_counter() - started) / 100 < 1e-3
    assert picture_signature(np.zeros((360, 640, 3), np.uint8))[1] == 0.0
    assert picture_signature(np.full((360, 640, 3), 200, np.uint8))[1] == 200.0


@pytest.mark.parametrize(("video", "status"), [("black", "warn"), ("zeros", "warn"), ("still", "ok")])
def test_doctor_warns_of_a_black_frame(videos, video, status):
    """doctor reads one frame: black is worth a look (covered lens), though not a failure (lights off)."""
    from art2mus.installation.health import check_camera
    from art2mus.installation.vision.sources import VideoCameraConfig

    check = check_camera(SimpleNamespace(camera=VideoCameraConfig(path=videos[video])))
    assert check.status == status
    if status == "warn":
        assert re.search(
            r": a 64x48 frame, black \(mean [0-3]/255\): the lens covered, or the room dark\?$", check.detail
        )
