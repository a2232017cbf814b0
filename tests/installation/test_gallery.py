"""The installation end to end: camera video -> recognition -> director -> audio engine -> WAV file.

The demo exhibit is simulated over its own camera walk with a manual clock (faster than real time);
the walk's ground truth (``exhibits/demo/camera/walk.json``) says which artwork is in view when.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile
import yaml
from scipy.signal import correlate

from art2mus.installation.audio.clock import ManualClock
from art2mus.installation.audio.outputs import WavOutput
from art2mus.installation.config import load_exhibit
from art2mus.installation.director import Director
from art2mus.installation.gallery import IDLE_KEY, Gallery
from art2mus.installation.soundscapes import SoundscapeLibrary, collection_image
from art2mus.installation.vision.pipeline import ARTWORK, NONE, VisionDecision
from art2mus.models.loudness import integrated_loudness

SIM_SECONDS = 36.0  # the first four artworks of the walk, and the start of the empty wall after them


def _segments(repo_root: Path) -> list[dict]:
    return json.loads((repo_root / "exhibits/demo/camera/walk.json").read_text())["segments"]


@pytest.fixture(scope="module")
def simulated(demo_exhibit_path, tmp_path_factory):
    exhibit = load_exhibit(demo_exhibit_path)
    wav = tmp_path_factory.mktemp("gallery") / "mix.wav"
    gallery = Gallery(exhibit, clock=ManualClock(), output=WavOutput(wav, realtime=True, subtype="FLOAT"))
    gallery.build(realtime=False)
    gallery.simulate(SIM_SECONDS)
    mix, rate = soundfile.read(str(wav), dtype="float64", always_2d=True)
    return gallery, mix, rate


def test_the_walk_plays_each_artwork_in_turn(simulated, repo_root):
    gallery, _, _ = simulated
    exhibit = gallery.exhibit
    dwell = exhibit.presence.dwell_seconds
    events = gallery.director.events
    assert events[0].what == IDLE_KEY and events[0].t == 0.0  # switched on: the idle ambience, never silence
    segments = _segments(repo_root)
    # an artwork comes into view with the "partial" stretch before its own segment
    in_view = [
        (segments[k - 1]["start_s"] if k and segments[k - 1]["kind"] == "partial" else s["start_s"], s)
        for k, s in enumerate(segments)
        if s["kind"] == "artwork" and s["start_s"] + dwell < SIM_SECONDS
    ]
    played = [e for e in events if e.what != IDLE_KEY]
    assert [e.what for e in played] == [s["artwork_id"] for _, s in in_view]
    for event, (since, segment) in zip(played, in_view, strict=True):
        # chosen after the dwell time, while the artwork is still in view
        assert since + dwell - 0.3 <= event.t <= segment["end_s"], (event, segment)


def test_the_mix_is_the_chosen_soundscape_at_the_exhibits_loudness(simulated):
    gallery, mix, rate = simulated
    exhibit = gallery.exhibit
    # the WAV got the simulated time, in whole blocks of the mix
    assert mix.shape[1] == 2 and 0 <= int(SIM_SECONDS * rate) - mix.shape[0] < gallery.engine.block_frames
    assert np.isfinite(mix).all() and np.abs(mix).max() < 10 ** (exhibit.audio.limiter_ceiling_dbtp / 20)
    events = gallery.director.events
    first, second = [e for e in events if e.what != IDLE_KEY][:2]
    fade = exhibit.audio.crossfade_seconds
    steady = mix[int((first.t + fade + 0.2) * rate) : int(second.t * rate)]
    assert steady.shape[0] > rate  # at least a second of the first artwork alone
    master_db = 20 * np.log10(exhibit.audio.master_volume)
    level = integrated_loudness(steady.astype(np.float32), rate)
    assert abs(level - (exhibit.audio.loudness_lufs + master_db)) < 1.5, level
    idle = mix[int(0.5 * rate) : int(first.t * rate)]
    idle_level = integrated_loudness(idle.astype(np.float32), rate)
    assert abs(idle_level - (exhibit.audio.loudness_lufs + master_db + exhibit.idle.gain_db)) < 1.5, (
        idle_level
    )

    # what sounds is that artwork's own soundscape: a snippet of the mix is found in its clip, not in another's
    snippet = steady[: rate // 2, 0]

    def best_match(clip) -> float:
        ref = clip.samples[: int(12 * rate), 0].astype(np.float64)
        c = correlate(ref, snippet, mode="valid", method="fft")
        energy = np.sqrt(np.convolve(ref**2, np.ones(snippet.size), mode="valid"))
        return float(np.max(np.abs(c) / (energy * np.linalg.norm(snippet) + 1e-12)))

    clips = gallery.library.clips
    assert best_match(clips[first.what]) > 0.99
    assert best_match(clips[second.what]) < 0.6


class _RecordingEngine:
    """Stands in for the audio engine: records the director's commands."""

    def __init__(self):
        self.commands: list[tuple] = []

    def set_idle(self, clip, gain_db):
        self.commands.append(("set_idle", clip, gain_db))

    def play_idle(self):
        self.commands.append(("play_idle",))

    def play(self, clip, gain_db=0.0):
        self.commands.append(("play", clip, gain_db))


def test_director_plays_each_choice_once_and_returns_to_idle_after_the_wait():
    engine = _RecordingEngine()
    library = SoundscapeLibrary(
        clips={"a": "clip-a", "b": "clip-b"},
        gains_db={"a": -2.0, "b": 0.0},
        idle="clip-idle",
        idle_gain_db=-9.0,
    )
    director = Director(engine, library, idle_after_s=3.0)
    director.start(0.0)
    assert engine.commands == [("set_idle", "clip-idle", -9.0), ("play_idle",)]
    for t in np.arange(1.0, 4.0, 0.2):
        director.update(VisionDecision(t, ARTWORK, "a", 20), t)
    assert engine.commands[2:] == [("play", "clip-a", -2.0)]  # once, with the curator's gain
    director.update(VisionDecision(4.0, ARTWORK, "unknown-to-the-library", 20), 4.0)  # not playable: ignored
    for t in np.arange(4.0, 6.7, 0.2):
        director.update(VisionDecision(t, NONE), t)
    assert director.playing == "a"  # 3 s have not passed since the last sighting (3.8 s)
    director.update(VisionDecision(6.9, NONE), 6.9)
    assert director.playing == IDLE_KEY and engine.commands[-1] == ("play_idle",)
    director.update(VisionDecision(7.0, ARTWORK, "b", 20), 7.0)
    assert engine.commands[-1] == ("play", "clip-b", 0.0)
    assert [e.what for e in director.events] == [IDLE_KEY, "a", IDLE_KEY, "b"]


def test_a_generator_that_fails_is_replaced_by_its_fallback(tmp_path, repo_root):
    """A gallery whose GPU model is missing still has music: every soundscape comes from the configured fallback."""
    demo = repo_root / "exhibits/demo"
    (tmp_path / "models").mkdir()
    spec = {
        "collection": {"name": "fallback test"},
        "artworks": [
            {
                "id": a,
                "images": [str(demo / f"artworks/{a}.png")],
                "soundscape": {"generator": "live", "duration": 4},
            }
            for a in ("amber-fields", "city-at-six")
        ],
        "camera": {"type": "video", "path": str(demo / "camera/walk.mp4")},
        "idle": {"source": "collection", "generator": "live", "duration": 4},
        "generators": {
            "live": {"type": "art2mus", "model_dir": str(tmp_path / "models"), "fallback": "calm"},
            "calm": {"type": "procedural", "sample_rate": 32000},
        },
        "audio": {"output": {"type": "null"}},
    }
    path = tmp_path / "exhibit.yaml"
    path.write_text(yaml.safe_dump(spec))
    gallery = Gallery(load_exhibit(path))
    gallery.init_audio()
    library = gallery.init_soundscapes()
    assert library.made_by == {
        "amber-fields": "calm",
        "city-at-six": "calm",
        IDLE_KEY: "calm",
    }  # its fallback
    for clip in [*library.clips.values(), library.idle]:
        assert (
            abs(clip.duration_s - 4.0) < 0.01
            and abs(clip.loudness_lufs - gallery.exhibit.audio.loudness_lufs) < 0.5
        )


def test_the_collection_image_holds_every_artwork(repo_root):
    paths = sorted((repo_root / "exhibits/demo/artworks").glob("*.png"))
    grid = collection_image(paths, tile=64)
    assert grid.shape == (3 * 64, 3 * 64, 3)  # 8 artworks in a 3 x 3 grid
    tiles = [grid[r * 64 : (r + 1) * 64, c * 64 : (c + 1) * 64] for r in range(3) for c in range(3)]
    means = [t.reshape(-1, 3).mean(0) for t in tiles[:8]]
    assert all(m.sum() > 0 for m in means) and tiles[8].max() == 0  # eight paintings, one empty cell
    assert len({tuple(np.round(m)) for m in means}) == 8


class _Frames:
    """A camera that delivers numbered grey frames quickly, for the real-time loop."""

    name = "test camera"
    nominal_fps = 50.0

    def open(self):
        from art2mus.installation.vision.sources import Frame, FrameStream

        class _Stream(FrameStream):
            index = 0

            def read(self):
                time.sleep(0.02)
                self.index += 1
                return Frame(np.full((120, 160, 3), 128, np.uint8), time.monotonic(), self.index)

            def close(self):
                pass

        return _Stream()


def test_real_time_loop_survives_a_failing_frame_and_stops_on_the_event(tmp_path, repo_root):
    """A bug that fails on some frames is logged; the room keeps its music and the loop its pace."""
    demo = repo_root / "exhibits/demo"
    spec = {
        "artworks": [
            {
                "id": "amber-fields",
                "images": [str(demo / "artworks/amber-fields.png")],
                "soundscape": {"duration": 3},
            }
        ],
        "camera": {"type": "video", "path": str(demo / "camera/walk.mp4")},
        "recognition": {"index_dir": str(tmp_path / "index")},
        "idle": {"duration": 3},
        # no panel: its default port (8080) may be another program's, e.g. a demo running beside the tests
        "control_panel": {"enabled": False},
    }
    path = tmp_path / "exhibit.yaml"
    path.write_text(yaml.safe_dump(spec))
    wav = tmp_path / "live.wav"
    gallery = Gallery(load_exhibit(path), output=WavOutput(wav, realtime=True), camera=_Frames()).build()
    calls = {"n": 0}
    process = gallery.vision.process

    def flaky(frame):
        calls["n"] += 1
        if calls["n"] % 3 == 0:
            raise RuntimeError("a frame the recogniser chokes on")
        return process(frame)

    gallery.vision.process = flaky
    stop = threading.Event()
    threading.Timer(1.5, stop.set).start()
    started = time.monotonic()
    gallery.run(stop)
    assert time.monotonic() - started < 4.0  # stopped promptly on the event
    assert calls["n"] >= 20  # kept processing after failures
    info = soundfile.info(str(wav))
    assert info.duration > 1.0  # the mix went on
    assert gallery.director.playing == IDLE_KEY and gallery.engine.status()["state"] == "stopped"


def test_a_slow_camera_is_not_reported_as_giving_no_frames():
    """A 2 fps camera times out the main loop's 0.25 s wait between its frames: it was warned about as
    'streaming, no new frame (None)' every 10 s. Only 10 s without a frame are reported, then after 1 min,
    10 min and hourly (an outage over a closure wrote the line every 10 s); a frame starts it over."""
    from art2mus.installation.gallery import FrameGapLog

    gap = FrameGapLog(0.0)
    lines = []
    for step in range(1, 241):  # 60 s of the loop: a frame every 0.5 s, a timeout between two
        now = step * 0.25
        if step % 2 == 0:
            gap.frame(now)
        elif gap.due(now):
            lines.append(now)
    assert lines == []
    lines = [now for now in (60.0 + step * 0.25 for step in range(1, 4 * 7200)) if gap.due(now)]  # none since 60 s
    assert [t - 60.0 for t in lines] == [10.0, 70.0, 670.0, 4270.0]
    gap.frame(7300.0)
    assert [t for t in (7300.0 + step * 0.25 for step in range(1, 400)) if gap.due(t)] == [7310.0, 7370.0]


def test_an_artwork_whose_photos_cannot_be_read_is_said_to_play_a_stand_in(tmp_path, repo_root):
    """A photo moved away: the daemon plays on, the artwork sounds like a plain grey picture (as every such
    artwork does), and the panel's problems said only that the camera cannot recognise it."""
    import yaml

    from art2mus.installation.config import load_exhibit

    demo = repo_root / "exhibits/demo"
    spec = {
        "artworks": [
            {"id": "amber-fields", "images": [str(tmp_path / "moved-away.png")], "soundscape": {"duration": 3}},
            {"id": "city-at-six", "images": [str(demo / "artworks/city-at-six.png")], "soundscape": {"duration": 3}},
            # a file that is there but is no photo: its soundscape was keyed by the file, so a start from
            # the cache, which decodes no photo, did not tell
            {"id": "hills-of-orvale", "images": [str(tmp_path / "notes.png")], "soundscape": {"duration": 3}},
        ],
        "camera": {"type": "video", "path": str(demo / "camera/walk.mp4")},
        "recognition": {"index_dir": str(tmp_path / "index")},
        "idle": {"source": "silence"},
        "audio": {"output": {"type": "null"}},
        "cache": {"dir": str(tmp_path / "cache")},
        "control_panel": {"enabled": False},
    }
    path = tmp_path / "exhibit.yaml"
    path.write_text(yaml.safe_dump(spec))
    (tmp_path / "notes.png").write_text("the loan agreement, saved under the photo's name\n")
    for start, read_when_chosen in (("first", False), ("from the cache", False), ("simulate's", True)):
        gallery = Gallery(load_exhibit(path, photos_may_fail=True), read_when_chosen=read_when_chosen)
        gallery.init_audio()
        library = gallery.init_soundscapes()
        assert "amber-fields" in library.clips and "hills-of-orvale" in library.clips  # they play
        assert (start == "first") == ("hills-of-orvale" not in library.from_cache)
        problems = gallery.artwork_problems()
        for stand_in in ("amber-fields", "hills-of-orvale"):
            assert any(
                p.startswith("a stand-in soundscape: no photo of it can be read") for p in problems[stand_in]
            ), (start, problems)
        assert "city-at-six" not in problems
