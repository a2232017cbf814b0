"""Long soundscapes stitched from training-length segments: exact length, no clicks at joins, seamless loop."""

from __future__ import annotations

import numpy as np
import pytest

from art2mus.models.art2mus_generator import Art2MusGenerator
from art2mus.models.generator import GenerationRequest
from art2mus.models.long_clip import render_stitched, stitch, stitched_length_plan


@pytest.mark.parametrize(
    "total, segment, join", [(100, 100, 10), (101, 100, 10), (480_000, 163_840, 16_000), (999, 70, 0)]
)
def test_plan_adds_up_to_the_length_asked_for(total, segment, join):
    lengths = stitched_length_plan(total, segment, join)
    assert sum(lengths) - join * (len(lengths) - 1) == total
    assert max(lengths) <= segment and (len(lengths) == 1 or min(lengths) > 2 * join)
    assert max(lengths) - min(lengths) <= 1  # as equal as possible


def test_plan_refuses_joins_that_do_not_fit():
    with pytest.raises(ValueError, match="needs segments longer than 100"):
        stitched_length_plan(1000, 100, 50)


def _sine(frames: int, phase: float, rate: int = 16000) -> np.ndarray:
    return np.sin(2 * np.pi * 220.0 * np.arange(frames) / rate + phase).astype(np.float32)


def test_a_join_does_not_click_where_a_cut_would():
    a, b = _sine(4000, 0.0), _sine(4000, 2.5)  # the same tone out of phase: a hard cut jumps
    own_step = float(np.max(np.abs(np.diff(a))))
    cut = np.concatenate([a, b])
    assert np.max(np.abs(np.diff(cut))) > 5 * own_step
    joined = stitch([a, b], 800)
    assert joined.shape == (8000 - 800,)
    assert np.max(np.abs(np.diff(joined))) <= 1.5 * own_step
    np.testing.assert_array_equal(joined[:3200], a[:3200])
    np.testing.assert_array_equal(joined[4000:], b[800:])


def test_equal_power_join_keeps_the_level_of_uncorrelated_music():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(20000), rng.standard_normal(20000)
    joined = stitch([a.astype(np.float32), b.astype(np.float32)], 8000)
    middle = joined[12000 + 2000 : 20000 - 2000]  # the centre of the crossfade, where a linear fade dips 3 dB
    assert np.sqrt(np.mean(middle**2)) == pytest.approx(1.0, abs=0.05)


def test_render_stitched_reports_where_the_joins_are():
    calls = []

    def render(index, seconds):
        calls.append((index, seconds))
        return np.full(int(round(seconds * 100)), float(index + 1), dtype=np.float32)

    wave, joins = render_stitched(render, 1000, 100, 3.0, 0.5)
    assert wave.shape == (1000,) and [i for i, _ in calls] == [0, 1, 2, 3]
    for k, start in enumerate(joins):
        assert wave[start - 1] == k + 1 and wave[start + 50] == k + 2  # before and after the crossfade


@pytest.fixture(scope="module")
def stitching_generator(debug_model_dir):
    return Art2MusGenerator(
        model_dir=debug_model_dir,
        aligner="debug-imagebind-4tok",
        device="cpu",
        steps=2,
        segment_s=0.8,
        join_s=0.2,
    )


@pytest.mark.usefixtures("single_torch_thread")
def test_stitched_loop_is_exact_seamless_and_click_free(stitching_generator, artworks):
    rate = 16000
    request = GenerationRequest(duration_s=2.0, seed=5, loop=True, loudness_lufs=-20.0)
    sound = stitching_generator.generate(artworks[0], request)
    wave = sound.waveform.astype(np.float64)
    assert wave.shape == (32000,) and np.isfinite(wave).all()
    seam = round(0.5 * rate)  # loop_seam_s 1.0 is capped at a quarter of the clip
    lengths = stitched_length_plan(32000 + seam, round(0.8 * rate), round(0.2 * rate))
    assert sound.metadata["segments"] == len(lengths) >= 3
    steps = np.abs(np.diff(wave))
    inside = np.zeros(steps.shape[0], dtype=bool)
    for start in np.cumsum([n - round(0.2 * rate) for n in lengths[:-1]]):
        if start < 32000:
            inside[start - 1 : min(start + round(0.2 * rate), steps.shape[0])] = True
    typical = np.percentile(steps[~inside], 99.9)
    assert steps[inside].max() <= 1.5 * typical  # no click at a join
    assert abs(wave[-1] - wave[0]) <= 1.5 * typical  # the loop's wrap-around is as smooth as the music


@pytest.mark.usefixtures("single_torch_thread")
def test_a_short_clip_is_one_pass_and_stitching_can_be_turned_off(
    stitching_generator, debug_model_dir, artworks
):
    short = stitching_generator.generate(artworks[0], GenerationRequest(duration_s=0.5, seed=1, loop=False))
    assert short.metadata["segments"] == 1
    one_pass = Art2MusGenerator(
        model_dir=debug_model_dir, aligner="debug-imagebind-4tok", device="cpu", steps=2, segment_s=0
    )
    long = one_pass.generate(artworks[0], GenerationRequest(duration_s=2.0, seed=5, loop=False))
    assert long.metadata["segments"] == 1 and long.waveform.shape == (32000,)


def test_bad_segment_settings_fail_at_start_up(debug_model_dir):
    with pytest.raises(ValueError, match="segment_s must be 0 .one pass. or longer than twice join_s"):
        Art2MusGenerator(
            model_dir=debug_model_dir, aligner="debug-imagebind-4tok", device="cpu", segment_s=1.0, join_s=0.6
        )


def test_exhibit_settings_reach_the_generator(debug_model_dir):
    from art2mus.models.art2mus_generator import Art2MusGeneratorConfig
    from art2mus.models.registry import create_generator

    config = Art2MusGeneratorConfig(
        model_dir=debug_model_dir, aligner=debug_model_dir / "aligners" / "debug-imagebind-4tok", device="cpu"
    )
    assert (config.segment_s, config.join_s) == (10.24, 1.0)  # the default: stitch at the training length
    settings = config.model_copy(update={"segment_s": 4.0, "join_s": 0.5}).settings()
    generator = create_generator("art2mus", settings)
    assert (generator.segment_s, generator.join_s) == (4.0, 0.5)
