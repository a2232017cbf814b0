"""Attacks on the control panel over a real socket: the daemon's own uvicorn server over a gallery running
in real time. Empty tokens, foreign Host names (DNS rebinding), cross-site commands, huge bodies, floods
of half-open and slow connections, a taken port."""

from __future__ import annotations

import http.client
import json
import logging
import socket
import threading
import time

import pytest
import yaml
from test_control_panel_api import GIVE_UP, wait_for, write_small_exhibit

from art2mus.installation.config import ExhibitError, load_exhibit
from art2mus.installation.gallery import Gallery
from art2mus.kiosk_ui.app import create_app
from art2mus.kiosk_ui.server import ControlPanelError, ControlPanelServer

TOKEN = "s3cret-token"


@pytest.fixture(scope="module")
def panel(tmp_path_factory, repo_root):
    """A gallery running in real time, served by the panel's own uvicorn server on a free port (a short
    request-head timeout and a small connection cap, so the flood tests run quickly)."""
    tmp_path = tmp_path_factory.mktemp("panel")
    exhibit = write_small_exhibit(tmp_path, repo_root, control_panel={"enabled": False})
    gallery = Gallery(load_exhibit(exhibit)).build()
    stop = threading.Event()
    ready = threading.Event()
    thread = threading.Thread(
        target=gallery.run, args=(stop,), kwargs={"on_ready": lambda g: ready.set()}, daemon=True
    )
    thread.start()
    assert ready.wait(GIVE_UP)
    app = create_app(gallery, token=TOKEN, allowed_hosts=["gallery-pc.local"])
    server = ControlPanelServer(app, "127.0.0.1", 0, max_connections=32, header_timeout_s=1.5)
    server.start()
    assert wait_for(
        lambda: _status(server.port, "/api/status", {"Authorization": f"Bearer {TOKEN}"})[0] == 200
    )
    yield gallery, server
    server.stop()
    stop.set()
    thread.join(10)


def _status(port: int, path: str, headers: dict | None = None, method: str = "GET", body=None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    except OSError:
        return None, b""
    finally:
        connection.close()


def _auth(**extra) -> dict:
    return {"Authorization": f"Bearer {TOKEN}", **extra}


def test_a_blank_token_is_refused(tmp_path, repo_root, panel):
    gallery, _ = panel
    for blank in ("", "   ", "\n"):
        with pytest.raises(ValueError, match="token is empty"):
            create_app(gallery, token=blank)
    token_file = tmp_path / "token"
    token_file.write_text("  \n")
    path = write_small_exhibit(tmp_path, repo_root, control_panel={"token_file": str(token_file)})
    # `validate` and the daemon's start refuse it with the field and the line ...
    with pytest.raises(ExhibitError, match=r"control_panel\.token_file: token file .* is empty"):
        load_exhibit(path)
    # ... and a config loaded without the file checks still cannot open the panel with it
    exhibit = load_exhibit(path, check_files=False)
    with pytest.raises(ControlPanelError, match=r"token_file .* is empty"):
        Gallery(exhibit).init_control_panel(0)


def test_foreign_host_names_are_refused(panel):
    gallery, server = panel
    port = server.port
    code, body = _status(port, "/api/status", _auth(Host="rebind.attacker.example"))
    assert code == 421 and "allowed_hosts" in json.loads(body)["detail"]
    # the page itself too: a rebinding page must not even read the HTML
    assert _status(port, "/", {"Host": f"rebind.attacker.example:{port}"})[0] == 421
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", "gallery-pc.local"):
        assert _status(port, "/api/status", _auth(Host=host))[0] == 200, host
    # an IP address that is not loopback is a name a rebinding page cannot use, but this panel is on loopback
    assert _status(port, "/api/status", _auth(Host="10.1.2.3"))[0] == 421


def test_cross_site_commands_are_refused(panel):
    gallery, server = panel
    port = server.port
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    # a cross-site HTML form: no token, form encoded: refused before anything else
    assert _status(port, "/api/idle", form, "POST", "x=1")[0] == 415
    assert _status(port, "/api/idle", _auth(**form), "POST", "x=1")[0] == 415
    as_json = _auth(**{"Content-Type": "application/json"})
    evil = {**as_json, "Origin": "http://evil.example"}
    assert _status(port, "/api/idle", evil, "POST", "{}")[0] == 403
    assert _status(port, "/api/idle", {**as_json, "Sec-Fetch-Site": "cross-site"}, "POST", "{}")[0] == 403
    assert _status(port, "/api/reload", {**as_json, "Origin": "null"}, "POST", "{}")[0] == 403
    assert gallery.director.override is None and gallery.last_reload is None  # nothing happened
    same = {**as_json, "Origin": f"http://127.0.0.1:{port}", "Sec-Fetch-Site": "same-origin"}
    assert _status(port, "/api/idle", same, "POST", "{}")[0] == 200
    assert gallery.director.override == "idle"
    assert _status(port, "/api/follow", as_json, "POST", "{}")[0] == 200  # curl: no Origin, no Sec-Fetch
    assert gallery.director.override is None


def test_a_huge_body_is_refused_before_it_is_read(panel):
    _, server = panel
    # 1 GB announced, no token: 413 comes back before a byte of the body is sent
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(
            b"POST /api/volume HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000000000\r\n\r\n"
        )
        reply = sock.recv(4096)
    assert reply.startswith(b"HTTP/1.1 413"), reply[:80]
    # a chunked body (no Content-Length) is counted as it streams and cut off at the limit
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(
            b"POST /api/volume HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            + f"Authorization: Bearer {TOKEN}\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
        )
        chunk = b"%x\r\n%s\r\n" % (16384, b" " * 16384)
        sent, reply = 0, b""
        sock.settimeout(0.05)
        while sent < 50_000_000 and not reply:
            try:
                sock.sendall(chunk)
                sent += 16384
                reply = sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:  # the server closed the connection after answering
                break
        sock.settimeout(10)
        reply = reply or sock.recv(4096)
    assert reply.startswith(b"HTTP/1.1 413"), reply[:80]
    assert sent < 5_000_000  # the server stopped it long before 50 MB
    # malformed bodies and lengths: 4xx
    assert (
        _status(server.port, "/api/volume", _auth(**{"Content-Type": "application/json"}), "POST", "{nope")[0]
        == 422
    )


def test_docs_spec_and_metrics_need_the_token(panel):
    _, server = panel
    for path in ("/api/docs", "/api/openapi.json", "/metrics", "/api/live.jpg", "/api/logs"):
        assert _status(server.port, path)[0] == 401, path
        assert _status(server.port, path, _auth())[0] in (200, 503), path


def test_a_flood_of_half_open_and_slow_connections_does_not_lock_the_technician_out(panel, caplog):
    _, server = panel
    port = server.port
    caplog.set_level(logging.INFO)
    idle = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(300)]
    slow = []
    for _ in range(20):  # slowloris: a request head that never ends
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(b"GET /api/status HTTP/1.1\r\nHost: localhost\r\n")
        slow.append(s)
    try:
        # the technician still gets through (the oldest idle sockets make room)
        assert wait_for(lambda: _status(port, "/api/status", _auth())[0] == 200, 20)
        # the half-open sockets are closed by the server, by the cap or by the request-head timeout

        def closed(s: socket.socket) -> bool:
            s.settimeout(5)
            try:
                return s.recv(1) == b""
            except ConnectionResetError:
                return True
            except TimeoutError:
                return False

        assert all(closed(s) for s in idle + slow)
    finally:
        for s in idle + slow:
            s.close()
    chatter = [r for r in caplog.records if r.name.startswith(("art2mus.kiosk_ui", "uvicorn", "asyncio"))]
    assert len(chatter) <= 20, len(chatter)  # 320 connections, rate-limited lines


def test_a_taken_port_fails_the_start_unless_the_panel_is_optional(tmp_path, repo_root):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        exhibit_path = write_small_exhibit(tmp_path, repo_root, control_panel={"port": port})
        made = []
        with pytest.raises(ControlPanelError, match="choose another control_panel.port, or set .*required: false"):
            Gallery(load_exhibit(exhibit_path)).build(progress=lambda *made_one: made.append(made_one))
        assert made == []  # before the soundscapes (a large collection's take minutes), not after them
        (tmp_path / "given").mkdir()
        given = Gallery(load_exhibit(write_small_exhibit(tmp_path / "given", repo_root)))
        with pytest.raises(ControlPanelError, match="free the port, give another --panel-port, or"):
            given.build(control_panel_port=port)  # `--panel-port PORT`: the message names the option given
        # free while the gallery was built, taken before it runs: the start fails as well
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            free = probe.getsockname()[1]
        later = Gallery(load_exhibit(exhibit_path)).build(control_panel_port=free)
        with socket.socket() as taken_later:
            taken_later.bind(("127.0.0.1", free))
            taken_later.listen(1)
            with pytest.raises(ControlPanelError, match="give another --panel-port"):
                later.run(threading.Event(), duration_s=5)
        spec = yaml.safe_load(exhibit_path.read_text())
        spec["control_panel"]["required"] = False
        exhibit_path.write_text(yaml.safe_dump(spec))
        gallery = Gallery(load_exhibit(exhibit_path)).build()
        ran = threading.Event()
        gallery.run(threading.Event(), duration_s=0.5, on_ready=lambda g: ran.set())
        assert ran.is_set() and gallery.control_panel is None


def test_the_panel_server_ticks_once_a_second_and_stops_at_once():
    # uvicorn's own loop wakes ten times a second; in a daemon whose steady state is mostly wake-ups the
    # panel's server ticks once a second (the Date header is renewed as often as before) and a stop
    # request ends the wait instead of waiting for the next tick
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    server = ControlPanelServer(app, "127.0.0.1", 0)
    server.start()
    ticks = []
    uvicorn_server = server._server
    original = uvicorn_server.on_tick

    async def counted(counter):
        ticks.append(counter)
        return await original(counter)

    uvicorn_server.on_tick = counted
    try:
        assert wait_for(lambda: _status(server.port, "/")[0] == 204)
        time.sleep(2.0)
        assert 1 <= len(ticks) <= 4  # uvicorn's own loop: 20
        assert all(counter % 10 == 0 for counter in ticks)  # each tick renews the Date header
    finally:
        started = time.monotonic()
        server.stop()
    assert time.monotonic() - started < 0.8
