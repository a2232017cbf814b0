"""``art2mus status`` and ``doctor`` against a real daemon: ``art2mus run`` in a child process with its
control panel on a free port behind a token, asked over real HTTP. Without an argument both take the
installed exhibit (``$ART2MUS_EXHIBIT``, else the unit's /etc/art2mus/exhibit.yaml, else the demo) and say
which in their first line; doctor tells the daemon on the panel's port from another program."""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml
from small_exhibit import small_exhibit_spec

from art2mus.installation.cli.shared import INSTALLED_EXHIBIT, chosen_exhibit

ART2MUS = [sys.executable, "-m", "art2mus.installation.cli"]
TOKEN = "a-long-random-panel-token-for-tests"
GIVE_UP = 300.0  # seconds: only a hang takes this long, however busy the machine


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _art2mus(*args: str, cwd: Path, exhibit_env: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {
        key: value for key, value in os.environ.items() if key not in ("JOURNAL_STREAM", "ART2MUS_EXHIBIT")
    }
    if exhibit_env is not None:
        env["ART2MUS_EXHIBIT"] = str(exhibit_env)
    return subprocess.run(
        [*ART2MUS, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=GIVE_UP
    )


def _health(port: int) -> int | None:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/health", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def _status(port: int) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/status", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def _wait(condition, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + GIVE_UP
    while not condition() and time.monotonic() < deadline:
        assert process is None or process.poll() is None, "the daemon ended"
        time.sleep(0.2)
    assert condition()


@pytest.fixture
def daemon(tmp_path, repo_root):
    """``art2mus run`` of a procedural exhibit, its panel on a free port with a token file."""
    port = _free_port()
    (tmp_path / "panel.token").write_text(TOKEN + "\n")
    spec = small_exhibit_spec(tmp_path, repo_root, {"amber-fields": None})
    spec["control_panel"] = {"enabled": True, "host": "127.0.0.1", "port": port, "token_file": "panel.token"}
    exhibit = tmp_path / "exhibit.yaml"
    exhibit.write_text(yaml.safe_dump(spec), encoding="utf-8")
    with running(exhibit, port) as process:
        yield process, exhibit, port, spec


@contextlib.contextmanager
def running(exhibit: Path, port: int, *options: str):
    """``art2mus run EXHIBIT OPTIONS`` in its folder until its panel answers on ``port``; SIGTERM after."""
    env = {key: value for key, value in os.environ.items() if key != "JOURNAL_STREAM"}
    process = subprocess.Popen(
        [*ART2MUS, "run", str(exhibit), *options],
        env=env,
        cwd=exhibit.parent,
        stdout=subprocess.DEVNULL,
        stderr=open(exhibit.parent / "daemon.log", "w"),  # noqa: SIM115 -- the child holds it
    )
    try:
        _wait(lambda: _health(port) is not None, process)
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_status_and_doctor_ask_the_running_daemon(daemon, tmp_path):
    process, exhibit, port, spec = daemon
    # `art2mus status` did not exist ("Error: No such command 'status'.")
    result = _art2mus("status", cwd=tmp_path, exhibit_env=exhibit)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"exhibit    {exhibit} (from $ART2MUS_EXHIBIT), panel http://127.0.0.1:{port}"
    text = result.stdout
    assert re.search(rf"^daemon +running, pid {process.pid}, up \d+ (s|min)", text, re.M), text
    assert re.search(r"^room +open$", text, re.M), text
    assert re.search(r"^playing +(the idle ambience|amber-fields) \(following the camera\)$", text, re.M), (
        text
    )
    assert re.search(r"^camera +streaming, ", text, re.M), text
    assert re.search(r"^audio +playing on null, volume 80 %, the room gets \d+ %", text, re.M), text
    assert re.search(r"^generator +no generator process \(procedural generators only\)$", text, re.M), text
    assert re.search(rf"^cache +[\d.]+ MB of 20.0 GB \([\d.]+ %\) in {tmp_path / 'cache'}$", text, re.M), text
    assert re.search(r"^attention +none$", text, re.M), text

    as_json = _art2mus("status", str(exhibit), "--json", cwd=tmp_path)
    assert as_json.returncode == 0, as_json.stderr
    facts = json.loads(as_json.stdout)
    assert facts["reachable"] and facts["daemon"]["pid"] == process.pid and facts["chosen"] == "as given"
    assert facts["open"] is True and facts["attention"] == [] and facts["generation"] is None
    assert facts["cache"]["limit_bytes"] == 20 * 10**9 and facts["cache"]["bytes"] > 0

    # doctor said "WARN control panel 127.0.0.1:PORT is taken (Address already in use): is the daemon
    # running already?" and never asked
    doctor = _art2mus("doctor", cwd=tmp_path, exhibit_env=exhibit)
    assert doctor.stdout.splitlines()[0] == f"checking {exhibit} (from $ART2MUS_EXHIBIT)"
    panel = next(line for line in doctor.stdout.splitlines() if " control panel " in line)
    assert re.fullmatch(
        rf"OK +control panel +daemon running \(pid {process.pid}, up \d+ (s|min).*\) on 127.0.0.1:{port}",
        panel,
    ), panel

    # a refused reload needs attention: exit 1, and the exhibit with its new problem still names the panel
    exhibit.write_text(
        yaml.safe_dump({**spec, "audio": {**spec["audio"], "master_volume": 3}}), encoding="utf-8"
    )
    process.send_signal(signal.SIGHUP)
    _wait(lambda: (_status(port).get("reload") or {}).get("ok") is False, process)
    refused = _art2mus("status", str(exhibit), cwd=tmp_path)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert re.search(r"^ +- reload refused: .*audio.master_volume", refused.stdout, re.M), refused.stdout
    assert re.search(r"^attention +1:$", refused.stdout, re.M), refused.stdout

    process.send_signal(signal.SIGTERM)
    process.wait(60)
    gone = _art2mus("status", str(exhibit), cwd=tmp_path)
    assert gone.returncode == 3, gone.stdout + gone.stderr
    assert f"UNREACHABLE: nothing answers at http://127.0.0.1:{port}" in gone.stdout


def test_doctor_warns_as_before_when_another_program_holds_the_panel_port(tmp_path, repo_root):
    class NotArt2mus(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 -- http.server's name
            self.send_error(404)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), NotArt2mus)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        spec = small_exhibit_spec(tmp_path, repo_root, {"amber-fields": None})
        spec["control_panel"] = {"enabled": True, "host": "127.0.0.1", "port": server.server_address[1]}
        exhibit = tmp_path / "exhibit.yaml"
        exhibit.write_text(yaml.safe_dump(spec), encoding="utf-8")
        doctor = _art2mus("doctor", str(exhibit), cwd=tmp_path)
    finally:
        server.shutdown()
    assert doctor.stdout.splitlines()[0] == f"checking {exhibit} (as given)"
    panel = next(line for line in doctor.stdout.splitlines() if " control panel " in line)
    assert panel.startswith("WARN") and "is taken" in panel and "not an art2mus daemon" in panel, panel


def test_without_an_argument_the_installed_exhibit_is_checked_when_there_is_one(tmp_path):
    installed = tmp_path / "etc" / "exhibit.yaml"
    path, why = chosen_exhibit(None, environ={}, installed=installed)
    assert path.name == "exhibit.yaml" and path.parent.name == "demo" and str(installed) in why
    installed.parent.mkdir()
    installed.write_text("artworks: []\n")
    assert chosen_exhibit(None, environ={}, installed=installed)[0] == installed
    assert chosen_exhibit(None, environ={"ART2MUS_EXHIBIT": "/srv/x.yaml"}, installed=installed)[0] == Path(
        "/srv/x.yaml"
    )
    assert chosen_exhibit(Path("given.yaml"), environ={}, installed=installed) == (
        Path("given.yaml"),
        "as given",
    )


def test_the_installed_exhibit_is_the_one_the_systemd_unit_runs(repo_root):
    unit = (repo_root / "systemd/art2mus.service").read_text()
    exec_start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    assert exec_start.split()[-1] == str(INSTALLED_EXHIBIT)
