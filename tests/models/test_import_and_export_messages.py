"""``models import-v1`` and ``export-onnx`` say what is wrong in one sentence naming the file or folder.

Before: a read-only model directory gave a traceback; a missing checkpoint was reported as a wrong
``--lm-dim`` (which had to be given for any non-v1 width); a file that is not a checkpoint gave torch's
dozen lines ("Please file an issue..."); and ``--force`` recorded a full-size checkpoint under the debug
encoder's name, so ``models list`` said it was trained for 'imagebind_debug' (1024-d) and that the
'imagebind_debug' encoder (40-d) did not fit it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from art2mus.installation.cli import main


def _v1(path: Path, embedding_dim: int, lm_dim: int, n_tokens: int = 4) -> Path:
    """A v1 ``ImageProjectionLayer`` state dict: embedding -> 2 x lm_dim -> n_tokens x lm_dim."""
    generator = torch.Generator().manual_seed(0)
    torch.save(
        {
            "projection1.weight": torch.randn(2 * lm_dim, embedding_dim, generator=generator),
            "projection1.bias": torch.zeros(2 * lm_dim),
            "projection2.weight": torch.randn(n_tokens * lm_dim, 2 * lm_dim, generator=generator),
            "projection2.bias": torch.zeros(n_tokens * lm_dim),
        },
        path,
    )
    return path


@pytest.fixture
def models(debug_model_dir, tmp_path) -> Path:
    copy = tmp_path / "models"
    shutil.copytree(debug_model_dir, copy, symlinks=True)
    return copy


def _import(models: Path, *args: object):
    return CliRunner().invoke(main, ["models", "import-v1", "--model-dir", str(models), *map(str, args)])


def test_the_token_width_is_read_from_the_checkpoint_and_a_missing_one_is_named_first(models, tmp_path):
    missing = _import(models, tmp_path / "nonexist.pt", "--name", "x")
    assert missing.exit_code == 1
    assert missing.output == f"Error: v1 checkpoint {tmp_path / 'nonexist.pt'} not found\n"

    debug = _v1(tmp_path / "debug.pt", 40, 24)  # the debug GPT-2's width, without --lm-dim
    done = _import(models, debug, "--name", "d4")
    assert done.exit_code == 0, done.output
    assert '"lm_dim": 24' in (models / "aligners/d4/config.json").read_text()

    real = _v1(tmp_path / "real.pt", 1024, 768)
    refused = _import(models, real, "--name", "real")
    assert refused.exit_code == 1
    assert refused.output.startswith(
        f"Error: {real} could not play in {models}: it makes 768-d tokens (read from projection1) where the "
    )


def test_force_records_a_full_size_checkpoint_under_the_full_size_encoder(models, tmp_path):
    from art2mus.models.model_dir import read_aligner_config

    forced = _import(models, _v1(tmp_path / "real.pt", 1024, 768), "--name", "real", "--force")
    assert forced.exit_code == 0, forced.output
    assert read_aligner_config(models / "aligners/real")["config"]["encoder_name"] == "imagebind_huge"
    listed = CliRunner().invoke(main, ["models", "list", "--model-dir", str(models)])
    assert "aligner for imagebind_huge (1024-d)" in listed.output
    assert (
        "trained for encoder 'imagebind_huge' (1024-d embeddings), but the imagebind encoder" in listed.output
    )


def test_a_file_that_is_not_a_checkpoint_is_one_sentence(models, tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"garbage\n")
    result = _import(models, junk, "--name", "j")
    assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
    assert result.output.startswith(f"Error: {junk} cannot be read as a torch checkpoint")
    cut = _v1(tmp_path / "cut.pt", 40, 24)
    cut.write_bytes(cut.read_bytes()[:2000])
    result = _import(models, cut, "--name", "c")
    assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
    assert "lacks the zip directory torch writes at its end" in result.output


def test_a_halved_imagebind_checkpoint_is_one_sentence(models):
    from art2mus.models.encoders import load_image_encoder
    from art2mus.models.encoders.base import EncoderLoadError

    checkpoint = models / "imagebind/imagebind_debug.pth"
    checkpoint.write_bytes(checkpoint.read_bytes()[: checkpoint.stat().st_size // 2])
    with pytest.raises(EncoderLoadError) as refused:
        load_image_encoder("imagebind", models / "imagebind", device="cpu")
    message = str(refused.value)
    assert "\n" not in message and "miniz" not in message, message
    assert f"{checkpoint}: not a readable PyTorch state dict (it is " in message


def test_a_model_directory_that_cannot_be_written_is_named_without_a_traceback(models, tmp_path, monkeypatch):
    """As root, chmod does not stop writes: mkdir is made to refuse as it does for another user."""
    real_mkdir = Path.mkdir

    def refuse(self: Path, *args, **kwargs):
        if models in self.parents:
            raise PermissionError(13, "Permission denied", str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", refuse)
    imported = _import(models, _v1(tmp_path / "debug.pt", 40, 24), "--name", "new1")
    assert imported.exit_code == 1 and "Traceback" not in imported.output
    assert imported.output == (
        f"Error: {models / 'aligners'}: cannot write here (permission denied); run as the folder's owner or "
        "give another --model-dir\n"
    )
    exported = CliRunner().invoke(
        main, ["models", "export-onnx", "--model-dir", str(models), "--encoder", "clip"]
    )
    assert exported.exit_code == 1 and "Traceback" not in exported.output, exported.output
    assert exported.output.splitlines()[-1].startswith(
        f"Error: {models}: cannot write here (permission denied)"
    )
