"""A device this machine lacks and a damaged model file, each told in one sentence before minutes of loading.

Before, ``--device cuda`` on a machine without CUDA (or an exhibit's ``device: cuda``) failed deep in the
first ``.to()`` with a 40-line traceback ending in "Torch not compiled with CUDA enabled", and a truncated
weights file with diffusers' "Unable to load weights from checkpoint file", naming neither cause nor cure.
CUDA is hidden here with ``monkeypatch`` so the tests say the same on a GPU machine.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
import yaml
from click.testing import CliRunner

from art2mus.installation.cli import main
from art2mus.models.pipeline import Art2MusPipeline
from art2mus.models.pipeline_loading import DamagedModelFile, DeviceError, torch_device

pytestmark = pytest.mark.usefixtures("single_torch_thread")


@pytest.fixture
def no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)


@pytest.fixture
def one_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)


def test_device_names_are_checked_against_what_torch_sees(no_cuda):
    assert torch_device("auto") == torch.device("cpu") and torch_device("cpu") == torch.device("cpu")
    with pytest.raises(DeviceError) as refused:
        torch_device("cuda", "--device")
    assert str(refused.value) == (
        f"--device cuda: no CUDA device here (torch {torch.__version__}); use --device cpu or auto"
    )
    with pytest.raises(DeviceError, match=r"^--device cuda:3: no CUDA device here"):
        torch_device("cuda:3", "--device")
    with pytest.raises(DeviceError) as refused:
        torch_device("gpu", "--device")  # torch's own answer lists every backend it knows
    assert str(refused.value) == "--device gpu: expected auto, cpu, cuda or cuda:N"
    assert str(refused.value.renamed("device:")) == "device: gpu: expected auto, cpu, cuda or cuda:N"


def test_a_cuda_index_past_the_machine_s_gpus_is_named(one_gpu):
    assert torch_device("cuda:0") == torch.device("cuda:0")
    with pytest.raises(DeviceError) as refused:
        torch_device("cuda:3", "--device")
    assert str(refused.value) == (
        "--device cuda:3: torch sees 1 CUDA device(s) here (cuda:0); use --device cpu or auto"
    )


def test_loading_on_a_missing_gpu_fails_before_the_load_in_one_sentence(debug_model_dir, no_cuda):
    with pytest.raises(DeviceError, match=r"^device cuda: no CUDA device here"):
        Art2MusPipeline.from_model_dir(debug_model_dir, encoder="imagebind", device="cuda")


def test_the_art2mus_generator_names_its_device_setting_and_render_its_option(
    debug_model_dir, repo_root, tmp_path, no_cuda
):
    from art2mus.models.registry import create_generator

    with pytest.raises(DeviceError) as refused:
        create_generator(
            "art2mus", {"model_dir": debug_model_dir, "aligner": "debug-imagebind-1tok", "device": "cuda"}
        )
    assert str(refused.value).startswith("art2mus generator: device: cuda: no CUDA device here (torch ")
    assert str(refused.value).endswith("; set it to cpu or auto")

    image = repo_root / "exhibits/demo/artworks/amber-fields.png"
    render = ["render", str(image), "-o", str(tmp_path / "x.wav"), "--generator", "art2mus", "--model-dir",
              str(debug_model_dir), "--aligner", "debug-imagebind-1tok", "--steps", "1", "--duration", "0.5"]  # fmt: skip
    result = CliRunner().invoke(main, [*render, "--device", "cuda"])
    assert result.exit_code == 1, result.output
    assert result.output.strip() == (
        f"Error: --device cuda: no CUDA device here (torch {torch.__version__}); use --device cpu or auto"
    )
    exhibit = tmp_path / "room.yaml"  # an exhibit's generator on the GPU, copied to a machine without one
    generator = {"type": "art2mus", "model_dir": str(debug_model_dir), "aligner": "debug-imagebind-1tok",
                 "steps": 1, "device": "cuda"}  # fmt: skip
    room = {
        "artworks": [
            {"id": "one", "images": [str(image)], "soundscape": {"generator": "model", "duration": 0.5}}
        ],
        "generators": {"procedural": {"type": "procedural"}, "model": generator},
        "cache": {"dir": str(tmp_path / "cache")},
        "recognition": {"index_dir": str(tmp_path / "index")},
    }
    exhibit.write_text(yaml.safe_dump(room))
    result = CliRunner().invoke(
        main, ["render", str(exhibit), "--artwork", "one", "-o", str(tmp_path / "y.wav")]
    )
    assert result.exit_code == 1, result.output
    assert "Error: art2mus generator: device: cuda: no CUDA device here" in result.output
    assert "Traceback" not in result.output


@pytest.fixture
def damaged_models(debug_model_dir, tmp_path) -> Path:
    """A copy of the debug model directory whose UNet weights were cut short (an interrupted copy)."""
    models = tmp_path / "models"
    shutil.copytree(debug_model_dir, models, symlinks=True)
    weights = models / "audioldm2-music/unet/diffusion_pytorch_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    return models


def test_a_truncated_weights_file_is_named_with_how_to_get_it_again(damaged_models):
    weights = damaged_models / "audioldm2-music/unet/diffusion_pytorch_model.safetensors"
    with pytest.raises(DamagedModelFile) as damaged:
        Art2MusPipeline.from_model_dir(damaged_models, encoder="imagebind")
    assert damaged.value.path == weights
    message = str(damaged.value)
    assert message.startswith(f"{weights} cannot be loaded, it is damaged or incomplete (")
    assert f"copy {damaged_models / 'audioldm2-music'} again" in message
    assert "art2mus models pull" in message and "--only audioldm2-music --force" in message


def test_a_garbled_config_and_a_truncated_transformers_file_are_named(debug_model_dir, tmp_path):
    from art2mus.models.pipeline_loading import load_audioldm2_components

    folder = tmp_path / "audioldm2-music"
    shutil.copytree(debug_model_dir / "audioldm2-music", folder, symlinks=True)
    gpt2 = folder / "language_model/model.safetensors"
    gpt2.write_bytes(gpt2.read_bytes()[:-10])  # safetensors' own error, not diffusers'
    with pytest.raises(DamagedModelFile) as damaged:
        load_audioldm2_components(folder)
    assert damaged.value.path == gpt2 and "copy the model folder again" in str(damaged.value)
    gpt2.write_bytes((debug_model_dir / "audioldm2-music/language_model/model.safetensors").read_bytes())
    config = folder / "vae/config.json"
    config.write_text(config.read_text()[:40])
    with pytest.raises(DamagedModelFile) as damaged:
        load_audioldm2_components(folder)
    assert damaged.value.path == config
