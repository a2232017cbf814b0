"""Why a start failed reaches the journal at a priority ``journalctl -p warning`` shows: what the commands
print rather than log (validate's problems and warnings, run's refusal of the exhibit, click's ``Error:``
for a second daemon) carries an sd-daemon ``<N>`` prefix under systemd (``JOURNAL_STREAM``), as log
records do; journald filed those lines at info."""

from __future__ import annotations

import fcntl
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml
from small_exhibit import small_exhibit_spec

from art2mus.installation.instance_lock import LOCK_NAME
from art2mus.installation.logs import with_journal_priority


def art2mus(args: list[str], journal: bool, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``art2mus ARGS`` in a child process, its stderr under the journal (``JOURNAL_STREAM`` naming its
    stderr's device and inode, as systemd sets it) or not (a file the variable does not name)."""
    env = {key: value for key, value in os.environ.items() if key != "JOURNAL_STREAM"}
    with tempfile.TemporaryFile("w+", dir=cwd) as stderr:
        if journal:
            stat = os.fstat(stderr.fileno())
            env["JOURNAL_STREAM"] = f"{stat.st_dev}:{stat.st_ino}"
        result = subprocess.run(
            [sys.executable, "-m", "art2mus.installation.cli", "--log-format", "auto", *args],
            env=env,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            timeout=300,
        )
        stderr.seek(0)
        result.stderr = stderr.read()
    return result


def priorities(stderr: str) -> list[tuple[str | None, str]]:
    """``(priority or None, text)`` for each line that is not blank."""
    lines = []
    for line in stderr.splitlines():
        if line.startswith("<") and ">" in line[:4]:
            lines.append((line[1 : line.index(">")], line[line.index(">") + 1 :]))
        elif line.strip():
            lines.append((None, line))
    return lines


def bad_exhibit(tmp_path: Path, repo_root: Path) -> Path:
    spec = small_exhibit_spec(tmp_path, repo_root, {"amber-fields": None})
    spec["collection"] = {"timezone": "Mars/Olympus"}
    path = tmp_path / "exhibit.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


def test_validate_and_run_report_an_exhibit_they_refuse_at_error_priority(
    tmp_path: Path, repo_root: Path
) -> None:
    bad_exhibit(tmp_path, repo_root)
    for command in (["validate", "--as-run", "exhibit.yaml"], ["run", "exhibit.yaml"]):
        result = art2mus(command, journal=True, cwd=tmp_path)
        assert result.returncode == 1, result.stderr
        lines = priorities(result.stderr)
        assert any(
            p == "3" and "collection.timezone: unknown timezone 'Mars/Olympus'" in t for p, t in lines
        ), lines
        assert all(p is not None for p, _ in lines), lines  # nothing left at journald's default, info
    # at a terminal, the lines stay as they were
    plain = priorities(art2mus(["validate", "exhibit.yaml"], journal=False, cwd=tmp_path).stderr)
    assert plain and all(p is None for p, _ in plain)


def test_a_second_daemon_is_refused_at_error_priority(tmp_path: Path, repo_root: Path) -> None:
    """Click's ``Error: another art2mus daemon ... is already running`` (``run``'s ClickException)."""
    spec = small_exhibit_spec(tmp_path, repo_root, {"amber-fields": None})
    (tmp_path / "exhibit.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    (tmp_path / "cache").mkdir()
    fd = os.open(tmp_path / "cache" / LOCK_NAME, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as another daemon holds it
        os.write(fd, f"2882\n{tmp_path / 'exhibit.yaml'}\n".encode())
        result = art2mus(["run", "exhibit.yaml"], journal=True, cwd=tmp_path)
    finally:
        os.close(fd)
    assert result.returncode == 1, result.stderr
    lines = priorities(result.stderr)
    refusal = f"Error: another art2mus daemon (pid 2882) is already running {tmp_path / 'exhibit.yaml'}"
    assert any(p == "3" and t.startswith(refusal) for p, t in lines), lines


def test_warnings_carry_the_warning_priority_and_each_line_its_own_prefix() -> None:
    with tempfile.TemporaryFile() as stream:  # the journal's stream, as systemd names it
        stat = os.fstat(stream.fileno())
        journal = {"JOURNAL_STREAM": f"{stat.st_dev}:{stat.st_ino}"}
        assert (
            with_journal_priority("warning: a\nb", logging.WARNING, journal, stream) == "<4>warning: a\n<4>b"
        )
        assert (
            with_journal_priority("x.yaml:1:1 a: b", logging.ERROR, journal, stream) == "<3>x.yaml:1:1 a: b"
        )
        assert with_journal_priority("warning: a", logging.WARNING, {}, stream) == "warning: a"
