"""``models import-v1`` names every way a checkpoint does not fit, and unwraps a training checkpoint.

Before: a full-size v1 checkpoint (1024 -> 4 x 768) imported into a debug model directory was refused with
only its 768-d tokens and the hint ``set --lm-dim 24 if the checkpoint was made for it``, which its widths
rule out; its 1024-d embeddings beside the 40-d debug encoder went unsaid. A checkpoint saved as
``{'model_state_dict': ..., 'epoch': 3}`` was refused as ``got keys ['epoch', 'model_state_dict']``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner, Result

from art2mus.installation.cli import main


def _state(embedding_dim: int, hidden: int, outputs: int) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return {
        "projection1.weight": torch.randn(hidden, embedding_dim, generator=generator),
        "projection1.bias": torch.zeros(hidden),
        "projection2.weight": torch.randn(outputs, hidden, generator=generator),
        "projection2.bias": torch.zeros(outputs),
    }


@pytest.fixture
def models(debug_model_dir: Path, tmp_path: Path) -> Path:
    """A copy of the debug model directory, to import into."""
    return Path(shutil.copytree(debug_model_dir, tmp_path / "models", symlinks=True))


def _import(models: Path, *args: object) -> Result:
    return CliRunner().invoke(main, ["models", "import-v1", "--model-dir", str(models), *map(str, args)])


@pytest.mark.parametrize(
    ("state", "said"),
    [
        pytest.param(
            _state(1024, 1536, 4 * 768),
            "it makes 768-d tokens (read from projection1) where the GPT-2 of audioldm2 takes 24-d, and it "
            "takes 1024-d embeddings (projection1's inputs) where the imagebind encoder 'imagebind_debug' gives "
            "40-d (--force imports it anyway)",
            id="full-size: both mismatches, no --lm-dim hint its widths rule out",
        ),
        pytest.param(  # the debug aligners' layout, 40 -> 32 -> 4 x 24: v1's (hidden = 2 x width) reads 16
            _state(40, 32, 4 * 24),
            "it makes 16-d tokens (read from projection1) where the GPT-2 of audioldm2 takes 24-d (set "
            "--lm-dim 24 if the checkpoint was made for it; --force imports it anyway)",
            id="width read may be wrong: the --lm-dim hint",
        ),
    ],
)
def test_every_mismatch_is_named_in_one_sentence(models, tmp_path, state, said):
    checkpoint = tmp_path / "v1.pt"
    torch.save(state, checkpoint)
    result = _import(models, checkpoint, "--name", "x")
    assert (result.exit_code, result.output) == (
        1,
        f"Error: {checkpoint} could not play in {models}: {said}\n",
    )
    assert not (models / "aligners/x").exists()


def test_the_hinted_lm_dim_imports_it(models, tmp_path):
    checkpoint = tmp_path / "local.pt"
    torch.save(_state(40, 32, 4 * 24), checkpoint)
    assert _import(models, checkpoint, "--name", "l", "--lm-dim", "24").exit_code == 0


@pytest.mark.parametrize("entry", ["model_state_dict", "state_dict", "model"])
def test_a_training_checkpoint_is_unwrapped(models, tmp_path, entry):
    from art2mus.models.aligner import file_sha256
    from art2mus.models.model_dir import read_aligner_config

    wrapped = tmp_path / "v1_wrapped.pt"
    optimizer = {"state": {}, "param_groups": [{"lr": 1e-4}]}
    torch.save({entry: _state(40, 48, 4 * 24), "optimizer_state_dict": optimizer, "epoch": 3}, wrapped)
    result = _import(models, wrapped, "--name", "w")
    assert result.exit_code == 0, result.output
    metadata = read_aligner_config(models / "aligners/w")["metadata"]
    assert metadata["origin"] == f"Art2Mus v1 checkpoint v1_wrapped.pt (its {entry!r} entry)"
    assert metadata["source_sha256"] == file_sha256(wrapped)
    listed = CliRunner().invoke(main, ["models", "list", "--model-dir", str(models)]).output
    assert "-> 4 x 24-d tokens, profile art2mus-v1, origin: Art2Mus v1 checkpoint v1_wrapped.pt" in listed


def test_an_unwrapped_mismatch_names_the_checkpoint_and_its_entry(models, tmp_path):
    wrapped = tmp_path / "big_run.pt"
    torch.save({"model_state_dict": _state(1024, 48, 4 * 24), "epoch": 3}, wrapped)
    result = _import(models, wrapped, "--name", "w")
    assert result.exit_code == 1
    assert result.output.startswith(
        f"Error: {wrapped} ('model_state_dict' entry) could not play in {models}: it takes 1024-d embeddings"
    )


def test_two_wrapped_state_dicts_are_not_guessed_between(models, tmp_path):
    both = tmp_path / "both.pt"
    torch.save({"model_state_dict": _state(40, 48, 96), "ema_state_dict": _state(40, 48, 96)}, both)
    result = _import(models, both, "--name", "b")
    assert result.exit_code == 1
    assert "got keys ['ema_state_dict', 'model_state_dict']" in result.output
