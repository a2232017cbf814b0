"""What the panel's API answers to requests it must refuse: a non-finite or mistyped value, an artwork
that exists but has nothing to play, an id far too long to repeat."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from test_control_panel_api import panel_client, write_small_exhibit

from art2mus.installation.audio.clock import ManualClock
from art2mus.installation.config import load_exhibit
from art2mus.installation.gallery import Gallery


def write_exhibit_with_a_left_out_artwork(tmp_path: Path, repo_root: Path) -> Path:
    """The panel tests' small exhibit, city-at-six's audio file no audio at all: it is left out."""
    path = write_small_exhibit(tmp_path, repo_root, control_panel={"enabled": False})
    spec = yaml.safe_load(path.read_text())
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt " + os.urandom(2000))
    spec["artworks"][1].pop("soundscape")
    spec["artworks"][1]["audio"] = str(garbage)
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


@pytest.fixture
def gallery(tmp_path: Path, repo_root: Path):
    """That exhibit built, not running (a manual clock)."""
    path = write_exhibit_with_a_left_out_artwork(tmp_path, repo_root)
    built = Gallery(load_exhibit(path, audio_may_fail=True), clock=ManualClock()).build()
    built.engine.open()
    built.director.start(0.0)
    yield built
    built.engine.close()
    built.close()


def _post(client, path: str, text: str):
    return client.post(path, content=text, headers={"Content-Type": "application/json"})


@pytest.mark.parametrize(
    "body",
    [
        '{"volume": NaN}',
        '{"volume": Infinity}',
        '{"volume": -Infinity}',
        '{"volume": 0.5, "ramp_seconds": NaN}',
    ],
)
def test_a_non_finite_number_is_a_422_naming_the_field(gallery, body):
    """Python's json reads NaN and Infinity; FastAPI's own answer repeated the value, which JSON cannot
    hold: a 500 and a traceback in the log."""
    response = _post(panel_client(gallery), "/api/volume", body)
    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]
    field = "ramp_seconds" if "ramp" in body else "volume"
    assert error["loc"] == ["body", field] and "finite" in error["msg"]
    assert error["input"] in ("nan", "inf", "-inf")
    assert gallery.room_volume != 0.5  # nothing changed


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/volume", {"volume": True}, "volume"),  # was 100 %
        ("/api/volume", {"volume": "0.5"}, "volume"),
        ("/api/volume", {"volume": 0.5, "ramp_seconds": "1"}, "ramp_seconds"),
        ("/api/presence", {"sensor": "pir-1", "present": "yes"}, "present"),
        ("/api/presence", {"sensor": "pir-1", "present": 1}, "present"),
        ("/api/play", {"artwork": 5}, "artwork"),
    ],
)
def test_a_value_of_the_wrong_type_is_refused_not_guessed(gallery, path, body, field):
    before = gallery.room_volume
    response = panel_client(gallery).post(path, json=body)
    assert response.status_code == 422, response.text
    assert [e["loc"] for e in response.json()["detail"]] == [["body", field]]
    assert gallery.room_volume == before


def test_json_integers_are_still_numbers(gallery):
    client = panel_client(gallery)
    assert client.post("/api/volume", json={"volume": 1, "ramp_seconds": 0}).json() == {
        "volume": 1.0,
        "ramp_seconds": 0.0,
    }
    assert client.post("/api/presence", json={"sensor": "pir-1", "present": False}).status_code == 200


def test_an_artwork_without_a_soundscape_says_why_it_cannot_play(gallery):
    """A known artwork left out (its audio file is no audio) was "There is no artwork 'city-at-six'; the
    artworks are: ..., city-at-six": a 404 that contradicted itself."""
    client = panel_client(gallery)
    response = client.post("/api/play", json={"artwork": "city-at-six"})
    assert response.status_code == 409
    detail = response.json()["detail"]
    assert detail.startswith("city-at-six cannot play: no soundscape: ") and "garbage.wav" in detail
    assert gallery.director.override is None
    listen = client.get("/api/soundscapes/city-at-six.flac")
    assert (
        listen.status_code == 409 and "has nothing to listen to: no soundscape: " in listen.json()["detail"]
    )
    listed = {a["id"]: a for a in client.get("/api/artworks").json()}
    assert listed["city-at-six"]["playable"] is False and listed["amber-fields"]["playable"] is True
    # an id no artwork has is still a 404 listing the ids, shortened when it is long
    response = client.post("/api/play", json={"artwork": "x" * 5000})
    assert response.status_code == 404
    assert len(response.json()["detail"]) < 300 and "(5000 characters)" in response.json()["detail"]
    assert client.post("/api/play", json={"artwork": "amber-fields"}).status_code == 200
