"""Reloading a running gallery's exhibit: good changes apply without a restart, a bad file changes nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import yaml

from art2mus.installation.config import load_exhibit
from art2mus.installation.gallery import Gallery


def _spec(repo_root: Path, tmp_path: Path) -> dict:
    demo = repo_root / "exhibits/demo"
    return {
        "collection": {"name": "Reload room"},
        "artworks": [
            {"id": a, "images": [str(demo / f"artworks/{a}.png")], "soundscape": {"duration": 3, "seed": 1}}
            for a in ("amber-fields", "city-at-six")
        ],
        "camera": {"type": "video", "path": str(demo / "camera/walk.mp4")},
        "recognition": {"index_dir": str(tmp_path / "index")},
        "idle": {"duration": 3, "after_seconds": 5},
        "audio": {"output": {"type": "null"}, "loudness_lufs": -23},
        "cache": {"dir": str(tmp_path / "cache")},
        "control_panel": {"enabled": False},
    }


def _wait(predicate, seconds=20.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not predicate():
        time.sleep(0.05)
    return predicate()


def test_a_running_gallery_takes_good_changes_and_refuses_bad_ones(tmp_path, repo_root):
    path = tmp_path / "exhibit.yaml"
    spec = _spec(repo_root, tmp_path)
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    gallery = Gallery(load_exhibit(path)).build()
    stop = threading.Event()
    thread = threading.Thread(target=gallery.run, args=(stop,), daemon=True)
    thread.start()
    try:
        assert _wait(lambda: gallery.engine.status()["state"] == "playing")
        gallery.play_artwork("amber-fields")
        amber = gallery.library.clips["amber-fields"]
        old_city = gallery.library.clips["city-at-six"]

        # a good change: another seed for one artwork, a new one added, other crossfade and idle timing
        spec["artworks"][1]["soundscape"]["seed"] = 2
        spec["artworks"].append(
            {
                "id": "hills-of-orvale",
                "images": [str(repo_root / "exhibits/demo/artworks/hills-of-orvale.png")],
                "soundscape": {"duration": 3},
            }
        )
        spec["audio"]["crossfade_seconds"] = 2.5
        spec["idle"]["after_seconds"] = 9
        spec["audio"]["output"] = {"type": "wav", "path": str(tmp_path / "x.wav")}  # only read at start
        path.write_text(yaml.safe_dump(spec, sort_keys=False))
        gallery.request_reload()
        assert _wait(lambda: gallery.last_reload is not None)
        assert gallery.last_reload["ok"] and gallery.last_reload["restart_needed"] == ["audio.output"]
        library = gallery.library
        assert set(library.clips) == {"amber-fields", "city-at-six", "hills-of-orvale"}
        # unchanged: from the cache; the idle ambience is made from all the artworks, so it changed too
        assert library.from_cache == {"amber-fields"} and library.idle is not None
        assert library.clips["amber-fields"] is amber  # unchanged and sounding: its voice goes on
        assert library.clips["city-at-six"] is not old_city  # the new seed's rendering
        assert gallery.engine.crossfade_seconds == 2.5 and gallery.director.idle_after_s == 9
        assert gallery.director.playing == "amber-fields" and gallery.exhibit.collection.name == "Reload room"
        assert "hills-of-orvale" in gallery.vision.recognizer.index.artwork_ids

        # a bad file: nothing changes, every problem is reported with its line
        gallery.last_reload = None
        path.write_text(
            path.read_text()
            .replace("loudness_lufs: -23", "loudness_lufs: loud")
            .replace("after_seconds: 9", "after_seconds: -1")
        )
        gallery.request_reload()
        assert _wait(lambda: gallery.last_reload is not None)
        result = gallery.last_reload
        assert not result["ok"] and len(result["problems"]) == 2
        assert all(str(path) in p for p in result["problems"])
        assert any("audio.loudness_lufs" in p for p in result["problems"])
        assert gallery.library is library and gallery.engine.loudness_lufs == -23
        assert gallery.engine.status()["state"] == "playing" and gallery.director.playing == "amber-fields"
    finally:
        stop.set()
        thread.join(10)


def test_sighup_reloads_the_daemon_and_a_bad_file_keeps_it_running(tmp_path, repo_root):
    spec = _spec(repo_root, tmp_path)
    spec["control_panel"] = {"enabled": True, "port": 8080}
    path = tmp_path / "exhibit.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "art2mus.installation.cli",
            "-v",
            "run",
            str(path),
            "--json",
            "--panel-port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    err: list[str] = []
    reader = threading.Thread(target=lambda: err.extend(iter(proc.stderr.readline, "")), daemon=True)
    reader.start()
    try:
        assert _wait(lambda: any(line.startswith("control panel: ") for line in err), 60), "".join(err)[
            -2000:
        ]
        url = next(line.split(": ", 1)[1].strip() for line in err if line.startswith("control panel: "))

        def status():
            return json.loads(urllib.request.urlopen(url + "api/status", timeout=5).read())

        path.write_text(path.read_text().replace("name: Reload room", "name: [unclosed"))
        os.kill(proc.pid, signal.SIGHUP)
        assert _wait(lambda: (status().get("reload") or {}).get("ok") is False)
        assert proc.poll() is None and status()["exhibit"] == "Reload room"  # still running the old one
        assert any("reload of" in line and "refused" in line for line in err)

        path.write_text(path.read_text().replace("name: [unclosed", "name: Reloaded room"))
        os.kill(proc.pid, signal.SIGHUP)
        assert _wait(lambda: status()["exhibit"] == "Reloaded room")
        # the exhibit and the outcome change together (a read may fall between their two assignments)
        assert _wait(lambda: status()["reload"]["ok"] is True)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_reload_with_a_bad_photo_applies_and_leaves_that_artwork_out(tmp_path, repo_root):
    """A reload that adds an artwork with a blank photo and one with an unreadable photo is applied: the
    two are left out of recognition and listed as problems, the others are still recognised."""
    import cv2
    import numpy as np

    path = tmp_path / "exhibit.yaml"
    spec = _spec(repo_root, tmp_path)
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    gallery = Gallery(load_exhibit(path)).build()
    try:
        assert gallery.vision.excluded == {} and gallery.status()["problems"] == {}
        cv2.imwrite(str(tmp_path / "blank.png"), np.full((480, 640, 3), 128, np.uint8))
        (tmp_path / "broken.jpg").write_bytes(b"not a photo")
        spec["artworks"] += [
            {"id": "blank", "images": [str(tmp_path / "blank.png")], "soundscape": {"duration": 3}},
            {"id": "broken", "images": [str(tmp_path / "broken.jpg")], "soundscape": {"duration": 3}},
        ]
        path.write_text(yaml.safe_dump(spec, sort_keys=False))
        assert gallery.reload() is True
        assert set(gallery.vision.excluded) == {"blank", "broken"}
        assert gallery.vision.recognizer.index.artworks == ["amber-fields", "city-at-six"]
        problems = gallery.status()["problems"]
        assert set(problems) == {"blank", "broken"} and "0 keypoints" in problems["blank"][0]
        assert "blank" in gallery.library.clips and "broken" in gallery.library.clips  # still playable
        gallery.play_artwork("broken")
    finally:
        gallery.close()
