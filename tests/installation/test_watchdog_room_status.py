"""systemd's status line follows the room, over a real datagram socket: it said "playing" from the start on,
through a camera lost for 31 s, closed hours, and a refused reload (whose READY=1 came 4 ms after
RELOADING=1 with STATUS=playing, so `systemctl status` showed a refused exhibit as applied)."""

from __future__ import annotations

import datetime as dt
import socket
import threading
from types import SimpleNamespace

import test_watchdog
import yaml
from small_exhibit import small_exhibit_spec

from art2mus.installation.watchdog import RoomStatusLine, SystemdNotifier, Watchdog

_Clock = test_watchdog._Clock
systemd_socket = test_watchdog.systemd_socket  # the fixture: a datagram socket where systemd's would be


def _pending(sock: socket.socket) -> list[bytes]:
    out = []
    sock.setblocking(False)
    try:
        while True:
            out.append(sock.recv(4096))
    except BlockingIOError:
        pass
    finally:
        sock.settimeout(30.0)
    return out


NOON = dt.datetime(2026, 12, 7, 11, 0, tzinfo=dt.timezone.utc)  # a Monday; 12:00 in Rome


def _room(**changes):
    """A gallery as RoomStatusLine reads it: open on the idle ambience, camera streaming, audio playing."""
    artwork = SimpleNamespace(id="amber-fields", display_title="Amber Fields")
    gallery = SimpleNamespace(
        exhibit=SimpleNamespace(collection=SimpleNamespace(timezone="Europe/Rome"), artworks=[artwork]),
        director=SimpleNamespace(closed=False, override=None, playing="idle"),
        schedule=None,
        grabber=SimpleNamespace(health=lambda: SimpleNamespace(state="streaming", last_frame_age_s=0.1)),
        engine=SimpleNamespace(state="playing"),
        last_reload=None,
        unseen_titles=lambda whats: {w: "unseen artwork u4585… (seen 3 times)" for w in whats},
    )
    for key, value in changes.items():
        setattr(gallery, key, value)
    return gallery


def test_the_status_line_says_what_the_room_does():
    def line(**changes) -> str:
        return RoomStatusLine(_room(**changes), lambda: NOON)()

    assert line() == "open: idle ambience"
    assert line(director=SimpleNamespace(closed=False, override=None, playing="amber-fields")) == (
        "open: playing Amber Fields"
    )
    assert line(director=SimpleNamespace(closed=False, override="amber-fields", playing="amber-fields")) == (
        "open: playing Amber Fields (chosen on the control panel)"
    )
    assert line(director=SimpleNamespace(closed=False, override=None, playing="unseen:u45853f3e")) == (
        "open: playing unseen artwork u4585… (seen 3 times)"
    )
    rome = dt.timezone(dt.timedelta(hours=1))
    closed = SimpleNamespace(closed=True, override=None, playing="silence")
    tonight = SimpleNamespace(state=SimpleNamespace(until=dt.datetime(2026, 12, 7, 18, 0, tzinfo=rome)))
    tomorrow = SimpleNamespace(state=SimpleNamespace(until=dt.datetime(2026, 12, 8, 8, 0, tzinfo=rome)))
    assert line(director=closed, schedule=tonight) == "closed until 18:00"
    assert line(director=closed, schedule=tomorrow) == "closed until Tue 08:00"
    assert line(engine=SimpleNamespace(state="lost")) == "audio device lost, reopening, open: idle ambience"


def test_a_lost_camera_says_since_when_and_the_line_changes_only_when_the_room_does(systemd_socket):
    sock, address = systemd_socket
    camera = SimpleNamespace(state="streaming", last_frame_age_s=0.1)
    gallery = _room(grabber=SimpleNamespace(health=lambda: camera))
    wall = [NOON]
    clock = _Clock()
    dog = Watchdog(
        SystemdNotifier({"NOTIFY_SOCKET": address}),
        clock=clock,
        describe=RoomStatusLine(gallery, lambda: wall[0]),
    )
    dog.ready()
    assert sock.recv(4096) == b"READY=1\nSTATUS=open: idle ambience"
    for step in range(1, 40):  # the loop asks many times a second; nothing changes, nothing is sent
        clock.t = step * 0.3
        assert not dog.show()
    camera.state, camera.last_frame_age_s = "reconnecting", 2.0
    clock.t, wall[0] = 20.0, NOON + dt.timedelta(seconds=2)
    assert dog.show()
    assert sock.recv(4096) == b"STATUS=camera lost since 12:00:00 (reopening), open: idle ambience"
    for step in range(1, 32):  # lost for 31 s: the same line, not sent again
        clock.t, wall[0] = 20.0 + step, NOON + dt.timedelta(seconds=2 + step)
        camera.last_frame_age_s = 2.0 + step
        assert not dog.show()
    camera.state = "streaming"
    clock.t = 60.0
    assert dog.show() and sock.recv(4096) == b"STATUS=open: idle ambience"
    gallery.director.playing = "amber-fields"
    clock.t = 60.5  # within a second of the last look: not looked at yet
    assert not dog.show()
    clock.t = 61.0
    assert dog.show() and sock.recv(4096) == b"STATUS=open: playing Amber Fields"
    assert _pending(sock) == []


def test_a_refused_reload_is_said_in_the_status_line_until_one_is_applied(
    systemd_socket, tmp_path, repo_root, monkeypatch
):
    """The sweep's case: `duration: -4` and SIGHUP. The journal said the reload was refused; READY=1 now
    carries that too (file and line), the line keeps saying it while the previous configuration plays,
    and a good reload clears it. The status line also follows the room: a soundscape fixed on the
    control panel is said at once (within the loop's second)."""
    from art2mus.installation.config import load_exhibit
    from art2mus.installation.gallery import Gallery

    sock, address = systemd_socket
    monkeypatch.setenv("NOTIFY_SOCKET", address)
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    path = tmp_path / "exhibit.yaml"
    spec = small_exhibit_spec(tmp_path, repo_root, {"amber-fields": None})
    spec["artworks"][0]["title"] = "Amber Fields"
    path.write_text(yaml.safe_dump(spec))
    gallery = Gallery(load_exhibit(path)).build()
    stop = threading.Event()
    thread = threading.Thread(target=gallery.run, args=(stop,), daemon=True)
    thread.start()

    def next_ready() -> str:
        while not (message := sock.recv(4096)).startswith(b"READY=1"):
            pass
        return message.decode().split("STATUS=", 1)[1]

    try:
        assert next_ready().endswith("open: idle ambience")  # the camera may still be connecting
        gallery.play_artwork("amber-fields")
        while not sock.recv(4096).endswith(b"open: playing Amber Fields (chosen on the control panel)"):
            pass
            pass
        spec["artworks"][0]["soundscape"]["duration"] = -4
        path.write_text(yaml.safe_dump(spec))
        line = next(n for n, text in enumerate(path.read_text().splitlines(), 1) if "duration: -4" in text)
        gallery.request_reload()
        refused = next_ready()
        assert refused == (
            "open: playing Amber Fields (chosen on the control panel); running the previous configuration: "
            f"reload refused, 1 problem in exhibit.yaml line {line}: artworks[0].soundscape.duration: must be > 0 "
            "seconds, got -4"
        )
        assert gallery.last_reload is not None and not gallery.last_reload["ok"]
        spec["artworks"][0]["soundscape"]["duration"] = 3
        path.write_text(yaml.safe_dump(spec))
        gallery.request_reload()
        assert "reload" not in next_ready()
        assert gallery.last_reload["ok"]
    finally:
        stop.set()
        thread.join(30)
    assert not thread.is_alive()


def test_a_reload_that_fails_while_preparing_is_said_too():
    """A file that validates but whose reload fails for another reason (here an error) is no applied one."""
    line = RoomStatusLine(
        _room(last_reload={"ok": False, "problems": ["OSError: [Errno 28] No space left on device"]}),
        lambda: NOON,
    )()
    assert line == (
        "open: idle ambience; running the previous configuration: reload failed: OSError: [Errno 28] No space "
        "left on device"
    )
    two = RoomStatusLine(
        _room(last_reload={"ok": False, "problems": ["/etc/a/exhibit.yaml:4:3 idle: bad", "x"]})
    )()
    assert two.endswith("reload refused, 2 problems in exhibit.yaml, the first at line 4: idle: bad")
