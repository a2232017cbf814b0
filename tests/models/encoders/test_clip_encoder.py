"""CLIP through transformers: same embeddings as transformers' own processor + model, clear load errors."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from art2mus.models.encoders import EncoderLoadError, load_image_encoder
from art2mus.models.encoders.clip import clip_spec_name


def test_debug_clip_spec_and_frozen_state(clip_encoder):
    assert clip_encoder.spec.name == "clip-vit-h32-l2-patch32"
    assert clip_encoder.spec.dim == 48
    assert not clip_encoder.tower.training
    assert all(not p.requires_grad for p in clip_encoder.tower.parameters())


def test_spec_names_follow_openai_model_names():
    from transformers import CLIPVisionConfig

    large = CLIPVisionConfig(
        hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, patch_size=14, image_size=224
    )
    assert clip_spec_name(large) == "clip-vit-large-patch14"
    large_336 = CLIPVisionConfig(
        hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, patch_size=14, image_size=336
    )
    assert clip_spec_name(large_336) == "clip-vit-large-patch14-336"
    base = CLIPVisionConfig(hidden_size=768, num_hidden_layers=12, patch_size=32, image_size=224)
    assert clip_spec_name(base) == "clip-vit-base-patch32"


def test_embeddings_match_transformers_processor_and_model(clip_encoder, debug_clip_dir, sample_images):
    """Our preprocessing + tower against transformers' CLIPImageProcessor (PIL) + image_embeds."""
    from transformers import CLIPImageProcessorPil, CLIPVisionModelWithProjection

    processor = CLIPImageProcessorPil.from_pretrained(debug_clip_dir)
    model = CLIPVisionModelWithProjection.from_pretrained(debug_clip_dir).eval()
    with torch.no_grad():
        pixels = processor(images=sample_images, return_tensors="pt")["pixel_values"]
        expected = torch.nn.functional.normalize(model(pixel_values=pixels).image_embeds, dim=-1)
    got = clip_encoder.encode_images(sample_images)
    assert got.shape == (len(sample_images), 48)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(got.norm(dim=-1), torch.ones(len(sample_images)), atol=1e-5, rtol=0)


def test_small_max_batch_gives_the_same_embeddings(debug_clip_dir, clip_encoder, sample_images):
    chunked = load_image_encoder("clip", debug_clip_dir, max_batch=2)
    torch.testing.assert_close(
        chunked.encode_images(sample_images), clip_encoder.encode_images(sample_images), atol=1e-5, rtol=1e-5
    )


def test_different_images_give_different_embeddings(clip_encoder, sample_images):
    embeddings = clip_encoder.encode_images(sample_images)
    similarity = embeddings @ embeddings.T
    assert similarity[~torch.eye(len(sample_images), dtype=torch.bool)].max() < 0.999


def test_missing_directory_and_files_are_named(tmp_path, debug_clip_dir):
    with pytest.raises(FileNotFoundError, match=f"{tmp_path / 'nowhere'}.*config.json"):
        load_image_encoder("clip", tmp_path / "nowhere")
    partial = tmp_path / "clip"
    shutil.copytree(debug_clip_dir, partial)
    (partial / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match=f"{partial}.*model.safetensors"):
        load_image_encoder("clip", partial)


def test_garbled_weights_are_refused_with_the_path(tmp_path, debug_clip_dir):
    broken = tmp_path / "clip"
    shutil.copytree(debug_clip_dir, broken)
    (broken / "model.safetensors").write_bytes(b"\x00garbage" * 64)
    with pytest.raises(EncoderLoadError, match=f"{broken}.*could not be loaded"):
        load_image_encoder("clip", broken)


def test_weights_of_another_model_are_refused_not_randomly_filled(tmp_path, debug_clip_dir):
    from safetensors.torch import save_file

    other = tmp_path / "clip"
    shutil.copytree(debug_clip_dir, other)
    save_file({"unrelated.weight": torch.zeros(3)}, str(other / "model.safetensors"))
    with pytest.raises(EncoderLoadError, match=f"{other}.*lack .* CLIP vision parameters"):
        load_image_encoder("clip", other)


def test_unsupported_processor_config_is_refused(tmp_path, debug_clip_dir):
    other = tmp_path / "clip"
    shutil.copytree(debug_clip_dir, other)
    config = json.loads((other / "preprocessor_config.json").read_text())
    config["do_center_crop"] = False
    (other / "preprocessor_config.json").write_text(json.dumps(config))
    with pytest.raises(EncoderLoadError, match="preprocessor_config.json.*do_center_crop"):
        load_image_encoder("clip", other)


@pytest.mark.weights
def test_real_clip_large_loads_and_separates_images():
    encoder = load_image_encoder("clip", Path(os.environ["ART2MUS_MODEL_DIR"]) / "clip-vit-large-patch14")
    assert encoder.spec.name == "clip-vit-large-patch14" and encoder.spec.dim == 768
    rng = np.random.default_rng(0)
    sky = np.broadcast_to(np.array([90, 150, 230], dtype=np.uint8), (300, 400, 3)).copy()
    sky_shifted = np.clip(sky.astype(int) + rng.integers(-8, 8, size=sky.shape), 0, 255).astype(np.uint8)
    noise = rng.integers(0, 256, size=(300, 400, 3), dtype=np.uint8)
    embeddings = encoder.encode_images([sky, sky_shifted, noise])
    assert (embeddings[0] @ embeddings[1]) > (embeddings[0] @ embeddings[2])
