"""``art2mus status`` of an exhibit whose file cannot be read still asks its running daemon: the curator's
edit with a YAML syntax error, refused by a reload while the room plays on, is exactly when a technician asks.
One daemon, ``art2mus run --panel-port`` of a procedural exhibit, asked over real HTTP as
test_status_command does."""

from __future__ import annotations

import json
import re
import signal

import pytest
from test_status_command import _art2mus, _status, _wait
from test_status_finds_the_daemon import JSON_KEYS, moved_daemon  # noqa: F401 -- a fixture


def _reload_refused(port: int) -> bool:
    """Whether the daemon on ``port`` says its last reload was refused; False while it is slow to answer."""
    try:
        return (_status(port).get("reload") or {}).get("ok") is False
    except OSError:  # a busy machine: a 5 s read timeout, asked again
        return False


@pytest.fixture(scope="module")
def broken_daemon(moved_daemon):  # noqa: F811 -- the fixture imported above
    """test_status_finds_the_daemon's ``art2mus run --panel-port MOVED`` (control_panel.port CONFIGURED, free)
    whose file then gets a YAML syntax error in its artworks and SIGHUP: the reload is refused, the room
    plays on."""
    process, exhibit, configured, moved, _ = moved_daemon
    text = exhibit.read_text(encoding="utf-8")
    # the artworks come first: a title with ': ' in it, unquoted, breaks the whole file
    broken = text.replace("- id: amber-fields\n", "- id: amber-fields\n  title: Amber: fields\n", 1)
    assert broken != text
    exhibit.write_text(broken, encoding="utf-8")
    process.send_signal(signal.SIGHUP)
    _wait(lambda: _reload_refused(moved), process)
    yield process, exhibit, configured, moved, broken
    exhibit.write_text(text, encoding="utf-8")


def test_status_asks_the_daemon_of_an_exhibit_whose_file_cannot_be_read(broken_daemon):
    process, exhibit, configured, moved, _ = broken_daemon
    where = exhibit.parent
    # status printed only "exhibit.yaml:3:15 YAML syntax: mapping values are not allowed in this context", exit 2
    found = _art2mus("status", str(exhibit), cwd=where)
    assert found.returncode == 1, found.stdout + found.stderr
    assert re.search(r"^warning +the file cannot be read: .*YAML syntax", found.stdout, re.M), found.stdout
    assert f"running, pid {process.pid}" in found.stdout
    assert (
        f"panel      not on control_panel.port {configured}: the daemon (pid {process.pid}) runs with its "
        f"panel on port {moved}"
    ) in found.stdout
    assert re.search(r"^playing ", found.stdout, re.M) and re.search(r"^audio ", found.stdout, re.M)
    assert re.search(r"^ +- reload refused: .*YAML syntax", found.stdout, re.M), found.stdout

    # --panel-port and --url were never used ("exits before using them")
    for option in (["--panel-port", str(moved)], ["--url", f"http://127.0.0.1:{moved}"]):
        given = _art2mus("status", str(exhibit), "--json", *option, cwd=where)
        assert given.returncode == 1, given.stdout + given.stderr
        facts = json.loads(given.stdout)
        assert tuple(facts) == JSON_KEYS and facts["reachable"] is True
        assert facts["daemon"]["pid"] == process.pid and facts["url"] == f"http://127.0.0.1:{moved}"
        assert "YAML syntax" in facts["error"] and facts["attention"] and not facts["reload"]["ok"]


def test_a_broken_control_panel_section_still_finds_the_daemons_port_through_the_lock_file(broken_daemon):
    process, exhibit, _, moved, broken = broken_daemon
    where = exhibit.parent
    # the control_panel section itself unreadable: its token is unknown, but the cache folder's lock file
    # still names the daemon's port, so status says who answers there instead of nothing
    exhibit.write_text(broken.replace("control_panel:\n", "control_panel:\n  port: [\n", 1), encoding="utf-8")
    unreadable = _art2mus("status", str(exhibit), "--json", cwd=where)
    assert unreadable.returncode == 2, unreadable.stdout + unreadable.stderr
    facts = json.loads(unreadable.stdout)
    assert tuple(facts) == JSON_KEYS and facts["reachable"] is False
    assert facts["url"] == f"http://127.0.0.1:{moved}", facts
    assert (
        "YAML syntax" in facts["error"]
        and f"an art2mus daemon answers at http://127.0.0.1:{moved}" in (facts["error"])
    )
    exhibit.write_text(broken, encoding="utf-8")
