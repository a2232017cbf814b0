"""``art2mus recognize EXHIBIT SOURCE... [--json]``: images, several images, a blank wall, a video, a missing
file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from art2mus.exhibits.demo_collection.views import random_view_params, synthetic_view
from art2mus.installation.cli.recognize import command

WALK_FPS = 10.0
CLIP_START_S, CLIP_END_S = 4.4, 9.4  # the partial view before amber-fields, then amber-fields (walk.json)


@pytest.fixture(scope="module")
def exhibit(demo_exhibit_path, tmp_path_factory) -> Path:
    """A copy of the demo exhibit, so the recognition index is stored in a temporary .art2mus folder."""
    folder = tmp_path_factory.mktemp("exhibit") / "demo"
    shutil.copytree(demo_exhibit_path.parent, folder, ignore=shutil.ignore_patterns(".art2mus"))
    return folder / demo_exhibit_path.name


@pytest.fixture(scope="module")
def views(demo_paintings, tmp_path_factory) -> dict[str, tuple[Path, np.ndarray]]:
    """Photos of two demo paintings (a JPEG and a PNG) with their true outlines."""
    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(5)
    out = {}
    for art, suffix in (("city-at-six", ".jpg"), ("evening-regatta", ".png")):
        params = random_view_params(rng, max_tilt_deg=25, scale=(0.6, 0.8), max_occlusion=0.0)
        view = synthetic_view(demo_paintings[art], params, rng)
        path = folder / f"photo of {art}{suffix}"
        cv2.imwrite(str(path), view.frame)
        out[art] = (path, view.outline)
    return out


def _run(*args: str):
    result = CliRunner().invoke(command, [str(a) for a in args], catch_exceptions=False)
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    return result, lines


def test_one_image_gives_one_line_with_the_artwork_score_and_outline(exhibit, views):
    path, true_outline = views["city-at-six"]
    result, lines = _run(exhibit, path, "--json")
    assert result.exit_code == 0, result.output
    assert len(lines) == 1
    line = lines[0]
    assert {"artwork", "score", "outline"} <= set(line)
    assert line["source"] == str(path)
    assert line["artwork"] == "city-at-six"
    assert line["score"] >= 15  # the exhibit's accept_inliers
    outline = np.array(line["outline"])
    assert outline.shape == (4, 2)
    assert np.linalg.norm(outline - true_outline, axis=1).mean() < 8.0  # pixels, in a 640x480 photo
    assert (exhibit.parent / ".art2mus" / "recognition-index.npz").is_file()


def test_several_images_give_one_line_each_in_order(exhibit, views, tmp_path):
    blank = tmp_path / "wall.png"
    cv2.imwrite(str(blank), np.full((480, 640, 3), 190, np.uint8))
    paths = [views["evening-regatta"][0], blank, views["city-at-six"][0]]
    result, lines = _run(exhibit, *paths, "--json")
    assert result.exit_code == 0, result.output
    assert [line["source"] for line in lines] == [str(p) for p in paths]
    assert [line["artwork"] for line in lines] == ["evening-regatta", "unknown", "city-at-six"]
    assert lines[1]["outline"] is None and lines[1]["score"] == 0


def test_a_blank_image_is_unknown_in_plain_text_too(exhibit, tmp_path):
    blank = tmp_path / "blank.jpg"
    cv2.imwrite(str(blank), np.full((360, 640, 3), 128, np.uint8))
    result = CliRunner().invoke(command, [str(exhibit), str(blank)])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().startswith(f"{blank}: unknown")


@pytest.fixture(scope="module")
def walk_clip(demo_exhibit_path, tmp_path_factory) -> Path:
    """Seconds 4.4-9.4 of the demo walk (an empty wall turning into amber-fields), as MJPG at 10 fps."""
    source = cv2.VideoCapture(str(demo_exhibit_path.parent / "camera" / "walk.mp4"))
    path = tmp_path_factory.mktemp("clip") / "walk clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), WALK_FPS, (640, 360))
    for i in range(round(CLIP_END_S * WALK_FPS)):
        ok, frame = source.read()
        assert ok
        if i >= round(CLIP_START_S * WALK_FPS):
            writer.write(frame)
    writer.release()
    source.release()
    return path


def test_a_video_gives_a_line_per_decision_change(exhibit, walk_clip):
    result, lines = _run(exhibit, walk_clip, "--json")
    assert result.exit_code == 0, result.output
    assert lines, result.output
    assert all({"t", "artwork", "score"} <= set(line) for line in lines)
    assert all(line["source"] == str(walk_clip) for line in lines)
    times = [line["t"] for line in lines]
    assert times[0] == 0.0 and times == sorted(times)
    assert all(0 <= t <= CLIP_END_S - CLIP_START_S for t in times)
    labels = [line["artwork"] for line in lines]
    assert labels[0] in ("none", "unknown")
    assert "amber-fields" in labels and set(labels) <= {"none", "unknown", "amber-fields"}
    chosen = lines[labels.index("amber-fields")]
    # amber-fields is fully in view from 0.9 s into the clip; chosen a dwell (1.5 s) after it is first seen
    assert 1.5 <= chosen["t"] <= 0.9 + 1.5 + 1.2
    assert chosen["score"] >= 10  # keep_inliers
    assert all(a != b for a, b in zip(labels, labels[1:], strict=False))  # a line only when it changes


def test_a_missing_file_fails_with_its_name(exhibit, views, tmp_path):
    missing = tmp_path / "no such photo.jpg"
    result = CliRunner().invoke(command, [str(exhibit), str(missing), str(views["city-at-six"][0]), "--json"])
    assert result.exit_code != 0
    assert str(missing) in result.stderr and "no such file" in result.stderr
    # the other source was still recognised
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["artwork"] for line in lines] == ["city-at-six"]


def test_an_unreadable_image_and_a_bad_exhibit_fail(exhibit, tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG but not really")
    result = CliRunner().invoke(command, [str(exhibit), str(broken)])
    assert result.exit_code == 1 and str(broken) in result.stderr
    bad = tmp_path / "exhibit.yaml"
    bad.write_text("version: 1\nrecognition: {features: surf}\n")
    result = CliRunner().invoke(command, [str(bad), str(broken)])
    assert result.exit_code == 1 and "features" in result.stderr
