"""`systemctl reload` fails for an exhibit the daemon would refuse: ExecReload was only `kill -HUP`, which
exits 0, so a reload of `duration: -4` said nothing, the daemon logged the refusal and played on, and the
next restart looped on ExecStartPre in a silent room."""

from __future__ import annotations

import shlex
import subprocess
import sys

import yaml
from test_systemd import UNIT, _unit_entries


def _exec_reload() -> list[list[str]]:
    return [
        shlex.split(value) for key, value in _unit_entries(UNIT.read_text())["Service"] if key == "ExecReload"
    ]


def test_reload_checks_the_same_exhibit_as_the_start_before_the_hup():
    service = _unit_entries(UNIT.read_text())["Service"]
    start_check = shlex.split(dict(service)["ExecStartPre"])
    commands = _exec_reload()
    assert commands[-1] == ["/bin/kill", "-HUP", "$MAINPID"]
    assert commands[:-1] == [start_check]  # systemd runs them in order; a failure stops the reload there
    assert start_check[1:3] == ["validate", "--as-run"] and start_check[-1] == "/etc/art2mus/exhibit.yaml"
    assert dict(service)["ExecStart"].endswith(start_check[-1])  # the file the daemon re-reads


def test_the_reload_check_fails_the_file_the_daemon_refuses_and_passes_the_one_it_applies(
    tmp_path, repo_root
):
    """ExecReload's first command, run as systemd runs it (the exhibit swapped for a copy here): a file
    with `duration: -4`, which the daemon's reload refuses, exits non-zero, so `systemctl reload` fails
    and the HUP is never sent; the file set right exits 0."""
    demo = repo_root / "exhibits/demo"
    spec = {
        "artworks": [
            {
                "id": "amber-fields",
                "images": [str(demo / "artworks/amber-fields.png")],
                "soundscape": {"duration": -4},
            }
        ],
        "idle": {"source": "silence"},
        "audio": {"output": {"type": "null"}},
        "cache": {"dir": str(tmp_path / "cache")},
        "recognition": {"index_dir": str(tmp_path / "index")},
        "control_panel": {"enabled": False},
    }
    exhibit = tmp_path / "exhibit.yaml"
    check = _exec_reload()[0]
    argv = [sys.executable, "-m", "art2mus.installation.cli", *check[1:-1], str(exhibit)]
    exhibit.write_text(yaml.safe_dump(spec))
    refused = subprocess.run(argv, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "artworks[0].soundscape.duration" in refused.stderr
    spec["artworks"][0]["soundscape"]["duration"] = 4
    exhibit.write_text(yaml.safe_dump(spec))
    applied = subprocess.run(argv, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert applied.returncode == 0, applied.stdout + applied.stderr
