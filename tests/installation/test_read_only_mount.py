"""Output folders on a filesystem mounted read-only: the warning and the refusal say so, with a remount as
the fix, instead of an owner and a chown/chmod that cannot help (root was told to chown root's own folder)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from art2mus.installation.cli import main
from art2mus.installation.config import load_exhibit
from art2mus.installation.config.files import output_problem, unwritable_folders

REMOUNT = "remount it read-write or put the folder on a writable disk"


def mount_read_only(monkeypatch: pytest.MonkeyPatch, mount: Path) -> None:
    """Paths under ``mount`` answer as a read-only mount does: no write access (root's included), and
    ``statvfs`` reports ``ST_RDONLY``."""
    real_access, real_statvfs = os.access, os.statvfs

    def access(path, mode, *args, **kwargs):
        if mode & os.W_OK and Path(path).absolute().is_relative_to(mount):
            return False
        return real_access(path, mode, *args, **kwargs)

    class ReadOnly:
        def __init__(self, result: os.statvfs_result) -> None:
            self.f_flag = result.f_flag | os.ST_RDONLY

    def statvfs(path):
        result = real_statvfs(path)
        return ReadOnly(result) if Path(path).absolute().is_relative_to(mount) else result

    monkeypatch.setattr("art2mus.installation.config.files.os.access", access)
    monkeypatch.setattr("art2mus.installation.config.files.os.statvfs", statvfs)


def test_a_cache_on_a_read_only_mount_says_remount_not_chown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cache on a read-only mount read 'this user (root) may not write FOLDER (owned by root)' with
    chown/chmod advice; it names the read-only filesystem and the remount, and validate still passes."""
    mount = tmp_path / "ro"
    (mount / "cache").mkdir(parents=True)
    writable = tmp_path / "index"
    writable.mkdir()
    painting = Path(__file__).resolve().parents[2] / "exhibits/demo/artworks/amber-fields.png"
    exhibit = tmp_path / "exhibit.yaml"
    exhibit.write_text(
        f"artworks: [{{id: a1, images: [{painting}]}}]\ncache: {{dir: {mount}/cache}}\n"
        f"recognition: {{index_dir: {writable}}}\nunseen: {{dir: {tmp_path}/unseen}}\n",
        encoding="utf-8",
    )
    mount_read_only(monkeypatch, mount)
    warnings = unwritable_folders(load_exhibit(exhibit))
    assert len(warnings) == 1
    warning = warnings[0]
    assert warning.startswith(
        f"cache.dir: {mount / 'cache'} is on a read-only filesystem (mounted read-only): "
    )
    assert warning.endswith(f"({REMOUNT})")
    assert "a second daemon is not refused" in warning
    assert "chown" not in warning and "chmod" not in warning and "may not write" not in warning
    result = CliRunner().invoke(main, ["validate", str(exhibit)])
    assert result.exit_code == 0, result.output
    assert f"warning: {exhibit}:2:14 {warning}" in result.stderr


def test_a_folder_to_make_on_a_read_only_mount_names_the_mount(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cache folder still to be made under a read-only mount: its nearest existing folder is named as
    read-only with the remount, not as 'not writable by root'."""
    mount = tmp_path / "ro"
    mount.mkdir()
    mount_read_only(monkeypatch, mount)
    message = output_problem(mount / "cache" / "new")
    assert message == (
        f"cannot create {mount / 'cache' / 'new'}: {mount} is on a read-only filesystem (mounted read-only): "
        f"{REMOUNT}"
    )
    # a folder merely not writable keeps its owner-and-user sentence
    assert "is not writable by" in output_problem(tmp_path / "x", access=lambda path, mode: False)
