"""A long first start is not killed by systemd's start timeout while it makes progress: TimeoutStartSec=15min
with no EXTEND_TIMEOUT_USEC killed a large collection's start mid-render (1.1-2.6 s a procedural
soundscape, minutes with a model) and started it over. Each progress line before READY=1 now grants
START_PROGRESS_WITHIN_S again, over a real datagram socket."""

from __future__ import annotations

import logging

import test_watchdog

from art2mus.installation.logs import PROGRESS_LOGGER
from art2mus.installation.watchdog import START_PROGRESS_WITHIN_S, SystemdNotifier

systemd_socket = test_watchdog.systemd_socket  # the fixture: a datagram socket where systemd's would be


def test_each_progress_line_of_the_start_extends_the_start_timeout_until_ready(systemd_socket):
    sock, address = systemd_socket
    notifier = SystemdNotifier({"NOTIFY_SOCKET": address})
    usec = int(START_PROGRESS_WITHIN_S * 1e6)
    assert notifier.status("making the soundscapes: 1 of 400 (amber-fields)")
    assert sock.recv(4096).decode() == (
        f"STATUS=making the soundscapes: 1 of 400 (amber-fields)\nEXTEND_TIMEOUT_USEC={usec}"
    )
    with notifier.progress_as_status():  # the photo checks' and the index build's lines extend it too
        logging.getLogger(PROGRESS_LOGGER).info("checked 100 of 1000 reference photos")
    assert sock.recv(4096).decode().endswith(f"\nEXTEND_TIMEOUT_USEC={usec}")
    assert notifier.ready("open: idle ambience")
    assert sock.recv(4096) == b"READY=1\nSTATUS=open: idle ambience"
    assert notifier.status(
        "camera lost since 12:00:00 (reopening), open: idle ambience"
    )  # running: no extension
    assert sock.recv(4096) == b"STATUS=camera lost since 12:00:00 (reopening), open: idle ambience"
    quiet = SystemdNotifier({"NOTIFY_SOCKET": address}, extend_start_s=None)
    assert quiet.status("x") and sock.recv(4096) == b"STATUS=x"
    notifier.close()
    quiet.close()
