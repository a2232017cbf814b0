"""An overnight prerender's log: each soundscape's line as soon as it is done, and a progress line that says
when, how far, what was rendered and what was cached, the rate and the ETA."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys

from small_exhibit import procedural_exhibit

ARTWORKS = ("amber-fields", "city-at-six", "evening-regatta", "hills-of-orvale", "portrait-of-a-clerk")


def _prerender(exhibit, *options: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "art2mus.installation.cli", "prerender", str(exhibit), "--threads", "1"]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # buffered, as under systemd
    return subprocess.Popen(
        [*command, *options], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def test_each_line_is_in_the_log_as_soon_as_it_is_done_even_after_kill_9(tmp_path, repo_root):
    """--json printed nothing for the whole run, then every line at the end: a killed run's stdout log was
    empty. Now the first soundscape's JSON line is there while the others render; kill -9 keeps it."""
    exhibit = procedural_exhibit(tmp_path, repo_root, ARTWORKS, 20)
    process = _prerender(exhibit, "--json")
    first = process.stdout.readline()
    stored = len(list((tmp_path / "cache").glob("*.json")))  # how far it is when the first line comes
    process.send_signal(signal.SIGKILL)
    rest, _ = process.communicate(timeout=60)
    assert json.loads(first) == {**json.loads(first), "what": "amber-fields", "status": "rendered"}
    assert process.returncode == -signal.SIGKILL
    assert stored < len(ARTWORKS) + 1, "the first line came only once every soundscape was rendered"
    assert "summary" not in first + rest  # it was killed before the end: the line came while it ran


def test_the_progress_line_says_when_how_far_what_and_how_fast(tmp_path, repo_root):
    """Without a terminal stderr had only '[93/101] work-092': no time, no rate, no ETA, and a cache hit
    looked like a rendering."""
    exhibit = procedural_exhibit(tmp_path, repo_root, ARTWORKS, 2)
    first = _prerender(exhibit, "--artwork", "amber-fields")
    first.communicate(timeout=120)
    process = _prerender(exhibit)
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, out + err
    lines = [line for line in err.splitlines() if line.startswith("[")]
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"
    assert re.fullmatch(
        rf"\[1/6\] amber-fields already cached \| {stamp} \| 1 already cached \| no rendering yet", lines[0]
    )
    assert re.fullmatch(
        rf"\[6/6\] idle rendered \(\d+\.\d s\) \| {stamp} \| 5 rendered, 1 already cached \| "
        rf"\d+\.\d/min, ETA \d\d:\d\d:\d\d \(in 0 min 00 s\)",
        lines[-1],
    ), lines[-1]
    assert re.search(r"^city-at-six +procedural +rendered \(\d+\.\d s\)$", out, re.M)


def test_a_local_ray_prerender_prints_no_token_authentication_warning(tmp_path, repo_root):
    """Every local --ray run printed Ray's 'Token authentication is enabled for this Ray cluster. Set
    RAY_AUTH_MODE=disabled to opt out.' (Ray >= 2.59, mode unset). The job now sets RAY_AUTH_MODE=token, Ray's
    setting for that same cluster: token authentication stays on (a token in ~/.ray/auth_token), no warning."""
    import pytest

    pytest.importorskip("ray")
    exhibit = procedural_exhibit(tmp_path, repo_root, ["amber-fields"], 1)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env["HOME"] = str(tmp_path / "home")  # Ray writes its token there
    command = [sys.executable, "-m", "art2mus.installation.cli", "prerender", str(exhibit), "--ray"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Token authentication is" not in done.stderr, done.stderr
    assert (tmp_path / "home/.ray/auth_token").is_file()  # the cluster had a token all the same
