"""Our vectorised BS.1770 meter against pyloudnorm's, which defines the figures the issue asks for."""

from __future__ import annotations

import numpy as np
import pyloudnorm
import pytest

from art2mus.models.loudness import SILENCE_LUFS, integrated_loudness


def _signals():
    rng = np.random.default_rng(7)
    t48 = np.arange(48000 * 6) / 48000
    yield "stereo noise", rng.normal(0, 0.1, (48000 * 8, 2)), 48000
    yield "mono tone 44.1 kHz", 0.3 * np.sin(2 * np.pi * 997 * np.arange(44100 * 5) / 44100), 44100
    yield (
        "gated: silence, burst, near-silence",
        np.concatenate(
            [
                np.zeros((48000 * 4, 2)),
                rng.normal(0, 0.3, (48000 * 2, 2)),
                rng.normal(0, 0.001, (48000 * 4, 2)),
            ]
        ),
        48000,
    )
    yield (
        "16 kHz speech-like",
        rng.normal(0, 0.05, 16000 * 7) * (1 + np.sin(2 * np.pi * 3 * np.arange(16000 * 7) / 16000)),
        16000,
    )
    yield "5.1 minus LFE", rng.normal(0, 0.05, (48000 * 3, 5)), 48000
    yield (
        "low bass",
        0.5 * np.stack([np.sin(2 * np.pi * 40 * t48), np.sin(2 * np.pi * 60 * t48)], axis=1),
        48000,
    )


@pytest.mark.parametrize(
    ("name", "audio", "rate"), list(_signals()), ids=lambda v: v if isinstance(v, str) else ""
)
def test_matches_pyloudnorm(name, audio, rate):
    ours = integrated_loudness(audio, rate)
    reference = pyloudnorm.Meter(rate).integrated_loudness(audio)
    assert ours == pytest.approx(reference, abs=1e-6), name


def test_silence_short_clips_and_bad_shapes():
    assert integrated_loudness(np.zeros((48000, 2)), 48000) == SILENCE_LUFS
    assert integrated_loudness(np.zeros(0), 48000) == SILENCE_LUFS
    short = 0.1 * np.sin(2 * np.pi * 440 * np.arange(4800) / 48000)  # 0.1 s: looped to one gating block
    looped = np.concatenate([short] * 5)  # repeated up to at least 0.4 s, as the meter does
    assert integrated_loudness(short, 48000) == pytest.approx(
        pyloudnorm.Meter(48000).integrated_loudness(looped), abs=1e-6
    )
    with pytest.raises(ValueError, match="channels<=5"):
        integrated_loudness(np.zeros((48000, 6)), 48000)
