"""The engine never steps the master volume: /api/volume with ramp_seconds 0 dropped the whole mix by
5.7 dB within one 20 ms block. Every caller's ramp lasts at least MIN_VOLUME_RAMP_SECONDS."""

from __future__ import annotations

import numpy as np
import pytest

from art2mus.installation.audio import AudioEngine, ManualClock, NullOutput, prepare_clip
from art2mus.installation.audio.engine import MIN_VOLUME_RAMP_SECONDS

SR = 48000
BLOCK = 960  # 20 ms


@pytest.mark.parametrize("ramp_s", [0.0, 0.01])
def test_a_volume_change_without_a_ramp_still_ramps(ramp_s: float) -> None:
    blocks: list[np.ndarray] = []
    clock = ManualClock()
    engine = AudioEngine(
        NullOutput(),
        clock=clock,
        master_volume=0.8,
        block_frames=BLOCK,
        limiter_ceiling_dbtp=0.0,
        monitor=lambda first, block: blocks.append(block.copy()),
    )
    t = np.arange(SR) / SR
    tone = (0.25 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)  # whole cycles: a seamless loop
    clip = prepare_clip(tone, SR, key="tone", mix_rate=SR, loudness_lufs=-23.0)
    engine.open()
    engine.play(clip, crossfade_s=0)

    def run(seconds: float) -> None:
        for _ in range(int(round(seconds / 0.02))):
            clock.advance(0.02)
            engine.pump()

    run(0.5)
    engine.set_master_volume(0.8 * 10 ** (-5.7 / 20), ramp_s=ramp_s)
    run(0.5)
    mix = np.concatenate(blocks)[:, 0].astype(np.float64)
    peaks = np.abs(mix[: mix.size // 48 * 48].reshape(-1, 48)).max(axis=1)  # 1 ms peaks
    level = 20 * np.log10(np.maximum(peaks[10:], 1e-9))  # past the limiter's latency
    steps = np.diff(level)
    assert level[-1] - level[0] == pytest.approx(-5.7, abs=0.05)
    # 5.7 dB over at least 50 ms: about 0.12 dB per millisecond (dB-linear between blocks, linear in
    # amplitude within one), not 5.7 dB in one
    assert np.abs(steps).max() <= 1.3 * 5.7 / (MIN_VOLUME_RAMP_SECONDS * 1000), (
        f"{np.abs(steps).max():.2f} dB in 1 ms"
    )
