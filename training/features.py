"""AudioLDM2's input features: 16 kHz mono -> log-mel spectrogram ``(frames, 64)``, as its VAE was trained.

The recipe of AudioLDM/AudioLDM2 (``TacotronSTFT``): STFT with a 1024-point Hann window and FFT, hop 160
(100 frames per second), magnitude, 64 Slaney-normalised mel bands from 0 to 8 kHz, natural log of the
magnitude clamped at 1e-5. Music is cut into equal segments (``segment_s``) so every latent of a
dataset has the same shape.
"""

from __future__ import annotations

import numpy as np
import torch

SAMPLE_RATE = 16000
N_FFT = 1024
HOP = 160
N_MELS = 64
F_MIN, F_MAX = 0.0, 8000.0

_MEL_BASIS: torch.Tensor | None = None


def mel_basis() -> torch.Tensor:
    """``(64, 513)`` Slaney mel filter bank (librosa's default, which AudioLDM used)."""
    global _MEL_BASIS
    if _MEL_BASIS is None:
        from transformers.audio_utils import mel_filter_bank

        bank = mel_filter_bank(
            num_frequency_bins=N_FFT // 2 + 1,
            num_mel_filters=N_MELS,
            min_frequency=F_MIN,
            max_frequency=F_MAX,
            sampling_rate=SAMPLE_RATE,
            norm="slaney",
            mel_scale="slaney",
        )
        _MEL_BASIS = torch.from_numpy(np.ascontiguousarray(bank.T)).float()
    return _MEL_BASIS


def log_mel(waveform: np.ndarray | torch.Tensor, frames: int | None = None) -> torch.Tensor:
    """16 kHz mono samples ``(samples,)`` -> log-mel ``(frames, 64)``; ``frames`` trims or pads (with the
    log floor) to a fixed length (default: ``samples // 160``, rounded down to a multiple of 4 for the VAE)."""
    x = torch.as_tensor(np.asarray(waveform, dtype=np.float32))
    if x.ndim != 1:
        raise ValueError(f"expected mono samples of shape (samples,), got {tuple(x.shape)}")
    window = torch.hann_window(N_FFT)
    padded = torch.nn.functional.pad(x[None, None], ((N_FFT - HOP) // 2, (N_FFT - HOP) // 2), mode="reflect")[
        0, 0
    ]
    spec = torch.stft(padded, N_FFT, HOP, N_FFT, window, center=False, return_complex=True).abs()
    mel = torch.log(torch.clamp(mel_basis() @ spec, min=1e-5)).T  # (frames, 64)
    target = (x.shape[0] // HOP) // 4 * 4 if frames is None else int(frames)
    if mel.shape[0] >= target:
        return mel[:target].contiguous()
    floor = torch.full((target - mel.shape[0], N_MELS), float(np.log(1e-5)))
    return torch.cat([mel, floor]).contiguous()


def segments(
    waveform: np.ndarray, segment_s: float, *, max_segments: int | None = None, min_fraction: float = 0.5
) -> list[np.ndarray]:
    """Cut 16 kHz audio into ``segment_s`` pieces; a last piece shorter than ``min_fraction`` of a segment
    is dropped, a longer one padded with silence. At most ``max_segments`` (evenly spread)."""
    n = int(round(segment_s * SAMPLE_RATE))
    if n <= 0:
        raise ValueError(f"segment_s must be > 0, got {segment_s}")
    pieces = []
    for start in range(0, len(waveform), n):
        piece = waveform[start : start + n]
        if len(piece) < n:
            if len(piece) < min_fraction * n:
                break
            piece = np.pad(piece, (0, n - len(piece)))
        pieces.append(np.asarray(piece, dtype=np.float32))
    if max_segments is not None and len(pieces) > max_segments:
        keep = np.linspace(0, len(pieces) - 1, max_segments).round().astype(int)
        pieces = [pieces[i] for i in keep]
    return pieces


#: audio normalisations before the mel spectrogram: ``none`` (the samples as read) or ``v1`` (Art2Mus v1's
#: ``wav_to_fbank``: mean removed, then scaled to a peak of 0.5).
AUDIO_NORMS = ("none", "v1")


def normalize_audio(waveform: np.ndarray, mode: str = "none") -> np.ndarray:
    """Apply an :data:`AUDIO_NORMS` normalisation to 16 kHz mono samples ``(samples,)``."""
    if mode not in AUDIO_NORMS:
        raise ValueError(f"audio normalisation must be one of {AUDIO_NORMS}, got {mode!r}")
    if mode == "none":
        return waveform
    centred = waveform - waveform.mean()
    return (0.5 * centred / (np.abs(centred).max() + 1e-8)).astype(np.float32)


def load_audio_16k(path: str) -> np.ndarray:
    """Any audio file libsndfile reads -> 16 kHz mono float32 (soxr HQ)."""
    import soundfile
    import soxr

    try:
        data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, OSError) as exc:
        raise ValueError(f"cannot read audio file {path}: {exc}") from None
    if data.shape[0] == 0:
        raise ValueError(f"audio file {path} holds no samples")
    mono = data.mean(axis=1)
    if rate != SAMPLE_RATE:
        mono = soxr.resample(mono, int(rate), SAMPLE_RATE, quality="HQ")
    return np.ascontiguousarray(mono, dtype=np.float32)
