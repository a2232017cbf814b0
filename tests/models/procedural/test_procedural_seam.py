"""Loop seams: the jump across the seam is no larger than the jumps between neighbouring blocks inside.

Blocks of 0.5 s tile the loop; the seam pair is (last block, first block). The measure is shown to
catch bad seams: a one-shot looped, and a loop cut short, both fail it.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import fftconvolve

from art2mus.models.generator import GenerationRequest
from art2mus.models.procedural import ProceduralGenerator
from art2mus.models.procedural.measures import seam_report
from art2mus.models.procedural.reverb import circular_convolve, impulse_response

RATE = 48000


@pytest.fixture(scope="module")
def generator() -> ProceduralGenerator:
    return ProceduralGenerator()


@pytest.mark.parametrize("name", ["dusk", "sea", "grid", "meadow", "night"])
@pytest.mark.parametrize("seed", [0, 1])
def test_seam_is_no_larger_than_any_interior_jump(generator, test_images, name, seed):
    audio = generator.generate(test_images[name], GenerationRequest(duration_s=12.0, seed=seed)).waveform
    report = seam_report(audio, RATE, block_s=0.5)
    assert report.blocks == 24
    assert report.level_jump_seam_db <= report.level_jump_max_db, report.to_dict()
    assert report.spectral_jump_seam_db <= report.spectral_jump_max_db, report.to_dict()
    # Sample level: the step from the last sample to the first is an ordinary step.
    assert report.sample_step_seam <= report.sample_step_p999, report.to_dict()


@pytest.mark.parametrize("frames", [48000, 20000])
def test_the_reverb_tail_carries_over_the_seam(frames):
    """What rings at the end of the loop rings on at its start: the circular convolution equals the
    linear one with everything past the end added back at the start (folded, for a loop shorter than
    the tail)."""
    response = impulse_response(RATE, 0.8, 0.5, 0.01, np.random.default_rng(0))
    signal = np.zeros((2, frames), np.float32)
    signal[:, frames - 100] = 1.0
    signal[:, frames // 3] = 0.5
    wet = circular_convolve(signal, response)
    linear = fftconvolve(signal.astype(np.float64), response.astype(np.float64), axes=1)
    folded = np.zeros((2, frames))
    for start in range(0, linear.shape[1], frames):
        chunk = linear[:, start : start + frames]
        folded[:, : chunk.shape[1]] += chunk
    assert np.allclose(wet, folded, atol=1e-5)
    assert np.sqrt(np.mean(wet[:, :2000] ** 2)) > 1e-3


def test_the_measure_catches_bad_seams(generator, test_images):
    image = test_images["sea"]
    one_shot = generator.generate(image, GenerationRequest(duration_s=12.0, seed=0, loop=False)).waveform
    report = seam_report(one_shot, RATE, block_s=0.5)
    assert report.level_jump_seam_db > report.level_jump_max_db
    longer = generator.generate(image, GenerationRequest(duration_s=17.0, seed=0)).waveform
    cut = longer[: 12 * RATE]
    report = seam_report(cut, RATE, block_s=0.5)
    assert report.sample_step_seam > report.sample_step_p999
