"""The debug model directory keeps the real AudioLDM2 structure (so tests exercise the real code paths)."""

from __future__ import annotations

import json

import pytest

from art2mus.models.debug.audioldm2 import DEBUG_GPT2_DIM, DEBUG_T5_DIM


def _config(debug_model_dir, part: str) -> dict:
    return json.loads((debug_model_dir / "audioldm2-music" / part / "config.json").read_text())


def test_unet_has_the_real_two_stream_cross_attention_layout(debug_model_dir):
    unet = _config(debug_model_dir, "unet")
    assert unet["_class_name"] == "AudioLDM2UNet2DConditionModel"
    assert unet["cross_attention_dim"] == [[None, DEBUG_GPT2_DIM, DEBUG_T5_DIM]] * 2
    assert unet["in_channels"] == unet["out_channels"] == 8


def test_vocoder_hop_and_mel_size_are_the_real_ones(debug_model_dir):
    vocoder = _config(debug_model_dir, "vocoder")
    assert vocoder["upsample_rates"] == [5, 4, 2, 2, 2]  # hop 160 samples = 10 ms at 16 kHz
    assert (vocoder["sampling_rate"], vocoder["model_in_dim"]) == (16000, 64)
    assert len(_config(debug_model_dir, "vae")["block_out_channels"]) == 3  # VAE scale factor 4


def test_widths_differ_so_wiring_mistakes_fail(debug_model_dir):
    widths = {
        _config(debug_model_dir, "language_model")["n_embd"],
        _config(debug_model_dir, "text_encoder_2")["d_model"],
        _config(debug_model_dir, "projection_model")["text_encoder_dim"],
    }
    assert len(widths) == 3


def test_diffusers_loads_the_debug_directory_offline(debug_model_dir):
    from diffusers import AudioLDM2Pipeline

    pipe = AudioLDM2Pipeline.from_pretrained(debug_model_dir / "audioldm2-music", local_files_only=True)
    ids = pipe.tokenizer_2(["calm piano", "loud drums"], padding=True).input_ids
    assert ids[0] != ids[1]  # the in-code tokenizer tells texts apart
    assert not pipe.unet.training


def test_same_seed_writes_the_same_weights(tmp_path):
    from safetensors.torch import load_file

    from art2mus.models.debug import build_debug_audioldm2

    a = build_debug_audioldm2(tmp_path / "a", seed=1)
    b = build_debug_audioldm2(tmp_path / "b", seed=1)
    c = build_debug_audioldm2(tmp_path / "c", seed=2)
    name = "unet/diffusion_pytorch_model.safetensors"
    wa, wb, wc = (load_file(str(p / name)) for p in (a, b, c))
    assert all((wa[k] == wb[k]).all() for k in wa)
    assert any(not (wa[k] == wc[k]).all() for k in wa)


@pytest.mark.parametrize("kind", ["imagebind", "clip"])
def test_each_debug_encoder_has_one_and_four_token_aligners(debug_model_dir, kind):
    from art2mus.models.aligner import ImageAligner
    from art2mus.models.encoders import load_image_encoder
    from art2mus.models.model_dir import ModelDir

    spec = load_image_encoder(kind, ModelDir(debug_model_dir).encoder_path(kind)).spec
    for n_tokens in (1, 4):
        aligner = ImageAligner.load(
            debug_model_dir / "aligners" / f"debug-{kind}-{n_tokens}tok",
            encoder_spec=spec,
            lm_dim=DEBUG_GPT2_DIM,
        )
        assert aligner.n_tokens == n_tokens
