"""The procedural generator end to end: loudness, true peak, DC, determinism, interface and registry."""

from __future__ import annotations

import json

import numpy as np
import pytest

from art2mus.models.generator import GenerationRequest, Soundscape
from art2mus.models.loudness import integrated_loudness, true_peak_dbtp
from art2mus.models.procedural import ProceduralGenerator
from art2mus.models.registry import create_generator

RATE = 48000


@pytest.fixture(scope="module")
def generator() -> ProceduralGenerator:
    return ProceduralGenerator()


@pytest.mark.parametrize("name", ["dusk", "sea", "grid", "meadow", "night", "grey"])
def test_loudness_peak_dc_and_shape(generator, test_images, name):
    soundscape = generator.generate(test_images[name], GenerationRequest(duration_s=4.0, seed=2))
    audio = soundscape.waveform
    assert isinstance(soundscape, Soundscape)
    assert audio.dtype == np.float32 and audio.shape == (4 * RATE, 2)
    assert soundscape.sample_rate == RATE
    assert np.isfinite(audio).all()
    assert integrated_loudness(audio, RATE) == pytest.approx(-23.0, abs=0.5)
    assert true_peak_dbtp(audio, RATE) <= -1.0
    assert np.abs(audio.mean(axis=0)).max() < 1e-4
    # Both channels carry sound, and they are not copies of each other (a stereo image).
    assert np.abs(audio[:, 0] - audio[:, 1]).max() > 1e-3
    assert soundscape.metadata["true_peak_dbtp"] == pytest.approx(true_peak_dbtp(audio, RATE), abs=0.02)


@pytest.mark.parametrize("target", [-30.0, -16.0, -12.0])
def test_other_loudness_targets(generator, test_images, target):
    audio = generator.generate(test_images["grid"], GenerationRequest(duration_s=3.0, loudness_lufs=target)).waveform
    assert integrated_loudness(audio, RATE) == pytest.approx(target, abs=0.5)
    assert true_peak_dbtp(audio, RATE) <= -1.0


def test_bit_identical_for_the_same_image_seed_and_settings(test_images):
    request = GenerationRequest(duration_s=3.0, seed=42)
    a = ProceduralGenerator().generate(test_images["meadow"], request)
    b = ProceduralGenerator().generate(test_images["meadow"].copy(), request)
    assert np.array_equal(a.waveform, b.waveform)
    assert a.metadata == b.metadata
    c = ProceduralGenerator().generate(test_images["meadow"], GenerationRequest(duration_s=3.0, seed=43))
    assert not np.array_equal(a.waveform, c.waveform)
    assert c.metadata["music"]["key"] == a.metadata["music"]["key"]


def test_one_shot_fades_in_and_out(generator, test_images):
    audio = generator.generate(test_images["sea"], GenerationRequest(duration_s=6.0, loop=False)).waveform
    assert audio.shape == (6 * RATE, 2)
    assert np.abs(audio[0]).max() < 1e-6 and np.abs(audio[-1]).max() < 1e-6
    assert integrated_loudness(audio, RATE) == pytest.approx(-23.0, abs=0.5)


def test_other_sample_rates_and_odd_lengths(test_images):
    soundscape = ProceduralGenerator(sample_rate=44100).generate(
        test_images["dusk"], GenerationRequest(duration_s=2.3456)
    )
    assert soundscape.sample_rate == 44100
    assert soundscape.waveform.shape == (round(2.3456 * 44100), 2)
    assert integrated_loudness(soundscape.waveform, 44100) == pytest.approx(-23.0, abs=0.5)
    assert true_peak_dbtp(soundscape.waveform, 44100) <= -1.0


def test_metadata_is_json_and_says_what_was_made(generator, test_images):
    soundscape = generator.generate(test_images["night"], GenerationRequest(duration_s=2.0, seed=5, options={"x": 1}))
    meta = soundscape.metadata
    assert json.loads(json.dumps(meta)) == meta
    assert meta["generator"] == "procedural" and meta["seed"] == 5 and meta["sample_rate"] == RATE
    assert meta["loudness_lufs"] == pytest.approx(-23.0, abs=0.1)
    assert {"key", "tempo_bpm", "progression"} <= set(meta["music"])
    assert {"brightness", "palette_lab"} <= set(meta["image"])


def test_registry_builds_it_from_settings():
    generator = create_generator("procedural", {"sample_rate": 32000})
    assert isinstance(generator, ProceduralGenerator) and generator.sample_rate == 32000


@pytest.mark.parametrize(
    "kwargs, message",
    [({"sample_rate": 1000}, "sample_rate"), ({"sample_rate": 48000.0}, "sample_rate"), ({"ceiling_dbtp": 1.0}, "ceiling")],
)
def test_bad_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ProceduralGenerator(**kwargs)


def test_bad_loudness_is_refused(generator, test_images):
    with pytest.raises(ValueError, match="loudness_lufs"):
        generator.generate(test_images["grey"], GenerationRequest(duration_s=1.0, loudness_lufs=5.0))
