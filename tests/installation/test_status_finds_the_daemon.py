"""``art2mus status`` and ``doctor`` find this exhibit's daemon where its panel is, and tell the daemon of
another exhibit on the panel's port (by its token or its exhibit file) from this one. One daemon,
``art2mus run --panel-port`` of a procedural exhibit, asked over real HTTP as test_status_command does."""

from __future__ import annotations

import json
import subprocess

import pytest
import yaml
from small_exhibit import small_exhibit_spec
from test_status_command import TOKEN, _art2mus, _free_port, running

#: the keys of status --json, in order: all of them always there
JSON_KEYS = (
    "exhibit", "chosen", "url", "reachable", "error", "elsewhere", "daemon", "open", "period", "until",
    "playing", "playing_title", "override", "camera", "audio", "generation", "attention", "reload", "cache",
)  # fmt: skip


@pytest.fixture(scope="module")
def moved_daemon(tmp_path_factory, repo_root):
    """``art2mus run --panel-port MOVED`` of an exhibit whose control_panel.port is CONFIGURED (free)."""
    tmp_path = tmp_path_factory.mktemp("moved")
    configured, moved = _free_port(), _free_port()
    (tmp_path / "panel.token").write_text(TOKEN + "\n")
    spec = small_exhibit_spec(tmp_path, repo_root, {"amber-fields": None})
    spec["control_panel"] = {
        "enabled": True,
        "host": "127.0.0.1",
        "port": configured,
        "token_file": "panel.token",
    }
    exhibit = tmp_path / "exhibit.yaml"
    exhibit.write_text(yaml.safe_dump(spec), encoding="utf-8")
    with running(exhibit, moved, "--panel-port", str(moved)) as process:
        yield process, exhibit, configured, moved, spec


def test_a_daemon_run_with_panel_port_is_found_through_its_lock_file(moved_daemon):
    process, exhibit, configured, moved, _ = moved_daemon
    where = exhibit.parent
    assert (where / "cache/daemon.lock").read_text().splitlines()[2] == str(moved)
    # status said "UNREACHABLE: nothing answers at http://127.0.0.1:CONFIGURED (...): is the daemon running?"
    # (exit 3) while the room played
    found = _art2mus("status", str(exhibit), cwd=where)
    assert found.returncode == 0, found.stdout + found.stderr
    assert (
        f"panel      not on control_panel.port {configured}: the daemon (pid {process.pid}) runs with its "
        f"panel on port {moved}"
    ) in found.stdout
    assert f"running, pid {process.pid}" in found.stdout
    # status had no --panel-port or --url ("No such option")
    for option in (["--panel-port", str(moved)], ["--url", f"http://127.0.0.1:{moved}"]):
        given = _art2mus("status", str(exhibit), "--json", *option, cwd=where)
        assert given.returncode == 0, given.stdout + given.stderr
        facts = json.loads(given.stdout)
        assert facts["daemon"]["pid"] == process.pid and facts["daemon"]["exhibit"] == str(exhibit)
        assert facts["url"] == f"http://127.0.0.1:{moved}" and facts["elsewhere"] is None
    # doctor said "OK control panel 127.0.0.1:CONFIGURED is free" and no more
    doctor = _art2mus("doctor", str(exhibit), cwd=where)
    panel = next(line for line in doctor.stdout.splitlines() if " control panel " in line)
    assert panel.endswith(
        f"127.0.0.1:{configured} is free, but the daemon (pid {process.pid}) runs with its panel on port {moved}"
    ), panel


def test_another_exhibits_daemon_on_the_panels_port_is_named(moved_daemon, tmp_path, repo_root):
    process, exhibit, _, moved, _ = moved_daemon

    def other(name: str, **panel) -> tuple[subprocess.CompletedProcess[str], str]:
        spec = small_exhibit_spec(tmp_path / name, repo_root, {"amber-fields": None})
        spec["control_panel"] = {"enabled": True, "host": "127.0.0.1", "port": moved, **panel}
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(spec), encoding="utf-8")
        status = _art2mus("status", str(path), cwd=tmp_path)
        doctor = _art2mus("doctor", str(path), cwd=tmp_path)
        return status, next(line for line in doctor.stdout.splitlines() if " control panel " in line)

    # the same token, another exhibit file: status described ex1's room with this one's cache (exit 0),
    # doctor said "OK ... daemon running"
    status, doctor = other("same-token", token=TOKEN)
    assert status.returncode == 4, status.stdout + status.stderr
    assert f"the daemon on 127.0.0.1:{moved} runs {exhibit}, not this one" in status.stdout
    assert doctor.startswith("WARN") and f"runs {exhibit}, not this one" in doctor, doctor

    # another token, inline or none: status said "refused the token (control_panel.token_file)", doctor
    # "not an art2mus daemon"
    told = "but with another token than this exhibit's ({}): is it running another exhibit?"
    for name, panel, source in [
        ("inline", {"token": "another-long-token-for-another-exhibit"}, "control_panel.token"),
        ("none", {}, "no token: the exhibit sets none"),
    ]:
        status, doctor = other(name, **panel)
        assert status.returncode == 3, status.stdout + status.stderr
        assert (
            f"an art2mus daemon answers at http://127.0.0.1:{moved}, {told.format(source)}" in status.stdout
        )
        assert (
            doctor.startswith("WARN") and told.format(source) in doctor and "not an art2mus" not in doctor
        ), doctor


def test_status_json_has_the_same_keys_whatever_happens(tmp_path, repo_root):
    spec = small_exhibit_spec(tmp_path, repo_root, {"amber-fields": None})
    spec["control_panel"] = {"enabled": True, "host": "127.0.0.1", "port": _free_port()}
    exhibit = tmp_path / "exhibit.yaml"
    exhibit.write_text(yaml.safe_dump(spec), encoding="utf-8")
    gone = _art2mus("status", str(exhibit), "--json", cwd=tmp_path)
    assert gone.returncode == 3
    facts = json.loads(gone.stdout)  # had only exhibit, chosen, url, reachable, error
    assert tuple(facts) == JSON_KEYS and facts["reachable"] is False and facts["daemon"] is None
    assert facts["error"].startswith("nothing answers at")

    exhibit.write_text("control_panel: {port: many}\n", encoding="utf-8")
    unreadable = _art2mus("status", str(exhibit), "--json", cwd=tmp_path)
    assert unreadable.returncode == 2
    facts = json.loads(unreadable.stdout)  # stdout was empty
    assert (
        tuple(facts) == JSON_KEYS and facts["exhibit"] == str(exhibit) and "control_panel" in facts["error"]
    )
