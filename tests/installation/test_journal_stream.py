"""The journal is JSON records only: under systemd (``JOURNAL_STREAM`` naming the stream's own device and
inode) what ``run`` said to a person ("getting 2 soundscapes ready", "control panel: http://...", "00:07.38
now playing: ...") is logged as records instead of printed raw; a shell that merely inherits the variable
(a terminal, another file) is not the journal."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml
from small_exhibit import small_exhibit_spec

from art2mus.installation.logs import under_journal


def _stream_id(stream) -> str:
    stat = os.fstat(stream.fileno())
    return f"{stat.st_dev}:{stat.st_ino}"


def test_the_journal_is_the_stream_journal_stream_names_not_any_stream_under_the_variable(tmp_path):
    with open(tmp_path / "journal", "w") as journal, open(tmp_path / "terminal", "w") as terminal:
        named = {"JOURNAL_STREAM": _stream_id(journal)}
        assert under_journal(named, journal)
        # a shell started from the service (systemd-run --shell, a redirected child) inherits the variable
        assert not under_journal(named, terminal)
        assert not under_journal({"JOURNAL_STREAM": "8:424242"}, terminal)
        assert not under_journal({"JOURNAL_STREAM": "garbage"}, journal)
        assert not under_journal({}, journal)
        assert not under_journal(named, io.StringIO())  # no file descriptor: never the journal


def _run(tmp_path: Path, journal: bool) -> list[str]:
    """``art2mus run`` for 3 s with stdout and stderr in one file, as systemd connects a service's stdio
    to one journal stream; the file's lines."""
    env = {key: value for key, value in os.environ.items() if key != "JOURNAL_STREAM"}
    with tempfile.TemporaryFile("w+", dir=tmp_path) as out:
        env["JOURNAL_STREAM"] = _stream_id(out) if journal else "8:424242"
        result = subprocess.run(
            [sys.executable, "-m", "art2mus.installation.cli", "--log-format", "auto", "run", "exhibit.yaml"]
            + ["--duration", "3", "--panel-port", "0"],
            env=env,
            cwd=tmp_path,
            stdout=out,
            stderr=out,
            timeout=300,
        )
        out.seek(0)
        text = out.read()
    assert result.returncode == 0, text
    return [line for line in text.splitlines() if line.strip()]


def test_under_the_journal_run_writes_json_records_only(tmp_path, repo_root):
    spec = small_exhibit_spec(tmp_path, repo_root, {"amber-fields": None})
    spec["control_panel"] = {"enabled": True, "host": "127.0.0.1"}
    (tmp_path / "exhibit.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")

    lines = _run(tmp_path, journal=True)
    records = []
    for line in lines:
        assert line.startswith("<") and line[2:4] == ">{", f"not a journal record: {line!r} in {lines}"
        records.append(json.loads(line[3:]))
    messages = [record["msg"] for record in records]
    assert any(m.startswith("control panel: http://127.0.0.1:") for m in messages), messages
    assert "getting 2 soundscapes ready (from the cache, or made now) ..." in messages, messages
    playing = next(r for r in records if r["msg"] == "now playing: idle ambience")
    assert playing["play"] == "idle" and playing["t"] == 0.0 and playing["level"] == "info"

    # the same variable inherited by a process whose output is elsewhere (a terminal): lines for people
    plain = _run(tmp_path, journal=False)
    assert any(line.startswith("control panel: http://127.0.0.1:") for line in plain), plain
    assert any(line.endswith("now playing: idle ambience") and line[:2] == "00" for line in plain), plain
    assert not any(line.startswith("<") for line in plain), plain
