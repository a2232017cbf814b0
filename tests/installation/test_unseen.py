"""Artworks the room has never seen: found in the frame, given a soundscape, remembered, promoted.

The camera video is rendered like the demo walk (:mod:`art2mus.exhibits.demo_collection.unseen_walk`):
a listed artwork, a painting the exhibit does not list held in view for six seconds, empty wall, and the
same painting again from about 30 degrees to the side.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from art2mus.exhibits.demo_collection.artworks import DEMO_ARTWORKS, render_demo_artwork
from art2mus.exhibits.demo_collection.unseen_walk import NEW_LOAN, STOPS, unseen_walk_script
from art2mus.exhibits.demo_collection.walk import render_walk_frames, write_walk_video
from art2mus.installation.audio.clock import ManualClock
from art2mus.installation.audio.outputs import WavOutput
from art2mus.installation.config import load_exhibit
from art2mus.installation.gallery import IDLE_KEY, Gallery
from art2mus.installation.unseen_store import MATCH_DISTANCE, UnseenStore, promote
from art2mus.installation.vision.sources import VideoFileSource
from art2mus.installation.vision.unseen import (
    KEEP_LONG_SIDE,
    UNSEEN_PREFIX,
    UnseenWatcher,
    crop_long_side,
    describe,
    find_picture,
    rectify,
)

SECONDS = 36.0


@pytest.fixture(scope="module")
def walk_video(tmp_path_factory) -> Path:
    return write_walk_video(tmp_path_factory.mktemp("walk") / "unseen-walk.mp4", unseen_walk_script()).path


@pytest.fixture(scope="module")
def frames() -> dict[float, np.ndarray]:
    """A few frames of the walk (rendered, not decoded): t -> BGR."""
    wanted = {12.0, 22.0, 31.0}
    return {round(t, 1): f for t, f in render_walk_frames(unseen_walk_script()) if round(t, 1) in wanted}


def _exhibit(directory: Path, repo_root: Path, video: Path, **unseen) -> Path:
    """The demo's eight artworks (short soundscapes), the walk as camera, ``unseen:`` on."""
    demo = repo_root / "exhibits/demo"
    spec = {
        "artworks": [
            {
                "id": a.id,
                "images": [str(demo / f"artworks/{a.id}.png")],
                "soundscape": {"duration": 3, "seed": 5},
            }
            for a in DEMO_ARTWORKS
        ],
        "camera": {"type": "video", "path": str(video)},
        "recognition": {
            "features": "sift",
            "max_features": 1000,
            "accept_inliers": 15,
            "keep_inliers": 10,
            "interval_seconds": 0.2,
        },
        "presence": {"dwell_seconds": 1.5, "hold_seconds": 4.0},
        "idle": {"source": "collection", "duration": 3, "after_seconds": 3},
        "audio": {"output": {"type": "null"}},
        "cache": {"dir": str(directory / "cache")},
        "control_panel": {"enabled": False},
        "unseen": {"enabled": True, "dwell_seconds": 3, "duration": 3, **unseen},
    }
    path = directory / "exhibit.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def _simulate(path: Path, wav: Path) -> Gallery:
    gallery = Gallery(load_exhibit(path), clock=ManualClock(), output=WavOutput(wav, realtime=True))
    gallery.build(realtime=False)
    gallery.simulate(SECONDS)
    return gallery


@pytest.fixture(scope="module")
def simulated(tmp_path_factory, repo_root, walk_video):
    directory = tmp_path_factory.mktemp("exhibit")
    path = _exhibit(directory, repo_root, walk_video)
    first = _simulate(path, directory / "first.wav")
    again = _simulate(path, directory / "again.wav")  # the next day: everything from the cache
    return path, first, again


def _plays(gallery: Gallery) -> list[tuple[float, str]]:
    return [(e.t, e.what) for e in gallery.director.events if e.what != IDLE_KEY]


def test_the_unlisted_painting_plays_as_unseen_with_one_id_and_one_generation(simulated):
    _, gallery, _ = simulated
    plays = _plays(gallery)
    assert [what for _, what in plays][0] == "amber-fields"  # the listed artwork as ever
    unseen = [(t, what) for t, what in plays if what.startswith(UNSEEN_PREFIX)]
    assert len(unseen) == 2 and unseen[0][1] == unseen[1][1], plays  # the same id from the side
    (t1, what), (t2, _) = unseen
    # while the new loan is in view (after the listed artwork's hold), never on the empty wall
    assert STOPS["unseen"][0] < t1 <= STOPS["unseen"][1] + 0.5
    assert STOPS["unseen-again"][0] < t2 <= STOPS["unseen-again"][1]
    assert not any(STOPS["wall"][0] <= t <= STOPS["wall"][1] for t, _ in plays)
    assert [w for _, w in plays] == ["amber-fields", what, what]
    assert gallery.unseen_generated == [what]  # generated once, though seen twice
    assert gallery.director.library.made_by[what] == "procedural"


def test_the_next_start_finds_the_unseen_soundscape_in_the_cache(simulated):
    _, first, again = simulated
    assert _plays(again) == _plays(first)
    what = _plays(first)[1][1]
    assert again.unseen_generated == [] and what in again.director.library.from_cache


def test_only_the_rectified_crop_is_stored(simulated):
    path, gallery, _ = simulated
    store = gallery.vision.unseen.store
    (artwork_id,) = store.artworks
    files = sorted(p.name for p in store.directory.iterdir())
    assert files == [f"{artwork_id}.jpg", "unseen.json"]
    crop = cv2.imread(str(store.crop_path(artwork_id)))
    # at the painting's size in the 640 x 360 frame (about 310 px wide from the front), not the frame's
    assert 290 <= max(crop.shape[:2]) <= 330 and crop.shape[:2] != (360, 640)
    # the crop is the painting: it matches the painting itself far better than any listed artwork
    painting = describe(render_demo_artwork(NEW_LOAN))
    assert store.artworks[artwork_id].descriptor.distance(painting) < MATCH_DISTANCE
    assert UnseenStore(store.directory).artworks[artwork_id].sightings == 4  # two on each of the two days


def test_the_panel_lists_the_unseen_artwork_with_its_crop(simulated):
    from fastapi.testclient import TestClient

    from art2mus.kiosk_ui.app import create_app

    _, gallery, _ = simulated
    client = TestClient(create_app(gallery), base_url="http://localhost")
    (listed,) = client.get("/api/unseen").json()
    assert listed["id"] in gallery.vision.unseen.store.artworks and listed["sightings"] >= 2
    crop = client.get(f"/api/unseen/{listed['id']}/crop.jpg")
    assert crop.status_code == 200 and crop.headers["content-type"] == "image/jpeg"
    image = cv2.imdecode(np.frombuffer(crop.content, np.uint8), cv2.IMREAD_COLOR)
    stored = cv2.imread(str(gallery.vision.unseen.store.crop_path(listed["id"])))
    # the stored crop scaled to a thumbnail's width (it is up to 1024 px, what promote keeps)
    width = min(stored.shape[1], 240)
    assert image.shape == (round(stored.shape[0] * width / stored.shape[1]), width, 3)
    assert client.get("/api/unseen/..%2Funseen.json/crop.jpg").status_code == 404


def test_walls_and_blurred_views_are_not_pictures(frames):
    picture = find_picture(frames[12.0], 0.08)
    assert picture is not None
    assert find_picture(frames[22.0], 0.08) is None  # empty wall
    assert find_picture(cv2.GaussianBlur(frames[12.0], (0, 0), 5), 0.08) is None  # blurred
    assert find_picture(frames[12.0], 0.9) is None  # smaller than the minimum size


def test_the_descriptor_knows_the_painting_from_the_side_and_not_the_others(frames):
    front = describe(rectify(frames[12.0], find_picture(frames[12.0], 0.08)))
    side = describe(rectify(frames[31.0], find_picture(frames[31.0], 0.08)))
    assert front.distance(side) < MATCH_DISTANCE
    for art in DEMO_ARTWORKS:
        assert front.distance(describe(render_demo_artwork(art))) > MATCH_DISTANCE, art.id


def test_promote_writes_the_crop_as_a_reference_photo_and_keeps_the_comments(simulated, tmp_path):
    path, gallery, _ = simulated
    exhibit_dir = tmp_path / "exhibit"
    shutil.copytree(path.parent, exhibit_dir, ignore=shutil.ignore_patterns("*.wav", "cache"))
    yaml_path = exhibit_dir / "exhibit.yaml"
    text = "# the curator's note\n" + yaml_path.read_text().replace(
        "artworks:\n", "artworks:  # the hang\n", 1
    )
    yaml_path.write_text(text)
    exhibit = load_exhibit(yaml_path)
    (artwork_id,) = UnseenStore(exhibit_dir / ".art2mus/unseen").artworks
    with pytest.raises(KeyError, match="no unseen artwork 'nope'"):
        promote(exhibit, "nope")
    from click.testing import CliRunner

    from art2mus.installation.cli import main

    for args, message in (
        (["nope"], "Error: no unseen artwork 'nope' in "),
        ([artwork_id, "--id", "Bad Id"], "Error: 'Bad Id' is not an artwork id ("),  # its quotes whole
    ):
        refused = CliRunner().invoke(main, ["unseen", "promote", str(yaml_path), *args])
        assert refused.exit_code == 1 and message in refused.output, refused.output
    with pytest.raises(ValueError, match="exists already"):
        promote(exhibit, artwork_id, "amber-fields")
    # a photo of the curator's at the path the crop would take is not replaced
    theirs = exhibit_dir / "artworks/new-loan.jpg"
    theirs.parent.mkdir(exist_ok=True)
    theirs.write_bytes(b"the curator's own photo")
    before = yaml_path.read_text()
    with pytest.raises(ValueError, match=r"new-loan\.jpg exists already and is another photo"):
        promote(exhibit, artwork_id, "new-loan", "A New Loan")
    assert theirs.read_bytes() == b"the curator's own photo" and yaml_path.read_text() == before
    assert artwork_id in UnseenStore(exhibit_dir / ".art2mus/unseen").artworks  # still remembered
    theirs.unlink()
    photo = promote(exhibit, artwork_id, "new-loan", "A New Loan")
    assert photo == exhibit_dir / "artworks/new-loan.jpg" and photo.is_file()
    after = yaml_path.read_text()
    assert after.startswith("# the curator's note\n") and "artworks:  # the hang" in after
    promoted = load_exhibit(yaml_path)
    assert promoted.artwork("new-loan").title == "A New Loan"
    assert len(promoted.artworks) == len(exhibit.artworks) + 1
    assert not UnseenStore(exhibit_dir / ".art2mus/unseen").artworks  # no longer unseen


def test_a_promoted_artwork_keeps_the_soundscape_the_room_played(simulated, tmp_path):
    """``unseen promote EXHIBIT unseen:<id>`` (as simulate and the panel name it), under a new id: the
    promoted artwork's soundscape has the unseen one's cache key (the same image file, seed, length and
    loop), so the next start plays that very rendering, and rendered afresh it is the same music."""
    from click.testing import CliRunner

    from art2mus.installation.cache import image_digest
    from art2mus.installation.cli import main
    from art2mus.installation.soundscapes import read_rgb
    from art2mus.installation.unseen_sound import unseen_request

    path, first, again = simulated
    what = _plays(first)[1][1]
    unseen_id = what[len(UNSEEN_PREFIX) :]
    crop = first.vision.unseen.store.crop_path(unseen_id)
    exhibit_dir = tmp_path / "exhibit"
    shutil.copytree(path.parent, exhibit_dir, ignore=shutil.ignore_patterns("*.wav", "cache"))
    yaml_path = exhibit_dir / "exhibit.yaml"
    result = CliRunner().invoke(main, ["unseen", "promote", str(yaml_path), what, "--id", "new-loan"])
    assert result.exit_code == 0, result.output
    assert f"added new-loan with reference photo {exhibit_dir / 'artworks/new-loan.jpg'}" in result.stdout
    # the demo's camera sees the painting about 310 px wide: smaller than the photo checks ask for
    assert "note: the reference photo is the camera's view of the picture" in result.stderr
    promoted = load_exhibit(yaml_path)  # its cache: the simulated exhibit's (an absolute path)
    artwork = promoted.artwork("new-loan")
    photo = artwork.images[0]
    assert photo.read_bytes() == crop.read_bytes()
    with first.soundscape_source(promoted) as source:
        generator = promoted.unseen.generator
        assert artwork.soundscape.generator == generator
        played = unseen_request(promoted, unseen_id)
        assert source.request("new-loan") == played
        assert source.key(generator, source.request("new-loan"), image_digest(photo)) == source.key(
            generator, played, image_digest(crop)
        )
        rendered = source.get(generator).generate(read_rgb(photo), source.request("new-loan"))
        heard = source.get(generator).generate(read_rgb(crop), played)
        np.testing.assert_array_equal(rendered.waveform, heard.waveform)
    gallery = Gallery(promoted, clock=ManualClock(), output=WavOutput(tmp_path / "p.wav", realtime=True))
    gallery.build(realtime=False)
    library = gallery.director.library
    assert "new-loan" in library.from_cache and library.made_by["new-loan"] == generator
    # what the second day's visitors heard (from the cache), sample for sample; the first day's rendering
    # differs from it only by the cache's storage (under 1e-6)
    samples = library.clips["new-loan"].samples
    np.testing.assert_array_equal(samples, again.director.library.clips[what].samples)
    np.testing.assert_allclose(samples, first.director.library.clips[what].samples, rtol=0, atol=1e-6)


def test_a_sharp_camera_keeps_a_crop_large_enough_for_a_reference_photo(tmp_path, frames):
    """Seen by a 1920 x 1080 camera (the walk's frame, scaled up), the painting is kept at its own size in
    the frame, about 930 px: no photo check calls the promoted photo small. Its descriptor still knows
    the painting seen from the side in the 640 px frame."""
    from art2mus.installation.vision.index import ReferencePhoto
    from art2mus.installation.vision.photo_check import check_references

    frame = cv2.resize(frames[12.0], (1920, 1080), interpolation=cv2.INTER_CUBIC)
    store = UnseenStore(tmp_path)
    watcher = UnseenWatcher(min_area_fraction=0.08, dwell_s=1.0, name=store.name, store=store)
    assert watcher.observe(frame, 0.0) is None
    artwork_id = watcher.observe(frame, 1.5)
    assert artwork_id is not None
    crop = cv2.imread(str(store.crop_path(artwork_id)))
    seen = crop_long_side(find_picture(frame, 0.08))
    assert 900 <= seen <= KEEP_LONG_SIDE and max(crop.shape[:2]) == seen
    assert store.crop_path(artwork_id).stat().st_size < 300_000  # JPEG: about 90 KB here
    findings = check_references([ReferencePhoto(artwork_id, path=store.crop_path(artwork_id))]).findings
    assert not [f for f in findings if f.kind == "too_small"], findings
    side = describe(rectify(frames[31.0], find_picture(frames[31.0], 0.08)))
    assert store.match(side) is not None and store.match(side).id == artwork_id


def test_crops_an_older_store_wrote_as_png_are_still_used(tmp_path):
    from art2mus.installation.vision.unseen import UnseenSighting

    store = UnseenStore(tmp_path)
    crop = cv2.resize(render_demo_artwork(DEMO_ARTWORKS[0]), (256, 200))
    artwork_id = store.name(UnseenSighting(crop, describe(crop), np.zeros((4, 2))))
    jpeg = store.crop_path(artwork_id)
    assert jpeg.suffix == ".jpg"
    cv2.imwrite(str(tmp_path / f"{artwork_id}.png"), crop)
    jpeg.unlink()  # as a store before the crops were JPEG left it
    assert UnseenStore(tmp_path).crop_path(artwork_id) == tmp_path / f"{artwork_id}.png"
    store.forget(artwork_id)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["unseen.json"]


def test_the_store_forgets_the_least_recently_seen(tmp_path, frames):
    from art2mus.installation.vision.unseen import UnseenSighting

    clock = iter(range(100))
    store = UnseenStore(tmp_path, remember=2, clock=lambda: next(clock))
    names = []
    for art in DEMO_ARTWORKS[:3]:
        crop = cv2.resize(render_demo_artwork(art), (256, 200))
        names.append(store.name(UnseenSighting(crop, describe(crop), np.zeros((4, 2)))))
    assert len(set(names)) == 3 and sorted(store.artworks) == sorted(names[1:])
    assert not store.crop_path(names[0]).exists()
    assert sorted(UnseenStore(tmp_path).artworks) == sorted(names[1:])  # read back from unseen.json
    (tmp_path / "unseen.json").write_text("{")
    with pytest.raises(ValueError, match="unseen.json: not an unseen-artworks index"):
        UnseenStore(tmp_path)


def test_an_artwork_promoted_while_the_daemon_runs_is_not_written_back(tmp_path, frames):
    from art2mus.installation.vision.unseen import UnseenSighting

    clock = iter(range(100))
    daemon = UnseenStore(tmp_path, clock=lambda: next(clock))
    crops = [cv2.resize(render_demo_artwork(art), (256, 200)) for art in DEMO_ARTWORKS[:2]]
    sightings = [UnseenSighting(crop, describe(crop), np.zeros((4, 2))) for crop in crops]
    promoted, kept = (daemon.name(s) for s in sightings)
    UnseenStore(tmp_path).forget(promoted)  # what `art2mus unseen promote` does to the store, from its process
    # seen again by the daemon, before a reload lists it: the same id (its soundscape plays on), not remembered
    assert daemon.name(sightings[0]) == promoted and daemon.name(sightings[1]) == kept
    assert sorted(UnseenStore(tmp_path).artworks) == [kept] and not daemon.crop_path(promoted).exists()
    assert [a["id"] for a in daemon.listing()] == [kept]  # the control panel's list agrees
    assert UnseenStore(tmp_path).artworks[kept].sightings == 2


def test_the_daemon_never_plays_unseen_on_a_walk_without_one(tmp_path, repo_root):
    """The demo's own walk (listed artworks and walls only) with ``unseen`` on: not one unseen play."""
    path = _exhibit(tmp_path, repo_root, repo_root / "exhibits/demo/camera/walk.mp4")
    gallery = Gallery(
        load_exhibit(path), clock=ManualClock(), output=WavOutput(tmp_path / "m.wav", realtime=True)
    )
    gallery.build(realtime=False)
    with VideoFileSource(gallery.exhibit.camera.path, loop=False, realtime=False).open() as stream:
        labels = {gallery.vision.process(frame).label for frame in stream}
    assert not any(label.startswith(UNSEEN_PREFIX) for label in labels), labels
    assert {a.id for a in DEMO_ARTWORKS} <= labels


@pytest.fixture(scope="module")
def debug_models(tmp_path_factory) -> Path:
    from art2mus.models.debug import build_debug_model_dir

    return build_debug_model_dir(tmp_path_factory.mktemp("models") / "models")


def _art2mus_exhibit(directory: Path, repo_root: Path, video: Path, models: Path, **settings) -> Path:
    """:func:`_exhibit` with ``unseen.generator: art2mus`` (the debug ``models``, on the CPU, the procedural
    sonifier as its fallback) and ``settings`` added to the generator's."""
    path = _exhibit(directory, repo_root, video, generator="art2mus")
    spec = yaml.safe_load(path.read_text())
    art2mus = {
        "type": "art2mus",
        "model_dir": str(models),
        "aligner": str(models / "aligners/debug-imagebind-4tok"),
        "device": "cpu",
        "fallback": "procedural",
    }
    spec["generators"] = {"procedural": {"type": "procedural"}, "art2mus": {**art2mus, **settings}}
    path.write_text(yaml.safe_dump(spec))
    return path


def test_the_art2mus_model_renders_the_unseen_artwork_while_the_bridge_plays(
    tmp_path, repo_root, walk_video, debug_models
):
    """``unseen.generator: art2mus`` (debug weights): the procedural bridge plays at once, the generator
    process renders the crop, and its rendering crossfades in while it sounds."""
    path = _art2mus_exhibit(tmp_path, repo_root, walk_video, debug_models, dtype="float32", steps=2)
    gallery = Gallery(load_exhibit(path))
    gallery.init_audio()
    gallery.init_soundscapes()
    gallery.init_vision()
    gallery.engine.open()
    gallery.director.start(0.0)
    try:
        with VideoFileSource(walk_video, loop=False, realtime=False).open() as stream:
            for frame in stream:  # the main loop's step, frame by frame, until the unseen artwork plays
                gallery._follow(frame, frame.timestamp)
                gallery.engine.pump()
                if (gallery.director.playing or "").startswith(UNSEEN_PREFIX):
                    break
        what = gallery.director.playing
        assert what is not None and what.startswith(UNSEEN_PREFIX)
        library = gallery.director.library
        bridge = library.clips[what]
        assert library.made_by[what] == "procedural" and what in library.pending
        assert gallery.engine.mixer.voices[-1].clip is bridge  # the bridge sounds at once
        assert gallery.worker.wait_idle(180), gallery.worker.status()
        assert library.made_by[what] == "art2mus" and what not in library.pending
        model_clip = library.clips[what]
        assert model_clip is not bridge and model_clip.source_rate == 16000
        assert model_clip.metadata["aligner"].endswith("debug-imagebind-4tok")
        gallery.engine.pump()
        assert gallery.engine.mixer.voices[-1].clip is model_clip  # crossfading to it while it sounds
    finally:
        gallery.close()
        gallery.engine.close()


def test_simulate_stands_still_until_the_slow_generator_has_rendered_the_unseen_artwork(
    tmp_path, repo_root, walk_video, debug_models, caplog
):
    """``simulate`` with ``unseen.generator: art2mus``: the model renders in the generator process, slower
    than the walk runs. The simulated clock stands still when the walk hands the unseen crop over (and
    says so), so the walk plays the model's rendering, not the procedural bridge; the rendering reaches
    the cache, so the next simulate plays it from there. (Before, the walk heard only the bridge, the job
    was stopped at exit and nothing was cached, on every run.)"""
    import logging

    from click.testing import CliRunner

    from art2mus.installation.cli import main
    from art2mus.models.registry import GENERATOR_BACKENDS, GeneratorBackend

    path = _art2mus_exhibit(tmp_path, repo_root, walk_video, debug_models)
    slow = GeneratorBackend("art2mus", "worker_backends:SlowModelStandIn", "test", (), "a slow model")
    backends = {"generator_backends": {**GENERATOR_BACKENDS, "art2mus": slow}}
    args = ["simulate", str(path), "--duration", str(SECONDS), "--json"]

    caplog.set_level(logging.INFO, logger="art2mus.installation.director")
    first = CliRunner().invoke(main, args, obj=backends)
    assert first.exit_code == 0, first.output
    lines = [json.loads(line) for line in first.stdout.splitlines()]
    plays = [line["play"] for line in lines if "play" in line]
    what = next(p for p in plays if p.startswith(UNSEEN_PREFIX))
    assert f"{what}: the walk stands still while the generator process renders its soundscape" in first.stderr
    assert "stand-in" not in first.stderr
    told = [r.getMessage() for r in caplog.records]
    swapped = told.index(f"{what}: the art2mus rendering replaces its bridge")
    played = next(i for i, m in enumerate(told) if m.startswith(f"now playing: {what} "))
    assert swapped < played, told  # the model's rendering was in place before the walk played the artwork

    again = CliRunner().invoke(main, args, obj=backends)  # the next preview: from the cache, no waiting
    assert again.exit_code == 0, again.output
    assert what in again.stdout and "stands still" not in again.stderr
