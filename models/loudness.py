"""Loudness and peak measurement shared by the generators and the audio engine.

Integrated loudness follows ITU-R BS.1770-4 (K-weighting, 400 ms gated blocks) as pyloudnorm computes it;
true peak follows BS.1770's annex 2 approach of 4x oversampling before taking the peak.
"""

from __future__ import annotations

import functools
import math

import numpy as np

# pyloudnorm and scipy.signal are imported where they are used: together they take about 0.4 s to
# import, and every command that only reads this module's constants (the CLI's option tables, a
# start whose soundscapes' loudness is stored in the cache) would pay for them.

#: loudness reported for digital silence (pyloudnorm returns -inf), in LUFS.
SILENCE_LUFS = -120.0


#: BS.1770 channel weights (L, R, C, Ls, Rs), as pyloudnorm applies them.
_CHANNEL_GAINS = np.array([1.0, 1.0, 1.0, 1.41, 1.41])


@functools.lru_cache(maxsize=8)
def _k_weighting(sample_rate: int) -> np.ndarray:
    """pyloudnorm's K-weighting stages at ``sample_rate`` as second-order sections ``(stages, 6)``, each
    stage's passband gain folded into its numerator."""
    import pyloudnorm

    meter = pyloudnorm.Meter(sample_rate)
    sections = []
    for stage in meter._filters.values():
        b = np.asarray(stage.b, dtype=np.float64) * float(stage.passband_gain)
        a = np.asarray(stage.a, dtype=np.float64)
        sections.append(np.concatenate([b / a[0], a / a[0]]))
    return np.array(sections)


def integrated_loudness(waveform: np.ndarray, sample_rate: int) -> float:
    """Integrated loudness in LUFS of ``waveform`` (``(frames,)`` or ``(frames, channels)``, up to 5).

    ITU-R BS.1770-4 exactly as pyloudnorm computes it (its K-weighting filters, 400 ms blocks with 75 %
    overlap, absolute and relative gates), vectorised: block energies come from one cumulative sum
    instead of a Python loop over blocks, which makes a minute of stereo 48 kHz about five times faster.
    Tests hold it to pyloudnorm within 1e-6 LU. Clips shorter than one 400 ms gating block are looped up to
    0.4 s so short sounds can be measured. Silence gives :data:`SILENCE_LUFS`.
    """
    x = np.asarray(waveform, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[1] > 5:
        raise ValueError(f"loudness needs (frames,) or (frames, channels<=5) audio, got shape {x.shape}")
    from scipy.signal import sosfilt

    min_frames = int(math.ceil(0.4 * sample_rate)) + 1
    if x.shape[0] == 0:
        return SILENCE_LUFS
    if x.shape[0] < min_frames:
        reps = int(math.ceil(min_frames / x.shape[0]))
        x = np.concatenate([x] * reps, axis=0)
    channels, frames = x.shape[1], x.shape[0]
    # channels as contiguous rows: the filter runs along memory, not across it
    y = sosfilt(_k_weighting(int(sample_rate)), np.ascontiguousarray(x.T), axis=-1)
    block, step = 0.4, 0.25
    n_blocks = int(np.round((frames / sample_rate - block) / (block * step))) + 1
    j = np.arange(n_blocks)
    lower = (block * (j * step) * sample_rate).astype(np.int64)
    upper = (block * (j * step + 1) * sample_rate).astype(np.int64)
    np.square(y, out=y)
    energy = np.zeros((channels, frames + 1))
    np.cumsum(y, axis=1, out=energy[:, 1:])
    z = ((energy[:, np.minimum(upper, frames)] - energy[:, lower]) / (block * sample_rate)).T  # (blocks, channels)
    weighted = z @ _CHANNEL_GAINS[:channels]
    with np.errstate(divide="ignore", invalid="ignore"):
        block_lufs = -0.691 + 10.0 * np.log10(weighted)
        above = block_lufs >= -70.0
        if not above.any():
            return SILENCE_LUFS
        relative = -0.691 + 10.0 * np.log10(z[above].mean(axis=0) @ _CHANNEL_GAINS[:channels]) - 10.0
        gated = (block_lufs > relative) & (block_lufs > -70.0)
        if not gated.any():
            return SILENCE_LUFS
        value = -0.691 + 10.0 * np.log10(z[gated].mean(axis=0) @ _CHANNEL_GAINS[:channels])
    if not math.isfinite(value):
        return SILENCE_LUFS
    return float(value)


def true_peak_dbtp(waveform: np.ndarray, sample_rate: int, oversample: int = 4) -> float:
    """True peak in dBTP: the sample peak after ``oversample``-times polyphase upsampling."""
    from scipy.signal import resample_poly

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
