"""Soundscapes out to files: a WAV with a one-line measured summary, and a spectrogram PNG.

What ``art2mus render`` writes. The summary is measured on the samples written (integrated loudness per
ITU-R BS.1770, true peak), not taken from the generator's metadata.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

#: ``--format`` value -> libsndfile subtype
SUBTYPES = {"pcm24": "PCM_24", "float": "FLOAT"}


def write_wav(soundscape: Any, path: Path, subtype: str = "pcm24") -> str:
    """Write ``soundscape`` to ``path`` and return its summary: duration (s), rate (Hz), channels,
    integrated loudness (LUFS) and true peak (dBTP)."""
    import soundfile

    from art2mus.models.loudness import integrated_loudness, true_peak_dbtp

    path.parent.mkdir(parents=True, exist_ok=True)
    waveform = np.asarray(soundscape.waveform, dtype=np.float32)
    soundfile.write(str(path), waveform, soundscape.sample_rate, subtype=SUBTYPES[subtype], format="WAV")
    lufs = integrated_loudness(waveform, soundscape.sample_rate)
    peak = true_peak_dbtp(waveform, soundscape.sample_rate)
    peak_text = f"{peak:.1f} dBTP" if math.isfinite(peak) else "silent"
    return (
        f"{path}: {soundscape.duration_s:.2f} s, {soundscape.sample_rate} Hz, {soundscape.channels} ch, "
        f"{lufs:.1f} LUFS, {peak_text}"
    )


def describe(soundscape: Any) -> str:
    """`` [key, tempo bpm, metre]`` of a procedural soundscape's music metadata, or an empty string."""
    music = soundscape.metadata.get("music") if isinstance(soundscape.metadata, dict) else None
    if not music:
        return ""
    return f" [{music.get('key')}, {music.get('tempo_bpm')} bpm, {music.get('metre')}]"


def write_spectrogram(soundscape: Any, path: Path, title: str) -> None:
    """A log-frequency spectrogram of the soundscape (channel mean) as a PNG (matplotlib, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy.signal import stft

    waveform = np.asarray(soundscape.waveform, dtype=np.float64)
    mono = waveform.mean(axis=1) if waveform.ndim == 2 else waveform
    rate = soundscape.sample_rate
    freqs, times, z = stft(mono, rate, nperseg=4096, noverlap=3072)
    level = 20.0 * np.log10(np.abs(z) + 1e-10)
    top = float(level.max())
    figure, axis = plt.subplots(figsize=(12, 4.5), dpi=100)
    mesh = axis.pcolormesh(times, freqs, level, vmin=top - 80.0, vmax=top, cmap="magma", shading="auto")
    axis.set_yscale("log")
    axis.set_ylim(30.0, min(16000.0, rate / 2.0))
    axis.set_xlabel("time (s)")
    axis.set_ylabel("frequency (Hz)")
    axis.set_title(title + describe(soundscape))
    figure.colorbar(mesh, ax=axis, label="dB")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(str(path))
    plt.close(figure)


def export(soundscape: Any, path: Path, subtype: str = "pcm24", spectrogram_title: str | None = None) -> str:
    """Write the WAV (and, given a title, ``path`` with ``.png``: its spectrogram); the line to print."""
    line = write_wav(soundscape, path, subtype) + describe(soundscape)
    if spectrogram_title is not None:
        png = path.with_suffix(".png")
        write_spectrogram(soundscape, png, spectrogram_title)
        line += f", spectrogram {png}"
    return line
