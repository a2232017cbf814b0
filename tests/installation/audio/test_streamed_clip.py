"""A cached soundscape read as it plays (:class:`StreamedClip`): the same samples as a whole read, no more
decoded than the mix has read, and a file that preparing would change is left to :func:`prepare_clip`."""

from __future__ import annotations

import numpy as np
import soundfile

from art2mus.installation.audio.clip import StreamedClip, prepare_clip, streamed_clip
from art2mus.installation.audio.mixer import Voice

RATE = 48000


def _flac(path, samples, subtype="PCM_24"):
    soundfile.write(str(path), samples, RATE, subtype=subtype, format="FLAC" if subtype != "FLOAT" else "WAV")
    return soundfile.SoundFile(str(path))


def _looping_tone(seconds=4.0):
    t = np.arange(int(seconds * RATE)) / RATE
    tone = 0.3 * np.sin(2 * np.pi * 440.0 * t)  # 1,760 whole periods: the loop join is smooth
    return np.stack([tone, 0.5 * tone], axis=1).astype(np.float32)


def test_a_streamed_clip_decodes_what_the_mix_reads_and_holds_the_whole_reads_samples(tmp_path):
    path = tmp_path / "tone.flac"
    with _flac(path, _looping_tone()):
        pass
    whole, _ = soundfile.read(str(path), dtype="float32", always_2d=True)
    clip = streamed_clip(
        soundfile.SoundFile(str(path)),
        key="a",
        mix_rate=RATE,
        channels=2,
        loop=True,
        loudness_lufs=-23.0,
        loop_crossfade_s=0.25,
    )
    assert isinstance(clip, StreamedClip)
    prepared = prepare_clip(whole, RATE, key="a", loop=True, loudness_lufs=-23.0)
    assert (
        not prepared.loop_smoothed
        and clip.frames == prepared.frames
        and clip.nbytes == prepared.samples.nbytes
    )
    voice, reference = Voice(clip, 1.0, gain=1.0), Voice(prepared, 1.0, gain=1.0)
    out, ref_out = np.zeros((1024, 2), np.float32), np.zeros((1024, 2), np.float32)
    ramp, scratch = np.zeros_like(out), np.zeros_like(out)
    for _ in range(20):
        voice.mix_into(out, ramp, scratch)
        reference.mix_into(ref_out, ramp, scratch)
    np.testing.assert_array_equal(out, ref_out)
    assert clip._decoded < clip.frames // 2  # 20 blocks of a 4 s clip: about one second decoded
    np.testing.assert_array_equal(clip.samples, whole)  # any other reader sees it whole
    assert not clip.samples.flags.writeable


def test_a_file_that_preparing_would_change_is_not_streamed(tmp_path):
    jump = _looping_tone()
    jump[-RATE // 2 :] += 0.4  # a step at the loop join: prepare_clip blends the end into the start
    cases = {
        "join": (jump, "PCM_24", 2, True),
        "float": (_looping_tone(), "FLOAT", 2, True),
        "mono mix": (_looping_tone(), "PCM_16", 1, True),
        "short": (_looping_tone(1.0), "PCM_24", 2, True),
    }
    for name, (samples, subtype, channels, loop) in cases.items():
        with _flac(tmp_path / f"{name}.x", samples, subtype) as opened:
            clip = streamed_clip(
                opened,
                key=name,
                mix_rate=RATE,
                channels=channels,
                loop=loop,
                loudness_lufs=-23.0,
                loop_crossfade_s=0.25,
            )
            assert clip is None, name
