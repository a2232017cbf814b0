"""``prerender --json``'s summary line: the same keys whatever happened (``failures`` came only when
something failed, ``phases`` only with ``--ray``), and a summary after SIGTERM or Ctrl-C too (before:
status 143, no summary on stdout, and "Exception ignored from cffi callback ... vio_tell ... _Stopped"
with a traceback on stderr when the signal came while a cache entry was written)."""

from __future__ import annotations

import io
import json
import os
import signal
import sys

import numpy as np
import soundfile
from click.testing import CliRunner
from prerender_process import stopped_after_the_first
from test_prerender import _slow_exhibit

from art2mus.installation.cli import main
from art2mus.installation.cli.prerender import _signals_stop

KEYS = {
    "cache",
    "rendered",
    "elsewhere",
    "cached",
    "file",
    "failed",
    "skipped",
    "failures",
    "stopped",
    "interrupted",
    "phases",
}


def test_the_summary_has_the_same_keys_when_all_went_well(tmp_path, repo_root):
    exhibit = _slow_exhibit(tmp_path, repo_root)
    done = CliRunner().invoke(main, ["prerender", str(exhibit), "--json", "--artwork", "amber-fields"])
    assert done.exit_code == 0, done.output
    summary = json.loads(done.stdout.splitlines()[-1])["summary"]
    assert set(summary) == KEYS
    assert summary["failures"] == [] and summary["phases"] is None and summary["interrupted"] is False
    assert summary["stopped"] is None and summary["rendered"] == 1
    help_text = CliRunner().invoke(main, ["prerender", "--help"]).output
    assert "failures" in help_text and "interrupted" in help_text


def test_sigterm_gives_a_summary_line_and_no_traceback(tmp_path, repo_root):
    exhibit = _slow_exhibit(tmp_path, repo_root)
    code, output = stopped_after_the_first(exhibit, signal.SIGTERM, "--json", "--threads", "1")
    assert code == 143, output
    summary = json.loads([line for line in output.splitlines() if line.startswith('{"summary"')][-1])[
        "summary"
    ]
    assert set(summary) == KEYS
    assert summary["interrupted"] is True and summary["stopped"] == "stopped by SIGTERM"
    assert summary["rendered"] >= 1 and summary["failures"] == []
    assert "Traceback" not in output and "Exception ignored" not in output


class _SignalledWhileWritten(io.BytesIO):
    """A cache entry's buffer: SIGTERM comes while libsndfile asks where it is (soundfile's vio_tell)."""

    sent = False

    def tell(self) -> int:
        if not self.sent:
            self.sent = True
            os.kill(os.getpid(), signal.SIGTERM)
        return super().tell()


def test_a_signal_while_soundfile_writes_is_noted_not_raised_in_its_callback(capfd, monkeypatch):
    ignored = []  # cffi hands an exception raised in its callback to sys.unraisablehook, which prints it
    monkeypatch.setattr(sys, "unraisablehook", ignored.append)
    buffer = _SignalledWhileWritten()
    with _signals_stop() as caught:
        soundfile.write(buffer, np.zeros((4800, 2), np.float32), 48000, format="WAV")
    assert caught == [signal.SIGTERM]  # the progress callback stops the run once the entry is written
    assert ignored == [] and "Exception ignored" not in capfd.readouterr().err
    buffer.seek(0)
    assert soundfile.read(buffer)[0].shape == (4800, 2)  # the entry is whole
