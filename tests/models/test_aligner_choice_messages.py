"""What an aligner setting that cannot play says: the way to the one meant, and no damaged candidates.

Before: ``aligner: runs/a`` (a training run) said only ``runs/a holds no config.json``; ``aligner:`` a
v1 ``.pt`` file ``expected a folder, found a file`` without the ``import-v1`` that converts it; and the
"several aligners fit" list offered a truncated aligner that validate refuses when it is named.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from art2mus.installation.config.files import model_findings
from art2mus.models.art2mus_generator import Art2MusGeneratorConfig
from art2mus.models.model_dir import ModelDir, aligner_problem, read_aligner_config


@pytest.fixture
def models(debug_model_dir, tmp_path) -> Path:
    return Path(shutil.copytree(debug_model_dir, tmp_path / "models", symlinks=True))


def _finding(models: Path, aligner: Path) -> str:
    config = Art2MusGeneratorConfig(model_dir=models, aligner=aligner, device="cpu")
    ((loc, message),) = model_findings({"art2mus": config})
    assert loc == ("generators", "art2mus", "aligner")
    return message


def test_a_training_runs_folder_names_its_aligners(models, tmp_path):
    run = tmp_path / "runs/a"
    shutil.copytree(models / "aligners/debug-imagebind-4tok", run / "best")
    (run / "checkpoint.pt").write_bytes(b"x")
    hint = f"; it looks like a training run: its aligner is {run / 'best'}"
    assert _finding(models, run).endswith(hint)
    assert aligner_problem(run, "imagebind").endswith(hint)
    with pytest.raises(FileNotFoundError) as caught:
        read_aligner_config(run)
    assert str(caught.value).endswith(hint)
    assert aligner_problem(tmp_path, "imagebind").endswith("and model.safetensors)")  # no run: no hint


def test_a_v1_checkpoint_file_names_import_v1(models, tmp_path):
    checkpoint = tmp_path / "good.pt"
    checkpoint.write_bytes(b"not read")
    assert _finding(models, checkpoint) == (
        f"expected a folder, found a file: {checkpoint} (an Art2Mus v1 checkpoint is converted first: "
        f"art2mus models import-v1 {checkpoint} --name NAME)"
    )


def test_a_damaged_aligner_is_no_candidate_for_the_default(models):
    mdir = ModelDir(models)
    spec = mdir.encoder_spec("imagebind")
    shutil.copytree(models / "aligners/debug-imagebind-4tok", models / "aligners/trunc")
    weights = models / "aligners/trunc/model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(FileNotFoundError) as caught:
        mdir.default_aligner(spec)
    message = str(caught.value)
    assert ": debug-imagebind-1tok, debug-imagebind-4tok (left out, damaged: trunc; " in message
    shutil.rmtree(models / "aligners/debug-imagebind-1tok")
    assert mdir.default_aligner(spec) == models / "aligners/debug-imagebind-4tok"
