"""Serving the control panel from inside the daemon: uvicorn on its own thread, on a socket we bind.

Binding the socket ourselves means a port already in use is reported at start (the gallery refuses to
start, or goes on without a panel when ``control_panel.required`` is false), and port 0 picks a free port
that :attr:`ControlPanelServer.port` then tells (tests, and two installations on one machine).

The server is bounded: at most ``max_connections`` open sockets (more are closed at once), request heads
within ``header_timeout_s``, idle keep-alive connections closed after 5 s, at most ``limit_concurrency``
requests in flight (uvicorn answers 503 beyond), and its error lines rate-limited, so a flood of
half-open connections neither takes the panel down for long nor fills the disk with log.
"""

from __future__ import annotations

import functools
import logging
import socket
import threading
from pathlib import Path
from typing import Any

from art2mus.kiosk_ui.security import RateLimitFilter, guarded_protocol

logger = logging.getLogger(__name__)


class ControlPanelError(Exception):
    """The panel cannot start as configured (a blank or unreadable token, a taken port while required);
    the message says what to change."""


#: loggers that a connection flood makes chatty (accept errors, invalid requests)
_NOISY_LOGGERS = ("uvicorn.error", "asyncio", __name__, "art2mus.kiosk_ui.security")
_rate_limit = RateLimitFilter(burst=5, window_s=60.0)
for _name in _NOISY_LOGGERS:
    logging.getLogger(_name).addFilter(_rate_limit)
# uvicorn logs every request when the root logger has a handler; the page polls every second
logging.getLogger("uvicorn.access").disabled = True


@functools.lru_cache(maxsize=1)
def _quiet_server_class() -> type:
    """uvicorn's ``Server``, ticking once a second instead of ten times, and at once when asked to stop.

    uvicorn wakes its loop every 0.1 s to see whether it should exit and to renew the ``Date`` header
    once a second: 0.18 % of a core in a daemon that costs 2.5 % in all (a thread wake-up is dear on
    a small machine). The header keeps its one-second renewal; :meth:`request_exit` ends the wait."""
    import asyncio

    import uvicorn

    class QuietServer(uvicorn.Server):
        _loop: asyncio.AbstractEventLoop | None = None
        _exit_now: asyncio.Event | None = None

        async def main_loop(self) -> None:
            self._exit_now = asyncio.Event()
            self._loop = asyncio.get_running_loop()
            counter = 0
            while not await self.on_tick(counter):
                counter = (counter + 10) % 864000  # uvicorn renews the Date header when counter % 10 == 0
                try:
                    await asyncio.wait_for(self._exit_now.wait(), 1.0)
                except asyncio.TimeoutError:
                    pass

        def request_exit(self) -> None:
            self.should_exit = True
            loop, exit_now = self._loop, self._exit_now
            if loop is not None and exit_now is not None:
                try:
                    loop.call_soon_threadsafe(exit_now.set)
                except RuntimeError:  # the loop has closed already
                    pass

    return QuietServer


class ControlPanelServer:
    """Serves ``app`` on ``host:port`` from a background thread.

    Args:
        app: an ASGI app (:func:`art2mus.kiosk_ui.app.create_app`).
        host: bind address (loopback unless the exhibit sets a token).
        port: TCP port; 0 picks a free one.
    """

    def __init__(
        self,
        app: Any,
        host: str = "127.0.0.1",
        port: int = 8080,
        *,
        max_connections: int = 64,
        limit_concurrency: int | None = None,
        header_timeout_s: float = 10.0,
    ):
        self.app = app
        self.max_connections = max_connections
        # uvicorn counts open connections against this too: above the connection cap, so that a flood of
        # idle sockets (evicted at the cap) does not turn the technician's request into a 503
        self.limit_concurrency = limit_concurrency or max_connections + 16
        self.header_timeout_s = header_timeout_s
        self.host = host
        self.requested_port = int(port)
        self.port: int | None = None
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str | None:
        return None if self.port is None else f"http://{self.host}:{self.port}/"

    def probe(self) -> None:
        """Bind the address and let it go at once (OSError when it cannot be bound), so that a start which
        would fail on it fails before its long steps (a large collection's soundscapes take minutes)."""
        if self.requested_port == 0:
            return
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.requested_port))

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
        sock.listen(128)
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            log_config=None,
            access_log=False,
            lifespan="off",
            http=guarded_protocol(self.max_connections, self.header_timeout_s),
            limit_concurrency=self.limit_concurrency,
            timeout_keep_alive=5,
            h11_max_incomplete_event_size=16 * 1024,
            server_header=False,
        )
        # uvicorn installs signal handlers only on the main thread: off it, SIGINT/SIGTERM stay the daemon's
        self._server = _quiet_server_class()(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="control-panel", daemon=True
        )
        self._thread.start()
        logger.info("control panel on %s", self.url)

    def stop(self, timeout_s: float = 5.0) -> None:
        if self._server is None:
            return
        self._server.request_exit()
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                logger.warning("the control panel did not stop within %.1f s", timeout_s)
        self._server = None


def read_token(config: Any) -> str | None:
    """The panel's token from ``control_panel.token`` or ``token_file``; None without one. A blank token
    (or a token file that is empty, blank or not UTF-8) is a :class:`ControlPanelError` naming where it came
    from."""
    if config.token is not None:
        token, where = config.token.get_secret_value(), "control_panel.token"
    elif config.token_file is not None:
        where = f"control_panel.token_file ({config.token_file})"
        try:
            token = Path(config.token_file).read_bytes().decode("utf-8").strip()
        except UnicodeDecodeError as exc:
            raise ControlPanelError(f"{where}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    else:
        return None
    if not token.strip():
        raise ControlPanelError(
            f"{where} is empty: an empty token would leave the control panel open to anyone"
        )
    return token.strip()


def control_panel_for(gallery: Any, port: int | None = None) -> ControlPanelServer:
    """The panel server over a gallery, from its exhibit's ``control_panel`` section (``port`` overrides
    the configured one; 0 picks a free port)."""
    from art2mus.kiosk_ui.app import create_app

    config = gallery.exhibit.control_panel
    app = create_app(
        gallery,
        token=read_token(config),
        title=gallery.exhibit.collection.name,
        host=config.host,
        allowed_hosts=config.allowed_hosts,
    )
    return ControlPanelServer(app, config.host, config.port if port is None else port)
