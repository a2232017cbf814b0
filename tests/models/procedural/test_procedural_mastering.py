"""Loudness normalisation, the fast true-peak measurement and the limiter of the sonifier."""

from __future__ import annotations

import numpy as np
import pytest

from art2mus.models.loudness import integrated_loudness, true_peak_dbtp
from art2mus.models.procedural.mastering import (
    PEAK_BOUND,
    fast_true_peak_dbtp,
    limit_peaks,
    local_true_peaks,
    normalise_loudness,
)

RATE = 48000


def _music_like(seconds: float, seed: int) -> np.ndarray:
    """Stereo test signal ``(2, frames)``: tones, bursts near Nyquist (inter-sample peaks) and noise."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    x = np.zeros((2, n))
    for ch in range(2):
        for f in rng.uniform(80, 3000, 6):
            x[ch] += rng.uniform(0.05, 0.2) * np.sin(2 * np.pi * f * t + rng.uniform(0, 6.3))
        # Short bursts at fs/4 with a 45 degree phase: their samples miss the waveform's crests.
        for start in rng.integers(0, n - 2000, 5):
            k = np.arange(2000)
            x[ch, start : start + 2000] += 0.5 * np.hanning(2000) * np.sin(np.pi / 2 * k + np.pi / 4)
        x[ch] += 0.02 * rng.standard_normal(n)
    return x.astype(np.float32)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fast_true_peak_equals_the_full_measurement(seed):
    x = _music_like(3.0, seed)
    assert fast_true_peak_dbtp(x) == pytest.approx(true_peak_dbtp(x.T, RATE), abs=1e-3)
    # The test signal really has inter-sample peaks, so the fast path is not just the sample peak.
    assert true_peak_dbtp(x.T, RATE) > 20 * np.log10(np.abs(x).max()) + 0.5


def test_local_true_peaks_find_every_frame_above_a_threshold():
    x = _music_like(2.0, 5)
    threshold = 0.5
    positions, peaks = local_true_peaks(x, threshold, circular=False)
    from scipy.signal import resample_poly

    full = np.abs(resample_poly(x.astype(np.float64), 4, 1, axis=1)).max(axis=0).reshape(-1, 4).max(axis=1)
    # Every frame whose oversampled neighbourhood exceeds the threshold is among the candidates,
    # with the same value.
    over = np.flatnonzero(full > threshold)
    assert over.size > 0
    assert set(over) <= set(positions)
    lookup = dict(zip(positions, peaks, strict=True))
    assert np.allclose([lookup[i] for i in over], full[over], atol=1e-6)
    assert PEAK_BOUND > 1.0


@pytest.mark.parametrize("target", [-23.0, -16.0, -8.0])
def test_normalise_hits_the_target_under_the_ceiling(target):
    x = _music_like(4.0, 3)
    out, report = normalise_loudness(x, RATE, target, ceiling_dbtp=-1.0, circular=True)
    assert out.dtype == np.float32 and out.shape == x.shape
    assert integrated_loudness(out.T, RATE) == pytest.approx(target, abs=0.1)
    assert true_peak_dbtp(out.T, RATE) <= -1.0
    assert report.loudness_lufs == pytest.approx(integrated_loudness(out.T, RATE), abs=0.05)
    assert report.true_peak_dbtp == pytest.approx(true_peak_dbtp(out.T, RATE), abs=0.01)
    if target == -8.0:
        # That loud, the bursts must have been limited.
        assert report.limited_frames > 0


def test_ceiling_wins_over_an_impossible_target():
    x = _music_like(2.0, 4)
    out, report = normalise_loudness(x, RATE, -2.0, ceiling_dbtp=-1.0, max_rounds=1)
    assert true_peak_dbtp(out.T, RATE) <= -1.0
    assert report.loudness_lufs < -2.0


def test_limiter_only_touches_the_neighbourhood_of_peaks():
    rng = np.random.default_rng(6)
    x = (0.1 * rng.standard_normal((2, 2 * RATE))).astype(np.float32)
    bursts = [RATE // 4, RATE, 3 * RATE // 2]
    for start in bursts:
        x[:, start : start + 100] += 1.5 * np.sin(np.arange(100) * 0.3).astype(np.float32)
    limited, count = limit_peaks(x, 0.9, RATE, circular=True)
    assert count > 0
    assert fast_true_peak_dbtp(limited, circular=True) <= 20 * np.log10(0.9) + 1e-3
    assert true_peak_dbtp(limited.T, RATE) <= 20 * np.log10(0.9) + 1e-3
    # More than 10 ms + 10 ms away from a burst nothing changes.
    far = np.ones(x.shape[1], bool)
    for start in bursts:
        far[start - 1000 : start + 1100] = False
    assert np.allclose(limited[:, far], x[:, far], rtol=1e-5, atol=1e-7)


def test_silence_stays_silent():
    out, report = normalise_loudness(np.zeros((2, RATE), np.float32), RATE, -23.0)
    assert not out.any()
    assert report.loudness_lufs <= -120.0
