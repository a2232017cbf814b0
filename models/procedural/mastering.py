"""Loudness normalisation with a true-peak ceiling, fast enough for a minute of audio in well under a second.

:func:`art2mus.models.loudness.true_peak_dbtp` oversamples the whole signal four times, which costs
more than synthesising it. The true peak only ever sits next to the loudest samples, though: the 4x
interpolation filter turns a neighbourhood of 21 samples into each oversampled value, so an
oversampled value can exceed a level ``T`` only if some sample within 10 samples of it exceeds
``T / G``, where ``G`` is the largest L1 norm of the filter's polyphase branches (about 2.24). So we
interpolate only around those samples, with the very filter :func:`scipy.signal.resample_poly` uses;
the result equals the full measurement to rounding.

The limiter is a look-ahead peak limiter (minimum filter + triangular smoothing of the required gain,
run round the loop so the seam is treated like any other moment), linked across channels.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import minimum_filter1d, uniform_filter1d
from scipy.signal import firwin

from art2mus.models.loudness import SILENCE_LUFS, integrated_loudness

logger = logging.getLogger(__name__)

OVERSAMPLE = 4
_HALF = 10  # resample_poly's half filter length is 10 * up taps at the high rate, i.e. 10 input samples


def _polyphase_matrix() -> np.ndarray:
    """``(21, 4)``: column ``k`` turns samples ``i-10 .. i+10`` into the oversampled value at ``i + k/4``."""
    h = firwin(2 * _HALF * OVERSAMPLE + 1, 1.0 / OVERSAMPLE, window=("kaiser", 5.0)) * OVERSAMPLE
    centre = _HALF * OVERSAMPLE
    matrix = np.zeros((2 * _HALF + 1, OVERSAMPLE))
    for row, d in enumerate(range(-_HALF, _HALF + 1)):
        for k in range(OVERSAMPLE):
            j = centre + k - OVERSAMPLE * d
            if 0 <= j < h.size:
                matrix[row, k] = h[j]
    return matrix


_POLYPHASE = _polyphase_matrix()
#: no oversampled value exceeds this multiple of the largest sample in its 21-sample neighbourhood.
PEAK_BOUND = float(np.abs(_POLYPHASE).sum(axis=0).max())


def local_true_peaks(audio: np.ndarray, threshold: float, circular: bool) -> tuple[np.ndarray, np.ndarray]:
    """Frames whose 4x-oversampled neighbourhood may reach ``threshold``, and their true peaks.

    Args:
        audio: ``(channels, frames)``.
        threshold: linear level of interest; frames that cannot reach it are skipped.
        circular: also evaluate the frames near the ends with the loop's wrap-around neighbours (what a
            looping player plays); the zero-padded values (what a file meter reads) are always included.

    Returns:
        ``(frames, peaks)``: sorted frame indices and, for each, the largest absolute value of the four
        oversampled points from that frame up to the next one, over all channels.
    """
    n = audio.shape[1]
    hot = np.flatnonzero(np.max(np.abs(audio), axis=0) >= threshold / PEAK_BOUND)
    if hot.size == 0:
        return hot, np.zeros(0)
    offsets = np.arange(-_HALF, _HALF + 1)
    positions = np.unique(np.clip((hot[:, None] + offsets).ravel(), 0, n - 1))
    return positions, _peaks_at(audio, positions, circular)


def _peaks_at(audio: np.ndarray, positions: np.ndarray, circular: bool) -> np.ndarray:
    """For each frame in ``positions``: the largest |oversampled value| from it up to the next frame."""
    n = audio.shape[1]
    offsets = np.arange(-_HALF, _HALF + 1)
    index = positions[:, None] + offsets
    inside = (index >= 0) & (index < n)
    peaks = np.zeros(positions.size)
    for ch in range(audio.shape[0]):
        padded = np.where(inside, audio[ch][np.clip(index, 0, n - 1)].astype(np.float64), 0.0)
        peaks = np.maximum(peaks, np.abs(padded @ _POLYPHASE).max(axis=1))
        if circular:
            wrapped = audio[ch][index % n].astype(np.float64)
            peaks = np.maximum(peaks, np.abs(wrapped @ _POLYPHASE).max(axis=1))
    return peaks


def fast_true_peak_dbtp(audio: np.ndarray, circular: bool = False, search_db: float = 3.0) -> float:
    """True peak of ``audio`` ``(channels, frames)`` in dBTP, measured next to its loudest samples.

    The oversampled points between each sample within ``search_db`` of the sample peak and its
    neighbours are computed exactly (the filter of :func:`art2mus.models.loudness.true_peak_dbtp`);
    for band-limited audio the true peak lies there, so the value equals the full measurement (the
    tests check it). To *guarantee* a ceiling use :func:`local_true_peaks` with that ceiling, as
    :func:`normalise_loudness` does. With ``circular`` the loop's wrap-around counts too.
    """
    if audio.size == 0:
        return -math.inf
    level = np.max(np.abs(audio), axis=0)
    sample_peak = float(level.max())
    if sample_peak == 0.0:
        return -math.inf
    n = audio.shape[1]
    loud = np.flatnonzero(level >= sample_peak * 10.0 ** (-search_db / 20.0))
    neighbours = np.concatenate([loud - 1, loud])
    positions = np.unique(neighbours % n if circular else np.clip(neighbours, 0, n - 1))
    peak = max(sample_peak, float(_peaks_at(audio, positions, circular).max()))
    return 20.0 * math.log10(peak)


def limit_peaks(audio: np.ndarray, ceiling: float, sample_rate: int, circular: bool) -> tuple[np.ndarray, int]:
    """Look-ahead peak limiter: ``audio`` ``(channels, frames)`` with every true peak brought to <= ``ceiling``.

    The gain needed at each over-threshold frame is spread over +-10 ms (minimum filter, then two box
    filters that together span the same width, so the smoothed gain never exceeds what any frame
    needs) and applied to all channels alike.

    Returns:
        ``(limited audio, number of frames that needed gain reduction)``.
    """
    positions, peaks = local_true_peaks(audio, ceiling, circular)
    over = peaks > ceiling
    if not np.any(over):
        return audio, 0
    gain = np.ones(audio.shape[1], dtype=np.float32)
    gain[positions[over]] = (ceiling / peaks[over]).astype(np.float32)
    half = max(_HALF + 1, int(0.01 * sample_rate))
    mode = "wrap" if circular else "nearest"
    gain = minimum_filter1d(gain, size=2 * half + 1, mode=mode)
    for _ in range(2):
        gain = uniform_filter1d(gain, size=half + 1, mode=mode)
    return audio * gain[None, :], int(np.count_nonzero(over))


@dataclass(frozen=True)
class MasteringReport:
    """What :func:`normalise_loudness` did.

    Attributes:
        loudness_lufs: integrated loudness of the output (BS.1770), LUFS.
        true_peak_dbtp: true peak of the output, dBTP.
        gain_db: overall gain applied, dB.
        limited_frames: frames the limiter had to pull down (0 when the ceiling was never reached).
        rounds: limiter rounds used.
    """

    loudness_lufs: float
    true_peak_dbtp: float
    gain_db: float
    limited_frames: int
    rounds: int


def normalise_loudness(
    audio: np.ndarray,
    sample_rate: int,
    target_lufs: float,
    ceiling_dbtp: float = -1.0,
    circular: bool = True,
    max_rounds: int = 4,
) -> tuple[np.ndarray, MasteringReport]:
    """Bring ``audio`` ``(channels, frames)`` to ``target_lufs`` with true peaks at or below ``ceiling_dbtp``.

    Loudness is measured once and tracked through gain changes (a gain of ``g`` moves integrated loudness
    by exactly ``20 log10 g``); it is measured again only after the limiter had to act. If the target
    cannot be reached under the ceiling within ``max_rounds`` the output is turned down until it fits:
    the ceiling always wins.

    Returns:
        ``(float32 audio (channels, frames), MasteringReport)``.
    """
    loudness = integrated_loudness(audio.T, sample_rate)
    if loudness <= SILENCE_LUFS:
        return audio.astype(np.float32, copy=False), MasteringReport(SILENCE_LUFS, -math.inf, 0.0, 0, 0)
    ceiling = 10.0 ** (ceiling_dbtp / 20.0)
    # Aim the limiter a little under the ceiling so that rounding and the limiter's own smoothing
    # never leave a peak on the wrong side of it.
    aim = ceiling * 10.0 ** (-0.05 / 20.0)
    gain_db = target_lufs - loudness
    out = (audio * np.float32(10.0 ** (gain_db / 20.0))).astype(np.float32, copy=False)
    output_lufs = target_lufs
    limited = 0
    rounds = 0
    for attempt in range(1, max_rounds + 1):
        out, count = limit_peaks(out, aim, sample_rate, circular)
        if count == 0:
            break
        rounds, limited = attempt, limited + count
        makeup_db = target_lufs - integrated_loudness(out.T, sample_rate)
        out = (out * np.float32(10.0 ** (makeup_db / 20.0))).astype(np.float32, copy=False)
        gain_db += makeup_db
        logger.debug("limiter round %d: %d frames limited, make-up %.2f dB", attempt, count, makeup_db)
    # The guarantee: every frame that could reach the ceiling is checked (see local_true_peaks).
    _, peaks = local_true_peaks(out, ceiling, circular)
    if peaks.size and peaks.max() > ceiling:
        trim_db = ceiling_dbtp - 0.01 - 20.0 * math.log10(float(peaks.max()))
        out = (out * np.float32(10.0 ** (trim_db / 20.0))).astype(np.float32, copy=False)
        gain_db += trim_db
        output_lufs += trim_db
        logger.warning(
            "target %.1f LUFS does not fit under %.1f dBTP; turned down by %.2f dB", target_lufs, ceiling_dbtp, -trim_db
        )
    peak = fast_true_peak_dbtp(out, circular)
    return out, MasteringReport(float(output_lufs), float(peak), float(gain_db), limited, rounds)
