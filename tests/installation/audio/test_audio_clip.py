"""Loading soundscapes into the mix format: resampling, channels, bad input, loop smoothing; the limiter; the ring."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile
from audio_signals import SR, band_noise
from scipy.signal import resample_poly

from art2mus.installation.audio import FrameRingBuffer, TruePeakLimiter, load_clip_file, prepare_clip
from art2mus.installation.audio.clip import loop_join_is_smooth
from art2mus.models.loudness import integrated_loudness


def dominant_hz(x: np.ndarray, sr: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    return float(np.argmax(spectrum) * sr / x.size)


@pytest.mark.parametrize("rate", [16000, 44100, 48000])
def test_sources_at_any_rate_become_48k_stereo_with_pitch_and_length_kept(rate: int) -> None:
    t = np.arange(2 * rate) / rate
    mono = (0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    clip = prepare_clip(mono, rate, key="t", mix_rate=SR, loop=False)
    assert clip.samples.dtype == np.float32 and clip.samples.flags.c_contiguous and not clip.samples.flags.writeable
    assert clip.channels == 2 and clip.frames == pytest.approx(2 * SR, abs=2)
    np.testing.assert_array_equal(clip.samples[:, 0], clip.samples[:, 1])
    assert dominant_hz(clip.samples[:, 0], SR) == pytest.approx(1000, abs=1)
    # soxr HQ: in the middle the resampled tone matches the ideal one closely.
    ideal = 0.5 * np.sin(2 * np.pi * 1000 * np.arange(clip.frames) / SR)
    middle = slice(SR // 2, SR + SR // 2)
    assert np.max(np.abs(clip.samples[middle, 0] - ideal[middle])) < 1e-3


def test_channel_conversion_and_integer_pcm() -> None:
    stereo = np.stack([np.full(SR, 0.2), np.full(SR, 0.6)], axis=1).astype(np.float32)
    mono = prepare_clip(stereo, SR, key="m", channels=1, loop=False, loudness_lufs=-23)
    assert mono.channels == 1 and mono.samples[0, 0] == pytest.approx(0.4)
    pcm = (np.full((SR, 1), 16384)).astype(np.int16)
    clip = prepare_clip(pcm, SR, key="p", loop=False, loudness_lufs=-23)
    assert clip.samples[0].tolist() == pytest.approx([0.5, 0.5], abs=1e-4)
    surround = np.zeros((SR, 6), np.float32)
    surround[:, 0], surround[:, 1], surround[:, 2] = 0.1, 0.2, 0.9
    front = prepare_clip(surround, SR, key="s", loop=False, loudness_lufs=-23)
    assert front.samples[0].tolist() == pytest.approx([0.1, 0.2])


def test_loudness_is_measured_as_played() -> None:
    # A mono file on two speakers is louder than the same samples measured as one channel.
    mono = band_noise(3, 1, rms=0.1, channels=1)[:, 0]
    clip = prepare_clip(mono, SR, key="n", loop=False)
    assert clip.loudness_lufs == pytest.approx(integrated_loudness(clip.samples, SR), abs=1e-9)
    assert clip.loudness_lufs - integrated_loudness(mono, SR) == pytest.approx(3.01, abs=0.05)
    assert clip.gain_to(clip.loudness_lufs - 6) == pytest.approx(10 ** (-6 / 20))
    silent = prepare_clip(np.zeros(SR, np.float32), SR, key="z", loop=False)
    assert silent.gain_to(-23) == 1.0


@pytest.mark.parametrize(
    ("samples", "message"),
    [
        (np.zeros((2, SR), np.float32), "transposed"),
        (np.zeros((0, 2), np.float32), "no samples"),
        (np.array([[0.1, np.nan]] * 10, np.float32), "NaN"),
        (np.zeros((4, 4, 2), np.float32), "shape"),
        (np.array(["a", "b"]), "dtype"),
    ],
)
def test_bad_waveforms_are_refused_with_the_clip_named(samples: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=f"clip 'bad'.*{message}"):
        prepare_clip(samples, SR, key="bad")


def test_bad_rates_and_unreadable_files(tmp_path) -> None:
    with pytest.raises(ValueError, match="sample_rate must be a positive integer"):
        prepare_clip(np.zeros(10, np.float32), 0, key="r")
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF....not audio")
    with pytest.raises(ValueError, match="cannot read audio file .*broken.wav"):
        load_clip_file(broken)


def test_load_clip_file_reads_a_curator_file(tmp_path) -> None:
    path = tmp_path / "gallery-tone.flac"
    x = band_noise(1.0, 4, rms=0.1, channels=2, sr=44100)
    soundfile.write(path, x, 44100)
    clip = load_clip_file(path, mix_rate=SR)
    assert clip.key == "gallery-tone" and clip.metadata["path"] == str(path)
    assert clip.source_rate == 44100 and clip.sample_rate == SR


def test_loop_smoothing_leaves_seamless_clips_and_repairs_cut_ones() -> None:
    t = np.arange(SR) / SR
    seamless = np.sin(2 * np.pi * 100 * t)[:, None].astype(np.float32)
    cut = np.sin(2 * np.pi * 100.5 * t)[:, None].astype(np.float32)
    assert loop_join_is_smooth(seamless) and not loop_join_is_smooth(cut)
    clip = prepare_clip(cut, SR, key="c", channels=1, loop_crossfade_s=0.2, loudness_lufs=-23)
    assert clip.loop_smoothed and loop_join_is_smooth(clip.samples)
    # A one-shot is never touched.
    once = prepare_clip(cut, SR, key="c", channels=1, loop=False, loudness_lufs=-23)
    np.testing.assert_array_equal(once.samples, cut)


@pytest.mark.parametrize("rate", [16000, 44100])
def test_a_seamless_loop_stays_seamless_through_resampling(rate: int) -> None:
    """AudioLDM2's 16 kHz and a curator's 44.1 kHz loops: resampled as a loop, the join needs no repair."""
    t = np.arange(2 * rate) / rate
    loop = (0.4 * np.sin(2 * np.pi * 440 * t) + 0.2 * np.sin(2 * np.pi * 3 * 1000 * t)).astype(np.float32)
    clip = prepare_clip(loop, rate, key="l", channels=1, mix_rate=SR, loop_crossfade_s=0.25, loudness_lufs=-23)
    assert not clip.loop_smoothed and clip.frames == 2 * SR  # nothing blended away, length exact
    ideal = 0.4 * np.sin(2 * np.pi * 440 * np.arange(2 * SR) / SR) + 0.2 * np.sin(2 * np.pi * 3000 * np.arange(2 * SR) / SR)
    # right up to both ends (where an edge-blind resampler rings) the samples match the ideal loop
    assert np.max(np.abs(clip.samples[:, 0] - ideal)) < 2e-3
    # a one-shot is resampled as a one-shot: its edges are edges
    once = prepare_clip(loop, rate, key="o", channels=1, mix_rate=SR, loop=False, loudness_lufs=-23)
    assert np.max(np.abs(once.samples[:64, 0] - ideal[:64])) > np.max(np.abs(clip.samples[:64, 0] - ideal[:64]))


def test_limiter_is_transparent_below_the_ceiling() -> None:
    x = band_noise(2, 7, rms=0.05)
    lim = TruePeakLimiter(SR, 2, ceiling_dbtp=-1.0)
    y = np.concatenate([lim.process(x[i : i + 1000]) for i in range(0, x.shape[0], 1000)])
    lag = lim.latency_frames
    np.testing.assert_array_equal(y[lag:], x[:-lag])
    assert lim.last_gain_reduction_db == 0.0


@pytest.mark.parametrize("kind", ["noise", "tone-fs/4", "bursts"])
def test_limiter_keeps_true_peaks_under_the_ceiling(kind: str) -> None:
    n = 3 * SR
    t = np.arange(n) / SR
    # Fade in and out: a signal cut off at either end makes the meter's own filter ring.
    fade_in = np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.05)[:, None]
    if kind == "noise":
        x = band_noise(3, 8, rms=0.5)  # ~ +8 dB over the ceiling on peaks
    elif kind == "tone-fs/4":
        # Samples at +-0.707 of a peak that falls between them: the classic inter-sample overshoot.
        x = np.repeat(np.sin(2 * np.pi * 12000 * t + np.pi / 4)[:, None], 2, axis=1) * 1.3
    else:
        x = band_noise(3, 9, rms=0.02)
        x[SR // 2 :: SR // 4] += 2.5  # clicks
    x = (x * fade_in).astype(np.float32)
    lim = TruePeakLimiter(SR, 2, ceiling_dbtp=-1.0)
    y = np.concatenate([lim.process(x[i : i + 1024]) for i in range(0, n, 1024)])
    up = resample_poly(y.astype(np.float64), 4, 1, axis=0)
    true_peak = 20 * np.log10(np.abs(up).max())
    assert true_peak <= -1.0 + 0.1, f"{kind}: true peak {true_peak:.2f} dBTP"
    assert np.abs(y).max() <= 10 ** (-1 / 20) + 1e-7
    # It limits rather than mutes: a steady tone comes out with its peaks at the ceiling.
    if kind == "tone-fs/4":
        assert 20 * np.log10(np.sqrt(np.mean(y[SR:] ** 2))) == pytest.approx(-1.0 - 3.01, abs=0.3)
    if kind == "bursts":
        # Between the clicks the quiet noise passes untouched: after hold (20 ms) and release (150 ms)
        # the gain is back to unity.
        quiet = slice(SR // 2 + SR // 5, SR // 2 + SR // 4 - SR // 100)
        lag = lim.latency_frames
        np.testing.assert_allclose(y[quiet], x[quiet.start - lag : quiet.stop - lag], atol=1e-6)


def test_ring_buffer_wraps_counts_underruns_and_waits_until_primed() -> None:
    ring = FrameRingBuffer(10, 2)
    block = np.arange(14, dtype=np.float32).reshape(7, 2)
    assert ring.read(4).sum() == 0 and ring.underruns == 0  # not primed: silence, not a dropout
    assert ring.write(block) == 7
    ring.prime()
    np.testing.assert_array_equal(ring.read(5), block[:5])
    assert ring.write(block) == 7 and ring.fill == 9  # wraps around the end of the storage
    assert ring.write(block) == 1  # full: the rest is refused, never overwritten
    got = ring.read(12)
    np.testing.assert_array_equal(got[:2], block[5:])
    np.testing.assert_array_equal(got[2:9], block)
    np.testing.assert_array_equal(got[9], block[0])
    assert np.all(got[10:] == 0) and ring.underruns == 1 and ring.frames_missing == 2
    assert len(ring.read_bytes(3)) == 3 * 2 * 4
    ring.reset()
    assert ring.fill == 0 and not ring.primed


def test_the_limiters_numpy_filters_are_scipys() -> None:
    """The limiter writes out firwin, upfirdn and minimum_filter1d (importing scipy for them cost ~0.8 CPU s
    at every start); each must give scipy's result."""
    from scipy.ndimage import minimum_filter1d
    from scipy.signal import firwin, upfirdn

    from art2mus.installation.audio.limiter import interpolation_filter, polyphase, running_min, upsample

    fir = interpolation_filter(49, 0.98 / 4, kaiser_beta=7.0)
    np.testing.assert_allclose(fir, firwin(49, 0.98 / 4, window=("kaiser", 7.0)), rtol=0, atol=1e-15)
    rng = np.random.default_rng(5)
    for frames in (1, 17, 1040):
        x = rng.standard_normal((frames, 2)).astype(np.float32)
        want = upfirdn(fir * 4, x, up=4, axis=0)
        got = upsample(polyphase(fir * 4, 4), x)
        np.testing.assert_allclose(got[: want.shape[0]], want, rtol=0, atol=2e-6)
        assert not got[want.shape[0] :].any()  # only the padded phases' zeros beyond scipy's length
    for width in (1, 2, 5, 1057):
        for frames in (1, 3, 1024):
            values = rng.random(width - 1 + frames)
            centre = width // 2
            want = minimum_filter1d(values, width, mode="nearest")[centre : centre + frames]
            np.testing.assert_array_equal(running_min(values, width), want)
