"""The status's short-term loudness: BS.1770 as pyloudnorm measures it, of what the output plays, read on
the asker's thread without stopping the render thread."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pyloudnorm
import pytest
from audio_signals import SR, band_noise
from scipy.signal import lfilter
from test_audio_engine import FakeDevice  # a device-paced output the test drives; keeps what it played

from art2mus.installation.audio import AudioEngine, AudioOutput, ManualClock, NullOutput
from art2mus.installation.audio.meter import FLOOR_LUFS, ShortTermLoudnessMeter, k_weighting_power

WINDOW_S = 3.0


def sine(freq_hz: float, dbfs: float, seconds: float, channels: int, sr: int = SR) -> np.ndarray:
    """A sine of peak level ``dbfs`` in every channel, float32 ``(frames, channels)``."""
    t = np.arange(int(seconds * sr)) / sr
    x = 10.0 ** (dbfs / 20.0) * np.sin(2.0 * np.pi * freq_hz * t)
    return np.repeat(x[:, None], channels, axis=1).astype(np.float32)


def pink_noise(seconds: float, seed: int, channels: int, rms: float = 0.1, sr: int = SR) -> np.ndarray:
    """Noise with a 1/f power spectrum down to 0.1 Hz (a hard case for the 38 Hz high-pass), float32."""
    n = int(seconds * sr)
    spectrum = np.fft.rfft(np.random.default_rng(seed).standard_normal((n, channels)), axis=0)
    bins = np.arange(spectrum.shape[0], dtype=float)
    bins[0] = 1.0
    x = np.fft.irfft(spectrum / np.sqrt(bins)[:, None], n, axis=0)
    return (rms * x / np.std(x)).astype(np.float32)


def streamed_short_term(x: np.ndarray, sr: int = SR) -> float:
    """The reference: pyloudnorm's K-weighting filters run over the whole stream (as a meter runs them), the
    mean square of the last 3 s, BS.1770's channel sum and offset."""
    y = x.astype(np.float64)
    for stage in pyloudnorm.Meter(sr)._filters.values():
        y = lfilter(stage.b, stage.a, y, axis=0) * stage.passband_gain
    mean_square = np.mean(y[-int(WINDOW_S * sr) :] ** 2, axis=0)
    return -0.691 + 10.0 * math.log10(float(mean_square.sum()))


def metered(x: np.ndarray, sr: int = SR, block: int = 1024) -> ShortTermLoudnessMeter:
    meter = ShortTermLoudnessMeter(sr, x.shape[1], write_frames=block)
    for i in range(0, x.shape[0], block):
        meter.write(x[i : i + block])
    return meter


SIGNALS = {
    "1 kHz sine, -20 dBFS, stereo": lambda: sine(1000.0, -20.0, 5.0, 2),
    "1 kHz sine, -20 dBFS, mono": lambda: sine(1000.0, -20.0, 5.0, 1),
    "40 Hz sine, -10 dBFS, stereo": lambda: sine(40.0, -10.0, 5.0, 2),
    "10 kHz sine, -20 dBFS, stereo": lambda: sine(10000.0, -20.0, 5.0, 2),
    "pink noise, stereo": lambda: pink_noise(6.0, 1, 2),
    "pink noise, mono": lambda: pink_noise(6.0, 2, 1),
    "band noise, stereo": lambda: band_noise(6.0, 3),
    # the window holds silence, then a tone from 1.5 s before its end: the filters' onset is in the window
    "a tone that starts inside the window": lambda: np.concatenate(
        [np.zeros((int(4.5 * SR), 2), np.float32), sine(300.0, -15.0, 1.5, 2)]
    ),
}


@pytest.mark.parametrize("name", sorted(SIGNALS))
def test_the_meter_reads_what_pyloudnorms_filters_read(name: str) -> None:
    x = SIGNALS[name]()
    got = metered(x).loudness()
    assert got == pytest.approx(streamed_short_term(x), abs=0.02)


@pytest.mark.parametrize("name", [n for n in sorted(SIGNALS) if "inside" not in n])
def test_a_steady_signal_reads_pyloudnorms_loudness_of_its_last_three_seconds(name: str) -> None:
    # steady: BS.1770's gates keep every 400 ms block, so integrated loudness is the ungated short-term one
    x = SIGNALS[name]()
    want = pyloudnorm.Meter(SR).integrated_loudness(x[-int(WINDOW_S * SR) :].astype(np.float64))
    assert metered(x).loudness() == pytest.approx(want, abs=0.02)


def test_a_1khz_sine_reads_its_level_as_bs1770_defines_it() -> None:
    # BS.1770: a 0 dBFS 1 kHz sine in one channel reads -3.01 LKFS; in two channels, 3.01 LU more.
    # pyloudnorm's (and so the soundscapes') K-weighting is 0.035 dB below the standard's at 1 kHz.
    assert metered(sine(1000.0, -20.0, 4.0, 1)).loudness() == pytest.approx(-23.01, abs=0.05)
    assert metered(sine(1000.0, -20.0, 4.0, 2)).loudness() == pytest.approx(-20.0, abs=0.05)
    assert metered(sine(1000.0, 0.0, 4.0, 1)).loudness() == pytest.approx(-3.01, abs=0.05)


@pytest.mark.parametrize("sr", [44100, 48000, 96000])
def test_the_k_weighting_is_pyloudnorms_at_every_rate(sr: int) -> None:
    freqs = np.array([10.0, 38.0, 100.0, 1000.0, 1500.0, 5000.0, 15000.0, 20000.0])
    want = np.ones(freqs.size)
    for stage in pyloudnorm.Meter(sr)._filters.values():
        z1 = np.exp(-2j * np.pi * freqs / sr)
        h = np.polyval(stage.b[::-1], z1) / np.polyval(stage.a[::-1], z1) * stage.passband_gain
        want *= np.abs(h) ** 2
    np.testing.assert_allclose(k_weighting_power(freqs, sr), want, rtol=1e-9)
    x = pink_noise(4.0, 4, 2, sr=sr)
    assert metered(x, sr).loudness() == pytest.approx(streamed_short_term(x, sr), abs=0.02)


def test_the_window_is_the_last_three_seconds_and_silence_reads_the_floor() -> None:
    meter = ShortTermLoudnessMeter(SR, 2)
    meter.write(sine(1000.0, -20.0, 2.9, 2))
    assert meter.loudness() is None  # less than a window written
    meter.write(sine(1000.0, -20.0, 0.2, 2))
    assert meter.loudness() == pytest.approx(-20.03, abs=0.02)
    meter.write(np.zeros((int(1.5 * SR), 2), np.float32))  # half the window silent: 3 dB less
    assert meter.loudness() == pytest.approx(-20.03 - 3.01, abs=0.05)
    meter.write(np.zeros((int(1.5 * SR), 2), np.float32))
    assert meter.loudness() == FLOOR_LUFS
    assert meter.loudness(end=meter.written + 1) is None  # not written yet


def test_an_earlier_window_is_read_until_it_is_overwritten() -> None:
    meter = ShortTermLoudnessMeter(SR, 2, history_frames=SR, write_frames=1024)
    meter.write(sine(1000.0, -20.0, 3.0, 2))
    loud_end = meter.written
    meter.write(np.zeros((SR // 2, 2), np.float32))
    assert meter.loudness(end=loud_end) == pytest.approx(-20.03, abs=0.02)  # what a device plays now
    meter.write(np.zeros((SR, 2), np.float32))
    assert meter.loudness(end=loud_end) is None  # its first frames are gone


def test_a_reader_overtaken_while_it_copies_copies_again() -> None:
    # The render thread writes while the panel's thread copies the window: a copy the writer may have
    # reached is thrown away, never measured.
    meter = ShortTermLoudnessMeter(SR, 2, write_frames=1024)
    meter.write(np.zeros((int(3.5 * SR), 2), np.float32))
    loud = sine(1000.0, -20.0, 4.0, 2)
    copy, copies = meter._copy, []

    def overtaken(start: int) -> np.ndarray:
        window = copy(start)
        if not copies:  # the writer comes round to this window during the first copy
            meter.write(loud[: meter.capacity - meter.window])
        copies.append(start)
        return window

    meter._copy = overtaken
    reading = meter.loudness()
    assert len(copies) == 2  # the torn first copy was dropped
    want = ShortTermLoudnessMeter(SR, 2)
    want.write(
        np.concatenate([np.zeros((int(3.5 * SR), 2), np.float32), loud[: meter.capacity - meter.window]])
    )
    assert reading == pytest.approx(want.loudness(), abs=1e-6)

    def always_overtaken(start: int) -> np.ndarray:
        window = copy(start)
        meter.write(loud[: meter.capacity])
        return window

    meter._copy = always_overtaken
    assert meter.loudness() is None  # a writer that never lets it finish: no reading rather than a wrong one


def test_writes_larger_than_the_ring_keep_the_newest_frames() -> None:
    meter = ShortTermLoudnessMeter(SR, 1, write_frames=512)
    x = np.concatenate([sine(1000.0, -6.0, 5.0, 1), sine(1000.0, -20.0, 3.0, 1)])
    meter.write(x)
    assert meter.written == x.shape[0]
    assert meter.loudness() == pytest.approx(-23.04, abs=0.02)


# ---------------------------------------------------------------------------------------------- the engine
def run(engine: AudioEngine, seconds: float, device: FakeDevice | None = None) -> None:
    """Move the engine's manual clock in 10 ms steps; a device plays 10 ms each."""
    for _ in range(int(round(seconds * 100))):
        engine.clock.advance(0.01)
        engine.pump()
        if device is not None:
            device.consume(SR // 100)


def noise_engine(output: AudioOutput, **kwargs) -> AudioEngine:
    engine = AudioEngine(output, clock=ManualClock(), master_volume=1.0, loudness_lufs=-23.0, **kwargs)
    # 3 s of steady noise (a seamless loop): every window holds the clip at -23 LUFS
    engine.play(engine.prepare(band_noise(3.0, 7, rms=0.05), SR, key="noise", loop=True), crossfade_s=0)
    return engine


def test_the_status_reads_the_measured_loudness_of_the_mix_and_the_target_beside_it() -> None:
    engine = noise_engine(NullOutput(), block_frames=1024)
    assert engine.status()["loudness_lufs"] is None  # not open
    engine.open()
    run(engine, 2.5)
    status = engine.status()
    assert status["loudness_lufs"] is None and status["loudness_target_lufs"] == -23.0  # under 3 s played
    run(engine, 0.6)
    assert engine.status()["loudness_lufs"] == pytest.approx(-23.0, abs=0.1)

    engine.set_master_volume(0.3, ramp_s=0.0)  # the room's slider, times a period's volume
    run(engine, 3.1)
    assert engine.status()["loudness_lufs"] == pytest.approx(-23.0 + 20 * math.log10(0.3), abs=0.1)
    engine.duck(6.0, ramp_s=0.0)
    run(engine, 3.1)
    assert engine.status()["loudness_lufs"] == pytest.approx(-23.0 + 20 * math.log10(0.3) - 6.0, abs=0.1)
    engine.set_master_volume(0.0, ramp_s=0.0)  # closed: silent on purpose
    run(engine, 3.1)
    assert engine.status()["loudness_lufs"] == FLOOR_LUFS
    assert engine.status()["loudness_target_lufs"] == -23.0
    engine.close()
    assert engine.status()["loudness_lufs"] is None


def test_the_limiter_is_metered_as_the_speakers_get_it() -> None:
    engine = noise_engine(NullOutput(), block_frames=1024, limiter_ceiling_dbtp=-1.0)
    engine.open()
    engine.duck(0.0)
    engine.play(engine.prepare(band_noise(3.0, 7, rms=0.05), SR, key="hot"), crossfade_s=0, gain_db=20.0)
    run(engine, 3.2)
    # 20 dB more would read -3 LUFS; the limiter holds the peaks under -1 dBTP, so it reads well below
    reading = engine.status()["loudness_lufs"]
    assert engine.status()["limiter_gain_reduction_db"] > 0
    assert -12.0 < reading < -4.0


def test_a_device_is_metered_at_the_frame_it_plays_not_where_the_mix_is() -> None:
    device = FakeDevice()
    engine = AudioEngine(device, clock=ManualClock(), master_volume=1.0, block_frames=480, buffer_seconds=0.5)
    run(engine, 3.5, device)  # silence
    assert engine.status()["loudness_lufs"] == FLOOR_LUFS
    engine.play(
        engine.prepare(sine(1000.0, -20.0, 1.0, 2), SR, key="tone", loudness_lufs=-20.03), crossfade_s=0
    )
    run(engine, 1.0, device)  # the device has played the half second of silence its ring held, then the tone
    played = np.concatenate(device.played)
    reading = engine.status()["loudness_lufs"]
    assert reading == pytest.approx(streamed_short_term(played), abs=0.02)
    mixed = engine.meter.loudness()  # the mix, half a second ahead of the speakers
    assert mixed - reading > 2.0  # 1 s of the tone against 0.5 s: 3 LU


def test_a_lost_output_reads_none_until_it_has_played_three_seconds_again() -> None:
    device = FakeDevice()
    engine = AudioEngine(device, clock=ManualClock(), master_volume=1.0, block_frames=480, buffer_seconds=0.2)
    engine.play(
        engine.prepare(sine(1000.0, -20.0, 1.0, 2), SR, key="tone", loudness_lufs=-20.03), crossfade_s=0
    )
    run(engine, 3.5, device)
    # played at the exhibit's target
    assert engine.status()["loudness_lufs"] == pytest.approx(-23.0, abs=0.05)
    device.alive = False  # unplugged
    run(engine, 0.01, device)
    assert engine.status()["state"] == "lost" and engine.status()["loudness_lufs"] is None
    device.played.clear()
    run(engine, 0.01, device)  # reopened at once (it had been up long enough)
    assert engine.status()["state"] == "playing" and engine.status()["loudness_lufs"] is None
    run(engine, 2.9, device)
    assert engine.status()["loudness_lufs"] is None
    run(engine, 0.2, device)
    assert sum(p.shape[0] for p in device.played) >= 3 * SR
    assert engine.status()["loudness_lufs"] == pytest.approx(-23.0, abs=0.05)


def test_a_status_polled_in_a_loop_measures_at_most_every_half_second_of_mix() -> None:
    engine = noise_engine(NullOutput(), block_frames=480)
    engine.open()
    run(engine, 3.1)
    reads = []
    measure = engine.meter.loudness
    engine.meter.loudness = lambda end=None: reads.append(end) or measure(end)
    for _ in range(50):
        engine.status()
    assert len(reads) == 1
    run(engine, 0.45)
    engine.status()
    assert len(reads) == 1
    run(engine, 0.06)
    engine.status()
    assert len(reads) == 2


def test_reading_the_loudness_does_not_import_scipy() -> None:
    probe = (
        "import sys\nimport numpy as np\n"
        "from art2mus.installation.audio import AudioEngine, ManualClock, NullOutput\n"
        "engine = AudioEngine(NullOutput(), clock=ManualClock())\nengine.open()\n"
        "for _ in range(350):\n    engine.clock.advance(0.01)\n    engine.pump()\n"
        "assert engine.status()['loudness_lufs'] == -120.0, engine.status()\n"
        "print('LOADED:' + ','.join(sorted(m for m in sys.modules if m.split('.')[0] in ('scipy', 'pyloudnorm'))))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "LOADED:"
