"""A prerender lock whose file cannot be written (a full cache disk) refuses the prerender and lets go."""

from __future__ import annotations

import subprocess
import sys

FULL_DISK = """
import resource, signal, sys
from art2mus.installation.prerender_lock import PrerenderLock
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (0, resource.RLIM_INFINITY))  # no byte may be written
try:
    PrerenderLock(sys.argv[1], "exhibit.yaml").acquire()
except OSError as first:
    refused = first  # kept, as a caller's message keeps it
    print("first:", type(first).__name__, flush=True)
try:
    PrerenderLock(sys.argv[1], "exhibit.yaml").acquire()
except Exception as second:
    print("second:", type(second).__name__, flush=True)
"""


def test_a_lock_file_the_disk_refuses_is_let_go(tmp_path):
    """The buffered PID line failed on flush and the file stayed open, holding its flock while the error
    was kept: a second lock on the cache in that process was refused as 'another prerender (pid unknown)'.
    Now the file is closed with the refusal, and the refusal is the disk's own."""
    done = subprocess.run(
        [sys.executable, "-c", FULL_DISK, str(tmp_path / "cache")], capture_output=True, text=True, timeout=60
    )
    assert done.stdout.splitlines() == ["first: OSError", "second: OSError"], done.stdout + done.stderr
    assert done.stderr == ""
