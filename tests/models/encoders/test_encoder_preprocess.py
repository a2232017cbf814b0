"""Our image and audio preprocessing against the upstream semantics it replaces."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from art2mus.models.encoders.preprocess import (
    CLIP_MEAN,
    CLIP_STD,
    IMAGEBIND_AUDIO_MEAN,
    IMAGEBIND_AUDIO_STD,
    ImageBindAudioPreprocessor,
    ImagePreprocessor,
    evenly_spaced_clips,
    kaldi_fbank,
    kaldi_mel_banks,
)

# ---------------------------------------------------------------------------------------------- images


@pytest.mark.parametrize("shape", [(300, 200), (224, 224), (480, 641), (97, 150), (225, 227), (1000, 230)])
def test_clip_preprocessing_matches_transformers_pil_processor(shape, tmp_path):
    """Same pixels as transformers' CLIPImageProcessor (PIL backend), read from its saved config."""
    from transformers import CLIPImageProcessorPil

    reference = CLIPImageProcessorPil()
    reference.save_pretrained(tmp_path)
    ours = ImagePreprocessor.from_clip_processor_config(
        json.loads((tmp_path / "preprocessor_config.json").read_text())
    )
    image = np.random.default_rng(sum(shape)).integers(0, 256, size=(*shape, 3), dtype=np.uint8)
    expected = reference(images=[image], return_tensors="np")["pixel_values"]
    got = ours([image])
    assert got.shape == expected.shape == (1, 3, 224, 224)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, atol=1e-5)


def _column_index_image(height: int, width: int) -> np.ndarray:
    """Every pixel holds its column index (0..width-1), so the crop offset can be read back."""
    return np.broadcast_to(np.arange(width, dtype=np.uint8)[None, :, None], (height, width, 3)).copy()


def _unnormalise(pixels: np.ndarray) -> np.ndarray:
    mean = np.asarray(CLIP_MEAN, dtype=np.float32)[:, None, None]
    std = np.asarray(CLIP_STD, dtype=np.float32)[:, None, None]
    return np.rint((pixels * std + mean) * 255)


@pytest.mark.parametrize(
    ("width", "rounding", "first_column"),
    [
        (227, "round", 2),  # torchvision: int(round(3 / 2)) = 2
        (227, "floor", 1),  # transformers: 3 // 2 = 1
        (225, "round", 0),  # round(0.5) = 0 (half to even), as torchvision
        (229, "round", 2),  # round(2.5) = 2
    ],
)
def test_centre_crop_offset_follows_upstream_rounding(width, rounding, first_column):
    image = _column_index_image(224, width)  # already 224 high: no resize, only the crop
    pixels = ImagePreprocessor(crop_rounding=rounding)([image])[0]
    columns = _unnormalise(pixels)[0, 0]  # red channel, first row
    assert columns[0] == first_column
    assert columns[-1] == first_column + 223


def test_shortest_side_is_resized_and_aspect_kept():
    preprocessor = ImagePreprocessor()
    assert preprocessor.resized_size(100, 300) == (224, 672)
    assert preprocessor.resized_size(640, 480) == (298, 224)  # int(224 * 640 / 480) = 298
    colour = np.array([200, 30, 90], dtype=np.uint8)
    flat = np.broadcast_to(colour, (100, 300, 3)).copy()
    pixels = preprocessor([flat])[0]
    expected = (colour / 255.0 - np.asarray(CLIP_MEAN)) / np.asarray(CLIP_STD)
    np.testing.assert_allclose(pixels.reshape(3, -1).mean(axis=1), expected, atol=1e-5)
    assert pixels.std(axis=(1, 2)).max() < 1e-5


@pytest.mark.parametrize(
    ("images", "message"),
    [
        ([np.zeros((10, 10, 3), dtype=np.float32)], r"images\[0\].*uint8.*float32"),
        (
            [np.zeros((10, 10, 3), dtype=np.uint8), np.zeros((10, 10), dtype=np.uint8)],
            r"images\[1\].*\(10, 10\)",
        ),
        ([np.zeros((10, 10, 4), dtype=np.uint8)], r"images\[0\].*\(10, 10, 4\)"),
        ([], "at least one image"),
        (np.zeros((10, 10, 3), dtype=np.uint8), "wrap a single image in a list"),
    ],
)
def test_bad_images_are_refused_with_the_index_and_shape(images, message):
    with pytest.raises(ValueError, match=message):
        ImagePreprocessor()(images)


def test_preprocessor_round_trips_through_its_dict():
    preprocessor = ImagePreprocessor(shortest_edge=256, crop_size=(240, 200), crop_rounding="floor")
    assert ImagePreprocessor.from_dict(json.loads(json.dumps(preprocessor.to_dict()))) == preprocessor
    with pytest.raises(ValueError, match="unknown keys"):
        ImagePreprocessor.from_dict({"shortest_edge": 224, "colour": "blue"})


# ---------------------------------------------------------------------------------------------- fbank


def _tone(freq_hz: float, seconds: float, sample_rate: int, amplitude: float = 0.3) -> np.ndarray:
    return (
        amplitude * np.sin(2 * np.pi * freq_hz * np.arange(int(seconds * sample_rate)) / sample_rate)
    ).astype(np.float32)


def test_fbank_frame_count_follows_snip_edges():
    for samples in (400, 401, 559, 560, 32000):
        fbank = kaldi_fbank(torch.zeros(samples) + 0.1, 16000)
        assert fbank.shape == (1 + (samples - 400) // 160, 128)


@pytest.mark.parametrize("freq_hz", [300.0, 1000.0, 4000.0])
def test_fbank_peak_is_in_the_mel_bin_centred_nearest_the_tone(freq_hz):
    fbank = kaldi_fbank(torch.from_numpy(_tone(freq_hz, 0.5, 16000)), 16000)
    peak_bins = fbank.argmax(dim=1)
    mel = lambda f: 1127.0 * np.log(1.0 + f / 700.0)  # noqa: E731
    delta = (mel(8000.0) - mel(20.0)) / 129
    centres = mel(20.0) + (np.arange(128) + 1) * delta
    expected = int(np.argmin(np.abs(centres - mel(freq_hz))))
    assert abs(int(peak_bins.median()) - expected) <= 1


def test_fbank_empty_filter_gives_the_log_epsilon_floor():
    """At 128 bins over a 512-point FFT some low filters catch no FFT bin: torchaudio logs eps there."""
    banks = kaldi_mel_banks(128, 512, 16000, 20.0, 0.0)
    empty = np.where(banks.sum(axis=1) == 0)[0]
    assert len(empty) > 0
    fbank = kaldi_fbank(torch.from_numpy(_tone(440.0, 0.5, 16000)), 16000)
    np.testing.assert_allclose(fbank[:, empty].numpy(), np.log(np.float32(1.1920928955078125e-07)), rtol=1e-6)


def test_fbank_ignores_a_dc_offset():
    tone = torch.from_numpy(_tone(700.0, 0.5, 16000))
    np.testing.assert_allclose(
        kaldi_fbank(tone + 0.2, 16000).numpy(), kaldi_fbank(tone, 16000).numpy(), atol=1e-3
    )


def test_fbank_matches_kaldi_native_fbank():
    """Cross-check against the k2-fsa C++ port of Kaldi's compute-fbank-feats (if installed).

    Kaldi itself refuses 128 bins at 16 kHz (an empty filter), so the check uses 64 bins.
    """
    knf = pytest.importorskip("kaldi_native_fbank")
    rng = np.random.default_rng(0)
    waveform = _tone(440.0, 2.0, 16000) + 0.05 * rng.standard_normal(32000).astype(np.float32)
    options = knf.FbankOptions()
    options.frame_opts.dither = 0
    options.frame_opts.window_type = "hanning"
    options.frame_opts.samp_freq = 16000
    options.mel_opts.num_bins = 64
    options.mel_opts.low_freq = 20
    options.mel_opts.high_freq = 0
    online = knf.OnlineFbank(options)
    online.accept_waveform(16000, waveform.tolist())
    online.input_finished()
    expected = np.stack([online.get_frame(i) for i in range(online.num_frames_ready)])
    got = kaldi_fbank(torch.from_numpy(waveform), 16000, num_mel_bins=64).numpy()
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=1e-3)


# ---------------------------------------------------------------------------------------------- clips


def test_clips_are_spread_like_pytorchvideo_constant_clips_sampler():
    assert [float(start) for start, _ in evenly_spaced_clips(10.0, 2.0, 3)] == [0.0, 4.0, 8.0]
    assert [float(end) for _, end in evenly_spaced_clips(10.0, 2.0, 3)] == [2.0, 6.0, 10.0]
    assert [float(start) for start, _ in evenly_spaced_clips(1.0, 2.0, 3)] == [0.0, 0.0, 0.0]


def test_audio_clips_are_the_fbanks_of_evenly_spaced_segments():
    """Three tones in [0,2), [2,4), [4,6) s: clip i is segment i's normalised fbank."""
    segments = [_tone(f, 2.0, 16000) for f in (300.0, 1200.0, 3500.0)]
    clips = ImageBindAudioPreprocessor()(np.concatenate(segments), 16000)
    assert clips.shape == (3, 1, 128, 204)
    for index, segment in enumerate(segments):
        centred = torch.from_numpy(segment - segment.mean())
        fbank = kaldi_fbank(centred, 16000).T  # (128, 198)
        expected = (fbank - IMAGEBIND_AUDIO_MEAN) / IMAGEBIND_AUDIO_STD
        np.testing.assert_allclose(clips[index, 0, :, :198].numpy(), expected.numpy(), atol=1e-4)
        # Frames 198..203 are zero padding applied before normalisation, as upstream.
        np.testing.assert_allclose(
            clips[index, 0, :, 198:].numpy(), (0 - IMAGEBIND_AUDIO_MEAN) / IMAGEBIND_AUDIO_STD, atol=1e-6
        )


def test_short_audio_repeats_one_padded_clip():
    clips = ImageBindAudioPreprocessor()(_tone(440.0, 1.0, 16000), 16000)
    frames = 1 + (16000 - 400) // 160
    assert torch.equal(clips[0], clips[1]) and torch.equal(clips[1], clips[2])
    padding = clips[0, 0, :, frames:]
    np.testing.assert_allclose(padding.numpy(), -IMAGEBIND_AUDIO_MEAN / IMAGEBIND_AUDIO_STD, atol=1e-6)
    assert not torch.allclose(clips[0, 0, :, :frames], padding[:, :1].expand(-1, frames))


def test_other_sample_rates_are_resampled_to_16k():
    preprocessor = ImageBindAudioPreprocessor()
    reference = preprocessor(_tone(1000.0, 3.0, 16000), 16000)
    resampled = preprocessor(_tone(1000.0, 3.0, 44100), 44100)
    other_tone = preprocessor(_tone(1200.0, 3.0, 16000), 16000)
    difference = (resampled - reference).abs().mean().item()
    assert difference < 1e-3
    assert difference < (other_tone - reference).abs().mean().item() / 100


def test_multichannel_audio_uses_the_first_channel_as_upstream():
    left, right = _tone(500.0, 2.0, 16000), _tone(2500.0, 2.0, 16000)
    preprocessor = ImageBindAudioPreprocessor()
    assert torch.equal(preprocessor(np.stack([left, right]), 16000), preprocessor(left, 16000))


@pytest.mark.parametrize(
    ("waveform", "rate", "message"),
    [
        (np.zeros(100, dtype=np.float32), 16000, "shorter than one 25 ms frame"),
        (np.zeros(16000, dtype=np.int16), 16000, "float waveform"),
        (np.zeros((2, 2, 16000), dtype=np.float32), 16000, "expected shape"),
        (np.full(16000, np.nan, dtype=np.float32), 16000, "NaN"),
        (np.zeros(16000, dtype=np.float32), 0, "positive rate"),
    ],
)
def test_bad_audio_is_refused(waveform, rate, message):
    with pytest.raises(ValueError, match=message):
        ImageBindAudioPreprocessor()(waveform, rate)
