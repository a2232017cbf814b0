"""The daemon's start log (``run -v``) gives each soundscape's loudness as the room plays it."""

from __future__ import annotations

import logging

import numpy as np
import soundfile
import yaml
from small_exhibit import small_exhibit_spec

from art2mus.installation.config import load_exhibit
from art2mus.installation.gallery import Gallery


def test_a_mono_rendering_is_logged_at_the_level_the_room_plays_it(tmp_path, repo_root, caplog):
    """A 16 kHz mono file (what the Art2Mus model renders) measures about 3 LU above the target once copied
    to two channels, and the engine levels it down: the log said "-20.1 LUFS" beside the procedural
    soundscapes' "-23.0", which a curator read as Art2Mus playing 3 LU louder. It now says the level the
    room plays each one at (the target plus gain_db), and the clip's own figure only as where it was
    levelled from."""
    t = np.arange(4 * 16000) / 16000
    mono = tmp_path / "mono.wav"
    soundfile.write(mono, (0.1 * np.sin(2 * np.pi * 330 * t)).astype(np.float32), 16000)
    spec = small_exhibit_spec(tmp_path, repo_root, {"amber-fields": mono, "city-at-six": None})
    spec["artworks"][1]["soundscape"]["gain_db"] = -4.0
    path = tmp_path / "exhibit.yaml"
    path.write_text(yaml.safe_dump(spec))
    gallery = Gallery(load_exhibit(path))
    gallery.init_audio()
    caplog.set_level(logging.INFO, logger="art2mus.installation.soundscapes")
    library = gallery.init_soundscapes()
    told = [r.getMessage() for r in caplog.records if r.getMessage().startswith("soundscape ")]
    lines = {what: next(m for m in told if f": {what} (" in m) for what in ("amber-fields", "city-at-six")}
    own = library.clips["amber-fields"].loudness_lufs
    assert own > -23.0  # the mono file as two channels: the engine takes it down to the target
    assert f"plays at -23.0 LUFS, levelled from {own:.1f} LUFS" in lines["amber-fields"]
    assert "plays at -27.0 LUFS" in lines["city-at-six"]  # the target and its gain_db


def test_the_reload_log_gives_the_new_loudness_target(tmp_path, repo_root, caplog):
    """After -23 -> -17 LUFS and a reload every line read 'plays at -23.0 LUFS, levelled from -17.0 LUFS'
    (the engine's target before the swap; the sound itself moved): it now says the new target, and
    'levelled from' only the clip's own measured loudness where it differs."""
    from tests.installation.test_reload_keeps_recognition import started_gallery

    spec = small_exhibit_spec(tmp_path, repo_root, {"amber-fields": None, "city-at-six": None})
    spec["audio"]["loudness_lufs"] = -23
    path = tmp_path / "exhibit.yaml"
    gallery, _ = started_gallery(path, spec)
    try:
        spec["audio"]["loudness_lufs"] = -17
        path.write_text(yaml.safe_dump(spec))
        caplog.set_level(logging.INFO, logger="art2mus.installation.soundscapes")
        caplog.clear()  # the start's lines, captured when an earlier test left art2mus's level at info
        assert gallery.reload(), gallery.last_reload
        told = [
            m for m in (r.getMessage() for r in caplog.records) if m.startswith("soundscape ") and "LUFS" in m
        ]
        assert len(told) == 2, told
        for line in told:
            # kept, not rendered again: its own loudness is still the -23 it was rendered at
            assert "plays at -17.0 LUFS" in line and "plays at -23.0" not in line, line
            if "levelled from" in line:
                what = line.split(": ", 1)[1].split(" (", 1)[0]
                assert f"levelled from {gallery.library.clips[what].loudness_lufs:.1f} LUFS" in line
    finally:
        gallery.close()
        gallery.engine.close()
