"""``art2mus models list`` / ``pull`` through the real CLI group, with a fake downloader for ``pull``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from art2mus.installation.cli import main
from art2mus.models.model_dir import ModelDir


def test_list_shows_presence_sizes_and_licences(debug_model_dir):
    result = CliRunner().invoke(main, ["models", "list", "--model-dir", str(debug_model_dir)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    audioldm = next(line for line in lines if line.strip().startswith("audioldm2-music"))
    assert "present" in audioldm and "non-commercial" in audioldm and "MiB" in audioldm
    assert any(line.strip().startswith("aligners/debug-imagebind-1tok") for line in lines)
    assert "missing:" not in result.output


def test_list_json_and_missing_hint(tmp_path):
    result = CliRunner().invoke(main, ["models", "list", "--model-dir", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["model_dir"] == str(tmp_path)
    assert {m["key"]: m["present"] for m in document["models"]} == {
        "audioldm2-music": False,
        "audioldm2": False,
        "imagebind": False,
        "clip-vit-large-patch14": False,
    }
    text = CliRunner().invoke(main, ["models", "list", "--model-dir", str(tmp_path)]).output
    assert f"art2mus models pull --model-dir {tmp_path}" in text


def test_pull_only_one_model_with_an_injected_downloader(tmp_path):
    fetched: list[str] = []

    def fetch(url: str, destination: Path, progress) -> None:
        fetched.append(url)
        destination.write_bytes(b"\x80\x02" + b"\0" * 2046)  # a torch checkpoint in the old pickle format
        progress(1024, 2048)
        progress(2048, 2048)

    def factory(root: Path) -> ModelDir:
        return ModelDir(root, fetch=fetch)

    result = CliRunner().invoke(
        main,
        ["models", "pull", "--model-dir", str(tmp_path), "--only", "imagebind"],
        obj={"model_dir_factory": factory},
    )
    assert result.exit_code == 0, result.output
    assert fetched == ["https://dl.fbaipublicfiles.com/imagebind/imagebind_huge.pth"]
    assert "licence CC BY-NC-SA 4.0" in result.output
    assert "done: 1 model(s)" in result.output
    assert (tmp_path / "imagebind" / "imagebind_huge.pth").stat().st_size == 2048


def test_pull_rejects_unknown_model_names(tmp_path):
    result = CliRunner().invoke(main, ["models", "pull", "--model-dir", str(tmp_path), "--only", "gpt5"])
    assert result.exit_code == 2
    assert "gpt5" in result.output


def test_models_command_does_not_import_torch():
    code = (
        "import sys; from art2mus.installation.cli import models; "
        "print(any(m in sys.modules for m in ('torch', 'diffusers', 'transformers')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_export_onnx_with_aligner_into_the_model_directory(debug_model_dir, tmp_path):
    import numpy as np

    from art2mus.models.encoders import load_image_encoder

    out = tmp_path / "onnx-export"
    result = CliRunner().invoke(
        main,
        ["models", "export-onnx", "--model-dir", str(debug_model_dir), "--encoder", "imagebind",
         "--aligner", "debug-imagebind-4tok", "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    onnx_encoder = load_image_encoder("onnx", out)
    torch_encoder = load_image_encoder("imagebind", debug_model_dir / "imagebind")
    assert onnx_encoder.spec == torch_encoder.spec and onnx_encoder.has_aligner
    image = np.random.default_rng(3).integers(0, 255, (90, 120, 3), dtype=np.uint8)
    a, b = onnx_encoder.embed([image])[0], torch_encoder.embed([image])[0]
    assert float(a @ b) >= 0.999
    assert onnx_encoder.align_images([image]).shape == (1, 4, 24)


def test_export_onnx_refuses_an_aligner_trained_for_another_encoder(debug_model_dir, tmp_path):
    result = CliRunner().invoke(
        main,
        ["models", "export-onnx", "--model-dir", str(debug_model_dir), "--encoder", "imagebind",
         "--aligner", "debug-clip-1tok", "--out", str(tmp_path / "x")],
    )
    assert result.exit_code != 0
    assert "was trained for encoder" in result.output and not (tmp_path / "x").exists()
