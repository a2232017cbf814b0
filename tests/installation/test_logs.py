"""Logs under systemd: JSON lines on the wall clock, no colour codes, quiet third parties unless -vv."""

from __future__ import annotations

import datetime
import io
import json
import logging
import os
import subprocess
import sys

import pytest

from art2mus.installation.logs import configure_logging


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    names = ("apscheduler", "apscheduler.executors.default", "uvicorn.access", "uvicorn.error")
    saved = {name: vars(logging.getLogger(name)).copy() for name in names}
    for name in names:  # a uvicorn server started by another test stops uvicorn.access propagating
        logger = logging.getLogger(name)
        logger.propagate, logger.disabled = True, False
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
    for name, state in saved.items():
        logger = logging.getLogger(name)
        logger.setLevel(state["level"])
        logger.propagate, logger.disabled = state["propagate"], state["disabled"]


def _lines(stream: io.StringIO) -> list[str]:
    return [line for line in stream.getvalue().splitlines() if line]


def test_under_the_journal_each_record_is_a_json_line_on_the_wall_clock(restore_logging, tmp_path):
    out = open(tmp_path / "journal", "w+")  # noqa: SIM115 -- the handler writes to it until the test ends
    stat = os.fstat(out.fileno())  # systemd names the journal's stream by its device and inode
    configure_logging(verbosity=1, environ={"JOURNAL_STREAM": f"{stat.st_dev}:{stat.st_ino}"}, stream=out)
    before = datetime.datetime.now().astimezone()
    logging.getLogger("art2mus.test").warning("camera %s lost", "#0", extra={"artwork": "a1"})
    out.seek(0)
    (line,) = [line for line in out.read().splitlines() if line]
    assert line.startswith("<4>{")  # journald priority: warning
    record = json.loads(line[3:])
    assert record["msg"] == "camera #0 lost" and record["artwork"] == "a1" and record["level"] == "warning"
    stamp = datetime.datetime.fromisoformat(record["time"])
    assert stamp.utcoffset() is not None and abs((stamp - before).total_seconds()) < 60
    assert abs(record["ts"] - stamp.timestamp()) < 0.002


def test_uvicorn_colours_never_reach_the_log(restore_logging):
    for fmt in ("json", "text"):
        out = io.StringIO()
        configure_logging(verbosity=1, log_format=fmt, environ={}, stream=out)
        logging.getLogger("uvicorn.error").warning(
            "port %s taken", 8080, extra={"color_message": "port \x1b[1m%s\x1b[0m taken"}
        )
        logging.getLogger("art2mus.test").warning("\x1b[32mgreen\x1b[0m text")
        text = out.getvalue()
        assert "\x1b" not in text and "color_message" not in text, text
        assert "port 8080 taken" in text and "green text" in text


@pytest.mark.parametrize(("verbosity", "shown"), [(0, False), (1, False), (2, True)])
def test_third_party_chatter_only_with_vv(restore_logging, verbosity, shown):
    out = io.StringIO()
    configure_logging(verbosity=verbosity, log_format="json", environ={}, stream=out)
    logging.getLogger("apscheduler.executors.default").info('Running job "check" (trigger: interval)')
    logging.getLogger("uvicorn.access").info('127.0.0.1 - "GET /api/status" 200')
    logging.getLogger("apscheduler.scheduler").warning("job missed by 3 s")
    logging.getLogger("art2mus.installation.gallery").info("now playing amber-fields")
    messages = [json.loads(line)["msg"] for line in _lines(out)]
    assert "job missed by 3 s" in messages  # warnings always pass
    assert ("now playing amber-fields" in messages) == (verbosity >= 1)
    assert any("Running job" in m for m in messages) == shown
    assert any("GET /api/status" in m for m in messages) == shown


def test_opencv_warnings_are_quiet_without_vv(tmp_path):
    """A video OpenCV cannot open makes its FFmpeg backend write a line of its own (to stdout, where
    ``recognize --json`` writes); with the logging configured (no -vv) nothing of theirs shows."""
    bogus = tmp_path / "not-a-video.mp4"
    bogus.write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(4000))
    script = (
        "import sys; from art2mus.installation.logs import configure_logging;"
        "configure_logging(verbosity=int(sys.argv[2]), log_format='text');"
        "import cv2; cap = cv2.VideoCapture(sys.argv[1]); print(cap.isOpened())"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENCV_")}
    noisy = subprocess.run(
        [sys.executable, "-c", script, str(bogus), "2"], capture_output=True, text=True, env=env, timeout=120
    )
    quiet = subprocess.run(
        [sys.executable, "-c", script, str(bogus), "0"], capture_output=True, text=True, env=env, timeout=120
    )
    assert quiet.stdout == "False\n" and quiet.stderr == "", quiet.stdout + quiet.stderr
    # FFmpeg's complaint (on stdout!) shows with -vv: the test would notice it quieted nothing
    assert "moov atom not found" in noisy.stdout + noisy.stderr


def test_the_progress_of_long_work_shows_at_every_verbosity(restore_logging):
    from art2mus.installation.logs import PROGRESS_LOGGER, progress_logger

    level = logging.getLogger(PROGRESS_LOGGER).level
    try:
        for verbosity in (0, 1, 2):
            out = io.StringIO()
            configure_logging(verbosity=verbosity, log_format="json", environ={}, stream=out)
            progress_logger("photo_check").info("checked %d of %d reference photos", 100, 1000)
            logging.getLogger("art2mus.installation.vision.photo_check").info("an ordinary info line")
            records = [json.loads(line) for line in _lines(out)]
            assert records[0]["msg"] == "checked 100 of 1000 reference photos", verbosity
            assert records[0]["logger"] == "art2mus.progress.photo_check"
            assert (len(records) == 2) == (verbosity >= 1)
    finally:
        logging.getLogger(PROGRESS_LOGGER).setLevel(level)


#: in a child: a tiny GPT-2 saved and loaded back, as the generator process loads its models
_LOAD_A_MODEL = """
import sys, tempfile
from art2mus.installation.logs import configure_logging
configure_logging(stream=sys.stderr)
import transformers
model = transformers.GPT2Model(transformers.GPT2Config(n_layer=1, n_embd=8, n_head=2, vocab_size=16, n_positions=8))
with tempfile.TemporaryDirectory() as folder:
    model.save_pretrained(folder)
    transformers.GPT2Model.from_pretrained(folder)
print("loaded, bars", transformers.utils.logging.is_progress_bar_enabled(), file=sys.stderr)
"""


def test_model_loading_bars_stay_out_of_the_journal_but_not_off_a_terminal():
    """Under systemd (stderr is the journal's socket; here a pipe) a model load wrote tqdm's redrawn
    ``Loading weights`` bar into the log; on a terminal the bars stay on."""
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_DISABLE_PROGRESS_BARS"}
    piped = subprocess.run(
        [sys.executable, "-c", _LOAD_A_MODEL], capture_output=True, text=True, env=env, timeout=300
    )
    assert piped.returncode == 0, piped.stderr
    assert "loaded, bars False" in piped.stderr and "Loading weights" not in piped.stderr

    import pty  # noqa: PLC0415

    main, terminal = pty.openpty()
    try:
        child = subprocess.run(
            [sys.executable, "-c", _LOAD_A_MODEL],
            stderr=terminal,
            stdout=subprocess.DEVNULL,
            env=env,
            timeout=300,
        )
        os.close(terminal)
        shown = b""
        while True:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # the terminal's other end is closed: all read
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(main)
    assert child.returncode == 0
    assert b"loaded, bars True" in shown  # (a load this small finishes before the bar's first draw)


def test_the_panels_log_card_gets_info_records_when_the_log_shows_warnings_only(restore_logging):
    """`art2mus run` without -v (as the systemd unit runs it) shows warnings; the control panel's log card
    still offers info records (its level filter found none: the root logger dropped them)."""
    from art2mus.installation.logs import shown_level
    from art2mus.installation.telemetry import LogRing

    out = io.StringIO()
    configure_logging(verbosity=0, log_format="text", environ={}, stream=out)
    ring = LogRing()
    logging.getLogger().addHandler(ring)
    try:
        logging.getLogger("art2mus.installation.director").info("now playing amber-fields")
        logging.getLogger("art2mus.installation.director").debug("a debug line")
        logging.getLogger("art2mus.installation.gallery").warning("camera lost")
    finally:
        logging.getLogger().removeHandler(ring)
    assert [r["message"] for r in ring.records(logging.INFO)] == ["now playing amber-fields", "camera lost"]
    assert [line.split(": ", 1)[1] for line in _lines(out)] == ["camera lost"]  # the journal as before
    assert shown_level() == logging.WARNING  # what a generator process is told to show
