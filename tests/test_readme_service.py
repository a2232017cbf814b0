"""The README's service install and upgrade say what the unit and the code do: the index folder was
`/var/lib/art2mus` in one place and `/var/lib/art2mus/index` in two; step 3's `cp -r .../demo/.` also
copied the demo's git-ignored `.art2mus` (cache, index, unseen: 95 MB) into /etc; and the upgrade
claimed a running daemon keeps the code it loaded, which an editable install does not (modules imported
when first needed, the generator process started again)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()
UNIT = (REPO / "systemd/art2mus.service").read_text()


def _section(title: str) -> str:
    start = README.index(title)
    end = README.find("\n## ", start + 1)
    return README[start : end if end >= 0 else None]


def test_every_index_dir_the_service_docs_give_is_the_same_folder():
    found = re.findall(r"index_dir: (/var/lib/art2mus\S*?)(?=[`}\s|])", README + UNIT)
    assert len(found) >= 3 and set(found) == {"/var/lib/art2mus/index"}, found


def test_step_3_copies_the_exhibit_and_not_the_demos_own_state(tmp_path):
    """The README's command, run with /opt/art2mus and /etc/art2mus swapped for folders here, over a demo
    that has been run in place (a .art2mus folder beside it): every file git tracks in the demo arrives,
    nothing else, and the copy validates where it lies."""
    line = next(ln for ln in README.splitlines() if ln.startswith("mkdir -p /etc/art2mus"))
    opt, etc = tmp_path / "opt", tmp_path / "etc"
    tracked = subprocess.run(
        ["git", "ls-files", "exhibits/demo"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    for name in tracked:
        (opt / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / name, opt / name)
    state = opt / "exhibits/demo/.art2mus/cache"
    state.mkdir(parents=True)
    (state / "soundscape.flac").write_bytes(b"x" * 1000)
    command = line.replace("/opt/art2mus", str(opt)).replace("/etc/art2mus", str(etc))
    subprocess.run(["sh", "-c", command], check=True)
    copied = sorted(str(p.relative_to(etc)) for p in etc.rglob("*") if p.is_file())
    assert copied == sorted(name.removeprefix("exhibits/demo/") for name in tracked)
    check = subprocess.run(
        [sys.executable, "-m", "art2mus.installation.cli", "validate", str(etc / "exhibit.yaml")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_the_upgrade_stops_the_daemon_before_the_code_changes_and_starts_it_after():
    upgrade = _section("**Upgrade.**")
    block = upgrade[upgrade.index("```sh") : upgrade.index("```", upgrade.index("```sh") + 5)]
    commands = [ln.strip() for ln in block.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    stop = commands.index("systemctl stop art2mus")
    pull = next(i for i, c in enumerate(commands) if "git pull" in c and "./bootstrap" in c)
    start = commands.index("systemctl start art2mus")
    assert stop < pull < start and start == len(commands) - 1
    assert "restart" not in " ".join(commands)
    assert "runs the new code only after a" not in README
    assert "editable install" in upgrade and "editable install" in UNIT
    assert "systemctl stop art2mus" in UNIT
