"""Network cameras for the tests, on loopback: an MJPEG-over-HTTP server streaming a video file, which a
test can stop (dropping every viewer, as a camera losing power does) and start again on the same port."""

from __future__ import annotations

import socket
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
