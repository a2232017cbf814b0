"""The demo collection is a set of deterministic assets: the committed files are what the code draws."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from art2mus.exhibits.demo_collection import (
    DEMO_ARTWORKS,
    demo_artwork_path,
    render_demo_artwork,
    render_generated_artworks,
)
from art2mus.exhibits.demo_collection.painting import STYLES, render_painting


@pytest.mark.parametrize("art", DEMO_ARTWORKS, ids=lambda a: a.id)
def test_committed_png_equals_rendering(art):
    path = demo_artwork_path(art)
    assert path.is_file(), f"{path} missing: run python -m art2mus.exhibits.demo_collection"
    committed = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    rendered = render_demo_artwork(art)
    assert committed.shape == rendered.shape == (art.height, art.width, 3)
    diff = np.count_nonzero(committed != rendered)
    assert diff == 0, f"{path.name}: {diff} channel values differ from the rendering"


def test_demo_artworks_are_small_distinct_and_labelled():
    ids = [a.id for a in DEMO_ARTWORKS]
    assert len(ids) == len(set(ids)) == 8
    assert {a.style for a in DEMO_ARTWORKS} == set(STYLES)
    for art in DEMO_ARTWORKS:
        assert max(art.width, art.height) == 800
        assert demo_artwork_path(art).stat().st_size < 700 * 1024
        assert art.title and art.artist and 1400 < art.year < 2030
    # no two paintings look alike even as tiny thumbnails (a crude but real check of distinctness)
    thumbs = [cv2.resize(render_demo_artwork(a), (16, 16), interpolation=cv2.INTER_AREA).astype(float) for a in DEMO_ARTWORKS]
    for i in range(len(thumbs)):
        for j in range(i + 1, len(thumbs)):
            assert np.abs(thumbs[i] - thumbs[j]).mean() > 15, (ids[i], ids[j])


def test_rendering_is_repeatable_and_seed_dependent():
    a = render_painting("night-sky", 5, 300, 240)
    b = render_painting("night-sky", 5, 300, 240)
    c = render_painting("night-sky", 6, 300, 240)
    assert np.array_equal(a, b)
    assert np.count_nonzero(a != c) > a.size // 4


def test_generated_artworks_cycle_styles_and_never_copy_the_demo():
    gen = render_generated_artworks(9, seed=3, long_side=400)
    assert [g.style for g in gen[:8]] == list(STYLES) and gen[8].style == gen[0].style
    assert len({g.id for g in gen}) == 9
    assert all(max(g.image.shape[:2]) == 400 and g.image.dtype == np.uint8 for g in gen)
    again = render_generated_artworks(2, seed=3, long_side=400)
    assert np.array_equal(again[1].image, gen[1].image)
    other = render_generated_artworks(1, seed=4, long_side=400)
    assert not np.array_equal(other[0].image, gen[0].image)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="unknown painting style 'cubist'"):
        render_painting("cubist", 1, 400, 300)
    with pytest.raises(ValueError, match="count must be >= 0"):
        render_generated_artworks(-1)
    with pytest.raises(KeyError, match="no demo artwork 'nope'"):
        render_demo_artwork("nope")


def test_committed_walk_video_and_timeline_match_the_script(repo_root):
    """The camera walk is made by the project: its timeline is the script's, and its frames are the script's
    frames (through mp4v's lossy coding), so `python -m art2mus.exhibits.demo_collection` reproduces it."""
    import json

    from art2mus.exhibits.demo_collection.walk import WALK_VERSION, render_walk_frames, walk_timeline

    camera = repo_root / "exhibits/demo/camera"
    meta = json.loads((camera / "walk.json").read_text())
    timeline = walk_timeline()
    assert meta["version"] == WALK_VERSION
    assert meta["segments"] == timeline.to_json()["segments"]
    assert meta["fps"] == timeline.fps
    # the committed video holds the script's frames (mp4v is lossy: compare by PSNR, against another
    # frame of the same video as the baseline)
    rendered = next(f for _, f in render_walk_frames(start=100, stop=101))
    cap = cv2.VideoCapture(str(camera / "walk.mp4"))
    try:
        assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == meta["frame_count"]
        cap.set(cv2.CAP_PROP_POS_FRAMES, 100)
        ok, frame = cap.read()
        cap.set(cv2.CAP_PROP_POS_FRAMES, 300)
        ok_other, other_frame = cap.read()
    finally:
        cap.release()
    assert ok and ok_other and frame.shape == rendered.shape
    psnr, baseline = cv2.PSNR(frame, rendered), cv2.PSNR(other_frame, rendered)
    assert psnr > 30 and psnr > baseline + 6, (psnr, baseline)
