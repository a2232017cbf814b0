"""A daemon starting and ``art2mus prerender`` on one cache share the work (claims per cache entry)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from small_exhibit import procedural_exhibit

ARTWORKS = (
    "amber-fields",
    "city-at-six",
    "composition-with-signals",
    "evening-regatta",
    "hills-of-orvale",
    "night-over-the-village",
    "portrait-of-a-clerk",
    "still-life-with-flowers",
)

#: the daemon's start as `art2mus run` does it, up to its soundscapes: which came from the cache
DAEMON_START = """
import json, logging, sys
from art2mus.installation.config import load_exhibit
from art2mus.installation.gallery import Gallery
from art2mus.installation.soundscapes import limit_cpu_threads
limit_cpu_threads(1)
logging.basicConfig(level=logging.INFO, stream=sys.stderr)
gallery = Gallery(load_exhibit(sys.argv[1]))
gallery.init_audio()
library = gallery.init_soundscapes()
print(json.dumps(sorted(library.from_cache)), flush=True)
"""


def _exhibit(tmp_path: Path, repo_root: Path, duration: float = 2) -> Path:
    return procedural_exhibit(tmp_path, repo_root, ARTWORKS, duration)


def _beside_a_starting_daemon(exhibit: Path, *options: str) -> tuple[set[str], set[str], dict]:
    """Start the daemon, then ``art2mus prerender EXHIBIT --json OPTIONS`` once the daemon has made its first
    soundscape: (what the prerender rendered, what the daemon rendered, the prerender's summary)."""
    daemon = subprocess.Popen(
        [sys.executable, "-c", DAEMON_START, str(exhibit)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    started = []
    for line in daemon.stderr:  # the daemon renders its second soundscape now
        started.append(line)
        if "soundscape 1/9" in line:
            break
    command = [
        sys.executable,
        "-m",
        "art2mus.installation.cli",
        "prerender",
        str(exhibit),
        "--json",
        *options,
    ]
    prerender = subprocess.run(command, capture_output=True, text=True, timeout=600)
    out, err = daemon.communicate(timeout=600)
    assert daemon.returncode == 0, "".join(started) + err
    assert prerender.returncode == 0, prerender.stdout + prerender.stderr
    lines = [json.loads(line) for line in prerender.stdout.splitlines() if line.startswith("{")]
    by_prerender = {line["what"] for line in lines[:-1] if line["status"] == "rendered"}
    by_daemon = (set(ARTWORKS) | {"idle"}) - set(json.loads(out))
    assert not by_prerender & by_daemon, f"rendered by both: {sorted(by_prerender & by_daemon)}"
    assert by_prerender | by_daemon == set(ARTWORKS) | {"idle"}
    return by_prerender, by_daemon, lines[-1]["summary"]


def test_a_prerender_beside_a_starting_daemon_renders_each_soundscape_once(tmp_path, repo_root):
    """`art2mus run` started, prerender 3 s later: both rendered all 101 soundscapes side by side. Now each
    soundscape is rendered by one of them; the other reads it from the cache ('rendered by another process'
    in the prerender's summary)."""
    exhibit = _exhibit(tmp_path, repo_root, duration=20)
    by_prerender, by_daemon, summary = _beside_a_starting_daemon(exhibit, "--threads", "1")
    assert by_prerender and by_daemon, (by_prerender, by_daemon)
    assert summary["rendered"] + summary["elsewhere"] + summary["cached"] == 9, summary
    # each one the daemon rendered, the prerender found in the cache or held by the daemon ('elsewhere':
    # waited for, then read). How many of each depends on timing: once the prerender takes a claim first,
    # the daemon may wait behind it for every one after (a suite run: 2 cached, 0 elsewhere)
    assert summary["cached"] + summary["elsewhere"] == len(by_daemon), (summary, sorted(by_daemon))
    assert not list((tmp_path / "cache" / "claims").iterdir())  # each claim's file goes with it


HOLDER = """
import sys, time
from art2mus.installation.render_claims import RenderClaims
claim = RenderClaims(sys.argv[1]).claim("k1")
print("held" if claim is not None else "refused", flush=True)
time.sleep(60)
"""


def test_a_claim_dies_with_its_process_even_on_kill_9(tmp_path):
    from art2mus.installation.render_claims import RenderClaims

    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        claims = RenderClaims(tmp_path)
        assert claims.claim("k1") is None  # held by the other process
        mine = claims.claim("k2")
        assert mine is not None
        mine.release()
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=30)
        deadline = time.monotonic() + 10
        taken = claims.claim("k1", wait=True)  # the kernel let go of the dead one's lock
        assert taken is not None and time.monotonic() < deadline
        taken.release()
    finally:
        holder.kill()
        holder.wait()


def test_a_ray_prerender_beside_a_starting_daemon_renders_each_soundscape_once(tmp_path, repo_root):
    """The same with --ray: a Ray worker is a process like the daemon; one that finds a soundscape claimed
    hands it back, and it is sent again last, to wait for the claim and read the entry."""
    import pytest

    pytest.importorskip("ray")
    exhibit = _exhibit(tmp_path, repo_root, duration=60)
    _beside_a_starting_daemon(exhibit, "--ray", "--workers", "1")
