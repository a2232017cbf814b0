"""The training run's folder lock on a full disk: the failed PID line must not leave the folder locked."""

from __future__ import annotations

import errno
import os

import pytest

from art2mus.training import run_lock
from art2mus.training.run_lock import RunFolderLock


@pytest.mark.parametrize("call", ["pwrite", "ftruncate"])
def test_a_full_disk_while_writing_the_pid_line_leaves_the_folder_unlocked(tmp_path, monkeypatch, call):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    open_before = len(os.listdir("/proc/self/fd"))
    with monkeypatch.context() as patch:
        patch.setattr(run_lock.os, call, full)
        with pytest.raises(OSError) as refused:
            RunFolderLock(tmp_path / "out").acquire()
    assert refused.value.errno == errno.ENOSPC
    # the descriptor that took the flock is closed: nothing leaks, and the next run (here the same
    # process, once room is made) gets the folder instead of 'in use by another train (pid unknown)'
    assert len(os.listdir("/proc/self/fd")) == open_before
    with RunFolderLock(tmp_path / "out") as lock:
        assert (lock.path).read_text().split()[0] == str(os.getpid())
