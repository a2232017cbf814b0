"""A sounding voice's level (loudness normalisation and ``gain_db``) moves by a dB ramp, never a step: a
reload that changes an artwork's or the idle ambience's gain, or a voice re-chosen while it fades out
after a loudness change, must not jump (a 1.5 dB step in one sample was heard as a click and a jump)."""

from __future__ import annotations

import numpy as np
import pytest
from audio_signals import SR, tone_amplitudes

from art2mus.installation.audio import Mixer, prepare_clip
from art2mus.installation.audio.mixer import LEVEL_RAMP_SECONDS

#: 1 ms windows: whole cycles of both tones
WINDOW = SR // 1000


def _tone(key: str, freq: float, amp: float = 0.25):
    t = np.arange(SR) / SR  # one second, whole cycles: a seamless loop
    return prepare_clip((amp * np.sin(2 * np.pi * freq * t)).astype(np.float32), SR, key=key, mix_rate=SR)


def _render(mixer: Mixer, seconds: float, block: int = 960) -> np.ndarray:
    return np.concatenate([mixer.render(block) for _ in range(int(round(seconds * SR / block)))])


def _db(amplitudes: np.ndarray) -> np.ndarray:
    return 20 * np.log10(np.maximum(amplitudes, 1e-9))


@pytest.mark.parametrize("seconds", [0.0, 4.0])
def test_a_new_gain_on_the_sounding_voice_ramps(seconds: float) -> None:
    clip = _tone("a", 1000.0)
    mixer = Mixer(SR, 2, master_volume=0.8, limiter=None)
    mixer.crossfade_to(clip, 0.0, 1.0)
    before = _render(mixer, 0.5)
    mixer.crossfade_to(clip, seconds, 10 ** (-1.5 / 20))  # a reload: gain_db 0 -> -1.5
    after = _render(mixer, max(seconds, LEVEL_RAMP_SECONDS) + 0.5)
    level = _db(tone_amplitudes(np.concatenate([before, after]), [1000.0], WINDOW)[:, 0])
    steps = np.abs(np.diff(level))
    assert steps.max() < 0.05, f"level moves {steps.max():.2f} dB in 1 ms"
    assert level[-1] - level[0] == pytest.approx(-1.5, abs=0.01)
    # it takes the crossfade, at least LEVEL_RAMP_SECONDS, to get there
    reached = np.flatnonzero(level <= level[0] - 1.49)[0] / 1000.0 - 0.5
    assert reached == pytest.approx(max(seconds, LEVEL_RAMP_SECONDS), rel=0.02)


def test_a_fading_voice_chosen_again_with_another_level_moves_smoothly() -> None:
    a, b = _tone("a", 1000.0), _tone("b", 2000.0)
    mixer = Mixer(SR, 2, master_volume=1.0, limiter=None)
    mixer.crossfade_to(a, 0.0, 1.0)
    y = [_render(mixer, 0.5)]
    mixer.crossfade_to(b, 4.0, 1.0)
    y.append(_render(mixer, 1.0))
    mixer.crossfade_to(a, 4.0, 10 ** (-4.3 / 20))  # back to a after its loudness_lufs changed: 4.3 dB less
    y.append(_render(mixer, 4.0))
    level = _db(tone_amplitudes(np.concatenate(y), [1000.0], WINDOW)[:, 0])
    steps = np.abs(np.diff(level))
    assert steps.max() < 0.1, f"voice a moves {steps.max():.2f} dB in 1 ms"
    assert level[-1] - level[0] == pytest.approx(-4.3, abs=0.01)
    assert mixer.current_key == "a"
