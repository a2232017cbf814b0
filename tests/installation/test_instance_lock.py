"""One daemon per exhibit: the lock is exclusive across processes, and dies with its holder."""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import subprocess
import sys

import pytest
import yaml
from click.testing import CliRunner
from small_exhibit import small_exhibit_spec

from art2mus.installation.cli import main
from art2mus.installation.instance_lock import LOCK_NAME, AlreadyRunning, InstanceLock

HOLD = (
    "import sys, time; from art2mus.installation.instance_lock import InstanceLock;"
    "lock = InstanceLock(sys.argv[1], sys.argv[2]); lock.acquire(); print('held', flush=True); time.sleep(600)"
)


def test_a_second_holder_is_refused_until_the_first_dies(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path), "exhibit.yaml"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline() == "held\n"
        with pytest.raises(
            AlreadyRunning, match=rf"\(pid {holder.pid}\) is already running exhibit.yaml: it holds"
        ):
            InstanceLock(tmp_path, "exhibit.yaml").acquire()
    finally:
        holder.kill()  # a crash: no clean-up runs
        holder.wait()
    with InstanceLock(tmp_path, "exhibit.yaml") as lock:  # the lock died with its process
        assert lock.path.read_text().splitlines() == [str(os.getpid()), "exhibit.yaml"]


def test_the_refusal_names_the_exhibit_the_other_daemon_runs(tmp_path):
    """Two exhibits with one cache folder: the sweep's message named this exhibit as the other's."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path), "/srv/ex_tok.yaml"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline() == "held\n"
        with pytest.raises(AlreadyRunning) as refused:
            InstanceLock(tmp_path, "/srv/exhibit.yaml").acquire()
    finally:
        holder.kill()
        holder.wait()
    assert str(refused.value) == (
        f"another art2mus daemon (pid {holder.pid}) is already running /srv/ex_tok.yaml, whose cache folder "
        f"{tmp_path} is also /srv/exhibit.yaml's: it holds {tmp_path / LOCK_NAME}; stop it first "
        "(systemctl stop art2mus) or give each exhibit its own cache.dir"
    )


def _held_by_another(folder, text: str) -> int:
    """The lock taken as another daemon holds it (flock is per open file: this process's next open of the
    file is refused as another process's would be), the file reading ``text``; returns the descriptor."""
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.write(fd, text.encode())
    return fd


def test_a_lock_file_from_an_older_daemon_is_refused_without_naming_an_exhibit(tmp_path):
    fd = _held_by_another(tmp_path, "2882\n")  # the pid alone, as before the file named the exhibit
    try:
        with pytest.raises(
            AlreadyRunning, match=rf"\(pid 2882\) is already running with the cache folder {tmp_path}:"
        ):
            InstanceLock(tmp_path, "exhibit.yaml").acquire()
    finally:
        os.close(fd)


def test_run_names_the_other_daemons_exhibit(tmp_path, repo_root, monkeypatch):
    spec = small_exhibit_spec(tmp_path, repo_root, {"amber-fields": None})
    (tmp_path / "exhibit.yaml").write_text(yaml.safe_dump(spec))
    other = tmp_path.resolve() / "ex_tok.yaml"
    fd = _held_by_another(tmp_path / "cache", f"2882\n{other}\n")
    monkeypatch.chdir(tmp_path)
    try:
        result = CliRunner().invoke(main, ["run", "exhibit.yaml"])  # each daemon's exhibit as a whole path
    finally:
        os.close(fd)
    assert result.exit_code == 1
    assert f"(pid 2882) is already running {other}, whose cache folder" in result.output
    assert f"is also {tmp_path.resolve() / 'exhibit.yaml'}'s" in result.output


def test_an_unusable_folder_runs_unguarded_rather_than_not_at_all(tmp_path, caplog):
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    assert InstanceLock(blocked / "cache", "x").acquire() is False
    assert "cannot create the lock file" in caplog.text


def test_an_unusable_folder_is_logged_once_when_acquired_before_the_with(tmp_path, caplog):
    """``art2mus run`` takes the lock, then holds it with ``with``: the warning was logged twice."""
    caplog.set_level(logging.WARNING, logger="art2mus.installation.instance_lock")
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    lock = InstanceLock(blocked / "cache", "x")
    assert lock.acquire() is False
    with lock:
        pass
    assert sum("cannot create the lock file" in r.getMessage() for r in caplog.records) == 1
    with lock:  # used again after its release: tried again
        pass
    assert sum("cannot create the lock file" in r.getMessage() for r in caplog.records) == 2


def _disk_full(*_args):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize("call", ["pwrite", "ftruncate"])
def test_a_full_disk_still_starts_and_still_refuses_a_second_daemon(tmp_path, caplog, monkeypatch, call):
    """A filled cache folder (a 9 MB tmpfs): the pid line raised ENOSPC out of acquire, and ``art2mus run``
    ended in a traceback (a restart loop under Restart=always, in a silent room). The flock is the guard."""
    caplog.set_level(logging.WARNING, logger="art2mus.installation.instance_lock")
    lock = InstanceLock(tmp_path, "exhibit.yaml")
    with monkeypatch.context() as full:
        full.setattr(f"art2mus.installation.instance_lock.os.{call}", _disk_full)
        assert lock.acquire() is True
    try:
        assert f"{lock.path} ({tmp_path}: no space left on device)" in caplog.text
        with pytest.raises(AlreadyRunning, match=r"\(pid unknown\) is already running with the cache folder"):
            InstanceLock(tmp_path, "exhibit.yaml").acquire()
    finally:
        lock.release()


def test_run_starts_on_a_full_cache_disk(tmp_path, repo_root, monkeypatch):
    """``art2mus run`` gets past the lock on a full disk and goes on to play the exhibit."""
    spec = small_exhibit_spec(tmp_path, repo_root, {"amber-fields": None})
    (tmp_path / "exhibit.yaml").write_text(yaml.safe_dump(spec))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("art2mus.installation.instance_lock.os.pwrite", _disk_full)
    reached = []
    monkeypatch.setattr(
        "art2mus.installation.cli.run.run_gallery", lambda *args, **kwargs: reached.append(True)
    )
    result = CliRunner().invoke(main, ["run", "exhibit.yaml"])
    assert result.exit_code == 0, result.output
    assert reached
