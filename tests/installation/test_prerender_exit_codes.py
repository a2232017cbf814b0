"""prerender's exit status tells a scheduler what happened: a refusal for a busy cache is not a failure."""

from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner
from small_exhibit import procedural_exhibit

from art2mus.installation.cli import main
from art2mus.installation.prerender_lock import PrerenderLock


def test_a_prerender_refused_for_a_busy_cache_exits_75(tmp_path, repo_root):
    """Refused because another prerender holds the lock, it exited 1, like 'some soundscapes failed': a
    nightly job could not tell 'try again later' from 'look at the failures'. Now 75 (EX_TEMPFAIL)."""
    exhibit = procedural_exhibit(tmp_path, repo_root, ["amber-fields"], 1)
    with PrerenderLock(tmp_path / "cache", "another.yaml"):
        refused = subprocess.run(
            [sys.executable, "-m", "art2mus.installation.cli", "prerender", str(exhibit)],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert refused.returncode == 75, refused.stdout + refused.stderr
    assert "another prerender of another.yaml" in refused.stderr
    assert not list((tmp_path / "cache").glob("*.json"))


def test_help_documents_every_exit_status():
    shown = CliRunner().invoke(main, ["prerender", "--help"]).output
    for line in (
        "0    every soundscape is in the cache",
        "1    some soundscapes failed",
        "74   the cache cannot store",
        "75   another prerender holds the cache folder's lock",
        "130  stopped by Ctrl-C; 143 stopped by SIGTERM",
    ):
        assert line in shown, shown
