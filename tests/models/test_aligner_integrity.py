"""Aligner checkpoints are verified, v1 imports refuse bad files, and the cache key follows the weights' content."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from art2mus.installation.cli import main
from art2mus.models.aligner import ImageAligner, aligner_identity, import_v1_aligner
from art2mus.models.art2mus_generator import Art2MusGenerator


def _aligner(tmp_path: Path, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    return ImageAligner("tiny", 12, lm_dim=8, n_tokens=2, hidden_dim=16).save(tmp_path / "aligners" / "mine")


def test_a_flipped_byte_in_the_weights_is_an_error_naming_the_file(tmp_path):
    folder = _aligner(tmp_path)
    ImageAligner.load(folder)  # intact: loads
    weights = folder / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-5] ^= 0x01  # inside the last tensor's values: safetensors alone would load it silently
    weights.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"model\.safetensors are corrupted or were replaced: sha256"):
        ImageAligner.load(folder)


def _v1_state(path: Path) -> Path:
    layer = torch.nn.Sequential()
    layer.add_module("projection1", torch.nn.Linear(12, 16))
    layer.add_module("act1", torch.nn.Tanh())
    layer.add_module("projection2", torch.nn.Linear(16, 2 * 8))
    torch.save(layer.state_dict(), path)
    return path


def test_import_v1_converts_and_records_profile_origin_and_no_licence(tmp_path):
    pt = _v1_state(tmp_path / "v1.pt")
    folder = import_v1_aligner(pt, tmp_path / "out", encoder_name="tiny", lm_dim=8)
    document = ImageAligner.read_config(folder)
    assert document["conditioning_profile"] == "art2mus-v1"
    assert document["config"]["n_tokens"] == 2 and document["config"]["input_l2_norm"] is False
    assert "no licence" in document["metadata"]["licence"]
    state = torch.load(pt, weights_only=True)
    aligner = ImageAligner.load(folder)
    x = torch.randn(3, 12)
    expected = state["projection2.weight"] @ torch.tanh(
        state["projection1.weight"] @ x.T + state["projection1.bias"][:, None]
    )
    expected = (expected + state["projection2.bias"][:, None]).T.reshape(3, 2, 8)
    assert torch.allclose(aligner(x), expected, atol=1e-6)


def test_import_v1_refuses_truncated_and_foreign_files_naming_them(tmp_path):
    pt = _v1_state(tmp_path / "v1.pt")
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(pt.read_bytes()[: pt.stat().st_size // 2])
    foreign = tmp_path / "foreign.pt"
    torch.save({"encoder.weight": torch.zeros(3, 3)}, foreign)
    text = tmp_path / "notes.pt"
    text.write_text("not a checkpoint")
    for path, message in (
        (truncated, "truncated or not a .pt file"),
        (foreign, "expected a v1 state dict"),
        (text, "truncated or not a .pt file"),
    ):
        result = CliRunner().invoke(
            main, ["models", "import-v1", str(path), "--name", "x", "--model-dir", str(tmp_path / "m")]
        )
        assert result.exit_code != 0
        assert str(path) in result.output and message in result.output, result.output
        assert not (tmp_path / "m" / "aligners" / "x").exists()  # nothing half-written


def test_a_v1_checkpoint_given_as_an_aligner_says_to_import_it(tmp_path):
    from art2mus.models.model_dir import ModelDir

    pt = _v1_state(tmp_path / "art2mus_img_proj_layer.pt")
    with pytest.raises(
        ValueError, match=rf"{pt} is a torch checkpoint, not an aligner folder.*import-v1 {pt}"
    ):
        ModelDir(tmp_path / "m").resolve_aligner(pt)
    result = CliRunner().invoke(
        main,
        [
            "train",
            str(pt),
            "--init",
            str(pt),
            "--model-dir",
            str(tmp_path / "m"),
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert result.exit_code == 1 and "art2mus models import-v1" in result.output, result.output


def test_cache_identity_follows_the_weights_not_the_path(tmp_path):
    folder = _aligner(tmp_path, seed=0)
    settings = {"model_dir": str(tmp_path), "aligner": str(folder)}
    first = Art2MusGenerator.cache_identity(settings)
    assert first == Art2MusGenerator.cache_identity(settings)  # stable
    shutil.rmtree(folder)
    _aligner(tmp_path, seed=1)  # retrained, same path
    second = Art2MusGenerator.cache_identity(settings)
    assert second != first
    assert second["aligner_identity"][0]["weights_sha256"] == aligner_identity(folder)["weights_sha256"]
    v1 = Art2MusGenerator.cache_identity({**settings, "profile": "art2mus-v1"})
    assert v1 != second  # the profile is part of the identity


def test_gallery_cache_key_changes_when_the_aligner_is_retrained(tmp_path):
    from art2mus.installation.cache import cache_key
    from art2mus.models.generator import GenerationRequest
    from art2mus.models.registry import cache_identity

    folder = _aligner(tmp_path, seed=0)
    settings = {"model_dir": str(tmp_path), "aligner": str(folder)}
    request = GenerationRequest(duration_s=5.0)

    def key() -> str:
        return cache_key("art2mus", {**settings, **cache_identity("art2mus", settings)}, request, "img")

    before = key()
    assert key() == before
    shutil.rmtree(folder)
    _aligner(tmp_path, seed=1)
    assert key() != before


def test_pull_offline_says_one_sentence(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed once the with block ends: connections are refused
    env = {"HF_ENDPOINT": f"http://127.0.0.1:{port}", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "art2mus.installation.cli", "models", "pull", "--model-dir", str(tmp_path / "m"),
         "--only", "audioldm2-music"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert result.returncode != 0
    assert "this machine cannot reach the model hub" in result.stderr
    assert "on a connected machine" in result.stderr and "copy" in result.stderr
    assert "Traceback" not in result.stderr and "Retrying" not in result.stderr
    assert len((result.stdout + result.stderr).strip().splitlines()) <= 3, result.stderr


def test_the_base_model_follows_the_profile(tmp_path):
    from art2mus.models.art2mus_generator import base_model_key

    music = _aligner(tmp_path)
    v1 = import_v1_aligner(
        _v1_state(tmp_path / "v1.pt"), tmp_path / "aligners" / "v1", encoder_name="tiny", lm_dim=8
    )
    assert base_model_key({"model_dir": str(tmp_path), "aligner": str(music)}) == "audioldm2-music"
    assert base_model_key({"model_dir": str(tmp_path), "aligner": str(v1)}) == "audioldm2"
    assert (
        base_model_key({"model_dir": str(tmp_path), "aligner": str(v1), "profile": "art2mus-music"})
        == "audioldm2-music"
    )
    assert base_model_key({"model_dir": str(tmp_path)}) == "audioldm2-music"
