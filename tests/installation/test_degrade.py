"""Degrade, never die: one bad artwork is left out and reported, a reload that fails keeps the room playing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
import yaml
from fastapi.testclient import TestClient
from small_exhibit import small_exhibit_spec

from art2mus.installation.audio.clock import ManualClock
from art2mus.installation.config import ExhibitError, load_exhibit
from art2mus.installation.gallery import Gallery
from art2mus.kiosk_ui.app import create_app


def _bad_audio(tmp_path: Path) -> dict[str, Path]:
    """A NaN WAV, an infinite-sample WAV, float data far outside +-1, and bytes that are no audio at all."""
    files = {}
    for name, value in (("nan", np.nan), ("inf", np.inf), ("huge", 1e30)):
        samples = np.full(4800, 0.1, dtype=np.float32)
        samples[100:200] = value
        files[name] = tmp_path / f"{name}.wav"
        soundfile.write(files[name], samples, 48000, subtype="FLOAT")
    files["garbage"] = tmp_path / "garbage.wav"
    files["garbage"].write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt " + os.urandom(2000))
    return files


def _exhibit(tmp_path: Path, repo_root: Path, audio: dict[str, Path | None]) -> Path:
    path = tmp_path / "exhibit.yaml"
    path.write_text(yaml.safe_dump(small_exhibit_spec(tmp_path, repo_root, audio), sort_keys=False))
    return path


BAD = {
    "amber-fields": "nan",
    "city-at-six": "inf",
    "evening-regatta": "huge",
    "hills-of-orvale": "garbage",
}


def test_bad_artwork_audio_is_left_out_and_reported_and_the_rest_play(tmp_path, repo_root):
    files = _bad_audio(tmp_path)
    path = _exhibit(
        tmp_path, repo_root, {**{a: files[kind] for a, kind in BAD.items()}, "night-over-the-village": None}
    )
    with pytest.raises(ExhibitError, match="NaN"):  # validate (the curator's check) still names them
        load_exhibit(path)
    gallery = Gallery(load_exhibit(path, audio_may_fail=True), clock=ManualClock()).build()
    library = gallery.library
    assert set(library.problems) == set(BAD)
    assert "NaN or infinite" in library.problems["amber-fields"]
    assert "NaN or infinite" in library.problems["city-at-six"]
    assert "corrupt data" in library.problems["evening-regatta"] and "1e+30" in library.problems["evening-regatta"]
    assert "hills-of-orvale" in library.problems and "garbage.wav" in library.problems["hills-of-orvale"]
    assert set(library.clips) == {"night-over-the-village"} and library.idle is not None

    status = gallery.status()
    assert set(status["problems"]) == set(BAD)
    assert all(p[0].startswith("no soundscape: ") for p in status["problems"].values())
    listed = {a["id"]: a for a in gallery.artworks()}
    assert listed["night-over-the-village"]["problems"] == []
    assert listed["amber-fields"]["problems"] and listed["amber-fields"]["duration_s"] is None

    # the panel's API lists the problem beside the artwork
    client = TestClient(create_app(gallery), base_url="http://localhost")
    shown = {a["id"]: a for a in client.get("/api/artworks").json()}
    assert shown["city-at-six"]["problems"] == listed["city-at-six"]["problems"]
    assert client.get("/api/status").json()["problems"].keys() == set(BAD)

    # the good artwork plays; a left-out one cannot be chosen, and the camera seeing it changes nothing
    gallery.engine.open()
    gallery.director.start(0.0)
    gallery.play_artwork("night-over-the-village")
    assert gallery.director.playing == "night-over-the-village"
    with pytest.raises(KeyError):
        gallery.play_artwork("amber-fields")
    gallery.engine.close()
    gallery.close()


def test_simulate_plays_through_with_a_nan_artwork(tmp_path, repo_root):
    """The CLI start path: ``art2mus simulate`` (as ``run``) starts with a NaN artwork and plays the rest."""
    files = _bad_audio(tmp_path)
    path = _exhibit(tmp_path, repo_root, {"amber-fields": files["nan"], "night-over-the-village": None})
    out = tmp_path / "mix.wav"
    result = subprocess.run(
        [sys.executable, "-m", "art2mus.installation.cli", "simulate", str(path), "--duration", "20", "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "artwork amber-fields is left out" in result.stderr and "NaN" in result.stderr
    mix, rate = soundfile.read(out)
    assert len(mix) >= 19.9 * rate and np.sqrt(np.mean(mix**2)) > 1e-3  # 20 s of sound, not silence


def test_doctor_names_the_artwork_that_will_be_left_out(tmp_path, repo_root):
    files = _bad_audio(tmp_path)
    path = _exhibit(tmp_path, repo_root, {"amber-fields": files["nan"], "night-over-the-village": None})
    proc = subprocess.run(
        [sys.executable, "-m", "art2mus.installation.cli", "doctor", "--json", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    checks = {item["check"]: item for item in map(json.loads, proc.stdout.splitlines())}
    assert checks["exhibit"]["status"] == "ok", checks
    assert checks["artworks"]["status"] == "warn"
    assert "amber-fields" in checks["artworks"]["detail"] and "NaN" in checks["artworks"]["detail"]
    assert "night-over-the-village" not in checks["artworks"]["detail"]


def test_a_reload_that_fails_after_validation_keeps_the_running_configuration(tmp_path, repo_root, monkeypatch):
    path = _exhibit(tmp_path, repo_root, {"amber-fields": None})
    gallery = Gallery(load_exhibit(path), clock=ManualClock()).build()
    running, camera = gallery.exhibit, gallery.camera
    spec = yaml.safe_load(path.read_text())

    # a new camera that cannot be made
    spec["camera"]["loop"] = False
    path.write_text(yaml.safe_dump(spec))

    def broken_camera(*args, **kwargs):
        raise RuntimeError("the camera driver is gone")

    monkeypatch.setattr("art2mus.installation.control.camera_source_from_config", broken_camera)
    assert gallery.reload() is False
    assert gallery.exhibit is running and gallery.camera is camera
    assert gallery.last_reload["ok"] is False and "camera driver is gone" in gallery.last_reload["problems"][0]
    monkeypatch.undo()

    # anything else failing while the new configuration is put in place: reported, never raised
    def broken_swap(*args, **kwargs):
        raise MemoryError("no memory for the new library")

    monkeypatch.setattr(gallery.director, "replace_library", broken_swap)
    assert gallery.reload() is False
    assert gallery.last_reload["ok"] is False and "MemoryError" in gallery.last_reload["problems"][0]
    monkeypatch.undo()

    # a new artwork whose audio is NaN: applied, that artwork left out, the rest play
    files = _bad_audio(tmp_path)
    spec["artworks"].append({"id": "city-at-six", "images": spec["artworks"][0]["images"], "audio": str(files["nan"])})
    path.write_text(yaml.safe_dump(spec))
    assert gallery.reload() is True
    assert set(gallery.library.problems) == {"city-at-six"} and "amber-fields" in gallery.library.clips
    gallery.close()
