"""What a curator meets with unseen artworks: a painting promoted while the room plays, a folder that
refuses the crops, forgetting and ignoring one, a damaged list, a preview that must not touch the live
store, what `unseen list` says, and the cache a forgotten one leaves behind.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from small_exhibit import small_exhibit_spec
from test_unseen import SECONDS, _exhibit, _plays, _simulate

from art2mus.exhibits.demo_collection.artworks import DEMO_ARTWORKS, render_demo_artwork
from art2mus.exhibits.demo_collection.unseen_walk import unseen_walk_script
from art2mus.exhibits.demo_collection.walk import write_walk_video
from art2mus.installation import unseen_store
from art2mus.installation.audio.clock import ManualClock
from art2mus.installation.audio.outputs import WavOutput
from art2mus.installation.cache import SoundscapeCache
from art2mus.installation.cli import main
from art2mus.installation.config import load_exhibit
from art2mus.installation.gallery import Gallery
from art2mus.installation.unseen_store import INDEX_FILENAME, UnseenStore, promote, unseen_dir
from art2mus.installation.vision.unseen import UNSEEN_PREFIX, UnseenSighting, describe


@pytest.fixture(scope="module")
def walk_video(tmp_path_factory) -> Path:
    return write_walk_video(tmp_path_factory.mktemp("walk") / "unseen-walk.mp4", unseen_walk_script()).path


def _sighting(n: int, size: tuple[int, int] = (256, 200)) -> UnseenSighting:
    crop = cv2.resize(render_demo_artwork(DEMO_ARTWORKS[n]), size)
    return UnseenSighting(crop, describe(crop), np.zeros((4, 2)))


def _small_exhibit(tmp_path: Path, repo_root: Path, **unseen) -> Path:
    spec = small_exhibit_spec(tmp_path, repo_root, {"amber-fields": None})
    spec["unseen"] = {"enabled": True, **unseen}
    path = tmp_path / "exhibit.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def _unseen_plays(gallery: Gallery) -> list[str]:
    return [w for _, w in _plays(gallery) if w.startswith(UNSEEN_PREFIX)]


def test_a_painting_promoted_while_the_room_plays_keeps_its_soundscape(tmp_path, repo_root, walk_video):
    """`unseen promote` while `run` ran: at the painting's next sighting the daemon raised
    FileNotFoundError for its deleted crop at every frame, and the room stayed idle. It now plays the
    soundscape it played for it (from the cache: the promoted photo is the crop's bytes) until a reload."""
    path = _exhibit(tmp_path, repo_root, walk_video)
    (what,) = set(_unseen_plays(_simulate(path, tmp_path / "first.wav")))
    daemon = Gallery(
        load_exhibit(path), clock=ManualClock(), output=WavOutput(tmp_path / "d.wav", realtime=True)
    )
    daemon.build(realtime=False)
    promote(load_exhibit(path), what, "new-loan")
    daemon.simulate(SECONDS)
    assert _unseen_plays(daemon) == [what, what]
    assert what in daemon.director.library.from_cache and daemon.unseen_generated == []


def test_an_unwritable_unseen_folder_still_gives_the_painting_its_soundscape(
    tmp_path, repo_root, walk_video, monkeypatch
):
    """A read-only or full unseen folder: the crop is held in memory for the run (one id, one warning
    naming the folder and the cause), the painting plays, and simulate does not crash."""
    written = unseen_store._write_durably

    def read_only(path: Path, data: bytes) -> None:
        if path.parent.name == "unseen":
            raise OSError(errno.EROFS, "Read-only file system", str(path) + ".partial")
        written(path, data)

    monkeypatch.setattr(unseen_store, "_write_durably", read_only)
    path = _exhibit(tmp_path, repo_root, walk_video, dir=str(tmp_path / "unseen"))
    result = CliRunner().invoke(main, ["simulate", str(path), "--json", "--keep-unseen"])
    assert result.exit_code == 0, result.output
    plays = [json.loads(line).get("play") for line in result.stdout.splitlines() if '"play"' in line]
    unseen = [p for p in plays if p and p.startswith(UNSEEN_PREFIX)]
    assert len(unseen) == 2 and len(set(unseen)) == 1, plays
    told = [line for line in result.stderr.splitlines() if "cannot store unseen artworks in" in line]
    assert len(told) == 1 and str(tmp_path / "unseen") in told[0] and "Read-only file system" in told[0]


def test_a_full_disk_leaves_no_partial_file_and_keeps_one_id(tmp_path, monkeypatch, caplog):
    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(unseen_store.os, "fsync", full)
    store = UnseenStore(tmp_path)
    with caplog.at_level(logging.WARNING):
        ids = {store.name(_sighting(0)) for _ in range(4)}
    (artwork_id,) = ids
    assert not list(tmp_path.glob("*.partial")) and not list(tmp_path.glob("*.jpg"))
    crop = store.crop(artwork_id)
    assert crop.path is None and crop.digest() == hashlib.sha256(crop.jpeg).hexdigest()
    assert crop.rgb().shape == (200, 256, 3)
    told = [r.getMessage() for r in caplog.records if "cannot store unseen artworks" in r.getMessage()]
    assert len(told) == 1 and "No space left on device" in told[0] and str(tmp_path) in told[0]


def test_forget_ignore_and_clear_reach_a_running_daemon(tmp_path, repo_root):
    exhibit = _small_exhibit(tmp_path, repo_root)
    directory = unseen_dir(load_exhibit(exhibit))
    daemon = UnseenStore(directory)
    poster, loan, other = (daemon.name(_sighting(n)) for n in range(3))
    cache = SoundscapeCache(tmp_path / "cache")
    cache.directory.mkdir(exist_ok=True)
    entry = [cache.directory / f"{'a' * 32}.flac", cache.directory / f"{'a' * 32}.json"]
    for file in entry:
        file.write_bytes(b"x")
    daemon.crop(loan).on_cached(cache, "a" * 32)
    runner = CliRunner()
    assert {"forget", "ignore", "clear"} <= set(runner.invoke(main, ["unseen", "--help"]).output.split())

    result = runner.invoke(main, ["unseen", "ignore", str(exhibit), UNSEEN_PREFIX + poster])
    assert result.exit_code == 0, result.output
    assert daemon.name(_sighting(0)) is None  # the daemon treats it as nothing from its next sighting
    assert UnseenStore(directory).artworks[poster].ignored and daemon.crop(poster) is not None

    result = runner.invoke(main, ["unseen", "forget", str(exhibit), loan])
    assert result.exit_code == 0, result.output
    assert loan not in UnseenStore(directory).artworks and not any(f.exists() for f in entry)
    assert not daemon.crop_path(loan).exists()
    assert daemon.name(_sighting(1)) == loan and loan not in UnseenStore(directory).artworks

    refused = runner.invoke(main, ["unseen", "clear", str(exhibit)])
    assert (
        refused.exit_code == 1 and "give --yes" in refused.output and other in UnseenStore(directory).artworks
    )
    result = runner.invoke(main, ["unseen", "clear", str(exhibit), "--yes"])
    assert result.exit_code == 0, result.output
    assert UnseenStore(directory).artworks == {} and not list(directory.glob("u*.jpg"))


def test_a_damaged_list_is_rebuilt_from_the_crops_and_no_crop_is_overwritten(tmp_path, repo_root):
    exhibit = _small_exhibit(tmp_path, repo_root)
    directory = unseen_dir(load_exhibit(exhibit))
    store = UnseenStore(directory, remember=2)
    first = store.name(_sighting(0))
    crop = store.crop_path(first).read_bytes()
    (directory / INDEX_FILENAME).write_text('{"artworks": [')
    listing = CliRunner().invoke(main, ["unseen", "list", str(exhibit)])
    assert "to recover" in listing.stderr and "describes the 1 crops" in listing.stderr
    daemon = UnseenStore(directory, remember=2, set_aside_damaged=True)
    assert list(daemon.artworks) == [first] and UnseenStore(directory).artworks.keys() == {first}
    # seen again from another distance: the first crop (its soundscape's cache key) stays
    assert daemon.name(_sighting(0, (300, 230))) == first and daemon.crop_path(first).read_bytes() == crop
    (directory / INDEX_FILENAME).unlink()  # lost: a new sighting under the same id keeps the crop too
    closer = _sighting(0, (300, 230))
    assert (
        UnseenStore(directory).name(UnseenSighting(closer.crop, _sighting(0).descriptor, closer.outline))
        == first
    )
    assert daemon.crop_path(first).read_bytes() == crop


def test_simulate_leaves_the_live_store_alone_unless_asked(tmp_path, repo_root, walk_video):
    path = _exhibit(tmp_path, repo_root, walk_video, remember=1)
    live = unseen_dir(load_exhibit(path))
    kept = UnseenStore(live, remember=1).name(_sighting(3))
    before = {p.name: p.read_bytes() for p in live.iterdir()}
    assert CliRunner().invoke(main, ["prerender", str(path)]).exit_code == 0  # the listed artworks' music
    cache = SoundscapeCache.from_config(load_exhibit(path).cache)
    cached_before = sorted(key for key, _, _ in cache.entries())
    result = CliRunner().invoke(main, ["simulate", str(path), "--json"])
    assert result.exit_code == 0, result.output
    assert any(UNSEEN_PREFIX in line for line in result.stdout.splitlines())
    assert {p.name: p.read_bytes() for p in live.iterdir()} == before
    # the walk's unseen soundscapes went with its copy of the store: nothing could have removed them
    assert sorted(key for key, _, _ in cache.entries()) == cached_before
    assert "--keep-unseen" in CliRunner().invoke(main, ["simulate", "--help"]).output
    result = CliRunner().invoke(main, ["simulate", str(path), "--json", "--keep-unseen"])
    assert result.exit_code == 0, result.output
    assert list(UnseenStore(live).artworks) != [kept]
    recorded = {e["key"] for a in UnseenStore(live).artworks.values() for e in a.cached}
    assert recorded and recorded <= {key for key, _, _ in cache.entries()} - set(cached_before)


def test_unseen_list_says_when_size_and_ignored(tmp_path, repo_root, caplog):
    exhibit = _small_exhibit(tmp_path, repo_root)
    clock = iter([1.7e9, 1.7e9 + 3600, 1.7e9 + 7200])
    store = UnseenStore(unseen_dir(load_exhibit(exhibit)), clock=lambda: next(clock))
    with caplog.at_level(logging.WARNING, logger="art2mus.installation.unseen_store"):
        small = store.name(_sighting(0))
    assert any("remembered a new unseen artwork" in r.getMessage() for r in caplog.records)
    large = store.name(_sighting(1, (480, 360)))
    store.name(_sighting(1, (480, 360)))
    store.ignore(small)
    out = CliRunner().invoke(main, ["unseen", "list", str(exhibit)]).stdout.splitlines()
    assert out[0].startswith(f"{large}  seen 2 times  first ") and "480x360 px  " in out[0]
    assert "small" not in out[0] and "IGNORED" not in out[0]
    assert f"{small}  seen 1 time  first " in out[1] and "256x200 px (small: promote will warn)" in out[1]
    assert "IGNORED" in out[1]
    rows = [
        json.loads(line)
        for line in CliRunner().invoke(main, ["unseen", "list", str(exhibit), "--json"]).stdout.splitlines()
    ]
    assert "descriptor" not in rows[0] and rows[1]["ignored"] and rows[1]["small"]
    with_descriptor = CliRunner().invoke(main, ["unseen", "list", str(exhibit), "--json", "--descriptor"])
    assert "descriptor" in json.loads(with_descriptor.stdout.splitlines()[0])


def test_an_artwork_forgotten_for_the_remember_limit_leaves_no_cached_soundscape(tmp_path):
    clock = iter(range(100))
    store = UnseenStore(tmp_path / "unseen", remember=1, clock=lambda: next(clock))
    cache = SoundscapeCache(tmp_path / "cache")
    cache.directory.mkdir()
    first = store.name(_sighting(0))
    files = [cache.directory / f"{'b' * 32}.flac", cache.directory / f"{'b' * 32}.json"]
    for file in files:
        file.write_bytes(b"x")
    store.crop(first).on_cached(cache, "b" * 32)
    store.name(_sighting(1))
    assert first not in store.artworks and not any(f.exists() for f in files)


def test_doctor_checks_the_unseen_folder(tmp_path, repo_root):
    from art2mus.installation.health import check_unseen

    (check,) = check_unseen(
        load_exhibit(_small_exhibit(tmp_path, repo_root, dir="/proc"))
    )  # root cannot write
    assert check.name == "unseen" and check.status == "warn" and "is not writable" in check.detail
    (check,) = check_unseen(load_exhibit(_small_exhibit(tmp_path, repo_root)))
    assert check.status == "ok" and "writable" in check.detail


def test_the_plain_output_names_an_unseen_artwork_as_the_panel_does(tmp_path, repo_root, walk_video):
    """simulate/run printed 'now playing: unseen:u55952a2a2eac3a6b' where the panel says 'unseen artwork
    u5595… (seen 3 times)'; both now give the panel's name."""
    path = _exhibit(tmp_path, repo_root, walk_video)
    result = CliRunner().invoke(main, ["simulate", str(path)])
    assert result.exit_code == 0, result.output
    played = [
        line.split("now playing: ", 1)[1] for line in result.stdout.splitlines() if "now playing: " in line
    ]
    unseen = [p for p in played if "unseen" in p]
    assert unseen and all(p.startswith("unseen artwork u") and "… (seen " in p for p in unseen), played
    assert not any(UNSEEN_PREFIX in p for p in played), played


def test_doctor_says_an_unseen_folder_that_is_a_file_is_one(tmp_path, repo_root):
    """unseen.dir a plain file: doctor said "is not writable: [Errno 17] File exists"."""
    from art2mus.installation.health import check_unseen

    afile = tmp_path / "afile"
    afile.write_text("x")
    (check,) = check_unseen(load_exhibit(_small_exhibit(tmp_path, repo_root, dir=str(afile))))
    assert check.status == "warn" and f"{afile} is a file, not a folder" in check.detail, check.detail
    assert "Errno" not in check.detail
