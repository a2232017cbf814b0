"""Signals and measurements shared by the audio engine tests (imported by name: pytest puts this folder on sys.path)."""

from __future__ import annotations

import numpy as np
from scipy.signal import butter, sosfilt

SR = 48000


def band_noise(seconds: float, seed: int, rms: float = 0.1, channels: int = 2, sr: int = SR) -> np.ndarray:
    """Band-limited (40 Hz - 16 kHz) Gaussian noise, float32 ``(frames, channels)``, at ``rms``."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((int(seconds * sr), channels))
    sos = butter(4, [40, 16000], btype="band", fs=sr, output="sos")
    x = sosfilt(sos, x, axis=0)
    x *= rms / np.sqrt(np.mean(x**2))
    return x.astype(np.float32)


def short_term_power_db(x: np.ndarray, window: int) -> np.ndarray:
    """Mean power (all channels) of consecutive ``window``-frame windows, dB."""
    n = x.shape[0] // window * window
    blocks = x[:n].astype(np.float64).reshape(-1, window, x.shape[1])
    return 10.0 * np.log10(np.mean(blocks**2, axis=(1, 2)))


def tone_amplitudes(x: np.ndarray, freqs: list[float], window: int, sr: int = SR) -> np.ndarray:
    """Amplitude of each sine in ``freqs`` per ``window``-frame window (lock-in detection on channel 0).

    ``window`` must hold a whole number of cycles of every frequency, so the tones do not leak into
    each other. Returns ``(windows, len(freqs))``.
    """
    n = x.shape[0] // window * window
    t = np.arange(n) / sr
    y = x[:n, 0].astype(np.float64)
    out = []
    for f in freqs:
        ref = np.exp(-2j * np.pi * f * t)
        out.append(2.0 * np.abs((y * ref).reshape(-1, window).mean(axis=1)))
    return np.stack(out, axis=1)
