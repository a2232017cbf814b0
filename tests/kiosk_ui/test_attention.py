"""What the control panel asks a technician to look at (``attention``) and the metrics beside it, from the
gallery's status alone: a room closed by its opening hours is silent on purpose, a cache that cannot be
written is a problem."""

from __future__ import annotations

import numpy as np

from art2mus.installation.cache import SoundscapeCache
from art2mus.kiosk_ui.insight import GalleryCollector, attention, audible
from art2mus.models.generator import Soundscape

#: a room that is well: the camera streams, the audio plays
WELL = {
    "camera": {"state": "streaming", "last_frame_age_s": 0.1},
    "audio": {"healthy": True, "master_volume": 0.8},
}


class _Reporting:
    """A gallery as the collector reads it: ``status()`` and, optionally, its ``cache``."""

    def __init__(self, status: dict, cache: SoundscapeCache | None = None):
        self._status = status
        self.cache = cache

    def status(self) -> dict:
        return self._status


def _metrics(gallery: _Reporting) -> dict[str, float]:
    return {f.name: f.samples[0].value for f in GalleryCollector(gallery).collect() if f.samples}


def test_a_room_closed_by_its_opening_hours_needs_no_technician():
    """An alert on art2mus_attention fired every night: closed is a state, shown as one."""
    closed = {**WELL, "schedule": {"open": False, "volume": 0.0, "period": "closed", "until": None}}
    assert attention(closed) == []
    metrics = _metrics(_Reporting(closed))
    assert metrics["art2mus_attention"] == 0
    assert metrics["art2mus_schedule_open"] == 0 and metrics["art2mus_audible"] == 0
    opened = {**WELL, "schedule": {"open": True, "volume": 1.0, "period": "always", "until": None}}
    assert _metrics(_Reporting(opened))["art2mus_schedule_open"] == 1


def _tone() -> Soundscape:
    return Soundscape(np.zeros(4800, np.float32), 48000, {})


def test_a_cache_that_cannot_be_written_asks_for_attention_until_a_write_succeeds(tmp_path):
    """A full or read-only cache was only in the log: every start rendered everything again unseen."""
    blocked = tmp_path / "cache"
    blocked.write_text("a file where the cache folder should be")
    cache = SoundscapeCache(blocked)
    assert attention({**WELL, "cache": cache.status()}) == []
    assert not cache.put("k", _tone())
    causes = attention({**WELL, "cache": cache.status()})
    assert len(causes) == 1 and causes[0].startswith(f"cache {blocked} not writable: ")
    assert causes[0].endswith("; soundscapes are rendered again at each start")
    assert "File exists" in causes[0] or "Not a directory" in causes[0], causes[0]
    assert _metrics(_Reporting({**WELL, "cache": cache.status()}, cache))["art2mus_cache_write_failures"] == 1
    blocked.unlink()  # the technician frees the folder: the next rendering is stored
    assert cache.put("k", _tone())
    assert attention({**WELL, "cache": cache.status()}) == []
    assert cache.status()["write_failures"] == 1 and cache.status()["write_error"] is None


def test_a_gallery_on_an_unwritable_cache_says_so_in_its_status(tmp_path, repo_root):
    """The running gallery's status carries its cache, so the panel's attention list shows what the log
    said (the cache alone knew it)."""
    from test_control_panel_api import write_small_exhibit

    from art2mus.installation.config import load_exhibit
    from art2mus.installation.gallery import Gallery

    blocked = tmp_path / "cache"
    blocked.write_text("a file where the cache folder should be")
    gallery = Gallery(load_exhibit(write_small_exhibit(tmp_path, repo_root, cache={"dir": str(blocked)})))
    gallery.init_audio()
    gallery.init_soundscapes()  # they play; none could be stored
    status = gallery.status()
    assert status["cache"]["write_failures"] == 3, status["cache"]  # two artworks and the idle ambience
    assert any(cause.startswith(f"cache {blocked} not writable: ") for cause in attention(status))


def test_artworks_that_cannot_play_or_be_recognised_ask_for_attention_in_one_line():
    """They were red in the artworks' list only: the badge said "running" and art2mus_attention was 0,
    while a visitor at the portrait heard nothing of its own. A stand-in soundscape still plays: not one."""
    from test_control_panel_api import panel_client

    problems = {
        "portrait-of-a-clerk": ["no soundscape: cannot read audio file garbage.wav"],
        "hills-of-orvale": ["not recognised by the camera: cannot read the photo"],
        "amber-fields": ["a stand-in soundscape: no photo is an image"],
    }
    status = {**WELL, "problems": problems}
    assert attention(status) == [
        "2 artworks have problems (portrait-of-a-clerk: no soundscape; hills-of-orvale: not recognised)"
    ]
    metrics = _metrics(_Reporting(status))
    assert metrics["art2mus_attention"] == 1 and metrics["art2mus_artworks_with_problems"] == 2
    assert attention({**WELL, "problems": {"amber-fields": problems["amber-fields"]}}) == []
    # /api/health is for the room's liveness (audio plays, the camera streams): a curator's problem with
    # one artwork is no reason for a monitor to restart the daemon, which would not fix it
    client = panel_client(_Reporting(status))
    assert client.get("/api/status").json()["attention"][-1].startswith("2 artworks have problems")
    assert client.get("/api/health").status_code == 200


def test_a_closing_fade_still_reaches_the_speakers():
    """ "Nothing reaches the speakers: the room is closed" showed while the 20 s closing fade played."""
    closing = {
        **WELL,
        "audio": {"healthy": True, "master_volume": 0.35, "peak_dbfs": -23.9},
        "schedule": {"open": False},
    }
    assert audible(closing)
    faded = {**closing, "audio": {"healthy": True, "master_volume": 0.0, "peak_dbfs": None}}
    assert not audible(faded)
    assert not audible({**closing, "audio": {**closing["audio"], "peak_dbfs": None}})  # silent already


def test_the_metrics_carry_the_measured_loudness_beside_the_target():
    """A monitoring dashboard could graph the peak but not the loudness the panel's meter shows."""
    playing = {**WELL, "audio": {**WELL["audio"], "loudness_lufs": -31.5, "loudness_target_lufs": -23.0}}
    metrics = _metrics(_Reporting(playing))
    assert metrics["art2mus_audio_loudness_lufs"] == -31.5
    assert metrics["art2mus_audio_loudness_target_lufs"] == -23.0
    assert np.isnan(_metrics(_Reporting(WELL))["art2mus_audio_loudness_lufs"])  # not 3 s played yet


def test_a_frozen_generator_process_asks_for_attention_and_its_wait_is_a_metric():
    """A stopped process was alive, 1 job queued and no attention for 40 s, and nothing in /metrics."""
    waiting = "the generator process has taken no job for 40 s (1 waiting); it is restarted at 120 s"
    generation = {"alive": True, "queued": 1, "current": None, "oldest_queued_s": 40.0, "stalled": waiting}
    status = {**WELL, "generation": generation}
    assert attention(status) == [waiting]
    metrics = _metrics(_Reporting(status))
    assert metrics["art2mus_generation_oldest_queued_seconds"] == 40.0 and metrics["art2mus_attention"] == 1
    fine = {**WELL, "generation": {**generation, "oldest_queued_s": 0.0, "stalled": None}}
    assert (
        attention(fine) == [] and _metrics(_Reporting(fine))["art2mus_generation_oldest_queued_seconds"] == 0
    )


def test_corrupt_cache_entries_are_counted_in_the_metrics(tmp_path):
    """The status said "corrupt": 2; /metrics had no counter for it."""
    cache = SoundscapeCache(tmp_path / "cache")
    for key in ("a", "b"):
        assert cache.put(key, _tone())
    for path in (tmp_path / "cache").rglob("*.flac"):
        path.write_bytes(b"not audio")
    assert cache.get("a") is None and cache.get("b") is None
    assert cache.status()["corrupt"] == 2
    metrics = _metrics(_Reporting({**WELL, "cache": cache.status()}, cache))
    assert metrics["art2mus_cache_corrupt"] == 2
    text = _exposition(_Reporting({**WELL, "cache": cache.status()}, cache))
    assert "art2mus_cache_corrupt_total 2.0" in text


def _exposition(gallery: _Reporting) -> str:
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry()
    registry.register(GalleryCollector(gallery))
    return generate_latest(registry).decode()
