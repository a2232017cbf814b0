"""The systemd unit starts commands that exist, with options they accept."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from art2mus.installation.cli import main

UNIT = Path(__file__).resolve().parents[1] / "systemd" / "art2mus.service"


def _unit_entries(text: str) -> dict[str, list[tuple[str, str]]]:
    sections: dict[str, list[tuple[str, str]]] = {}
    current = None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
            continue
        key, sep, value = line.partition("=")
        assert sep and current is not None, f"{UNIT.name}: not a key=value line inside a section: {line!r}"
        current.append((key, value))
    return sections


def test_unit_runs_art2mus_commands_that_exist():
    sections = _unit_entries(UNIT.read_text())
    assert set(sections) == {"Unit", "Service", "Install"}
    service = dict(sections["Service"])
    assert service["Restart"] == "always" and dict(sections["Unit"])["StartLimitIntervalSec"] == "0"
    for key in ("ExecStartPre", "ExecStart"):
        argv = shlex.split(service[key])
        assert argv[0].endswith("/bin/art2mus")
        # the same arguments, with the exhibit swapped for --help, must be accepted by our CLI
        args = [a for a in argv[1:] if not a.endswith(".yaml")] + ["--help"]
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, (key, args, result.output)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_accepts_the_unit(tmp_path):
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(UNIT)], capture_output=True, text=True
    )
    # it complains about the missing /opt/art2mus binary on a build machine; nothing else is allowed
    problems = [line for line in result.stderr.splitlines() if line.strip() and "/opt/art2mus" not in line]
    assert not problems, result.stderr


def test_unit_starts_after_the_clock_is_set():
    """A PC whose hardware clock keeps local time starts 1-2 h ahead until NTP steps it back: the opening
    hours followed the wrong time meanwhile. time-sync.target is ordered against, not pulled in
    (systemd.special(7)), so an offline gallery does not wait for a sync."""
    unit = _unit_entries(UNIT.read_text())["Unit"]
    after = " ".join(v for k, v in unit if k == "After").split()
    wants = " ".join(v for k, v in unit if k in ("Wants", "Requires")).split()
    assert "time-sync.target" in after and "time-sync.target" not in wants


def test_unit_is_notify_with_a_watchdog_limits_and_a_read_only_configuration():
    service = _unit_entries(UNIT.read_text())["Service"]
    single = dict(service)
    assert single["Type"] == "notify" and int(single["WatchdogSec"]) > 0
    assert single["MemoryMax"].endswith("G") and int(single["LimitNOFILE"]) >= 1024
    assert single["ProtectSystem"] == "strict"
    writable = " ".join(v for k, v in service if k == "ReadWritePaths")
    assert "/etc" not in writable  # the daemon must not be able to rewrite its own exhibit
    # the camera, the sound card and the GPU stay reachable behind DevicePolicy=closed
    allowed = " ".join(v for k, v in service if k == "DeviceAllow")
    assert single["DevicePolicy"] == "closed"
    for group in ("char-video4linux", "char-alsa", "char-nvidia-frontend", "char-nvidia-uvm", "char-drm"):
        assert group in allowed, group
    assert {"audio", "video", "render"} <= set(single["SupplementaryGroups"].split())


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_the_unit_scores_4_or_better_in_systemd_analyze_security():
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", "--threshold=40", str(UNIT)],
        capture_output=True,
        text=True,
    )
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout + result.stderr)
    assert match, result.stdout + result.stderr
    assert float(match.group(1)) <= 4.0, result.stdout


def test_the_start_check_passes_what_the_daemon_starts_with_and_fails_what_it_refuses(tmp_path, repo_root):
    """ExecStartPre must not keep a room silent that `run` would play: an artwork whose photo is missing is
    left out by the daemon (and a reload takes such a file), so the unit's check only warns about it; a
    file the daemon refuses fails it. It failed on the missing photo, and with Restart=always the unit
    retried every 5 s at the next restart."""
    import yaml

    from art2mus.installation.cli.shared import load_or_exit

    demo = yaml.safe_load((repo_root / "exhibits/demo/exhibit.yaml").read_text())
    base = repo_root / "exhibits/demo"
    for artwork in demo["artworks"]:
        artwork["images"] = [str(base / p) for p in artwork["images"]]
    demo["artworks"][0]["images"] = [str(base / "artworks" / "amber-field.png")]  # a typo
    demo["camera"]["path"] = str(base / demo["camera"]["path"])
    exhibit = tmp_path / "exhibit.yaml"
    exhibit.write_text(yaml.safe_dump(demo, sort_keys=False))
    argv = shlex.split(dict(_unit_entries(UNIT.read_text())["Service"])["ExecStartPre"])
    check = [a if not a.endswith(".yaml") else str(exhibit) for a in argv[1:]]

    assert load_or_exit(exhibit).artworks[0].id == "amber-fields"  # what `run` loads: it starts
    result = CliRunner().invoke(main, check)
    assert result.exit_code == 0, result.output
    assert (
        "artworks[0].images[0]: file not found" in result.stderr and "run starts without it" in result.stderr
    )

    exhibit.write_text(exhibit.read_text().replace("artworks:", "artworks: [", 1))  # what `run` refuses
    result = CliRunner().invoke(main, check)
    assert result.exit_code == 1 and "YAML syntax" in result.output, result.output
