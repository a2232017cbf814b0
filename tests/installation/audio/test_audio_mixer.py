"""The mixer: equal-power crossfades (also retargeted mid-way), gapless loops, loudness matching, bus ramps."""

from __future__ import annotations

import math

import numpy as np
import pytest
from audio_signals import SR, band_noise, short_term_power_db, tone_amplitudes

from art2mus.installation.audio import Mixer, prepare_clip
from art2mus.models.loudness import integrated_loudness

TARGET = -23.0


def render(mixer: Mixer, seconds: float, block: int = 1024) -> np.ndarray:
    frames = int(round(seconds * SR))
    out, done = [], 0
    while done < frames:
        n = min(block, frames - done)
        out.append(mixer.render(n))
        done += n
    return np.concatenate(out)


def noise_clip(key: str, seed: int, rms: float, seconds: float = 6.0):
    return prepare_clip(band_noise(seconds, seed, rms), SR, key=key, mix_rate=SR)


def tone_clip(key: str, freq: float, seconds: float = 2.0, amp: float = 0.25):
    t = np.arange(int(seconds * SR)) / SR
    x = (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return prepare_clip(x, SR, key=key, mix_rate=SR)


def test_equal_power_crossfade_keeps_short_term_power_within_1_db() -> None:
    # Two uncorrelated noise soundscapes mastered 12 dB apart; loudness normalisation makes them equal.
    a, b = noise_clip("a", 1, rms=0.2), noise_clip("b", 2, rms=0.05)
    mixer = Mixer(SR, 2, master_volume=1.0, limiter=None)
    mixer.crossfade_to(a, 0.0, a.gain_to(TARGET))
    steady = render(mixer, 1.0)
    mixer.crossfade_to(b, 3.0, b.gain_to(TARGET))
    fade = render(mixer, 3.0)
    after = render(mixer, 1.0)
    window = SR // 20  # 50 ms
    ref = 10 * math.log10(float(np.mean(steady.astype(np.float64) ** 2)))
    dev = short_term_power_db(fade, window) - ref
    print(f"crossfade: short-term power (50 ms) deviates {dev.min():+.2f} .. {dev.max():+.2f} dB from steady state")
    assert np.all(np.abs(dev) <= 1.0)
    assert abs(short_term_power_db(after, SR).mean() - ref) <= 0.5
    # The crossfade really moved from a to b: at the end only b is left, at its own loudness.
    assert mixer.current_key == "b" and [v.key for v in mixer.voices] == ["b"]
    # A linear-amplitude crossfade would dip by ~3 dB in the middle; this check could fail.
    mid = short_term_power_db(fade[int(1.3 * SR) : int(1.7 * SR)], window)
    assert np.all(np.abs(mid - ref) <= 1.0)


def test_retarget_during_crossfade_keeps_power_and_has_no_jump() -> None:
    # Three tones with whole cycles in 10 ms windows: each voice's gain can be read off the mix.
    freqs = [400.0, 1000.0, 2500.0]
    clips = [tone_clip(k, f) for k, f in zip("abc", freqs, strict=True)]
    levels = [c.gain_to(TARGET) for c in clips]
    mixer = Mixer(SR, 2, master_volume=1.0, limiter=None)
    mixer.crossfade_to(clips[0], 0.0, levels[0])
    y0 = render(mixer, 0.5)
    mixer.crossfade_to(clips[1], 2.0, levels[1])
    y1 = render(mixer, 0.8)  # 40 % of the way to b
    mixer.crossfade_to(clips[2], 2.0, levels[2])  # the visitor moved on again
    y2 = render(mixer, 2.5)
    y = np.concatenate([y0, y1, y2])
    amps = tone_amplitudes(y, freqs, window=SR // 100)
    gains = amps / (0.25 * np.array(levels))  # each voice's fade gain, per 10 ms
    power_db = 10 * np.log10(np.sum(gains**2, axis=1))
    print(f"retarget: summed voice power {power_db.min():+.3f} .. {power_db.max():+.3f} dB; "
          f"largest gain step per 10 ms {np.abs(np.diff(gains, axis=0)).max():.4f}")
    assert np.all(np.abs(power_db) <= 1.0)
    # No jump: every voice's gain moves by at most what a 2 s equal-power fade moves in 10 ms (+ margin).
    assert np.abs(np.diff(gains, axis=0)).max() <= (math.pi / 2) * 0.01 / 2.0 * 1.3
    # At the retarget instant b was partly in; it then fades out with a, and c ends alone.
    i = int(1.3 * SR) // (SR // 100)
    assert 0.4 < gains[i, 1] < 0.8
    assert gains[-1, 2] == pytest.approx(1.0, abs=0.01) and gains[-1, :2].max() < 0.01


def test_retarget_has_no_sample_discontinuity() -> None:
    # With constant (DC) clips the mix *is* the sum of the gains: any jump in a gain shows as a step.
    def dc(key: str):
        return prepare_clip(np.full((SR, 2), 0.25, np.float32), SR, key=key, mix_rate=SR, loudness_lufs=TARGET)

    a = dc("a")
    mixer = Mixer(SR, 2, master_volume=1.0, limiter=None)
    mixer.crossfade_to(a, 0.0)
    parts = [render(mixer, 0.3)]
    mixer.crossfade_to(dc("b"), 1.0)
    parts.append(render(mixer, 0.37))
    mixer.crossfade_to(dc("c"), 1.0)
    parts.append(render(mixer, 0.2))
    mixer.crossfade_to(a, 0.5)  # and back to a, which is still fading out
    parts.append(render(mixer, 0.2))
    mixer.set_master_volume(0.3, 0.25)
    mixer.duck(9.0, 0.1)
    parts.append(render(mixer, 1.0))
    y = np.concatenate(parts)[:, 0].astype(np.float64)
    step = np.abs(np.diff(y)).max()
    print(f"DC mix: largest sample-to-sample step {step:.2e} (signal 0.25)")
    # The steepest commanded move (9 dB in 0.1 s together with -10.5 dB in 0.25 s) steps by ~7.9e-5
    # per sample at its start; a gain that jumped by even 0.1 dB would step by 2.9e-3.
    assert step < 1e-4
    # And it settled where it was told: a alone, master 0.3, ducked 9 dB.
    assert y[-1] == pytest.approx(0.25 * 0.3 * 10 ** (-9 / 20), rel=1e-4)


def test_coming_back_to_a_fading_voice_continues_it_instead_of_restarting() -> None:
    # A sawtooth whose value is its own position: the output tells where in the clip a voice is.
    frames = 3 * SR
    saw = np.repeat((np.arange(frames, dtype=np.float32) / frames)[:, None], 2, axis=1) * 0.5
    a = prepare_clip(saw, SR, key="a", mix_rate=SR, loudness_lufs=TARGET, loop_crossfade_s=0)
    b = prepare_clip(np.zeros((SR, 2), np.float32), SR, key="b", mix_rate=SR, loudness_lufs=TARGET)
    mixer = Mixer(SR, 2, master_volume=1.0, limiter=None)
    mixer.crossfade_to(a, 0.0)
    render(mixer, 0.5)
    mixer.crossfade_to(b, 1.0)
    render(mixer, 0.5)
    mixer.crossfade_to(a, 0.5)
    y = render(mixer, 1.0)
    # 2 s after a started, it plays frame 2 s of the sawtooth at full gain, not frame 0.5 s.
    assert [v.key for v in mixer.voices] == ["a"]
    assert y[-1, 0] == pytest.approx(0.5 * (2 * SR - 1) / frames, abs=1e-6)
    # A new clip under the same key (the generated soundscape replacing a stand-in) is a new voice.
    a2 = prepare_clip(saw[::-1].copy(), SR, key="a", mix_rate=SR, loudness_lufs=TARGET, loop_crossfade_s=0)
    mixer.crossfade_to(a2, 1.0)
    render(mixer, 0.5)
    assert [v.clip for v in mixer.voices] == [a, a2] and mixer.voices[1].position == SR // 2


def test_one_shot_clip_plays_once_then_leaves() -> None:
    x = np.full((SR // 2, 2), 0.1, np.float32)
    clip = prepare_clip(x, SR, key="chime", mix_rate=SR, loop=False, loudness_lufs=TARGET)
    mixer = Mixer(SR, 2, master_volume=1.0, limiter=None)
    mixer.crossfade_to(clip, 0.0)
    y = render(mixer, 1.0, block=1000)
    assert np.all(y[: SR // 2] == pytest.approx(0.1))
    assert np.all(y[SR // 2 :] == 0.0)
    assert mixer.voices == [] and mixer.current_key is None


def test_seamless_loop_plays_back_bit_exact() -> None:
    # Whole numbers of cycles: the clip's end flows into its start; the loader must leave it alone.
    t = np.arange(SR) / SR
    x = (0.2 * np.sin(2 * np.pi * 220 * t) + 0.1 * np.sin(2 * np.pi * 331 * t)).astype(np.float32)
    clip = prepare_clip(x, SR, key="loop", mix_rate=SR, loudness_lufs=TARGET)
    assert not clip.loop_smoothed
    mixer = Mixer(SR, 2, master_volume=1.0, limiter=None)
    mixer.crossfade_to(clip, 0.0)
    y = render(mixer, 3.5, block=700)  # blocks that do not divide the clip: loop points fall mid-block
    expected = np.tile(x, 4)[: y.shape[0]]
    np.testing.assert_array_equal(y[:, 0], expected)


@pytest.mark.parametrize("frames", [300, SR + 123])
def test_loops_shorter_or_longer_than_a_block_wrap_exactly(frames: int) -> None:
    rng = np.random.default_rng(frames)
    x = (rng.standard_normal((frames, 2)) * 0.1).astype(np.float32)
    clip = prepare_clip(x, SR, key="x", mix_rate=SR, loudness_lufs=TARGET, loop_crossfade_s=0)
    mixer = Mixer(SR, 2, master_volume=1.0, limiter=None)
    mixer.crossfade_to(clip, 0.0)
    y = render(mixer, 2.0, block=1024)
    np.testing.assert_array_equal(y, np.tile(x, (y.shape[0] // frames + 1, 1))[: y.shape[0]])


def _loop_point_jumps(x: np.ndarray, loop_frames: int) -> tuple[float, float]:
    """Largest first and second difference at loop points, each divided by its 99.9th percentile over the signal."""
    d1 = np.abs(np.diff(x.astype(np.float64), axis=0))
    d2 = np.abs(np.diff(x.astype(np.float64), n=2, axis=0))
    at = np.arange(loop_frames - 1, x.shape[0] - 2, loop_frames)  # d1[i] = x[i+1] - x[i]; i+1 = loop start
    r1 = float(d1[at].max() / np.quantile(d1, 0.999))
    r2 = float(np.concatenate([d2[at - 1], d2[at]]).max() / np.quantile(d2, 0.999))
    return r1, r2


def test_loop_points_are_gapless_even_for_a_clip_that_does_not_loop_by_itself() -> None:
    # 0.73 s of a chord with a non-whole number of cycles plus noise: a hard cut at the loop point.
    t = np.arange(int(0.73 * SR)) / SR
    rng = np.random.default_rng(3)
    x = 0.3 * np.sin(2 * np.pi * 233.3 * t) + 0.2 * np.sin(2 * np.pi * 347.1 * t) + 0.01 * rng.standard_normal(t.size)
    x = x.astype(np.float32)
    raw = prepare_clip(x, SR, key="raw", mix_rate=SR, loudness_lufs=TARGET, loop_crossfade_s=0)
    fixed = prepare_clip(x, SR, key="fixed", mix_rate=SR, loudness_lufs=TARGET, loop_crossfade_s=0.1)
    assert fixed.loop_smoothed and fixed.frames == x.size - int(0.1 * SR)
    ratios = {}
    for clip in (raw, fixed):
        mixer = Mixer(SR, 2, master_volume=1.0, limiter=None)
        mixer.crossfade_to(clip, 0.0)
        y = render(mixer, 4.0)
        ratios[clip.key] = _loop_point_jumps(y[:, :1], clip.frames)
    print(f"loop points, jump / p99.9 of the signal's own steps: raw {ratios['raw'][0]:.1f} (slope {ratios['raw'][1]:.1f}), "
          f"smoothed {ratios['fixed'][0]:.2f} (slope {ratios['fixed'][1]:.2f})")
    assert ratios["raw"][0] > 5  # the measurement sees a click when there is one
    assert ratios["fixed"][0] <= 1.0 and ratios["fixed"][1] <= 1.0


def test_soundscapes_mastered_12_lu_apart_play_within_1_lu() -> None:
    # Different material and levels: a quiet drone-like chord and loud noise, 12 LU apart as mastered.
    t = np.arange(8 * SR) / SR
    chord = sum(np.sin(2 * np.pi * f * t) for f in (110, 165, 220, 330))[:, None] * np.ones((1, 2))
    chord = (chord + 0.05 * band_noise(8, 9, rms=1.0)).astype(np.float32)
    noise = band_noise(8, 5, rms=0.1)
    quiet_lufs = integrated_loudness(noise, SR) - 12.0
    chord *= np.float32(10 ** ((quiet_lufs - integrated_loudness(chord, SR)) / 20))
    mastered = integrated_loudness(noise, SR) - integrated_loudness(chord, SR)
    assert mastered == pytest.approx(12.0, abs=0.05)
    played = []
    for key, x in (("noise", noise), ("chord", chord)):
        clip = prepare_clip(x, SR, key=key, mix_rate=SR)
        mixer = Mixer(SR, 2, master_volume=1.0, limiter=None)
        mixer.crossfade_to(clip, 0.0, clip.gain_to(TARGET))
        played.append(integrated_loudness(render(mixer, 6.0), SR))
    print(f"loudness: mastered {mastered:.2f} LU apart, played at {played[0]:.2f} and {played[1]:.2f} LUFS")
    assert abs(played[0] - played[1]) <= 1.0
    assert all(abs(p - TARGET) <= 1.0 for p in played)


def test_resampled_sources_play_at_the_target_loudness() -> None:
    # AudioLDM2 writes 16 kHz mono, curators bring 44.1 kHz stereo.
    t = np.arange(4 * 16000) / 16000
    low = (0.3 * np.sin(2 * np.pi * 300 * t) * (1 + 0.5 * np.sin(2 * np.pi * 0.5 * t))).astype(np.float32)
    cd = band_noise(4, 12, rms=0.2, channels=2, sr=44100)
    for key, x, rate in (("ldm", low, 16000), ("cd", cd, 44100)):
        clip = prepare_clip(x, rate, key=key, mix_rate=SR)
        assert clip.sample_rate == SR and clip.channels == 2 and clip.source_rate == rate
        mixer = Mixer(SR, 2, master_volume=1.0, limiter=None)
        mixer.crossfade_to(clip, 0.0, clip.gain_to(TARGET))
        # One whole loop, so the measurement covers the same audio as the loader's.
        assert integrated_loudness(render(mixer, clip.frames / SR), SR) == pytest.approx(TARGET, abs=0.1)


def test_master_volume_and_ducking_ramp_to_their_levels() -> None:
    clip = noise_clip("n", 4, rms=0.1, seconds=3.0)
    mixer = Mixer(SR, 2, master_volume=1.0, limiter=None)
    mixer.crossfade_to(clip, 0.0, clip.gain_to(TARGET))
    ref = short_term_power_db(render(mixer, 0.5), SR // 2).mean()
    mixer.set_master_volume(0.5, 0.5)
    render(mixer, 0.6)
    assert short_term_power_db(render(mixer, 0.5), SR // 2).mean() - ref == pytest.approx(-6.02, abs=0.3)
    mixer.duck(10.0, 0.2)
    render(mixer, 0.3)
    assert short_term_power_db(render(mixer, 0.5), SR // 2).mean() - ref == pytest.approx(-16.02, abs=0.3)
    mixer.duck(0.0, 0.2)
    mixer.set_master_volume(0.0, 0.3)
    render(mixer, 0.35)
    assert np.all(render(mixer, 0.1) == 0.0)
    with pytest.raises(ValueError, match="between 0 and 1"):
        mixer.set_master_volume(1.5)


def test_mixer_rejects_clips_in_another_format() -> None:
    clip = prepare_clip(np.zeros((SR, 2), np.float32), 44100, key="cd", mix_rate=44100, loudness_lufs=TARGET)
    with pytest.raises(ValueError, match="44100 Hz.*48000 Hz"):
        Mixer(SR, 2).crossfade_to(clip, 1.0)


def test_requests_faster_than_the_crossfade_keep_a_bounded_number_of_voices_without_clicks() -> None:
    # A visitor walking past many paintings (or reloads in a row) asks for a new soundscape every
    # 0.1 s while each crossfade lasts 3 s: without a cap 30 voices would be mixed at once.
    mixer = Mixer(sample_rate=SR, channels=2)
    # Low tones, so that a voice cut off at once would be the largest sample step in the mix.
    clips = [tone_clip(f"t{i}", 40.0 + 1.0 * i, seconds=4.0) for i in range(30)]
    pieces, most = [], 0
    for clip in clips:
        mixer.crossfade_to(clip, 3.0)
        most = max(most, len(mixer.voices))
        pieces.append(render(mixer, 0.1))
    most = max(most, len(mixer.voices))
    assert most <= 7, most  # the cap (6) plus the voice that just came in
    # The newest request still wins: after the last crossfade only its voice remains.
    pieces.append(render(mixer, 3.5))
    assert [v.key for v in mixer.voices] == ["t29"]
    x = np.concatenate(pieces)
    # No click: the largest sample step stays that of the tones themselves (evictions fade over 50 ms).
    step = float(np.abs(np.diff(x, axis=0)).max())
    tone_step = 2 * math.pi * 69.0 / SR * float(np.abs(x).max())
    assert step < 1.5 * tone_step, (step, tone_step)
