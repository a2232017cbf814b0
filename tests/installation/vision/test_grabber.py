"""The frame grabber and the camera sources: stalls and errors are reconnected and reported, stop() never
hangs, only the newest frame is kept, a video file loops and is paced at its frame rate."""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from art2mus.installation.vision.grabber import FrameGrabber
from art2mus.installation.vision.sources import (
    CameraError,
    CameraSource,
    EndOfStream,
    Frame,
    FrameStream,
    VideoFileSource,
)

FAST = {"read_timeout_s": 0.3, "open_timeout_s": 0.5, "backoff_initial_s": 0.05, "poll_s": 0.01}


def _wait_until(condition, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


class _ScriptedStream(FrameStream):
    """Delivers ``frames`` frames (every 10 ms), then does what ``then`` says: ``stall`` (block inside
    read until released) or ``error`` (raise CameraError)."""

    def __init__(self, source: _ScriptedSource, frames: int, then: str):
        self.source = source
        self.frames = frames
        self.then = then
        self.delivered = 0
        self.closed = False

    def read(self) -> Frame:
        if self.delivered >= self.frames:
            if self.then == "stall":
                self.source.stalled_reads += 1
                self.source.release.wait()  # a dead RTSP server: read() never returns
                raise CameraError("released")
            raise CameraError("USB camera unplugged")
        time.sleep(0.01)
        self.delivered += 1
        self.source.delivered += 1
        return Frame(np.zeros((4, 4, 3), np.uint8), time.monotonic(), self.source.delivered)

    def close(self) -> None:
        self.closed = True


class _ScriptedSource(CameraSource):
    """Each open() takes the next script entry: ``("fail",)`` raises, ``(frames, then)`` opens a stream."""

    name = "scripted camera"

    def __init__(self, script: list[tuple]):
        self.script = list(script)
        self.opens: list[float] = []
        self.streams: list[_ScriptedStream] = []
        self.delivered = 0
        self.stalled_reads = 0
        self.release = threading.Event()

    def open(self) -> FrameStream:
        self.opens.append(time.monotonic())
        step = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if step[0] == "fail":
            raise CameraError("cannot open: camera busy")
        stream = _ScriptedStream(self, *step)
        self.streams.append(stream)
        return stream


def test_a_read_that_stalls_forever_is_abandoned_and_the_camera_reopened():
    source = _ScriptedSource([(5, "stall"), (5, "stall"), (1000, "error")])
    grabber = FrameGrabber(source, **FAST).start()
    try:
        assert _wait_until(lambda: grabber.health().reconnects >= 2 and grabber.health().state == "streaming")
        health = grabber.health()
        assert len(source.opens) >= 3
        assert source.stalled_reads == 2
        assert health.stuck_readers == 2  # both still blocked inside read()
        assert "no frame" in health.last_error and "abandoned" in health.last_error
        newest = grabber.wait_for_frame(timeout=1.0)
        assert newest is not None and newest.index > 10  # frames from the third stream
        # stop waits for the readers still inside read() (none may be inside OpenCV at exit): they
        # return here a moment later, as OpenCV's FFmpeg reads do within their read timeout
        threading.Timer(0.3, source.release.set).start()
        assert grabber.stop(timeout=10.0)
        assert grabber.health().state == "stopped" and grabber.health().stuck_readers == 0
        assert all(s.closed for s in source.streams)  # each abandoned reader closed its stream
    finally:
        source.release.set()
        grabber.stop()


def test_the_supervisor_sleeps_long_yet_sees_a_failure_or_a_stall_when_it_happens():
    # a thread wake-up costs a small machine as much as the check it makes: the supervisor does not poll
    # 20 times a second; a reader that ends wakes it, and it wakes when the reader would time out
    source = _ScriptedSource([(5, "error"), (5, "stall"), (1000, "error")])
    grabber = FrameGrabber(source, **(FAST | {"poll_s": 30.0})).start()
    try:
        started = time.monotonic()
        assert _wait_until(lambda: grabber.health().reconnects >= 2 and grabber.health().frames > 15, 5.0)
        # an error (reopened after 0.05 s of backoff), then a stall abandoned after its 0.3 s timeout
        assert time.monotonic() - started < 3.0
        assert "abandoned" in grabber.health().last_error
    finally:
        source.release.set()
        grabber.stop()


def test_stop_gives_up_on_a_read_that_never_returns_after_its_timeout(caplog):
    source = _ScriptedSource([(3, "stall")])
    grabber = FrameGrabber(source, **(FAST | {"read_timeout_s": 30.0})).start()
    try:
        assert _wait_until(lambda: source.stalled_reads == 1)
        started = time.monotonic()
        assert not grabber.stop(timeout=0.5)  # bounded: the reader is left to the exit hook
        assert 0.4 < time.monotonic() - started < 5.0
        assert "still inside OpenCV" in caplog.text
    finally:
        source.release.set()
    assert _wait_until(lambda: grabber.health().stuck_readers == 0 and source.streams[0].closed)


def test_errors_back_off_doubling_and_reconnect():
    source = _ScriptedSource([("fail",), ("fail",), ("fail",), (1000, "error")])
    grabber = FrameGrabber(source, **FAST).start()
    try:
        assert _wait_until(lambda: grabber.health().frames >= 5)
        health = grabber.health()
        assert health.state == "streaming"
        assert health.reconnects == 3
        assert health.last_error == "cannot open: camera busy"
        gaps = np.diff(source.opens[:4])
        # 0.05, 0.1, 0.2 s: each wait at least its backoff, and it doubles
        assert gaps[0] >= 0.05 and gaps[1] >= 0.1 and gaps[2] >= 0.2
        assert gaps[2] > 1.5 * gaps[0]
        assert gaps.max() < 1.5
    finally:
        grabber.stop()


def test_a_stream_that_fails_mid_read_is_reported_and_reopened():
    source = _ScriptedSource([(5, "error"), (1000, "error")])
    grabber = FrameGrabber(source, **FAST).start()
    try:
        assert _wait_until(lambda: grabber.health().frames >= 10)
        health = grabber.health()
        assert health.reconnects == 1 and health.state == "streaming"
        assert health.last_error == "USB camera unplugged"
        assert source.streams[0].closed
        assert health.fps > 10 and health.last_frame_age_s is not None and health.last_frame_age_s < 0.5
    finally:
        grabber.stop()


#: a wait on a condition gives up only after this long: a hang, however busy the machine
GIVE_UP = 120.0
GRABBER_LOG = "art2mus.installation.vision.grabber"


def test_a_camera_back_after_an_outage_says_so_once_and_its_error_is_dated(caplog):
    """Each reconnect was a warning: without a line when frames flow again, the log read as if the camera
    were still down, and the status kept the error with nothing saying it was over."""
    caplog.set_level(logging.INFO, logger=GRABBER_LOG)
    source = _ScriptedSource([(5, "error"), ("fail",), ("fail",), (10**6, "error")])
    grabber = FrameGrabber(source, **FAST).start()
    try:
        assert grabber.health().last_error is None and grabber.health().last_error_age_s is None
        assert _wait_until(lambda: "back after" in caplog.text and grabber.health().frames >= 10, GIVE_UP)
        back = [r.getMessage() for r in caplog.records if "back after" in r.getMessage()]
        assert len(back) == 1, back
        match = re.fullmatch(r"camera scripted camera back after (\d+\.\d) s \(3 attempts\)", back[0])
        assert match, back[0]
        assert float(match[1]) >= 0.05 + 0.1  # the two backoffs between the three reopenings at least
        health = grabber.health()
        assert health.state == "streaming" and health.reconnects == 3
        # the error is kept (the technician wants to know what happened) and dated
        assert health.last_error == "cannot open: camera busy"
        assert health.last_error_age_s is not None and health.last_error_age_s >= 0
        assert _wait_until(lambda: grabber.health().last_error_age_s > health.last_error_age_s, GIVE_UP)
    finally:
        grabber.stop()


def test_a_camera_that_opens_late_is_streaming_not_back(caplog):
    caplog.set_level(logging.INFO, logger=GRABBER_LOG)
    source = _ScriptedSource([("fail",), (1000, "error")])
    grabber = FrameGrabber(source, **FAST).start()
    try:
        assert _wait_until(lambda: "after" in caplog.text, GIVE_UP)
        assert re.search(
            r"camera scripted camera streaming after \d+\.\d s \(1 attempt\)$", caplog.text, re.M
        )
        assert "back after" not in caplog.text
    finally:
        grabber.stop()


def test_a_camera_that_never_opens_keeps_being_retried_and_stop_is_prompt():
    source = _ScriptedSource([("fail",)])
    grabber = FrameGrabber(source, **(FAST | {"backoff_max_s": 0.1})).start()
    try:
        assert _wait_until(lambda: grabber.health().reconnects >= 4)
        health = grabber.health()
        assert health.state == "reconnecting" and health.frames == 0 and health.fps == 0.0
        assert health.last_frame_age_s is None
        assert grabber.wait_for_frame(timeout=0.05) is None
    finally:
        assert grabber.stop(timeout=1.0)


# ----------------------------------------------------------------------------- video files


FILE_FPS = 20.0
FILE_FRAMES = 12


def _grey_level(i: int) -> int:
    return 10 + 20 * i  # frame i of the test video is this grey (MJPG keeps flat areas within a few levels)


@pytest.fixture(scope="module")
def tiny_video(tmp_path_factory) -> Path:
    """12 frames of 64x48 MJPG at 20 fps; frame i is flat grey ``_grey_level(i)``."""
    path = tmp_path_factory.mktemp("video") / "tiny.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FILE_FPS, (64, 48))
    assert writer.isOpened()
    for i in range(FILE_FRAMES):
        writer.write(np.full((48, 64, 3), _grey_level(i), np.uint8))
    writer.release()
    return path


def _position(frame: Frame) -> int:
    """Which frame of the test video this is, read from its grey level."""
    return round((float(frame.image.mean()) - 10) / 20)


def test_a_video_file_through_opencv_loops_and_the_grabber_keeps_only_the_newest(tiny_video):
    source = VideoFileSource(tiny_video, loop=True, realtime=False)
    grabber = FrameGrabber(source, **FAST).start()
    try:
        seen = []
        last = None
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline and (not seen or seen[-1].index < 3 * FILE_FRAMES):
            frame = grabber.wait_for_frame(last, timeout=1.0)
            assert frame is not None
            seen.append(frame)
            last = frame.index
            time.sleep(0.005)  # a slow consumer: the grabber must not queue frames for it
        assert seen[-1].index >= 3 * FILE_FRAMES, "the video did not loop"
        indices = [f.index for f in seen]
        assert indices == sorted(indices) and len(set(indices)) == len(indices)
        assert len(seen) < seen[-1].index, "every frame was handed over: frames are queued, not replaced"
        for frame in seen:  # the content is the frame the position says, across loops
            assert _position(frame) == frame.index % FILE_FRAMES
            assert frame.media_time == pytest.approx((frame.index % FILE_FRAMES) / FILE_FPS)
            assert frame.timestamp == pytest.approx(frame.index / FILE_FPS)  # video time, not wall time
        # the newest frame is the one just read: the grabber's copy is never behind the source
        newest = grabber.latest()
        assert newest is not None and newest.index >= seen[-1].index
        assert grabber.health().reconnects == 0
    finally:
        assert grabber.stop(timeout=2.0)


def test_a_video_that_does_not_loop_ends(tiny_video):
    stream = VideoFileSource(tiny_video, loop=False, realtime=False).open()
    frames = [stream.read() for _ in range(FILE_FRAMES)]
    assert [_position(f) for f in frames] == list(range(FILE_FRAMES))
    with pytest.raises(EndOfStream):
        stream.read()
    stream.close()
    grabber = FrameGrabber(VideoFileSource(tiny_video, loop=False, realtime=False), **FAST).start()
    try:
        assert _wait_until(lambda: grabber.health().state == "ended")
        assert grabber.health().frames == FILE_FRAMES and grabber.health().reconnects == 0
    finally:
        grabber.stop()


@pytest.mark.skipif(
    len(os.sched_getaffinity(0)) < 2 if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1) < 2,
    reason="FFmpeg's default is a decoding thread per core this process may run on: one with one",
)
def test_a_video_file_decodes_on_one_thread_to_the_same_frames(repo_root):
    """FFmpeg's frame threads cost CPU (a simulation's figure is CPU time): the source asks for one, and
    the frames are those of OpenCV's default decoding, after a loop too."""
    walk = repo_root / "exhibits" / "demo" / "camera" / "walk.mp4"
    stream = VideoFileSource(walk, loop=True, realtime=False).open()
    assert stream._cap.get(cv2.CAP_PROP_N_THREADS) == 1
    default = cv2.VideoCapture(str(walk))
    assert default.get(cv2.CAP_PROP_N_THREADS) != 1, "this OpenCV decodes on one thread anyway: nothing shown"
    frames = []
    while True:
        ok, image = default.read()
        if not ok:
            break
        frames.append(image)
    default.release()
    assert len(frames) == 783
    for n, expected in enumerate(frames):
        assert np.array_equal(stream.read().image, expected), f"frame {n}"
    again = stream.read()  # looped: the first frame, from a capture opened the same way
    assert again.media_time == 0.0 and np.array_equal(again.image, frames[0])
    assert stream._cap.get(cv2.CAP_PROP_N_THREADS) == 1
    stream.close()


def test_a_paced_video_delivers_frames_at_its_rate_and_an_unpaced_one_faster(tiny_video):
    n = 2 * FILE_FRAMES + 1  # across a loop

    def read_time(realtime: bool) -> tuple[float, list[Frame]]:
        stream = VideoFileSource(tiny_video, loop=True, realtime=realtime).open()
        started = time.monotonic()
        frames = [stream.read() for _ in range(n)]
        elapsed = time.monotonic() - started
        stream.close()
        return elapsed, frames

    paced, frames = read_time(True)
    expected = (n - 1) / FILE_FPS  # the first frame is due at once
    assert expected * 0.9 < paced < expected * 1.5, paced
    gaps = np.diff([f.timestamp for f in frames])
    assert np.median(gaps) == pytest.approx(1 / FILE_FPS, rel=0.2)
    unpaced, _ = read_time(False)
    assert unpaced < paced / 3, (unpaced, paced)


def test_pacing_follows_the_injected_clock(tiny_video):
    """With a fake clock and sleep, the source waits exactly until each frame is due."""
    now = [1000.0]
    sleeps = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    source = VideoFileSource(tiny_video, realtime=True, fps=10.0, clock=lambda: now[0], sleep=sleep)
    stream = source.open()
    stamps = [stream.read().timestamp for _ in range(5)]
    stream.close()
    assert stamps == pytest.approx([1000.0, 1000.1, 1000.2, 1000.3, 1000.4])
    assert sum(sleeps) == pytest.approx(0.4)
    assert source.nominal_fps == 10.0


def test_a_paced_video_through_the_grabber_reports_its_fps(tiny_video):
    grabber = FrameGrabber(VideoFileSource(tiny_video, loop=True, realtime=True), **FAST).start()
    try:
        assert _wait_until(lambda: grabber.health().frames >= 25)
        assert grabber.health().fps == pytest.approx(FILE_FPS, rel=0.25)
    finally:
        grabber.stop()


def test_missing_and_broken_video_files_raise_camera_errors(tmp_path):
    with pytest.raises(CameraError, match="not found"):
        VideoFileSource(tmp_path / "none.mp4").open()
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all" * 10)
    with pytest.raises(CameraError, match="junk.mp4"):
        VideoFileSource(junk).open()
