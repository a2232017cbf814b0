"""ONNX exports of the debug encoders against the torch encoders they came from."""

from __future__ import annotations

import json
import shutil

import numpy as np
import onnxruntime
import pytest
import torch

from art2mus.models.encoders import EncoderLoadError, load_image_encoder
from art2mus.models.encoders.onnx import OnnxImageEncoder, choose_providers, export_onnx_encoder


@pytest.mark.parametrize("kind", ["imagebind", "clip"])
def test_onnx_embeddings_match_torch(kind, torch_encoders, onnx_export_dirs, sample_images):
    """The must-show: cosine similarity >= 0.999 between ONNX and torch on the same images."""
    onnx_encoder = load_image_encoder("onnx", onnx_export_dirs[kind])
    reference = torch_encoders[kind].encode_images(sample_images)
    got = onnx_encoder.encode_images(sample_images)
    assert onnx_encoder.spec == torch_encoders[kind].spec
    assert got.shape == reference.shape and got.dtype == torch.float32
    cosine = (got * reference).sum(dim=-1)
    assert cosine.min().item() >= 0.999
    torch.testing.assert_close(got.norm(dim=-1), torch.ones(len(sample_images)), atol=1e-5, rtol=0)


@pytest.mark.parametrize("kind", ["imagebind", "clip"])
def test_batch_axis_is_dynamic(kind, torch_encoders, onnx_export_dirs, sample_images):
    chunked = OnnxImageEncoder.from_pretrained(onnx_export_dirs[kind], max_batch=2)  # runs batches of 2, 2, 1
    one = chunked.encode_images(sample_images[:1])
    all_five = chunked.encode_images(sample_images)
    torch.testing.assert_close(all_five[:1], one, atol=1e-5, rtol=1e-5)
    assert ((all_five * torch_encoders[kind].encode_images(sample_images)).sum(-1)).min() >= 0.999


def test_provider_reported_is_the_one_onnxruntime_uses(onnx_export_dirs):
    encoder = load_image_encoder("onnx", onnx_export_dirs["clip"], device="auto")
    available = onnxruntime.get_available_providers()
    assert encoder.provider == encoder.session.get_providers()[0]
    expected = "CUDAExecutionProvider" if "CUDAExecutionProvider" in available else "CPUExecutionProvider"
    assert encoder.provider == expected
    on_cpu = load_image_encoder("onnx", onnx_export_dirs["clip"], device="cpu")
    assert on_cpu.provider == "CPUExecutionProvider"


def test_provider_choice():
    assert choose_providers("cpu", ["CUDAExecutionProvider", "CPUExecutionProvider"]) == [
        "CPUExecutionProvider"
    ]
    assert choose_providers("cuda", ["CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    assert choose_providers("auto", ["CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    with_cuda = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert choose_providers("cuda:1", with_cuda) == [
        ("CUDAExecutionProvider", {"device_id": 1}),
        "CPUExecutionProvider",
    ]
    assert choose_providers("auto", with_cuda)[0] == ("CUDAExecutionProvider", {"device_id": 0})
    with pytest.raises(ValueError, match="'tpu'"):
        choose_providers("tpu", with_cuda)


def test_export_with_aligner_gives_tokens_from_the_same_graph(imagebind_encoder, sample_images, tmp_path):
    n_tokens, width = 4, 24
    with torch.random.fork_rng():
        torch.manual_seed(3)
        aligner = torch.nn.Sequential(
            torch.nn.Linear(40, 32),
            torch.nn.Tanh(),
            torch.nn.Linear(32, n_tokens * width),
            torch.nn.Unflatten(1, (n_tokens, width)),
        ).eval()
    aligner.config = {"encoder_name": "imagebind_debug", "embedding_dim": 40, "n_tokens": n_tokens}
    export_onnx_encoder(imagebind_encoder, tmp_path / "with-aligner", aligner=aligner)
    metadata = json.loads((tmp_path / "with-aligner" / "encoder.json").read_text())
    assert metadata["aligned_shape"] == [n_tokens, width]
    assert metadata["aligner_config"] == aligner.config  # travels with the graph for later checks
    encoder = OnnxImageEncoder.from_pretrained(tmp_path / "with-aligner" / "encoder.onnx")
    assert encoder.has_aligner
    tokens = encoder.align_images(sample_images)
    with torch.no_grad():
        expected = aligner(imagebind_encoder.encode_images(sample_images)).numpy()
    assert tokens.shape == (len(sample_images), n_tokens, width)
    np.testing.assert_allclose(tokens, expected, atol=1e-4)
    assert (encoder.encode_images(sample_images) * imagebind_encoder.encode_images(sample_images)).sum(
        -1
    ).min() >= 0.999


def test_align_without_an_exported_aligner_is_refused(onnx_export_dirs, sample_images):
    encoder = load_image_encoder("onnx", onnx_export_dirs["imagebind"])
    assert not encoder.has_aligner
    with pytest.raises(RuntimeError, match="no aligner"):
        encoder.align_images(sample_images[:1])


def test_export_refuses_a_half_precision_encoder(debug_clip_dir, tmp_path):
    half = load_image_encoder("clip", debug_clip_dir, dtype="bfloat16")
    with pytest.raises(ValueError, match="float32"):
        export_onnx_encoder(half, tmp_path / "half")


def test_missing_and_garbled_exports_are_refused_with_their_paths(onnx_export_dirs, tmp_path):
    with pytest.raises(FileNotFoundError, match=f"{tmp_path / 'nowhere'}.*encoder.onnx"):
        load_image_encoder("onnx", tmp_path / "nowhere")
    garbled = tmp_path / "garbled"
    shutil.copytree(onnx_export_dirs["clip"], garbled)
    (garbled / "encoder.onnx").write_bytes(b"not a protobuf" * 50)
    with pytest.raises(EncoderLoadError, match=f"{garbled / 'encoder.onnx'}.*cannot load"):
        load_image_encoder("onnx", garbled)
    bad_json = tmp_path / "bad-json"
    shutil.copytree(onnx_export_dirs["clip"], bad_json)
    (bad_json / "encoder.json").write_text("{ not json")
    with pytest.raises(EncoderLoadError, match=f"{bad_json / 'encoder.json'}"):
        load_image_encoder("onnx", bad_json)
    with pytest.raises(ValueError, match="float32"):
        load_image_encoder("onnx", onnx_export_dirs["clip"], dtype="float16")
