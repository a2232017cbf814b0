"""The control panel's HTTP API over a running gallery (TestClient over the app factory)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

from art2mus.installation.config import load_exhibit
from art2mus.installation.gallery import IDLE_KEY, Gallery
from art2mus.kiosk_ui.app import create_app


def write_small_exhibit(tmp_path: Path, repo_root: Path, **extra) -> Path:
    """Two demo artworks with short soundscapes, the walk video as the camera, audio to nowhere."""
    demo = repo_root / "exhibits/demo"
    spec = {
        "collection": {"name": "Panel test room"},
        "artworks": [
            {
                "id": a,
                "title": t,
                "artist": "Test",
                "year": 1900,
                "images": [str(demo / f"artworks/{a}.png")],
                "soundscape": {"duration": 3},
            }
            for a, t in (("amber-fields", "Amber Fields at Dusk"), ("city-at-six", "The City at Six O'Clock"))
        ],
        "camera": {"type": "video", "path": str(demo / "camera/walk.mp4")},
        "recognition": {"index_dir": str(tmp_path / "index")},
        "idle": {"duration": 3},
        "audio": {"output": {"type": "null"}},
        **extra,
    }
    path = tmp_path / "exhibit.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


@pytest.fixture
def running(tmp_path, repo_root):
    """A real gallery running in real time on a thread (null audio output, the walk video as camera)."""
    # the API is tested through TestClient: no server (and no port) needed
    exhibit = write_small_exhibit(tmp_path, repo_root, control_panel={"enabled": False})
    gallery = Gallery(load_exhibit(exhibit)).build()
    stop = threading.Event()
    thread = threading.Thread(target=gallery.run, args=(stop,), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while gallery.engine.status().get("state") != "playing" and time.monotonic() < deadline:
        time.sleep(0.05)
    yield gallery
    stop.set()
    thread.join(10)
    assert not thread.is_alive()


def panel_client(gallery, **kwargs) -> TestClient:
    """The panel app in-process, asked for as http://localhost (the Host allow-list refuses "testserver")."""
    return TestClient(create_app(gallery, **kwargs), base_url="http://localhost")


def wait_for(predicate, seconds: float = 5.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    return predicate()


def test_status_and_commands_drive_the_gallery(running):
    client = panel_client(running)
    status = client.get("/api/status").json()
    assert (
        status["exhibit"] == "Panel test room"
        and status["playing"] == IDLE_KEY
        and status["override"] is None
    )
    assert status["audio"]["state"] == "playing" and status["events"][0] == {
        "t": status["events"][0]["t"],
        "play": "idle",
        "reason": "start",
    }
    artworks = client.get("/api/artworks").json()
    assert [a["id"] for a in artworks] == ["amber-fields", "city-at-six"]
    assert artworks[0]["made_by"] == "procedural" and artworks[0]["duration_s"] == 3.0

    assert client.post("/api/play", json={"artwork": "city-at-six"}).json() == {"override": "city-at-six"}
    # the engine really crossfades to it
    assert wait_for(lambda: running.engine.status()["playing"] == "city-at-six")
    status = client.get("/api/status").json()
    assert status["playing"] == "city-at-six" and status["override"] == "city-at-six"
    assert status["events"][-1]["reason"] == "manual"

    assert client.post("/api/idle", json={}).json() == {"override": "idle"}
    assert wait_for(lambda: running.engine.status()["playing"] == IDLE_KEY)
    assert client.post("/api/follow", json={}).json() == {"override": None}
    assert running.director.override is None

    assert client.post("/api/volume", json={"volume": 0.25, "ramp_seconds": 0}).status_code == 200
    assert wait_for(lambda: running.engine.status()["master_volume_target"] == 0.25)

    assert client.post("/api/presence", json={"sensor": "pir-1"}).status_code == 200
    assert client.get("/api/status").json()["presence"]["sensors"] == ["pir-1"]


def test_bad_requests_get_a_plain_sentence(running):
    client = panel_client(running)
    response = client.post("/api/play", json={"artwork": "mona-lisa"})
    assert response.status_code == 404
    assert response.json()["detail"] == (
        "There is no artwork 'mona-lisa'; the artworks are: amber-fields, city-at-six."
    )
    assert client.post("/api/volume", json={"volume": 3}).status_code == 422
    assert client.post("/api/play", json={"artwork": "amber-fields", "extra": 1}).status_code == 422
    assert running.director.override is None  # nothing changed


def test_health_reflects_camera_and_audio(running):
    client = panel_client(running)
    assert wait_for(lambda: client.get("/api/health").status_code == 200)
    body = client.get("/api/health").json()
    assert body["audio"] is True and body["camera"] is True
    running.grabber.stop()  # the camera goes away
    assert wait_for(lambda: client.get("/api/health").status_code == 503)


def test_a_token_guards_the_api_but_not_the_page(running):
    client = panel_client(running, token="s3cret")
    assert client.get("/").status_code == 200 and "art2mus" in client.get("/").text
    assert client.get("/api/status").status_code == 401
    assert "access token" in client.get("/api/status").json()["detail"]
    assert client.get("/api/status", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/api/status", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert client.get("/api/status?token=s3cret").status_code == 200
    assert client.post("/api/idle", json={}).status_code == 401 and running.director.override is None
