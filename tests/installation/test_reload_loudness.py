"""A reload that changes audio.loudness_lufs moves what sounds to the new target, ramped: a clip the reload
keeps (a curator's audio file) was left to the director as unchanged (same audio, same gain_db) and went
on at the old target, 6 dB under the rest of the room after -23 -> -17 LUFS."""

from __future__ import annotations

import numpy as np
import soundfile
import yaml

from art2mus.installation.gallery import Gallery
from tests.installation.small_exhibit import small_exhibit_spec
from tests.installation.test_reload_keeps_recognition import started_gallery


def _voices(gallery: Gallery, key: str) -> list:
    return [v for v in gallery.engine.mixer.voices if v.key == key and not v.finished]


def test_a_loudness_change_ramps_a_kept_clip_to_the_new_target_in_the_same_voice(tmp_path, repo_root):
    rng = np.random.default_rng(3)
    tone = 0.1 * np.sin(2 * np.pi * 330 * np.arange(4 * 48000) / 48000) + rng.normal(0, 0.01, 4 * 48000)
    audio = tmp_path / "amber.wav"
    soundfile.write(audio, np.stack([tone, tone], axis=1).astype(np.float32), 48000)
    spec = small_exhibit_spec(tmp_path, repo_root, {"amber-fields": audio, "city-at-six": None})
    spec["audio"]["loudness_lufs"] = -23
    path = tmp_path / "exhibit.yaml"
    gallery, clock = started_gallery(path, spec)

    def play_for(seconds: float) -> None:
        for _ in range(int(round(seconds / 0.05))):
            clock.advance(0.05)
            gallery.engine.pump()

    try:
        gallery.play_artwork("amber-fields")
        play_for(5.0)
        (voice,) = _voices(gallery, "amber-fields")
        before = voice.level

        spec["audio"]["loudness_lufs"] = -17
        path.write_text(yaml.safe_dump(spec))
        assert gallery.reload(), gallery.last_reload
        assert "amber-fields" in gallery.library.kept  # the file's clip is taken over, not read again
        play_for(0.1)
        assert _voices(gallery, "amber-fields") == [voice]  # the same voice goes on, not restarted
        assert before < voice.level < voice.target_level  # on its way: ramped, not stepped
        assert np.isclose(20 * np.log10(voice.target_level / before), 6.0, atol=0.01)
        play_for(5.0)
        assert np.isclose(20 * np.log10(voice.level / before), 6.0, atol=0.01)
    finally:
        gallery.close()
        gallery.engine.close()
