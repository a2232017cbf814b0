"""bootstrap warns when the systemd unit's user could not run the .venv's Python.

The unit runs /opt/art2mus/.venv/bin/art2mus as art2mus with /root and /home hidden: a .venv made from a
pyenv Python under /root failed there with "Permission denied" (203/EXEC), and a re-run of bootstrap kept
that .venv. `./bootstrap --check-python` runs the same check as an install and installs nothing.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

BOOTSTRAP = Path(__file__).resolve().parents[1] / "bootstrap"


def _checkout(tmp_path: Path) -> Path:
    """A checkout outside /root and /home holding only bootstrap (the check reads nothing else)."""
    clone = tmp_path / "opt-art2mus"
    clone.mkdir()
    shutil.copy2(BOOTSTRAP, clone / "bootstrap")
    return clone


def _private_python(tmp_path: Path) -> Path:
    """A python3 in a folder closed to other users (as pyenv's under /root is), linked to a real one."""
    private = tmp_path / "private" / "bin"
    private.mkdir(parents=True)
    link = private / "python3"
    link.symlink_to(getattr(sys, "_base_executable", sys.executable))
    private.parent.chmod(0o700)
    return link


def _check(clone: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(clone / "bootstrap"), "--check-python"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
    )


def test_an_interpreter_closed_to_other_users_is_named_with_the_fix(tmp_path):
    clone = _checkout(tmp_path)
    python = _private_python(tmp_path)

    result = _check(clone, PYTHON=str(python))

    assert result.returncode == 1, result.stderr
    assert "cannot be run by another user" in result.stderr
    assert f"{python}: the folder " in result.stderr and "closed to other users" in result.stderr
    assert "PYTHON=/usr/bin/python3 ./bootstrap" in result.stderr
    assert not (clone / ".venv").exists()  # installs nothing


def test_an_existing_venv_from_such_an_interpreter_is_named_on_a_re_run(tmp_path):
    """bootstrap keeps an existing .venv, so it checks that one, whatever PYTHON says."""
    clone = _checkout(tmp_path)
    (clone / ".venv" / "bin").mkdir(parents=True)
    (clone / ".venv" / "bin" / "python").symlink_to(_private_python(tmp_path))

    result = _check(clone, PYTHON="/usr/bin/python3")

    assert result.returncode == 1, result.stderr
    assert f"{clone}/.venv (made from" in result.stderr and "closed to other users" in result.stderr
    assert f"rm -rf {clone}/.venv && PYTHON=/usr/bin/python3 ./bootstrap" in result.stderr


def _open_to_others(path: Path) -> bool:
    path = path.resolve()
    if str(path).startswith(("/root/", "/home/")):
        return False
    folders_open = all(p.stat().st_mode & stat.S_IXOTH for p in path.parents)
    return folders_open and path.stat().st_mode & 0o005 == 0o005


@pytest.mark.skipif(
    not Path("/usr/bin/python3").exists() or not _open_to_others(Path("/usr/bin/python3")),
    reason="no system /usr/bin/python3 open to other users",
)
def test_the_system_python_passes(tmp_path):
    result = _check(_checkout(tmp_path), PYTHON="/usr/bin/python3")
    assert result.returncode == 0 and "WARNING" not in result.stderr, result.stderr
