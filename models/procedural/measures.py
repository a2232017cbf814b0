"""Measurements of rendered soundscapes: how seamless the loop is and what the audio is like.

Used by the tests and ``benchmarks/bench_sonifier.py`` (and usable on any generator's output, so the
Art2Mus model's loops can be judged with the same yardstick).

* :func:`seam_report` cuts a loop into equal blocks and compares the jump across the seam (last block
  -> first block) with the jumps between neighbouring blocks inside the piece, in level (dB RMS) and in
  spectrum (RMS difference of log band energies), and the sample step across the seam with the steps
  inside.
* :func:`audio_descriptor` summarises a piece as a vector: chroma, spectral centroid statistics,
  flatness, onset rate, level modulation, stereo width and band balance.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import scipy.fft
from scipy.signal import stft

#: band edges (Hz) of the log-spaced bands used for spectral block distances.
BAND_EDGES_HZ = np.geomspace(40.0, 16000.0, 25)
#: band energies more than this far under the loudest band of a piece are floored, dB.
FLOOR_DB = 50.0
#: names of the scalar entries of :func:`audio_descriptor`, after the 12 chroma values.
DESCRIPTOR_SCALARS = (
    "centroid_mean_oct",
    "centroid_std_oct",
    "rolloff_mean_oct",
    "flatness_mean_db",
    "onset_rate_hz",
    "level_std_db",
    "width_db",
    "low_share",
    "mid_share",
    "high_share",
)


def _as_frames_channels(waveform: np.ndarray) -> np.ndarray:
    x = np.asarray(waveform, dtype=np.float64)
    return x[:, None] if x.ndim == 1 else x


def _block_bounds(frames: int, sample_rate: int, block_s: float) -> np.ndarray:
    blocks = max(3, int(round(frames / (block_s * sample_rate))))
    return np.round(np.linspace(0, frames, blocks + 1)).astype(int)


def block_features(waveform: np.ndarray, sample_rate: int, block_s: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Level and band energies of consecutive blocks that tile the whole waveform.

    Args:
        waveform: ``(frames,)`` or ``(frames, channels)``.
        sample_rate: Hz.
        block_s: block length, seconds (blocks are equal to within one frame; at least 3 blocks).

    Returns:
        ``(level_db (blocks,), band_db (blocks, 24))``: RMS level over all channels and the energy in
        each log-spaced band (Hann-windowed spectrum), both in dB; levels floored 80 dB and band energies
        :data:`FLOOR_DB` under the loudest block or band.
    """
    x = _as_frames_channels(waveform)
    bounds = _block_bounds(x.shape[0], sample_rate, block_s)
    levels, bands = [], []
    for a, b in zip(bounds[:-1], bounds[1:], strict=False):
        block = x[a:b]
        levels.append(float(np.mean(block**2)))
        spectrum = np.abs(scipy.fft.rfft(block * np.hanning(b - a)[:, None], axis=0)) ** 2
        freqs = np.fft.rfftfreq(b - a, 1.0 / sample_rate)
        index = np.searchsorted(BAND_EDGES_HZ, freqs) - 1
        valid = (index >= 0) & (index < len(BAND_EDGES_HZ) - 1)
        energy = np.bincount(index[valid], weights=spectrum[valid].sum(axis=1), minlength=len(BAND_EDGES_HZ) - 1)
        bands.append(energy / (b - a))
    level = np.array(levels)
    band = np.array(bands)
    level_db = 10.0 * np.log10(np.maximum(level, level.max() * 1e-8 + 1e-30))
    # Bands more than 50 dB under the loudest band of the piece are masked in any mix: floor them, so
    # that the fluctuations of near-empty bands do not count as changes of spectrum.
    band_db = 10.0 * np.log10(np.maximum(band, band.max() * 10.0 ** (-FLOOR_DB / 10.0) + 1e-30))
    return level_db, band_db


@dataclass(frozen=True)
class SeamReport:
    """The jump across a loop's seam against the jumps inside it.

    Level jumps are absolute dB differences of block RMS; spectral jumps the RMS over 24 bands of the
    dB difference of band energy; sample steps the largest absolute sample difference over channels.
    ``*_rank`` is the share of interior block pairs whose jump is at least the seam's (1.0: the seam is
    the smoothest join of all; near 0: the seam is the roughest).
    """

    blocks: int
    level_jump_seam_db: float
    level_jump_max_db: float
    level_jump_p95_db: float
    level_rank: float
    spectral_jump_seam_db: float
    spectral_jump_max_db: float
    spectral_jump_p95_db: float
    spectral_rank: float
    sample_step_seam: float
    sample_step_max: float
    sample_step_p999: float

    def to_dict(self) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def seam_report(waveform: np.ndarray, sample_rate: int, block_s: float = 0.5) -> SeamReport:
    """Measure the seam of a loop (``(frames,)`` or ``(frames, channels)``), see :class:`SeamReport`."""
    level_db, band_db = block_features(waveform, sample_rate, block_s)
    level_jump = np.abs(np.diff(level_db))
    spectral_jump = np.sqrt(np.mean(np.diff(band_db, axis=0) ** 2, axis=1))
    seam_level = float(abs(level_db[0] - level_db[-1]))
    seam_spectral = float(np.sqrt(np.mean((band_db[0] - band_db[-1]) ** 2)))
    x = _as_frames_channels(waveform)
    steps = np.max(np.abs(np.diff(x, axis=0)), axis=1)
    return SeamReport(
        blocks=int(level_db.size),
        level_jump_seam_db=seam_level,
        level_jump_max_db=float(level_jump.max()),
        level_jump_p95_db=float(np.percentile(level_jump, 95)),
        level_rank=float(np.mean(level_jump >= seam_level)),
        spectral_jump_seam_db=seam_spectral,
        spectral_jump_max_db=float(spectral_jump.max()),
        spectral_jump_p95_db=float(np.percentile(spectral_jump, 95)),
        spectral_rank=float(np.mean(spectral_jump >= seam_spectral)),
        sample_step_seam=float(np.max(np.abs(x[0] - x[-1]))),
        sample_step_max=float(steps.max()),
        sample_step_p999=float(np.percentile(steps, 99.9)),
    )


def audio_descriptor(waveform: np.ndarray, sample_rate: int) -> np.ndarray:
    """A piece summarised as a vector: 12 chroma values (sum 1) then :data:`DESCRIPTOR_SCALARS`.

    Computed on 8192-sample frames (hop 4096) of the channel mean; chroma from the power between 55 Hz
    and 2 kHz folded onto pitch classes (C first); centroid and 85 % roll-off in octaves above 20 Hz;
    onsets are frames whose positive spectral flux exceeds its median by 3 median absolute deviations.

    Returns:
        float64 vector of shape ``(22,)``.
    """
    x = _as_frames_channels(waveform)
    mono = x.mean(axis=1)
    nper = 8192
    freqs, _, z = stft(mono, sample_rate, nperseg=nper, noverlap=nper // 2, boundary=None, padded=False)
    power = np.abs(z) ** 2
    # A floor 100 dB under each frame's loudest bin keeps empty bins from dominating log measures.
    power = np.maximum(power, power.max(axis=0, keepdims=True) * 1e-10 + 1e-30)
    # Chroma.
    band = (freqs >= 55.0) & (freqs <= 2000.0)
    pitch_class = np.round(12.0 * np.log2(freqs[band] / 440.0) + 69.0).astype(int) % 12
    chroma = np.bincount(pitch_class, weights=power[band].sum(axis=1), minlength=12)
    chroma /= chroma.sum()
    # Spectral shape per frame.
    total = power.sum(axis=0)
    centroid = (freqs[:, None] * power).sum(axis=0) / total
    centroid_oct = np.log2(np.maximum(centroid, 20.0) / 20.0)
    cumulative = np.cumsum(power, axis=0) / total
    rolloff = freqs[np.argmax(cumulative >= 0.85, axis=0)]
    audible = (freqs > 40.0) & (freqs < 16000.0)
    flatness = np.exp(np.mean(np.log(power[audible]), axis=0)) / np.mean(power[audible], axis=0)
    # Onsets: frames with an unusually large rise in log spectrum.
    log_power = np.log(power[audible])
    flux = np.maximum(np.diff(log_power, axis=1), 0.0).mean(axis=0)
    median = np.median(flux)
    mad = np.median(np.abs(flux - median)) + 1e-12
    hop_s = (nper // 2) / sample_rate
    onset_rate = float(np.sum(flux > median + 3.0 * mad)) / max(flux.size * hop_s, 1e-9)
    level_db = 10.0 * np.log10(total)
    if x.shape[1] >= 2:
        mid = 0.5 * (x[:, 0] + x[:, 1])
        side = 0.5 * (x[:, 0] - x[:, 1])
        width_db = 10.0 * math.log10((np.mean(side**2) + 1e-20) / (np.mean(mid**2) + 1e-20))
    else:
        width_db = -100.0
    share = power.sum(axis=1)
    whole = share.sum()
    low = share[freqs < 250.0].sum() / whole
    high = share[freqs >= 2000.0].sum() / whole
    scalars = [
        float(np.mean(centroid_oct)),
        float(np.std(centroid_oct)),
        float(np.mean(np.log2(np.maximum(rolloff, 20.0) / 20.0))),
        float(np.mean(10.0 * np.log10(flatness))),
        onset_rate,
        float(np.std(level_db)),
        max(width_db, -40.0),
        float(low),
        float(1.0 - low - high),
        float(high),
    ]
    return np.concatenate([chroma, np.array(scalars)])


def descriptor_distances(descriptors: np.ndarray, chroma_weight: float = 1.0) -> np.ndarray:
    """Pairwise distances between :func:`audio_descriptor` vectors ``(pieces, 22)`` -> ``(pieces, pieces)``.

    Scalars are z-scored across the set (so each counts equally); the chroma block adds
    ``chroma_weight`` times the Euclidean chroma distance divided by its mean over all pairs.
    """
    d = np.asarray(descriptors, dtype=np.float64)
    scalars = d[:, 12:]
    z = (scalars - scalars.mean(axis=0)) / (scalars.std(axis=0) + 1e-9)
    scalar_dist = np.sqrt(((z[:, None, :] - z[None, :, :]) ** 2).sum(axis=2) / z.shape[1])
    chroma = d[:, :12]
    chroma_dist = np.sqrt(((chroma[:, None, :] - chroma[None, :, :]) ** 2).sum(axis=2))
    off = ~np.eye(len(d), dtype=bool)
    mean_chroma = chroma_dist[off].mean() if off.any() else 1.0
    return scalar_dist + chroma_weight * chroma_dist / (mean_chroma + 1e-12)
