"""Loudness and peak measurement shared by the generators and the audio engine.

Integrated loudness follows ITU-R BS.1770-4 (K-weighting, 400 ms gated blocks) through pyloudnorm;
true peak follows BS.1770's annex 2 approach of 4x oversampling before taking the peak.
"""

from __future__ import annotations

import math

import numpy as np
import pyloudnorm
from scipy.signal import resample_poly

#: loudness reported for digital silence (pyloudnorm returns -inf), in LUFS.
SILENCE_LUFS = -120.0


def integrated_loudness(waveform: np.ndarray, sample_rate: int) -> float:
    """Integrated loudness in LUFS of ``waveform`` (``(frames,)`` or ``(frames, channels)``).

    Clips shorter than one 400 ms gating block are looped up to 0.4 s so short sounds can be measured.
    Silence gives :data:`SILENCE_LUFS`.
    """
    x = np.asarray(waveform, dtype=np.float64)
    min_frames = int(math.ceil(0.4 * sample_rate)) + 1
    if x.shape[0] == 0:
        return SILENCE_LUFS
    if x.shape[0] < min_frames:
        reps = int(math.ceil(min_frames / x.shape[0]))
        x = np.concatenate([x] * reps, axis=0)
    value = pyloudnorm.Meter(sample_rate).integrated_loudness(x)
    if not math.isfinite(value):
        return SILENCE_LUFS
    return float(value)


def true_peak_dbtp(waveform: np.ndarray, sample_rate: int, oversample: int = 4) -> float:
    """True peak in dBTP: the sample peak after ``oversample``-times polyphase upsampling."""
    x = np.asarray(waveform, dtype=np.float64)
    if x.size == 0:
        return -math.inf
    up = resample_poly(x, oversample, 1, axis=0)
    peak = float(np.max(np.abs(up)))
    return 20.0 * math.log10(peak) if peak > 0 else -math.inf


def gain_to_loudness(waveform: np.ndarray, sample_rate: int, target_lufs: float) -> float:
    """Linear gain that brings ``waveform`` to ``target_lufs``; 1.0 for silence."""
    current = integrated_loudness(waveform, sample_rate)
    if current <= SILENCE_LUFS:
        return 1.0
    return float(10.0 ** ((target_lufs - current) / 20.0))
