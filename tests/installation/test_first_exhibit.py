"""From a folder of photos to a playing room, as a curator does it: ``init`` -> ``validate`` -> ``walk`` ->
``prerender`` -> ``simulate``, and the same room with a blank, a duplicate and an unreadable photo.

The photos are six of the demo's paintings (PNG files); the commands run as real processes.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest

ART2MUS = [sys.executable, "-m", "art2mus.installation.cli"]
SIX = [
    "amber-fields",
    "city-at-six",
    "composition-with-signals",
    "evening-regatta",
    "hills-of-orvale",
    "night-over-the-village",
]
#: what a test room needs besides the scaffold: short soundscapes, the walk as camera, a WAV file
ROOM = """
camera: {type: video, path: walk.mp4}
audio:
  output: {type: wav, path: room.wav}
idle: {duration: 4}
"""


def art2mus(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([*ART2MUS, *args], cwd=cwd, capture_output=True, text=True, timeout=600)
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def six_photos(folder: Path, repo_root: Path) -> Path:
    photos = folder / "photos"
    photos.mkdir(parents=True)
    for name in SIX:
        shutil.copy(repo_root / "exhibits/demo/artworks" / f"{name}.png", photos)
    return photos


def add_bad_photos(photos: Path) -> None:
    """A blank wall, the same file as another artwork, and a file that is not an image."""
    cv2.imwrite(str(photos / "blank-wall.png"), np.full((600, 800, 3), 200, np.uint8))
    shutil.copy(photos / "amber-fields.png", photos / "copy-of-amber.png")
    (photos / "broken.jpg").write_bytes(b"this is not a JPEG\n")


@pytest.fixture(scope="module")
def room(tmp_path_factory, repo_root) -> Path:
    """Six photos, ``init`` and ``walk`` run once for the module (the walk takes about a minute)."""
    folder = tmp_path_factory.mktemp("first-exhibit")
    six_photos(folder, repo_root)
    art2mus("init", "photos", "-o", "exhibit.yaml", cwd=folder)
    walked = art2mus("walk", "exhibit.yaml", "-o", "walk.mp4", cwd=folder)
    # the walk names the next step, which simulates the whole walk (the test below runs it)
    assert "next: art2mus simulate exhibit.yaml --video walk.mp4 -o mix.wav" in walked.stdout
    return folder


def test_photos_to_simulate_in_three_commands(room: Path) -> None:
    text = (room / "exhibit.yaml").read_text()
    assert text.startswith("# yaml-language-server: $schema=")
    assert "# recognition:\n#   features: sift" in text  # the other sections, commented with defaults
    valid = art2mus("validate", "exhibit.yaml", cwd=room)
    assert "exhibit.yaml: valid" in valid.stdout
    timeline = json.loads((room / "walk.json").read_text())
    walked = [s["artwork_id"] for s in timeline["segments"] if s["kind"] == "artwork"]
    assert walked == SIX
    assert any(s["kind"] == "empty" for s in timeline["segments"])
    prerender = art2mus("prerender", "exhibit.yaml", cwd=room)
    assert prerender.returncode == 0
    out = art2mus("simulate", "exhibit.yaml", "--video", "walk.mp4", "-o", "mix.wav", "--json", cwd=room)
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    played = [event["play"] for event in lines if "play" in event]
    assert [p for p in played if p != "idle"] == walked
    # no --duration: the whole walk, once through (the last artworks were cut off at a fixed 60 s)
    assert lines[-1]["summary"]["seconds"] == pytest.approx(
        timeline["frame_count"] / timeline["fps"], abs=0.03
    )


def test_init_twice_keeps_edits_and_adds_new_photos(tmp_path: Path, repo_root: Path) -> None:
    photos = six_photos(tmp_path, repo_root)
    (photos / "Mona Lisa (2)").mkdir()
    shutil.copy(photos / "city-at-six.png", photos / "Mona Lisa (2)" / "front.png")
    (photos / "city-at-six.png").unlink()
    first = art2mus("init", "photos", cwd=tmp_path)
    assert "wrote exhibit.yaml: 6 artworks added, 0 kept" in first.stdout
    path = tmp_path / "exhibit.yaml"
    text = path.read_text()
    assert "- id: mona-lisa-2" in text and "images: [photos/Mona Lisa (2)/front.png]" in text
    edited = text.replace("title: Amber fields", "title: Amber Fields at Dusk  # from the wall label")
    edited = edited.replace("artworks:\n", "artworks:\n  # hung in room 2, east wall\n", 1)
    assert edited != text
    path.write_text(edited)
    shutil.copy(repo_root / "exhibits/demo/artworks/still-life-with-flowers.png", photos / "Still Life.png")
    second = art2mus("init", "photos", cwd=tmp_path)
    assert "updated exhibit.yaml: 1 artworks added, 6 kept" in second.stdout
    after = path.read_text()
    assert after.startswith(edited.rstrip("\n").split("\n# Every other section")[0][:200])
    assert "title: Amber Fields at Dusk  # from the wall label" in after
    assert "  # hung in room 2, east wall\n" in after
    assert "- id: still-life\n" in after and after.count("- id: amber-fields") == 1
    third = art2mus("init", "photos", cwd=tmp_path)
    assert "unchanged: exhibit.yaml: 0 artworks added, 7 kept" in third.stdout
    assert path.read_text() == after


def test_photo_names_in_any_script_keep_their_letters_in_the_titles(tmp_path: Path) -> None:
    from art2mus.installation.config import load_exhibit
    from art2mus.installation.scaffold import init_exhibit

    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(3)
    names = ["Café_Nuit.png", "café-nuit.jpg", "日の出.png", "st. ives"]
    for name in names:
        target = photos / name / "front.png" if name == "st. ives" else photos / name
        target.parent.mkdir(exist_ok=True)
        cv2.imencode(target.suffix, rng.integers(0, 255, (60, 80, 3), np.uint8))[1].tofile(target)
    init_exhibit(photos, tmp_path / "exhibit.yaml")
    text = (tmp_path / "exhibit.yaml").read_text()
    from art2mus.installation.config.exhibit import ExhibitConfig

    sections = [n for n in ExhibitConfig.model_fields if n not in ("version", "include", "collection", "artworks")]
    assert "unseen" in sections and [s for s in sections if f"\n# {s}:\n" not in text] == []  # each, commented
    found = {a.id: a.title for a in load_exhibit(tmp_path / "exhibit.yaml").artworks}
    # titles as the names are written; ids in ASCII (accents dropped), a name with no Latin letter "artwork"
    assert found == {"cafe_nuit": "Café Nuit", "cafe-nuit": "Café nuit", "artwork": "日の出", "st-ives": "St. ives"}


def test_bad_photos_are_named_by_validate_and_doctor(tmp_path: Path, repo_root: Path) -> None:
    photos = six_photos(tmp_path, repo_root)
    add_bad_photos(photos)
    init = art2mus("init", "photos", cwd=tmp_path, check=False)
    assert init.returncode == 1 and "blank-wall               unusable      0 keypoints" in init.stdout
    lines = (tmp_path / "exhibit.yaml").read_text().splitlines()
    line_of = {
        name: 1 + next(i for i, t in enumerate(lines) if f"photos/{name}" in t)
        for name in ("blank-wall.png", "copy-of-amber.png", "broken.jpg")
    }
    bad = art2mus("validate", "exhibit.yaml", cwd=tmp_path, check=False)
    assert bad.returncode == 1
    err = bad.stderr
    assert f"exhibit.yaml:{line_of['blank-wall.png']}:" in err and "has 0 keypoints; at least 20" in err
    assert (
        f"exhibit.yaml:{line_of['broken.jpg']}:" in err and "not a readable image: photos/broken.jpg" in err
    )
    assert f"exhibit.yaml:{line_of['copy-of-amber.png']}:" in err
    assert (
        "photos/copy-of-amber.png (artwork 'copy-of-amber') is the same file as photos/amber-fields.png"
        in err
    )
    assert err.rstrip().endswith("3 problems")
    doctor = art2mus("doctor", "exhibit.yaml", "--json", cwd=tmp_path, check=False)
    assert doctor.returncode == 1
    checks = {c["check"]: c for c in map(json.loads, doctor.stdout.splitlines())}
    assert checks["exhibit"]["status"] == "ok"
    assert {k for k, c in checks.items() if k.startswith("photo:") and c["status"] == "fail"} == {
        "photo:blank-wall",
        "photo:broken",
        "photo:copy-of-amber",
    }
    assert "same file as photos/amber-fields.png" in checks["photo:copy-of-amber"]["detail"]


def test_run_with_bad_photos_plays_the_others(room: Path, tmp_path: Path) -> None:
    """The daemon starts, leaves the three bad artworks out of recognition, plays the walk's artworks
    and lists the problems on the control panel."""
    for name in ("photos", "walk.mp4"):
        (tmp_path / name).symlink_to(room / name)
    shutil.copy(room / "exhibit.yaml", tmp_path / "exhibit.yaml")
    bad = tmp_path / "bad-photos"
    bad.mkdir()
    shutil.copy(room / "photos/amber-fields.png", bad / "amber-fields.png")  # what copy-of-amber copies
    add_bad_photos(bad)
    (bad / "amber-fields.png").unlink()
    art2mus("init", "bad-photos", cwd=tmp_path, check=False)
    with (tmp_path / "exhibit.yaml").open("a") as fh:
        fh.write(ROOM)
    process = subprocess.Popen(
        [*ART2MUS, "run", "exhibit.yaml", "--json", "--duration", "60", "--panel-port", "0"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out: list[str] = []
    err: list[str] = []
    for stream, lines in ((process.stdout, out), (process.stderr, err)):
        threading.Thread(
            target=lambda s=stream, ls=lines: ls.extend(iter(s.readline, "")), daemon=True
        ).start()
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and process.poll() is None:
            if any('"city-at-six"' in line for line in out):
                break
            time.sleep(0.2)
        played = [event["play"] for event in map(json.loads, out) if "play" in event]
        assert played[:3] == ["idle", "amber-fields", "city-at-six"], "".join(out + err)[-4000:]
        url = next(line.split(": ", 1)[1].strip() for line in err if line.startswith("control panel: "))
        artworks = json.loads(urllib.request.urlopen(url + "api/artworks", timeout=10).read())
        problems = {a["id"]: a["problems"] for a in artworks if a["problems"]}
        assert set(problems) == {"blank-wall", "broken", "copy-of-amber"}
        assert "has 0 keypoints" in problems["blank-wall"][0]
        status = json.loads(urllib.request.urlopen(url + "api/status", timeout=10).read())
        assert set(status["problems"]) == set(problems)
        assert any("'broken' is left out of recognition" in line for line in err)
    finally:
        process.terminate()
        process.wait(timeout=60)
