"""``loop_join_is_smooth`` compares the step across the loop point with the music around it (the 50 ms on
either side), not with the largest step anywhere in the clip: one drum hit seconds away must not hide a
click at every wrap, and loops rendered to loop must stay untouched."""

from __future__ import annotations

import numpy as np
import pytest

from art2mus.installation.audio import prepare_clip
from art2mus.installation.audio.clip import loop_join_is_smooth

SR = 48000


def _pad_with_hits(seconds: float = 7.3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A two-tone pad cut at an arbitrary point, plus a decaying noise hit every second (none near the ends).
    Returns ``(clip, pad)``, float32 stereo and float64 mono."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    pad = 0.1 * np.sin(2 * np.pi * 110 * t) + 0.05 * np.sin(2 * np.pi * 277 * t)
    hits = np.zeros_like(t)
    for at in np.arange(0.5, seconds - 0.5, 1.0):
        i = int(at * SR)
        hits[i : i + 4800] += 0.6 * rng.standard_normal(4800) * np.exp(-np.arange(4800) / 400)
    return np.repeat((pad + hits)[:, None], 2, axis=1).astype(np.float32), pad


def test_a_cut_pad_clicks_at_the_wrap_however_loud_the_hits_elsewhere() -> None:
    x, pad = _pad_with_hits()
    pad_step = float(np.abs(np.diff(pad)).max())
    join_step = float(np.abs(x[0, 0] - x[-1, 0]))
    assert join_step > 5 * pad_step  # the measurement sees the click (0.0265 vs 0.0033)
    assert not loop_join_is_smooth(x, SR)
    clip = prepare_clip(x, SR, key="perc", mix_rate=SR, loudness_lufs=-23)
    assert clip.loop_smoothed
    played = float(np.abs(clip.samples[0].astype(np.float64) - clip.samples[-1]).max())
    assert played <= 2 * pad_step, (
        f"step across the loop point {played:.4f}, pad's largest step {pad_step:.4f}"
    )


def test_only_the_neighbourhood_of_the_join_counts() -> None:
    x, _ = _pad_with_hits()
    quiet_middle = x.copy()
    quiet_middle[SR // 2 : -SR // 2] = 0.0
    louder_hits = x.copy()
    louder_hits[SR // 2 : -SR // 2] *= 3.0
    answers = {loop_join_is_smooth(y, SR) for y in (x, quiet_middle, louder_hits)}
    assert answers == {False}


@pytest.mark.parametrize("seed", range(6))
def test_exact_loops_of_stationary_material_are_left_alone(seed: int) -> None:
    """A loop rendered to loop (noise made periodic, whole-cycle tones), wrapped at any point: its join is
    one more step of the same music, and the clip must come back bit-identical."""
    rng = np.random.default_rng(seed)
    frames = 2 * SR
    spectrum = np.fft.rfft(rng.standard_normal((frames, 2)), axis=0)
    spectrum[np.fft.rfftfreq(frames, 1 / SR) > 4000] = 0.0
    noise = np.fft.irfft(spectrum, n=frames, axis=0)
    t = np.arange(frames)[:, None] / SR
    tones = 0.2 * np.sin(2 * np.pi * 220 * t) + 0.1 * np.sin(2 * np.pi * 331 * t)
    for x in (noise / np.abs(noise).max() * 0.3, tones + 0.02 * noise / noise.std()):
        x = np.roll(x, int(rng.integers(frames)), axis=0).astype(np.float32)
        assert loop_join_is_smooth(x, SR)
        clip = prepare_clip(x, SR, key="exact", mix_rate=SR, loudness_lufs=-23)
        assert not clip.loop_smoothed
        np.testing.assert_array_equal(clip.samples, x)


@pytest.mark.parametrize("frames", [100, 1000, 5000])
def test_short_clips_are_judged_on_what_they_have(frames: int) -> None:
    t = np.arange(frames)[:, None]
    exact = np.sin(2 * np.pi * 2 * t / frames).astype(np.float32)
    cut = np.sin(2 * np.pi * 2.4 * t / frames).astype(np.float32)
    assert loop_join_is_smooth(exact, SR) and not loop_join_is_smooth(cut, SR)
