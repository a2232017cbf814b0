"""The daemon's signals during its start: ``systemctl stop`` and ``reload`` while a large collection's first
start takes minutes (soundscapes made, photos checked, the index built), and Ctrl-C.

Each test runs the command in this process and sends the signal to it from inside a step of the start, so
the signal comes while that step runs, whatever the machine's speed. The test's own handlers stand guard:
a signal the command does not handle fails the test instead of ending pytest.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from small_exhibit import small_exhibit_spec

from art2mus.installation.cli import main
from art2mus.installation.gallery import Gallery
from art2mus.installation.generation_worker import GenerationJob
from art2mus.models.generator import GenerationRequest
from art2mus.models.registry import GeneratorBackend

GIVE_UP = 120.0  # seconds: only a hang takes this long, however busy the machine
TONE = {"tone": GeneratorBackend("tone", "worker_backends:ToneGenerator", "test", (), "a test tone")}
START_LOG = "art2mus.progress.daemon"
needs_proc = pytest.mark.skipif(
    not Path("/proc/self/stat").exists(), reason="reads processes from Linux's /proc"
)


class UnhandledSignal(AssertionError):
    pass


@contextlib.contextmanager
def guarded(*signals: int):
    """Signals the command under test should handle fail the test if they reach these handlers instead (the
    default action would end pytest itself); the previous handlers come back afterwards."""

    def unhandled(signum, _frame):
        raise UnhandledSignal(f"signal {signum} reached the test: the command did not handle it")

    previous = {sig: signal.signal(sig, unhandled) for sig in signals}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _exhibit(tmp_path: Path, repo_root: Path) -> Path:
    path = tmp_path / "exhibit.yaml"
    path.write_text(yaml.safe_dump(small_exhibit_spec(tmp_path, repo_root, {"amber-fields": None})))
    return path


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def _busy_generator_then(gallery: Gallery, signum: int, pids: list[int]) -> None:
    """Give ``gallery``'s generator process a job that never ends, then send ``signum`` to this process and
    wait for its handler to end the step (as a long step of a real start would be)."""
    gallery.worker.backends = TONE
    gallery.worker.submit(
        GenerationJob(
            "slow",
            "tone",
            "tone",
            {"fail": "hang"},
            GenerationRequest(duration_s=0.5, seed=1),
            "k",
            image=np.zeros((8, 8, 3), np.uint8),
        )
    )
    busy = threading.Event()
    while not busy.wait(0.05):
        if gallery.worker.status().current == "slow":
            busy.set()
    pids.append(gallery.worker.status().pid)
    os.kill(os.getpid(), signum)
    threading.Event().wait(GIVE_UP)  # the handler's exception ends this wait


def _cut_short_by(signum: int, tmp_path: Path, repo_root: Path, monkeypatch) -> tuple[Path, list[int]]:
    """An exhibit whose start gets ``signum`` while its generator process is busy (in the vision step);
    returns the exhibit and the list that will hold the generator process's pid."""
    pids: list[int] = []
    monkeypatch.setattr(Gallery, "init_vision", lambda self: _busy_generator_then(self, signum, pids))
    return _exhibit(tmp_path, repo_root), pids


@needs_proc
def test_sigterm_during_the_start_stops_it_cleanly_with_its_generator_process(
    tmp_path, repo_root, monkeypatch, caplog
):
    """It killed the daemon (exit 143, nothing logged) and left the generator process running its job."""
    caplog.set_level(logging.INFO, logger=START_LOG)
    exhibit, pids = _cut_short_by(signal.SIGTERM, tmp_path, repo_root, monkeypatch)
    steps: list[str] = []
    monkeypatch.setattr(Gallery, "init_camera", lambda self, **_: steps.append("camera"))
    with guarded(signal.SIGTERM):
        before = signal.getsignal(signal.SIGTERM)
        result = CliRunner().invoke(main, ["run", str(exhibit)])
        assert signal.getsignal(signal.SIGTERM) is before  # handed back
    assert result.exit_code == 0, (result.output, result.exception)  # what systemd expects of a stop
    assert "stopping (signal 15) while starting" in caplog.text
    assert steps == []  # the start ended in the step the signal came in
    (pid,) = pids
    assert not _alive(pid)  # the generator process went with it, its job cut short


def test_a_sigterm_a_step_swallowed_still_ends_the_start_at_the_next_step(tmp_path, repo_root, monkeypatch):
    """A C library's callback into Python drops what the handler raises there: the stop is remembered."""
    from art2mus.installation.daemon import StartStopped

    exhibit = _exhibit(tmp_path, repo_root)
    steps: list[str] = []

    def swallowing(self):
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            threading.Event().wait(GIVE_UP)
        except StartStopped:
            steps.append("swallowed")

    monkeypatch.setattr(Gallery, "init_vision", swallowing)
    monkeypatch.setattr(Gallery, "init_camera", lambda self, **_: steps.append("camera"))
    with guarded(signal.SIGTERM):
        result = CliRunner().invoke(main, ["run", str(exhibit)])
    assert result.exit_code == 0, (result.output, result.exception)
    assert steps == ["swallowed"]


def test_sighup_during_the_start_reloads_the_exhibit_once_the_gallery_runs(
    tmp_path, repo_root, monkeypatch, caplog
):
    """It killed the daemon (exit 129, nothing logged). systemctl reload during a start: the edit it was
    sent for is applied as soon as the gallery runs, once however many reloads were asked for."""
    caplog.set_level(logging.INFO, logger=START_LOG)
    exhibit = _exhibit(tmp_path, repo_root)
    events: list[str] = []
    init_vision, start = Gallery.init_vision, Gallery.start

    def vision_then_two_reloads(self):
        init_vision(self)
        os.kill(os.getpid(), signal.SIGHUP)
        os.kill(os.getpid(), signal.SIGHUP)

    def reload(self):
        events.append("reload")
        os.kill(os.getpid(), signal.SIGTERM)  # the test is over: stop the running daemon
        return True

    monkeypatch.setattr(Gallery, "init_vision", vision_then_two_reloads)
    monkeypatch.setattr(Gallery, "start", lambda self: (events.append("started"), start(self))[1])
    monkeypatch.setattr(Gallery, "reload", reload)
    with guarded(signal.SIGTERM, signal.SIGHUP):
        result = CliRunner().invoke(main, ["run", str(exhibit), "--duration", str(GIVE_UP)])
    assert result.exit_code == 0, (result.output, result.exception)
    assert events == ["started", "reload"]
    assert caplog.text.count("reload asked for (signal 1) while starting") == 1


@needs_proc
def test_ctrl_c_during_the_start_still_aborts_it_and_stops_its_generator_process(
    tmp_path, repo_root, monkeypatch, caplog
):
    caplog.set_level(logging.INFO, logger=START_LOG)
    exhibit, pids = _cut_short_by(signal.SIGINT, tmp_path, repo_root, monkeypatch)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # as a command starts
    try:
        result = CliRunner().invoke(main, ["run", str(exhibit)])
    finally:
        signal.signal(signal.SIGINT, previous)
    assert result.exit_code == 1 and "Aborted!" in result.output  # as before: an interrupted command
    assert "start interrupted (Ctrl-C)" in caplog.text
    (pid,) = pids
    assert not _alive(pid)


def test_the_demo_stops_cleanly_on_sigterm_during_its_start(tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.INFO, logger=START_LOG)

    def stopped(self, progress=None):
        os.kill(os.getpid(), signal.SIGTERM)
        threading.Event().wait(GIVE_UP)

    monkeypatch.setattr(Gallery, "init_soundscapes", stopped)
    with guarded(signal.SIGTERM):
        result = CliRunner().invoke(
            main, ["demo", "--json", "--wav", str(tmp_path / "demo.wav"), "--panel-port", "0"]
        )
    assert result.exit_code == 0, (result.output, result.exception)
    assert "stopping (signal 15) while starting" in caplog.text
