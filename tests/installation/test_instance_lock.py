"""One daemon per exhibit: the lock is exclusive across processes, and dies with its holder."""

from __future__ import annotations

import subprocess
import sys

import pytest

from art2mus.installation.instance_lock import AlreadyRunning, InstanceLock

HOLD = (
    "import sys, time; from art2mus.installation.instance_lock import InstanceLock;"
    "lock = InstanceLock(sys.argv[1], 'x'); lock.acquire(); print('held', flush=True); time.sleep(600)"
)


def test_a_second_holder_is_refused_until_the_first_dies(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        with pytest.raises(AlreadyRunning, match=rf"\(pid {holder.pid}\) is already running exhibit.yaml"):
            InstanceLock(tmp_path, "exhibit.yaml").acquire()
    finally:
        holder.kill()  # a crash: no clean-up runs
        holder.wait()
    with InstanceLock(tmp_path, "exhibit.yaml") as lock:  # the lock died with its process
        assert lock.path.read_text().strip().isdigit()


def test_an_unusable_folder_runs_unguarded_rather_than_not_at_all(tmp_path, caplog):
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    assert InstanceLock(blocked / "cache", "x").acquire() is False
    assert "cannot create the lock file" in caplog.text
