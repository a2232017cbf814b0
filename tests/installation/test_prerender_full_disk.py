"""A prerender whose cache disk fills up stops at once, says why and what to do, and keeps what it stored.

The disk is a real one: a small tmpfs mounted over the cache folder in a mount namespace of the
prerender's own (``unshare --mount``: root or user namespaces needed; skipped where neither works)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from small_exhibit import procedural_exhibit

DEMO = ("amber-fields", "city-at-six", "evening-regatta", "hills-of-orvale", "portrait-of-a-clerk")


def _exhibit(tmp_path: Path, repo_root: Path, duration: float = 2) -> Path:
    return procedural_exhibit(tmp_path, repo_root, DEMO, duration)


def _on_a_small_disk(cache: Path, kilobytes: int, *arguments: str) -> subprocess.CompletedProcess:
    """``art2mus ARGUMENTS`` with a tmpfs of ``kilobytes`` mounted at ``cache``, seen only by that process."""
    if shutil.which("unshare") is None:
        pytest.skip("no unshare here to mount a small filesystem")
    cache.mkdir(parents=True, exist_ok=True)
    cli = " ".join([sys.executable, "-m", "art2mus.installation.cli", *arguments])
    script = f"mount -t tmpfs -o size={kilobytes}k art2mus-test {cache} || exit 99; exec {cli}"
    for unshare in (["unshare", "--mount"], ["unshare", "--mount", "--map-root-user"]):
        done = subprocess.run([*unshare, "sh", "-c", script], capture_output=True, text=True, timeout=300)
        if done.returncode != 99 and "unshare failed" not in done.stderr:
            return done
    pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")


def test_a_full_cache_disk_stops_the_prerender_and_says_what_to_do(tmp_path, repo_root):
    """A 20 MB tmpfs under 101 soundscapes: 5 stored, then all 96 others rendered and thrown away, each line
    saying only 'failed: cannot write to .../cache', exit 1. Now the first ENOSPC stops it: no more
    rendering, the reason (the disk's own words) and what to do in the summary, exit 74."""
    exhibit = _exhibit(tmp_path, repo_root)
    cache = tmp_path / "cache"
    done = _on_a_small_disk(cache, 200, "prerender", str(exhibit), "--json", "--threads", "1")
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert done.returncode == 74, done.stdout + done.stderr
    statuses = [line["status"] for line in lines[:-1]]
    rendered = statuses.count("rendered")
    assert statuses == ["rendered"] * rendered + ["failed"], statuses  # the others are not tried
    failed = lines[rendered]
    assert "[Errno 28] No space left on device" in failed["error"], failed
    summary = lines[-1]["summary"]
    assert summary["rendered"] == rendered and summary["failed"] == 1 and summary["skipped"] == 5 - rendered
    assert "[Errno 28] No space left on device" in summary["stopped"]
    assert "free space on its disk, or lower cache.max_size_gb" in summary["stopped"]
    text = _on_a_small_disk(cache, 200, "prerender", str(exhibit), "--threads", "1")
    assert text.returncode == 74
    assert "stopped: the cache folder" in text.stdout and "No space left on device" in text.stdout


def test_a_full_cache_disk_stops_a_ray_prerender_too(tmp_path, repo_root):
    """The same with --ray: the workers are handed nothing more after the first ENOSPC; what they hold
    already comes back (at most IN_FLIGHT each), the rest is not tried, exit 74."""
    pytest.importorskip("ray")
    exhibit = _exhibit(tmp_path, repo_root)
    cache = tmp_path / "cache"
    done = _on_a_small_disk(cache, 200, "prerender", str(exhibit), "--json", "--ray", "--workers", "1")
    assert done.returncode == 74, done.stdout + done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    summary = lines[-1]["summary"]
    assert "[Errno 28] No space left on device" in summary["stopped"], summary
    assert summary["skipped"] >= 1 and summary["rendered"] + summary["failed"] + summary["skipped"] == 6
    assert summary["failed"] <= 2  # the one refused and at most the one queued behind it


def test_repeated_refusals_of_another_kind_stop_it_too(tmp_path, repo_root, monkeypatch):
    """A refusal without a lasting errno (EIO here, injected at the OS boundary: the cache's os.replace)
    stops the job after STORE_FAILURES_IN_A_ROW in a row instead of rendering every soundscape for nothing."""
    import errno
    import os

    from art2mus.installation import soundscapes
    from art2mus.installation.cache import SoundscapeCache
    from art2mus.installation.config import load_exhibit

    def refused(*_args, **_kwargs):
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(os, "replace", refused)
    config = load_exhibit(_exhibit(tmp_path, repo_root, duration=1))
    source = soundscapes.SoundscapeSource(config, cache=SoundscapeCache.from_config(config.cache))
    with pytest.raises(
        soundscapes.CacheCannotStore, match="3 soundscapes in a row could not be stored"
    ) as stop:
        source.prerender()
    assert [r.status for r in stop.value.results] == ["failed"] * 3 + ["skipped"] * 3
