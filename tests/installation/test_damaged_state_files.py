"""Files the daemon writes for itself and reads at the next start, found damaged (a power cut while one
was written, a full disk, a bad hand edit): the start logs one warning naming the file, sets it right
and the room plays. Under systemd (``Restart=always``) a start that failed on one instead would fail
again every few seconds, for months, in a silent room.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from small_exhibit import small_exhibit_spec

from art2mus.exhibits.demo_collection import DEMO_ARTWORKS, demo_artwork_path
from art2mus.installation.cli import main
from art2mus.installation.unseen_store import INDEX_FILENAME, KEEP_DAMAGED, UnseenStore
from art2mus.installation.vision.index import INDEX_FILENAME as RECOGNITION_INDEX
from art2mus.installation.vision.index import RecognitionIndex, ReferencePhoto
from art2mus.installation.vision.unseen import PictureDescriptor, UnseenSighting

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


def _simulate(exhibit: Path, *options: str):
    """``art2mus simulate`` of the walk's start: (the CLI's result, the artworks played in order)."""
    out = exhibit.parent / "mix.wav"
    result = CliRunner().invoke(
        main, ["simulate", str(exhibit), "-o", str(out), "--duration", SECONDS, "--json", *options]
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


@pytest.mark.parametrize("damage", ["empty", "truncated"])
def test_a_damaged_unseen_list_is_moved_aside_and_the_room_plays(tmp_path, repo_root, first_start, damage):
    cache, _ = first_start
    exhibit = _exhibit(tmp_path, repo_root, cache)
    store = tmp_path / ".art2mus/unseen"
    store.mkdir(parents=True)
    listed = json.dumps({"artworks": [{"id": "u1", "descriptor": {"bits": "1", "chroma": [0.0] * 32}}]})
    damaged = b"" if damage == "empty" else listed.encode()[:40]
    (store / INDEX_FILENAME).write_bytes(damaged)
    result, plays = _simulate(exhibit, "--keep-unseen")  # as `run` starts: on the live store
    assert result.exit_code == 0, result.output
    assert plays[:2] == ["idle", "amber-fields"]
    (warning,) = _warnings(result.stderr, f"{store / INDEX_FILENAME}: not an unseen-artworks index")
    (aside,) = store.glob(f"{INDEX_FILENAME}.corrupt-*")
    assert f"moved it aside to {aside.name}" in warning
    assert aside.read_bytes() == damaged and not (store / INDEX_FILENAME).exists()
    # `art2mus unseen list` on a damaged list still says which file is wrong, and leaves it where it is
    (store / INDEX_FILENAME).write_bytes(damaged)
    listing = CliRunner().invoke(main, ["unseen", "list", str(exhibit)])
    assert (
        listing.exit_code == 1 and f"{store / INDEX_FILENAME}: not an unseen-artworks index" in listing.stderr
    )
    assert (store / INDEX_FILENAME).read_bytes() == damaged


def test_only_the_newest_damaged_unseen_lists_are_kept(tmp_path):
    clock = iter(range(0, 1000, 60))
    for n in range(KEEP_DAMAGED + 2):
        (tmp_path / INDEX_FILENAME).write_text("{" * n)
        assert UnseenStore(tmp_path, clock=lambda: next(clock), set_aside_damaged=True).artworks == {}
    kept = sorted(p.name for p in tmp_path.glob(f"{INDEX_FILENAME}.corrupt-*"))
    assert len(kept) == KEEP_DAMAGED
    assert [(tmp_path / name).read_text() for name in kept] == ["{" * n for n in range(2, KEEP_DAMAGED + 2)]


def test_two_damaged_unseen_lists_in_one_second_are_both_kept(tmp_path):
    for text in ("", "{"):
        (tmp_path / INDEX_FILENAME).write_text(text)
        UnseenStore(tmp_path, clock=lambda: 1e9, set_aside_damaged=True)
    assert sorted(p.read_text() for p in tmp_path.glob(f"{INDEX_FILENAME}.corrupt-*")) == ["", "{"]


@pytest.mark.parametrize(
    "descriptor",
    [
        {"bits": "1", "chroma": [0.0] * 5},
        {"bits": "f" * 17, "chroma": [0.0] * 32},
        {"bits": "-1", "chroma": [0.0] * 32},
    ],
)
def test_a_listed_descriptor_no_picture_can_have_is_damage(tmp_path, descriptor):
    """One would fail every later sighting's match (numpy cannot compare 5 chroma values with 32)."""
    artwork = {"id": "u1", "descriptor": descriptor, "first_seen": 1.0, "last_seen": 1.0}
    (tmp_path / INDEX_FILENAME).write_text(json.dumps({"artworks": [artwork]}))
    with pytest.raises(ValueError, match="not a picture descriptor"):
        UnseenStore(tmp_path)


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


def test_the_store_writes_the_index_whole_and_synced(tmp_path, disk_writes):
    """The list is rewritten at each sighting: flushed to disk before the rename, or a power cut soon
    after leaves an empty file where the list was; the crop reaches the disk before the list names it."""
    crop = np.full((40, 60, 3), 128, np.uint8)
    artwork_id = UnseenStore(tmp_path).name(
        UnseenSighting(crop, PictureDescriptor(5, (0.0,) * 32), np.zeros((4, 2)))
    )
    crop_file, index = f"{artwork_id}.jpg", INDEX_FILENAME
    assert disk_writes == [
        str(tmp_path / f"{crop_file}.partial"),
        f"rename {crop_file}",
        str(tmp_path),
        str(tmp_path / f"{index}.partial"),
        f"rename {index}",
        str(tmp_path),
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([crop_file, index])


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


@pytest.mark.parametrize("damage", ["empty", "missing", "legacy-png"])
def test_a_damaged_crop_is_replaced_at_the_next_sighting(tmp_path, caplog, damage):
    """The unseen artwork's soundscape is made from its crop: an empty or deleted one failed that
    artwork's every sighting (the daemon's frames failed while it was in view; simulate stopped)."""
    crop = np.full((40, 60, 3), 128, np.uint8)
    crop[:, 30:] = 20
    sighting = UnseenSighting(crop, PictureDescriptor(5, (0.0,) * 32), np.zeros((4, 2)))
    artwork_id = UnseenStore(tmp_path).name(sighting)
    stored = tmp_path / f"{artwork_id}.jpg"
    damaged = stored
    if damage == "legacy-png":
        stored.unlink()
        damaged = tmp_path / f"{artwork_id}.png"
        damaged.write_bytes(b"\x89PNG")
    elif damage == "missing":
        stored.unlink()
    else:
        stored.write_bytes(b"")
    assert UnseenStore(tmp_path).name(sighting) == artwork_id  # the same artwork, its id kept
    assert f"unseen artwork {artwork_id}: its crop {damaged} is missing or cannot be read" in caplog.text
    assert UnseenStore(tmp_path).crop_path(artwork_id) == stored
    assert cv2.imread(str(stored)).shape == crop.shape and not damaged.with_suffix(".png").exists()
    assert UnseenStore(tmp_path).artworks[artwork_id].sightings == 2


def test_promote_writes_the_exhibit_whole_and_synced(tmp_path, repo_root, disk_writes):
    """``art2mus unseen promote`` rewrites the exhibit YAML the daemon reads at every start: a power cut
    soon after left an empty exhibit.yaml, and no start at all."""
    from art2mus.installation.config import load_exhibit
    from art2mus.installation.unseen_store import promote

    exhibit = _exhibit(tmp_path, repo_root, tmp_path / "cache")
    crop = np.full((40, 60, 3), 128, np.uint8)
    artwork_id = UnseenStore(tmp_path / ".art2mus/unseen").name(
        UnseenSighting(crop, PictureDescriptor(5, (0.0,) * 32), np.zeros((4, 2)))
    )
    disk_writes.clear()
    promote(load_exhibit(exhibit), artwork_id)
    renamed = disk_writes.index("rename exhibit.yaml")
    assert disk_writes[renamed - 1 : renamed + 2] == [
        f"{exhibit}.partial",
        "rename exhibit.yaml",
        str(tmp_path),
    ]
    assert f"unseen-{artwork_id}" in {a.id for a in load_exhibit(exhibit).artworks}
