"""Serving the control panel from inside the daemon: uvicorn on its own thread, on a socket we bind.

Binding the socket ourselves means a port already in use is reported at start (and the gallery goes on
without a panel rather than not at all), and port 0 picks a free port that :attr:`ControlPanelServer.port`
then tells (tests, and two installations on one machine).
"""

from __future__ import annotations

import logging
import socket
import threading
from typing import Any

logger = logging.getLogger(__name__)


class ControlPanelServer:
    """Serves ``app`` on ``host:port`` from a background thread.

    Args:
        app: an ASGI app (:func:`art2mus.kiosk_ui.app.create_app`).
        host: bind address (loopback unless the exhibit sets a token).
        port: TCP port; 0 picks a free one.
    """

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 8080):
        self.app = app
        self.host = host
        self.requested_port = int(port)
        self.port: int | None = None
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str | None:
        return None if self.port is None else f"http://{self.host}:{self.port}/"

    def start(self) -> None:
        """Bind and start serving (OSError when the address cannot be bound)."""
        import uvicorn

        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.requested_port))
        except OSError:
            sock.close()
            raise
        sock.listen(64)
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_config=None, access_log=False, lifespan="off")
        # uvicorn installs signal handlers only on the main thread: off it, SIGINT/SIGTERM stay the daemon's
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="control-panel", daemon=True
        )
        self._thread.start()
        logger.info("control panel on %s", self.url)

    def stop(self, timeout_s: float = 5.0) -> None:
        if self._server is None:
            return
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                logger.warning("the control panel did not stop within %.1f s", timeout_s)
        self._server = None
