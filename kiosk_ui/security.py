"""What stands between the network and the control panel's routes, before any of them (or the token) runs.

:class:`PanelGuard` is a plain ASGI middleware, outermost, so that a request it refuses costs nothing:

* **Host allow-list** (DNS rebinding): the ``Host`` header must name loopback, the bound address, a name in
  ``control_panel.allowed_hosts``, or (on a panel bound off loopback) an IP address. A rebinding attack
  needs a *name* that resolves to the panel, so a name nobody listed is refused with 421.
* **Cross-site requests**: a mutating request (POST, PUT, PATCH, DELETE) must say
  ``Content-Type: application/json`` (an HTML form cannot, and a cross-site ``fetch`` that does needs a
  CORS preflight this panel never grants), its ``Origin`` (when sent) must be this panel's own, and
  ``Sec-Fetch-Site`` (when sent) must be ``same-origin`` or ``none``. 415 or 403 otherwise.
* **Body size**: a ``Content-Length`` over the limit is refused with 413 before a byte of the body is read;
  a body without one (chunked) is counted as it streams and cut off at the limit.

:class:`GuardedH11Protocol` bounds the connections themselves (uvicorn's own ``limit_concurrency`` only
answers 503 to requests; it does not close idle sockets): over ``max_connections`` the oldest connection
that has not sent a request yet is closed, and one that has not sent a whole request head within ``header_timeout_s`` is closed (slowloris,
half-open sockets). Their log lines are rate-limited (:class:`RateLimitFilter`).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import threading
import time
from collections.abc import Iterable
from typing import Any

logger = logging.getLogger(__name__)

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
#: bytes a request body may have (the API's bodies are a few dozen bytes)
DEFAULT_MAX_BODY = 64 * 1024


def _strip_port(host: str) -> str:
    host = host.strip().lower()
    if host.startswith("["):  # [::1]:8080
        return host[1 : host.find("]")] if "]" in host else host
    if host.count(":") == 1:
        return host.split(":", 1)[0]
    return host


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _is_loopback(name: str) -> bool:
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class HostPolicy:
    """Which ``Host`` names the panel answers to (see the module docstring)."""

    def __init__(self, bind_host: str, allowed_hosts: Iterable[str] = ()):
        self.bind_host = _strip_port(bind_host)
        self.off_loopback = not _is_loopback(self.bind_host)
        names = set(LOOPBACK_NAMES) | {_strip_port(h) for h in allowed_hosts if h.strip()}
        if self.bind_host not in ("0.0.0.0", "::", ""):
            names.add(self.bind_host)
        elif self.off_loopback:  # every interface: the machine's own names too
            hostname = socket.gethostname().lower()
            names |= {hostname, f"{hostname}.local"}
        self.names = frozenset(names)

    def allows(self, host_header: str | None) -> bool:
        if not host_header:
            return False
        name = _strip_port(host_header)
        if name in self.names or _is_loopback(name):
            return True
        return self.off_loopback and _is_ip(name)


class PanelGuard:
    """ASGI middleware: Host allow-list, cross-site checks and the body-size limit (module docstring)."""

    def __init__(self, app: Any, *, hosts: HostPolicy, max_body_bytes: int = DEFAULT_MAX_BODY):
        self.app = app
        self.hosts = hosts
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        host = headers.get("host")
        if not self.hosts.allows(host):
            await _refuse(
                send,
                421,
                f"This control panel does not answer to the host name {host!r}; "
                "add it to control_panel.allowed_hosts.",
            )
            return
        if scope["method"] in MUTATING:
            problem = self._cross_site(headers, host or "")
            if problem is not None:
                await _refuse(send, *problem)
                return
        length = headers.get("content-length")
        if length is not None:
            if not length.isdigit():
                await _refuse(send, 400, "Content-Length must be a number of bytes.")
                return
            if int(length) > self.max_body_bytes:
                await _refuse(send, 413, f"The request body is over {self.max_body_bytes} bytes.")
                return
        received = 0
        too_large = False

        async def counted_receive() -> dict:
            # past the limit the app is told the body ended (it stops reading) and its answer is replaced
            nonlocal received, too_large
            if too_large:
                return {"type": "http.request", "body": b"", "more_body": False}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    too_large = True
                    return {"type": "http.request", "body": b"", "more_body": False}
            return message

        async def checked_send(message: dict) -> None:
            if not too_large:
                await send(message)
            elif message["type"] == "http.response.start":
                await _refuse(send, 413, f"The request body is over {self.max_body_bytes} bytes.")

        await self.app(scope, counted_receive, checked_send)

    @staticmethod
    def _cross_site(headers: dict[str, str], host: str) -> tuple[int, str] | None:
        fetch_site = headers.get("sec-fetch-site")
        if fetch_site is not None and fetch_site not in ("same-origin", "none"):
            return 403, f"Cross-site requests are refused (Sec-Fetch-Site: {fetch_site})."
        origin = headers.get("origin")
        if origin is not None:
            netloc = origin.split("://", 1)[-1].rstrip("/").lower()
            if origin == "null" or netloc != host.lower():
                return 403, f"Requests from another site are refused (Origin: {origin})."
        content_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if content_type != "application/json":
            return 415, "Commands must be sent as JSON (Content-Type: application/json)."
        return None


async def _refuse(send: Any, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class RateLimitFilter(logging.Filter):
    """Lets through at most ``burst`` records per ``window_s`` per logger and message template; at the
    end of a window the number dropped is added to the next record that passes."""

    def __init__(self, burst: int = 5, window_s: float = 60.0):
        super().__init__()
        self.burst = burst
        self.window_s = window_s
        self._lock = threading.Lock()
        self._windows: dict[tuple[str, str], list[float | int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, str(record.msg))
        now = time.monotonic()
        with self._lock:
            window = self._windows.get(key)
            if window is None or now - window[0] >= self.window_s:
                dropped = int(window[2]) if window is not None else 0
                self._windows[key] = [now, 1, 0]
                if len(self._windows) > 1000:  # bounded: forget the oldest templates
                    for old in sorted(self._windows, key=lambda k: self._windows[k][0])[:500]:
                        del self._windows[old]
                if dropped:
                    record.msg = f"{record.msg} ({dropped} similar messages suppressed)"
                return True
            if window[1] < self.burst:
                window[1] += 1
                return True
            window[2] += 1
            return False


def guarded_protocol(max_connections: int, header_timeout_s: float) -> type:
    """uvicorn's h11 protocol, closing connections over ``max_connections`` and request heads slower than
    ``header_timeout_s`` (module docstring)."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class GuardedH11Protocol(H11Protocol):
        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._opened_at = time.monotonic()
            if len(self.connections) > max_connections:
                # evict the oldest connection that has not sent a request (a flood of idle sockets must
                # not lock the technician out); with none idle, refuse this one
                idle = [c for c in self.connections if c.cycle is None and not c.transport.is_closing()]
                victim = min(idle, key=lambda c: getattr(c, "_opened_at", 0.0)) if idle else self
                logger.warning(
                    "control panel: over %d connections; closing the oldest idle one", max_connections
                )
                victim.transport.close()
                if victim is self:
                    return
            self._head_timer = self.loop.call_later(header_timeout_s, self._head_timeout)

        def _head_timeout(self) -> None:
            if self.cycle is None and not self.transport.is_closing():
                logger.info(
                    "control panel: closing a connection that sent no request for %.0f s", header_timeout_s
                )
                self.transport.close()

        def connection_lost(self, exc: Exception | None) -> None:
            timer = getattr(self, "_head_timer", None)
            if timer is not None:
                timer.cancel()
            super().connection_lost(exc)

    return GuardedH11Protocol
