"""``cache prune`` keeps what a running daemon plays: with amber-fields' seed changed from 11 to 12 in the
file and no reload, ``prune --unused-days 0`` removed the rendering the daemon played from memory (8.0 MB;
its next start rendered it again, minutes with the model), as prune read only the file. The daemon now
records its library's keys in ``CACHE/in-use/<pid>.json`` at its start and after each reload it applies,
removed when it stops; prune keeps those and says how many."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import yaml
from click.testing import CliRunner

from art2mus.installation.cache_in_use import held_keys
from art2mus.installation.cli import main
from tests.installation.small_exhibit import small_exhibit_spec
from tests.installation.test_cache_command import _age, _keys, _prerender


def _wait(predicate, seconds=60.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not predicate():
        time.sleep(0.05)
    return predicate()


def _record_keys(record) -> set[str]:
    try:
        return set(json.loads(record.read_text())["keys"])
    except (OSError, ValueError):
        return set()


def test_prune_keeps_what_the_running_daemon_plays_until_it_reloads(tmp_path, repo_root):
    spec = small_exhibit_spec(tmp_path, repo_root, {"amber-fields": None, "city-at-six": None})
    spec["artworks"][0]["soundscape"]["seed"] = 11
    path = tmp_path / "exhibit.yaml"
    cache_dir = tmp_path / "cache"
    assert _prerender(path, spec) == ["rendered"] * 3
    played = _keys(cache_dir)
    path.write_text(yaml.safe_dump(spec))
    daemon = subprocess.Popen(
        [sys.executable, "-m", "art2mus.installation.cli", "run", str(path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    err: list[str] = []
    threading.Thread(target=lambda: err.extend(iter(daemon.stderr.readline, "")), daemon=True).start()
    record = cache_dir / "in-use" / f"{daemon.pid}.json"
    try:
        assert _wait(lambda: _record_keys(record) == played), "".join(err)[-3000:]
        spec["artworks"][0]["soundscape"]["seed"] = 12  # the curator's change, not reloaded
        assert _prerender(path, spec) == ["rendered", "cached", "cached"]
        (amber,) = played - _keys_now(path)  # seed 11's rendering: the file names it no more
        _age(cache_dir, _keys(cache_dir), 30)

        listed = CliRunner().invoke(main, ["cache", "list", str(path)])
        assert f"amber-fields (running daemon, pid {daemon.pid})" in listed.output, listed.output
        assert "UNUSED" not in listed.output
        pruned = CliRunner().invoke(main, ["cache", "prune", str(path), "--unused-days", "0"])
        assert pruned.exit_code == 0, pruned.output
        assert "removed 0 unused entries" in pruned.output
        assert (
            "kept 1 entries" in pruned.output and f"running daemon plays (pid {daemon.pid})" in pruned.output
        )
        assert amber in _keys(cache_dir)

        daemon.send_signal(signal.SIGHUP)  # reloaded: the daemon plays seed 12's rendering now
        assert _wait(lambda: amber not in _record_keys(record) and _record_keys(record)), "".join(err)[-3000:]
        pruned = CliRunner().invoke(main, ["cache", "prune", str(path), "--unused-days", "0"])
        assert f"removed {amber}" in pruned.output and "removed 1 unused entries" in pruned.output, (
            pruned.output
        )
        assert "running daemon plays" not in pruned.output
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(60)
    assert not record.exists() and not (cache_dir / "in-use" / f"{daemon.pid}.lock").exists()
    assert held_keys(cache_dir) == {}


def _keys_now(path) -> set[str]:
    from art2mus.installation.config import load_exhibit
    from art2mus.installation.soundscapes import SoundscapeSource

    return set(SoundscapeSource(load_exhibit(path)).keys_in_use())


def test_a_record_whose_daemon_is_gone_or_whose_lock_is_free_is_ignored(tmp_path):
    folder = tmp_path / "in-use"
    folder.mkdir()
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    for pid in (gone.pid, os.getpid()):  # a dead process; a live one holding no lock (a pid reused)
        (folder / f"{pid}.json").write_text(json.dumps({"keys": {"k" * 32: ["amber-fields"]}}))
        (folder / f"{pid}.lock").touch()
    assert held_keys(tmp_path) == {}
