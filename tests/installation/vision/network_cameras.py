"""Network cameras for the tests, on loopback: an MJPEG-over-HTTP server and an RTSP server (GStreamer's)
streaming a video file, which a test can stop (dropping every viewer, as a camera losing power does) and
start again on the same port."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from pathlib import Path

import cv2


def _jpeg_frames(video: Path, limit: int = 120) -> list[bytes]:
    cap = cv2.VideoCapture(str(video))
    frames = []
    while len(frames) < limit:
        ok, image = cap.read()
        if not ok:
            break
        frames.append(cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes())
    cap.release()
    if not frames:
        raise ValueError(f"{video}: no frames")
    return frames


class MjpegServer:
    """``http://127.0.0.1:<port>/stream.mjpg``: ``multipart/x-mixed-replace`` JPEG frames at ``fps``."""

    BOUNDARY = "art2musframe"

    def __init__(self, video: Path, fps: float = 15.0):
        self.frames = _jpeg_frames(video)
        self.fps = fps
        self.port = 0
        self.served = 0  # frames sent, all viewers together
        self.connections = 0
        self._listener: socket.socket | None = None
        self._clients: list[socket.socket] = []
        self._lock = threading.Lock()
        self._running = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/stream.mjpg"

    def start(self) -> MjpegServer:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(8)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._running.set()
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def stop(self) -> None:
        """The camera goes dark: no more connections, and every viewer's connection is cut."""
        self._running.clear()
        with self._lock:
            listener, self._listener = self._listener, None
            clients, self._clients = self._clients, []
        if listener is not None:
            listener.close()
        for client in clients:
            try:
                client.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            client.close()

    def _accept(self, listener: socket.socket) -> None:
        while self._running.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                return
            with self._lock:
                self._clients.append(client)
                self.connections += 1
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            client.settimeout(10)
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = client.recv(4096)
                if not chunk:
                    return
                request += chunk
            client.sendall(
                b"HTTP/1.0 200 OK\r\nCache-Control: no-cache\r\n"
                + f"Content-Type: multipart/x-mixed-replace; boundary={self.BOUNDARY}\r\n\r\n".encode()
            )
            index = 0
            while self._running.is_set():
                jpeg = self.frames[index % len(self.frames)]
                client.sendall(
                    f"--{self.BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n".encode()
                    + jpeg
                    + b"\r\n"
                )
                self.served += 1
                index += 1
                time.sleep(1.0 / self.fps)
        except OSError:
            pass
        finally:
            client.close()


#: the RTSP server runs under the system Python, where Debian's python3-gi lives
SYSTEM_PYTHON = "/usr/bin/python3"
RTSP_SCRIPT = Path(__file__).with_name("rtsp_server.py")


def gstreamer_rtsp_missing() -> str | None:
    """Why the RTSP server cannot run here (None when it can)."""
    probe = (
        subprocess.run(
            [
                SYSTEM_PYTHON,
                "-c",
                "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer",
            ],
            capture_output=True,
            text=True,
        )
        if Path(SYSTEM_PYTHON).exists()
        else None
    )
    if probe is None or probe.returncode != 0:
        return (
            "GStreamer's RTSP server is not installed (./bootstrap --dev installs gir1.2-gst-rtsp-server-1.0)"
        )
    return None


class RtspServer:
    """``rtsp://127.0.0.1:<port>/walk``: the first frames of a video as Motion-JPEG over RTP, in a loop,
    served by GStreamer's RTSP server in its own process; :meth:`stop` kills it, :meth:`start` brings it
    back on the same port."""

    def __init__(self, video: Path, folder: Path, fps: int = 10):
        folder.mkdir(parents=True, exist_ok=True)
        for i, jpeg in enumerate(_jpeg_frames(video, limit=60)):
            (folder / f"{i:04d}.jpg").write_bytes(jpeg)
        self.folder = folder
        self.fps = fps
        with socket.socket() as probe:  # a free port, kept across restarts
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}/walk"

    def start(self) -> RtspServer:
        self.process = subprocess.Popen(
            [SYSTEM_PYTHON, str(RTSP_SCRIPT), str(self.port), str(self.folder), str(self.fps)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        line = self.process.stdout.readline()
        if not line.startswith("ready"):
            raise RuntimeError(f"the RTSP server did not start: {line}{self.process.stderr.read()[-2000:]}")
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process.stdout.close()
            self.process.stderr.close()
            self.process = None
