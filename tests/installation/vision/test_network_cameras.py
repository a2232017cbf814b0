"""Network cameras: an MJPEG-over-HTTP camera and an RTSP camera (GStreamer's RTSP server) on loopback,
streaming the demo walk, that go dark and come back are reconnected, and every way out of ``art2mus recognize`` on it ends cleanly (no exit 134 from a
reader thread left inside OpenCV)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest
from network_cameras import MjpegServer, RtspServer, gstreamer_rtsp_missing

from art2mus.installation.vision import grabber as grabber_module
from art2mus.installation.vision.grabber import FrameGrabber
from art2mus.installation.vision.sources import OpenCVCameraSource

ART2MUS = [sys.executable, "-m", "art2mus.installation.cli"]


def _wait_until(condition, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


@pytest.fixture
def camera(repo_root):
    server = MjpegServer(repo_root / "exhibits/demo/camera/walk.mp4").start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def exhibit(repo_root, tmp_path_factory):
    """A copy of the demo exhibit, so the recognition index is stored in a temporary folder."""
    demo = repo_root / "exhibits/demo/exhibit.yaml"
    folder = tmp_path_factory.mktemp("exhibit") / "demo"
    shutil.copytree(demo.parent, folder, ignore=shutil.ignore_patterns(".art2mus"))
    return folder / demo.name


@pytest.fixture
def rtsp_camera(repo_root, tmp_path):
    missing = gstreamer_rtsp_missing()
    if missing:
        pytest.skip(missing)
    server = RtspServer(repo_root / "exhibits/demo/camera/walk.mp4", tmp_path / "frames").start()
    yield server
    server.stop()


@pytest.mark.parametrize("kind", ["mjpeg", "rtsp"])
def test_a_network_camera_that_goes_dark_is_reconnected_when_it_returns(request, kind):
    camera = request.getfixturevalue("camera" if kind == "mjpeg" else "rtsp_camera")
    source = OpenCVCameraSource(camera.url, open_timeout_s=3.0, read_timeout_s=2.0)
    grabber = FrameGrabber(
        source, open_timeout_s=5.0, read_timeout_s=3.0, backoff_initial_s=0.2, backoff_max_s=0.5
    )
    grabber.start()
    try:
        assert _wait_until(lambda: grabber.health().frames >= 10), grabber.health()
        frame = grabber.latest()
        assert frame.image.shape == (360, 640, 3)
        camera.stop()  # power cut at the camera
        assert _wait_until(lambda: grabber.health().state == "reconnecting"), grabber.health()
        assert _wait_until(lambda: grabber.health().reconnects >= 2)  # tried again while it was dark
        dark_frames = grabber.health().frames
        camera.start()  # back, on the same address
        assert _wait_until(lambda: grabber.health().frames >= dark_frames + 10), grabber.health()
        assert grabber.health().state == "streaming"
    finally:
        assert grabber.stop(timeout=15.0)  # every reader is out of OpenCV
    assert not [r for r in grabber_module._LIVE_READERS if r.source is source]
    assert not [t for t in threading.enumerate() if t.name.startswith(f"camera-reader:{source.name}")]


def _as_from_a_terminal() -> None:
    # A test run started in the background (`pytest &`, nohup, some CI shells) inherits SIGINT
    # ignored, and Python then installs no Ctrl-C handler in its children: give the command the
    # default disposition a terminal gives it, so that SIGINT means Ctrl-C here.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _recognize(exhibit, url: str, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [*ART2MUS, "recognize", str(exhibit), url, "--json", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONFAULTHANDLER": "1"},
        preexec_fn=_as_from_a_terminal,
    )


@pytest.mark.parametrize(
    ("kind", "how"),
    [("mjpeg", "duration"), ("mjpeg", "SIGTERM"), ("mjpeg", "SIGINT"), ("mjpeg", "camera-gone")]
    + [("rtsp", "SIGTERM"), ("rtsp", "camera-gone")],
)
def test_every_way_out_of_recognize_on_a_network_camera_is_clean(request, exhibit, kind, how):
    camera = request.getfixturevalue("camera" if kind == "mjpeg" else "rtsp_camera")
    if how == "duration":
        process = _recognize(exhibit, camera.url, "--duration", "4")
    else:
        process = _recognize(exhibit, camera.url)
        # wait until it watches (the first decision line), then end it
        first = process.stdout.readline()
        assert first, process.communicate(timeout=60)[1][-3000:]
        if how == "camera-gone":
            camera.stop()
            time.sleep(1.0)  # the reader fails and the grabber reconnects; stopping meets that state
            process.send_signal(signal.SIGTERM)
        else:
            process.send_signal(getattr(signal, how))
    try:
        out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    expected = 130 if how == "SIGINT" else 0
    assert process.returncode == expected, (process.returncode, err[-3000:])
    assert "terminate called" not in err and "FATAL" not in err and "Fatal Python error" not in err
    if how == "duration":
        lines = [json.loads(line) for line in out.splitlines() if line.strip()]
        assert lines and all(line["source"] == camera.url for line in lines)
        # times since the watch began, not the monotonic clock
        assert all(0.0 <= line["t"] <= 6.0 for line in lines), lines


@pytest.mark.parametrize("kind", ["mjpeg", "rtsp"])
def test_the_daemon_on_a_network_camera_stops_cleanly_on_sigterm(request, daemon_under_systemd, kind):
    """``art2mus run`` with a ``stream`` camera, stopped by systemd's SIGTERM once it plays: exit 0."""
    camera = request.getfixturevalue("camera" if kind == "mjpeg" else "rtsp_camera")
    daemon, notify, _ = daemon_under_systemd({"type": "stream", "url": camera.url})
    while not notify.recv(4096).startswith(b"READY=1"):
        pass
    if kind == "mjpeg":  # the grabber is reading the stream (the server counts its viewers)
        assert _wait_until(lambda: camera.connections >= 1)
    time.sleep(1.0)  # a moment of frames: SIGTERM meets a reader inside OpenCV's read
    daemon.send_signal(signal.SIGTERM)
    _, err = daemon.communicate(timeout=120)
    assert daemon.returncode == 0, err[-3000:]
    assert "terminate called" not in err and "FATAL" not in err
