"""``art2mus prerender`` as a process that a signal stops once it has done its first soundscape."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def stopped_after_the_first(exhibit: Path, signum: int, *options: str) -> tuple[int, str]:
    """Run ``art2mus prerender EXHIBIT`` as a process, send ``signum`` once it says the first soundscape
    is done (whatever the machine's speed); its exit status and everything it printed after that."""
    command = [sys.executable, "-m", "art2mus.installation.cli", "prerender", str(exhibit), *options]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen = []
    for line in process.stdout:
        seen.append(line)
        if line.startswith("[1/"):
            process.send_signal(signum)
            break
    rest, _ = process.communicate()
    return process.returncode, "".join(seen) + rest
