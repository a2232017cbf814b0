"""ImageBind: the import shim, loading from local checkpoints, image and audio embeddings."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from art2mus.models.encoders import EncoderLoadError, load_image_encoder
from art2mus.models.encoders.imagebind import IMAGEBIND_HUGE_KWARGS, DropPath, import_imagebind_model


def test_shim_imports_the_model_without_torchvision_timm_or_the_data_module():
    """In a fresh interpreter where torchvision/torchaudio/timm/pytorchvideo/pkg_resources cannot be
    imported at all, the model module imports and leaves no stub behind."""
    script = textwrap.dedent(
        """
        import importlib.abc, sys
        BLOCKED = ("torchvision", "torchaudio", "timm", "pytorchvideo", "pkg_resources", "decord")
        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in BLOCKED:
                    raise ImportError(f"blocked by the test: {name}")
        sys.meta_path.insert(0, Block())
        from art2mus.models.encoders.imagebind import import_imagebind_model
        module = import_imagebind_model()
        import imagebind
        leftovers = [n for n in sys.modules if n.split(".")[0] in ("timm",) or n == "imagebind.data"]
        assert not leftovers, leftovers
        assert not hasattr(imagebind, "data")
        assert module.ImageBindModel.__name__ == "ImageBindModel"
        from imagebind.models import transformer
        assert transformer.DropPath.__module__ == "art2mus.models.encoders.imagebind"
        print("OK")
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("OK")


def test_drop_path_is_identity_in_eval_and_drops_whole_samples_in_training():
    layer = DropPath(0.5)
    x = torch.ones(2000, 3, 4)
    assert torch.equal(layer.eval()(x), x)
    out = layer.train()(x)
    per_sample = out.reshape(2000, -1)
    assert set(per_sample.unique().tolist()) <= {0.0, 2.0}  # dropped, or kept and scaled by 1 / keep
    assert torch.all(per_sample.min(dim=1).values == per_sample.max(dim=1).values)
    assert 0.4 < (per_sample[:, 0] == 0).float().mean().item() < 0.6


def test_huge_dimensions_match_upstream_imagebind_huge():
    from accelerate import init_empty_weights

    module = import_imagebind_model()
    with init_empty_weights(include_buffers=False):
        upstream = module.imagebind_huge(pretrained=False)
        ours = module.ImageBindModel(**IMAGEBIND_HUGE_KWARGS)
    shapes = lambda model: {name: tuple(p.shape) for name, p in model.state_dict().items()}  # noqa: E731
    assert shapes(ours) == shapes(upstream)
    assert sum(p.numel() for p in ours.parameters()) > 1.1e9


def test_debug_encoder_spec_and_frozen_state(imagebind_encoder):
    assert imagebind_encoder.spec.name == "imagebind_debug"
    assert imagebind_encoder.spec.dim == 40
    assert not imagebind_encoder.model.training
    assert all(not p.requires_grad for p in imagebind_encoder.model.parameters())
    # Only the modalities we use are kept in memory.
    assert set(imagebind_encoder.model.modality_trunks.keys()) == {"vision", "audio"}


def test_loaded_weights_are_the_saved_ones(imagebind_encoder, debug_imagebind_dir):
    saved = torch.load(debug_imagebind_dir / "imagebind_debug.pth", weights_only=True)
    loaded = imagebind_encoder.model.state_dict()
    vision_keys = [key for key in saved if ".vision" in key or key.startswith("modality_heads.vision")]
    assert len(vision_keys) > 10
    for key in vision_keys:
        assert torch.equal(loaded[key], saved[key]), key


def test_image_embeddings_are_normalised_and_batch_independent(imagebind_encoder, sample_images):
    together = imagebind_encoder.encode_images(sample_images)
    assert together.shape == (len(sample_images), 40)
    assert together.dtype == torch.float32
    torch.testing.assert_close(together.norm(dim=-1), torch.ones(len(sample_images)), atol=1e-5, rtol=0)
    one_by_one = torch.cat([imagebind_encoder.encode_images([image]) for image in sample_images])
    torch.testing.assert_close(together, one_by_one, atol=1e-5, rtol=1e-5)
    embedded = imagebind_encoder.embed(sample_images[:2])
    assert isinstance(embedded, np.ndarray) and embedded.shape == (2, 40)


def test_different_images_give_different_embeddings(imagebind_encoder, sample_images):
    embeddings = imagebind_encoder.encode_images(sample_images)
    similarity = embeddings @ embeddings.T
    off_diagonal = similarity[~torch.eye(len(sample_images), dtype=torch.bool)]
    assert off_diagonal.max() < 0.999
    again = imagebind_encoder.encode_images(sample_images)
    assert torch.equal(embeddings, again)


def test_bfloat16_encoder_agrees_with_float32(debug_imagebind_dir, imagebind_encoder, sample_images):
    half = load_image_encoder("imagebind", debug_imagebind_dir, dtype="bfloat16")
    assert half.dtype == torch.bfloat16
    cosine = (half.encode_images(sample_images) * imagebind_encoder.encode_images(sample_images)).sum(-1)
    assert cosine.min() > 0.98


def _tone(freq_hz: float, seconds: float, sample_rate: int) -> np.ndarray:
    return 0.3 * np.sin(2 * np.pi * freq_hz * np.arange(int(seconds * sample_rate)) / sample_rate)


def test_audio_embedding_is_normalised_and_works_at_any_sample_rate(imagebind_encoder):
    at_16k = imagebind_encoder.encode_audio(_tone(440.0, 4.0, 16000), 16000)
    at_44k = imagebind_encoder.encode_audio(_tone(440.0, 4.0, 44100), 44100)
    at_22k = imagebind_encoder.encode_audio(_tone(440.0, 4.0, 22050), 22050)
    other = imagebind_encoder.encode_audio(_tone(3000.0, 4.0, 16000), 16000)
    assert at_16k.shape == (1, 40)
    torch.testing.assert_close(at_44k.norm(dim=-1), torch.ones(1), atol=1e-5, rtol=0)
    same_tone = min((at_16k * at_44k).sum().item(), (at_16k * at_22k).sum().item())
    assert same_tone > 0.999
    assert (at_16k * other).sum().item() < same_tone


def test_audio_batches_in_every_accepted_form(imagebind_encoder):
    a, b = _tone(300.0, 3.0, 16000), _tone(2000.0, 3.0, 16000)
    from_list = imagebind_encoder.encode_audio([a, np.stack([b, a])], 16000)  # second is stereo: channel 0
    from_array = imagebind_encoder.encode_audio(np.stack([a, b]), 16000)
    torch.testing.assert_close(from_list, from_array, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(from_list[:1], imagebind_encoder.encode_audio(a, 16000), atol=1e-5, rtol=1e-5)


def test_image_and_audio_embeddings_share_one_space(imagebind_encoder, sample_images):
    """The ImageBindScore use: a dot product of the two is a cosine similarity in [-1, 1]."""
    images = imagebind_encoder.encode_images(sample_images[:2])
    audio = imagebind_encoder.encode_audio(
        np.stack([_tone(300.0, 2.0, 16000), _tone(900.0, 2.0, 16000)]), 16000
    )
    scores = images @ audio.T
    assert scores.shape == (2, 2)
    assert scores.abs().max() <= 1.0 + 1e-6


# ---------------------------------------------------------------------------------------------- errors


def test_missing_path_names_the_path_and_what_was_expected(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match=f"{missing}.*imagebind_huge.pth"):
        load_image_encoder("imagebind", missing)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match=f"{empty / 'imagebind_huge.pth'}"):
        load_image_encoder("imagebind", empty)


def test_garbled_checkpoint_is_refused_with_its_path(debug_imagebind_dir, tmp_path):
    broken = tmp_path / "imagebind"
    shutil.copytree(debug_imagebind_dir, broken)
    (broken / "imagebind_debug.pth").write_bytes(b"this is not a checkpoint" * 100)
    with pytest.raises(
        EncoderLoadError, match=f"{broken / 'imagebind_debug.pth'}.*not a readable PyTorch state dict"
    ):
        load_image_encoder("imagebind", broken)


def test_checkpoint_that_does_not_fit_the_config_is_refused(debug_imagebind_dir, tmp_path):
    other = tmp_path / "imagebind"
    shutil.copytree(debug_imagebind_dir, other)
    config = json.loads((other / "config.json").read_text())
    config["model"]["out_embed_dim"] = 64
    (other / "config.json").write_text(json.dumps(config))
    with pytest.raises(
        EncoderLoadError, match="does not fit ImageBindModel.*expected the matching checkpoint"
    ):
        load_image_encoder("imagebind", other)


def test_huge_checkpoint_name_with_debug_weights_is_refused(debug_imagebind_dir, tmp_path):
    """A file named imagebind_huge.pth that holds other weights fails strict loading, naming the file."""
    fake = tmp_path / "imagebind"
    fake.mkdir()
    shutil.copy(debug_imagebind_dir / "imagebind_debug.pth", fake / "imagebind_huge.pth")
    with pytest.raises(EncoderLoadError, match=f"{fake / 'imagebind_huge.pth'}.*does not fit"):
        load_image_encoder("imagebind", fake)


def test_config_with_unknown_arguments_is_refused(debug_imagebind_dir, tmp_path):
    other = tmp_path / "imagebind"
    shutil.copytree(debug_imagebind_dir, other)
    config = json.loads((other / "config.json").read_text())
    config["model"]["vision_depth"] = 3
    (other / "config.json").write_text(json.dumps(config))
    with pytest.raises(EncoderLoadError, match=f"(?s){other / 'config.json'}.*vision_depth"):
        load_image_encoder("imagebind", other)


def test_checkpoint_file_path_loads_with_the_config_beside_it(
    debug_imagebind_dir, imagebind_encoder, sample_images
):
    by_file = load_image_encoder("imagebind", debug_imagebind_dir / "imagebind_debug.pth")
    assert by_file.spec == imagebind_encoder.spec
    torch.testing.assert_close(
        by_file.encode_images(sample_images[:2]), imagebind_encoder.encode_images(sample_images[:2])
    )


@pytest.mark.weights
def test_real_imagebind_huge_loads_and_separates_images():
    import os
    from pathlib import Path

    path = Path(os.environ["ART2MUS_MODEL_DIR"]) / "imagebind"
    encoder = load_image_encoder("imagebind", path)
    assert encoder.spec.name == "imagebind_huge" and encoder.spec.dim == 1024
    rng = np.random.default_rng(0)
    sky = np.broadcast_to(np.array([90, 150, 230], dtype=np.uint8), (300, 400, 3)).copy()
    sky_shifted = np.clip(sky.astype(int) + rng.integers(-8, 8, size=sky.shape), 0, 255).astype(np.uint8)
    noise = rng.integers(0, 256, size=(300, 400, 3), dtype=np.uint8)
    embeddings = encoder.encode_images([sky, sky_shifted, noise])
    assert (embeddings[0] @ embeddings[1]) > (embeddings[0] @ embeddings[2])
    audio = encoder.encode_audio(_tone(440.0, 5.0, 44100), 44100)
    assert audio.shape == (1, 1024)
