"""systemd's notify protocol over a real datagram socket, and a watchdog fed only while the room is alive."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from art2mus.installation.watchdog import SystemdNotifier, Watchdog


class _Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def systemd_socket(tmp_path):
    """A datagram socket where systemd's would be; yields (socket, its NOTIFY_SOCKET value)."""
    path = tmp_path / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(5.0)
    yield sock, str(path)
    sock.close()


def _messages(sock: socket.socket) -> list[dict[str, str]]:
    out = []
    sock.setblocking(False)
    try:
        while True:
            data = sock.recv(4096).decode()
            out.append(dict(line.split("=", 1) for line in data.splitlines()))
    except BlockingIOError:
        pass
    finally:
        sock.settimeout(5.0)
    return out


def test_ready_status_watchdog_and_stopping_reach_the_socket(systemd_socket):
    sock, address = systemd_socket
    notifier = SystemdNotifier({"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "4000000"})
    assert notifier.enabled and notifier.watchdog_interval_s == 4.0
    assert notifier.ready("playing idle")
    assert sock.recv(4096) == b"READY=1\nSTATUS=playing idle"
    assert notifier.watchdog() and sock.recv(4096) == b"WATCHDOG=1"
    assert notifier.stopping() and sock.recv(4096) == b"STOPPING=1\nSTATUS=stopping"
    notifier.close()


def test_the_abstract_namespace_is_understood():
    name = f"art2mus-test-{os.getpid()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(5.0)
    try:
        assert SystemdNotifier({"NOTIFY_SOCKET": "@" + name}).ready()
        assert sock.recv(4096) == b"READY=1"
    finally:
        sock.close()


def test_outside_systemd_nothing_is_sent_and_a_vanished_socket_is_no_error(tmp_path, caplog):
    quiet = SystemdNotifier({})
    assert not quiet.enabled and not quiet.ready() and quiet.watchdog_interval_s is None
    gone = SystemdNotifier({"NOTIFY_SOCKET": str(tmp_path / "nobody-listens")})
    assert not gone.watchdog() and not gone.watchdog()
    assert caplog.text.count("cannot notify systemd") == 1  # said once, not every beat
    # WATCHDOG_PID names another process (a child that inherited the environment): not ours to feed
    assert SystemdNotifier({"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"}).watchdog_interval_s is None


def test_the_watchdog_is_fed_only_while_the_mix_clock_runs_and_frames_arrive(systemd_socket):
    sock, address = systemd_socket
    clock = _Clock()
    dog = Watchdog(SystemdNotifier({"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "2000000"}), clock=clock)
    assert dog.interval_s == 1.0
    assert dog.beat(0.0, 0)  # the first beat: nothing to compare with yet
    clock.t = 0.5
    assert not dog.beat(0.5, 10)  # not due: at most every half WATCHDOG_USEC
    clock.t = 1.0
    assert dog.beat(1.0, 20)
    clock.t = 2.0
    assert not dog.beat(1.0, 30) and "mix clock" in dog.withheld  # the mixer is wedged
    clock.t = 2.1
    assert not dog.beat(2.1, 30) and "camera frame" in dog.withheld  # now the camera thread is
    clock.t = 2.2
    assert dog.beat(2.2, 30, camera_reconnecting=True)  # a camera being reopened is no reason to restart
    clock.t = 3.2
    assert dog.beat(3.2, 40)
    assert _messages(sock) == [{"WATCHDOG": "1"}] * 4
    assert dog.fed == 4


def test_without_watchdog_usec_the_watchdog_never_feeds(systemd_socket):
    sock, address = systemd_socket
    dog = Watchdog(SystemdNotifier({"NOTIFY_SOCKET": address}), clock=_Clock())
    assert dog.interval_s is None and not dog.due() and not dog.beat(1.0, 1)
    dog.ready()
    assert _messages(sock) == [{"READY": "1", "STATUS": "playing"}]


def test_a_running_daemon_says_ready_feeds_the_watchdog_and_says_stopping(repo_root, daemon_under_systemd):
    """``art2mus run`` as systemd starts it (NOTIFY_SOCKET, WATCHDOG_USEC): each step of the start as the
    status line, READY=1 once it plays,
    WATCHDOG=1 while the mix and the camera run, a second daemon on the exhibit refused, STOPPING=1 on
    SIGTERM, and a clean exit."""
    camera = {"type": "video", "path": str(repo_root / "exhibits/demo/camera/walk.mp4")}
    daemon, sock, exhibit = daemon_under_systemd(camera, WATCHDOG_USEC="400000")
    received: list[bytes] = []
    while received.count(b"WATCHDOG=1") < 3:
        received.append(sock.recv(4096))
    # a second daemon on the same exhibit refuses to start, naming the first one
    second = subprocess.run(
        [sys.executable, "-m", "art2mus.installation.cli", "run", str(exhibit)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert second.returncode == 1, second.stderr[-3000:]
    assert f"(pid {daemon.pid}) is already running" in second.stderr
    assert str(exhibit.parent / "cache" / "daemon.lock") in second.stderr
    daemon.send_signal(signal.SIGTERM)
    sock.settimeout(30)
    while not received[-1].startswith(b"STOPPING=1"):
        received.append(sock.recv(4096))
    _, err = daemon.communicate(timeout=60)
    # before READY, each step of the start is the unit's status line (`systemctl status` during a long start)
    ready = next(i for i, m in enumerate(received) if m.startswith(b"READY=1"))
    before = [m.decode() for m in received[:ready]]
    # each with EXTEND_TIMEOUT_USEC: a start that makes progress is not killed by TimeoutStartSec=
    assert before == [
        f"STATUS={step}\nEXTEND_TIMEOUT_USEC=1200000000"
        for step in (
            "starting the audio",
            "checking the control panel's address",
            "making the soundscapes",
            "making the soundscapes: 1 of 1 (amber-fields)",
            "recognition: checking the reference photos, loading or building the index",
            "opening the camera",
            "starting the opening hours",
        )
    ], received
    assert not any(b"EXTEND_TIMEOUT_USEC" in m for m in received[ready:])  # the start is over
    assert b"WATCHDOG=1" not in received[:ready]
    assert daemon.returncode == 0, err[-3000:]


def test_a_long_starts_progress_lines_are_sent_as_the_status_line_while_it_builds(
    systemd_socket, repo_root, monkeypatch
):
    """The reference photo checks and the index build report every PROGRESS_EVERY photos; under systemd
    those lines go out as STATUS= during the start (a first start of 1,000 photos counts them), and only
    while the block runs."""
    import logging

    from art2mus.installation.vision import index as index_module
    from art2mus.installation.vision import photo_check
    from art2mus.installation.vision.index import RecognitionIndex, ReferencePhoto

    sock, address = systemd_socket
    notifier = SystemdNotifier({"NOTIFY_SOCKET": address})
    monkeypatch.setattr(photo_check, "PROGRESS_EVERY", 3)
    monkeypatch.setattr(index_module, "PROGRESS_EVERY", 3)
    paintings = sorted((repo_root / "exhibits/demo/artworks").glob("*.png"))[:4]
    refs = [ReferencePhoto(p.stem, p) for p in paintings]
    with notifier.progress_as_status():
        photo_check.check_references(refs)
        RecognitionIndex.build(refs)
        logging.getLogger("art2mus.installation.gallery").warning("not progress")
    photo_check.check_references(refs[:3])  # after the start: the journal only
    status = [m["STATUS"] for m in _messages(sock)]
    assert len(status) == 4, status
    assert status[0].startswith("checked 3 of 4 reference photos (")
    assert status[1].startswith("checked 4 reference photos in ") and "pairs compared" in status[1]
    assert status[2].startswith("recognition index: described 3 of 4 reference photos (")
    assert status[3].startswith("built recognition index: 4 artworks, 4 photos")
    notifier.close()


class _Signs:
    """The gallery's vital signs as a reload's helper thread reads them: a mix clock and a frame count the
    test moves; each reading is counted, so a test can wait until a check has been made."""

    def __init__(self) -> None:
        self.mix_s, self.frames, self.reads = 0.0, 0, 0
        self.read = threading.Condition()

    def __call__(self) -> tuple[float, int, bool]:
        with self.read:
            self.reads += 1
            self.read.notify_all()
            return self.mix_s, self.frames, False

    def wait_reads(self, more: int) -> None:
        with self.read:
            target = self.reads + more
            assert self.read.wait_for(lambda: self.reads >= target, timeout=30)


def test_a_slow_reload_keeps_the_watchdog_fed_at_its_interval_while_the_mix_runs(systemd_socket):
    """A reload runs on the loop's thread (a 106 s one starved WatchdogSec=60): a helper thread feeds the
    watchdog meanwhile, one beat per interval while the mix clock advances, between RELOADING=1 and READY=1."""
    sock, address = systemd_socket
    clock, signs = _Clock(), _Signs()
    dog = Watchdog(SystemdNotifier({"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "60000000"}), clock=clock)
    assert dog.beat(0.0, 0)  # the loop's last beat before the reload
    assert sock.recv(4096) == b"WATCHDOG=1"
    beats_at = []
    with dog.reloading(signs, poll_s=0.001):  # the slow reload: 5 intervals of the scripted clock
        reloading = sock.recv(4096).decode().splitlines()
        for step in range(1, 6):
            clock.t, signs.mix_s, signs.frames = step * 30.0, step * 30.0, step * 750
            assert sock.recv(4096) == b"WATCHDOG=1"  # waits for the beat (5 s timeout), not for a time
            beats_at.append(clock.t)
    assert sock.recv(4096) == b"READY=1\nSTATUS=playing"
    assert beats_at == [30.0, 60.0, 90.0, 120.0, 150.0] and dog.fed == 6
    assert reloading[0] == "RELOADING=1" and reloading[2] == "STATUS=reloading"
    assert reloading[1].startswith("MONOTONIC_USEC=") and int(reloading[1].split("=")[1]) > 0
    assert _messages(sock) == []


def test_a_mix_that_hangs_during_a_reload_stops_the_feeding(systemd_socket, caplog):
    """The helper feeds only on the loop's signs of life: a mix clock that stands still during a reload
    stops the beats (systemd then restarts a wedged daemon), and they resume when it runs again; a reload
    that outlasts max_s is fed no longer."""
    sock, address = systemd_socket
    clock, signs = _Clock(), _Signs()
    dog = Watchdog(SystemdNotifier({"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "60000000"}), clock=clock)
    assert dog.beat(0.0, 0)
    assert sock.recv(4096) == b"WATCHDOG=1"
    with dog.reloading(signs, max_s=100.0, poll_s=0.001):
        assert sock.recv(4096).startswith(b"RELOADING=1")
        clock.t, signs.frames = 30.0, 750  # frames arrive, the mix clock stands at 0 s
        signs.wait_reads(2)  # the first reading's beat has been decided
        clock.t = 60.0
        signs.wait_reads(2)
        assert dog.fed == 1 and "mix clock stands at 0.00 s" in (dog.withheld or "")
        assert _messages(sock) == []
        clock.t, signs.mix_s, signs.frames = 90.0, 90.0, 2250  # it runs again
        assert sock.recv(4096) == b"WATCHDOG=1"
        with caplog.at_level("WARNING"):
            clock.t, signs.mix_s, signs.frames = 150.0, 150.0, 3750  # past max_s: the reload counts as stuck
            assert _wait_for(lambda: "the reload has run 150 s (more than 100 s)" in caplog.text)
        assert dog.fed == 2
    assert _messages(sock) == [{"READY": "1", "STATUS": "playing"}]
    assert caplog.text.count("not feeding the systemd watchdog: the mix clock") == 1


def _wait_for(predicate, seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.01)
    return predicate()


def test_a_slow_reload_of_a_running_gallery_keeps_systemds_watchdog_fed(
    systemd_socket, tmp_path, repo_root, monkeypatch
):
    """The sweep's case: a reload whose soundscape step is slow (here it waits for the test) kept the main
    loop from feeding the watchdog. Now systemd hears RELOADING=1, beats while it runs, then READY=1."""
    import yaml
    from small_exhibit import small_exhibit_spec

    from art2mus.installation.config import load_exhibit
    from art2mus.installation.gallery import Gallery

    sock, address = systemd_socket
    sock.settimeout(30)
    monkeypatch.setenv("NOTIFY_SOCKET", address)
    monkeypatch.setenv("WATCHDOG_USEC", "1000000")  # fed every 0.5 s
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    path = tmp_path / "exhibit.yaml"
    path.write_text(yaml.safe_dump(small_exhibit_spec(tmp_path, repo_root, {"amber-fields": None})))
    gallery = Gallery(load_exhibit(path)).build()
    rendering, release = threading.Event(), threading.Event()
    make_source = gallery.soundscape_source

    def slow_source(exhibit):  # the reload's soundscape step waits until the test has seen the beats
        source = make_source(exhibit)
        library = source.library

        def slow_library(*args, **kwargs):
            rendering.set()
            assert release.wait(60)
            return library(*args, **kwargs)

        source.library = slow_library
        return source

    stop = threading.Event()
    thread = threading.Thread(target=gallery.run, args=(stop,), daemon=True)
    thread.start()
    try:
        while sock.recv(4096) != b"WATCHDOG=1":  # playing and fed
            pass
        gallery.soundscape_source = slow_source
        gallery.request_reload()
        while not sock.recv(4096).startswith(b"RELOADING=1"):
            pass
        assert rendering.wait(30)
        during = [sock.recv(4096) for _ in range(3)]  # before: none came until the reload ended
        assert during == [b"WATCHDOG=1"] * 3 and gallery.last_reload is None
        release.set()
        while (message := sock.recv(4096)) == b"WATCHDOG=1":
            pass
        # the room's status line (what plays), which a refused reload would add to
        assert message.startswith(b"READY=1\nSTATUS=") and b"open: " in message and b"reload" not in message
        assert gallery.last_reload is not None and gallery.last_reload["ok"]
    finally:
        release.set()
        stop.set()
        thread.join(30)
    assert not thread.is_alive()
