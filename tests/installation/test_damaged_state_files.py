"""Files the daemon writes for itself and reads at the next start, found damaged (a power cut while one
was written, a full disk, a bad hand edit): the start logs one warning naming the file, sets it right
and the room plays. Under systemd (``Restart=always``) a start that failed on one instead would fail
again every few seconds, for months, in a silent room.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from small_exhibit import small_exhibit_spec

from art2mus.exhibits.demo_collection import DEMO_ARTWORKS, demo_artwork_path
from art2mus.installation.cli import main
from art2mus.installation.vision.index import INDEX_FILENAME as RECOGNITION_INDEX
from art2mus.installation.vision.index import RecognitionIndex, ReferencePhoto

SECONDS = "12"  # the walk's first artwork (amber fields, in view 5.3-10.9 s) is chosen in that time


def _exhibit(directory: Path, repo_root: Path, cache: Path) -> Path:
    """The demo's first two artworks (2 s soundscapes, rendered once into ``cache``), its walk as the
    camera, ``unseen:`` on as in the demo; the recognition index and the unseen store in ``directory``."""
    spec = small_exhibit_spec(directory, repo_root, {"amber-fields": None, "composition-with-signals": None})
    spec.update(cache={"dir": str(cache)}, unseen={"enabled": True})
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "exhibit.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def _simulate(exhibit: Path):
    """``art2mus simulate`` of the walk's start: (the CLI's result, the artworks played in order)."""
    out = exhibit.parent / "mix.wav"
    result = CliRunner().invoke(
        main, ["simulate", str(exhibit), "-o", str(out), "--duration", SECONDS, "--json"]
    )
    plays = [json.loads(line).get("play") for line in result.stdout.splitlines() if line.startswith("{")]
    return result, [p for p in plays if p is not None]


@pytest.fixture(scope="module")
def first_start(tmp_path_factory, repo_root) -> tuple[Path, Path]:
    """A start with nothing damaged: (the shared soundscape cache, the good recognition index it built)."""
    directory = tmp_path_factory.mktemp("first")
    cache = directory / "cache"
    exhibit = _exhibit(directory, repo_root, cache)
    result, plays = _simulate(exhibit)
    assert result.exit_code == 0, result.output
    assert plays[:2] == ["idle", "amber-fields"]
    return cache, directory / "index" / RECOGNITION_INDEX


def _warnings(stderr: str, text: str) -> list[str]:
    return [line for line in stderr.splitlines() if text in line]


@pytest.mark.parametrize("damage", ["empty", "truncated"])
def test_a_damaged_recognition_index_is_rebuilt_and_the_room_plays(tmp_path, repo_root, first_start, damage):
    cache, good = first_start
    exhibit = _exhibit(tmp_path, repo_root, cache)
    index = tmp_path / "index" / RECOGNITION_INDEX
    index.parent.mkdir()
    # a power cut: the rename reached the disk, the data did not (or only its first part)
    index.write_bytes(b"" if damage == "empty" else good.read_bytes()[: good.stat().st_size // 2])
    result, plays = _simulate(exhibit)
    assert result.exit_code == 0, result.output
    assert plays[:2] == ["idle", "amber-fields"]
    (warning,) = _warnings(result.stderr, f"ignoring unreadable recognition index {index} ")
    assert ("EOFError" if damage == "empty" else "BadZipFile") in warning and "rebuilding it" in warning
    assert index.read_bytes() == good.read_bytes()  # replaced by the rebuilt index
    assert not [p.name for p in index.parent.iterdir() if p.name.endswith(".tmp")]  # no temporary file left
    again, _ = _simulate(exhibit)
    assert again.exit_code == 0 and "recognition index" not in again.stderr  # the next start loads it


@pytest.fixture
def disk_writes(monkeypatch) -> list[str]:
    """What reaches the disk, in order: each fsync (the file or folder synced) and each rename."""
    done: list[str] = []
    fsync, replace = os.fsync, os.replace

    def synced(fd: int) -> None:
        done.append(os.readlink(f"/proc/self/fd/{fd}"))
        fsync(fd)

    def renamed(source, target) -> None:
        done.append(f"rename {Path(target).name}")
        replace(source, target)

    monkeypatch.setattr(os, "fsync", synced)
    monkeypatch.setattr(os, "replace", renamed)
    return done


def _one_reference_index() -> RecognitionIndex:
    art = DEMO_ARTWORKS[0]
    return RecognitionIndex.build([ReferencePhoto(art.id, path=demo_artwork_path(art))])


def test_the_recognition_index_is_written_whole_and_synced(tmp_path, disk_writes):
    index = _one_reference_index()
    index.save(tmp_path / RECOGNITION_INDEX)
    temporary, *rest = disk_writes
    assert temporary.startswith(str(tmp_path / f".{RECOGNITION_INDEX}."))
    assert rest == [f"rename {RECOGNITION_INDEX}", str(tmp_path)]
    assert [p.name for p in tmp_path.iterdir()] == [RECOGNITION_INDEX]


def test_a_recognition_index_that_cannot_be_written_leaves_no_temporary_file(tmp_path, monkeypatch):
    index = _one_reference_index()

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space left"):
        index.save(tmp_path / RECOGNITION_INDEX)
    assert list(tmp_path.iterdir()) == []
