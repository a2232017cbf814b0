"""Model folders that are incomplete or damaged are found before a rendering, in one sentence each.

Before, a missing tokenizer file gave a tokenizer of special tokens only (every prompt became
``</s> <unk>``, and the music changed without a word), and a truncated UNet, a halved ImageBind
checkpoint or deleted VAE weights passed ``doctor`` and ``models list``: only a rendering found them.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from art2mus.models.manage import status_lines
from art2mus.models.model_dir import ModelDir
from art2mus.models.pipeline_loading import DamagedModelFile, load_audioldm2_components


@pytest.fixture
def models(debug_model_dir, tmp_path) -> Path:
    """A copy of the debug model directory, to damage."""
    copy = tmp_path / "models"
    shutil.copytree(debug_model_dir, copy, symlinks=True)
    return copy


def _cut(path: Path, keep: float) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


@pytest.mark.parametrize(
    ("removed", "missing"),
    [
        ("tokenizer_2/tokenizer.json", "tokenizer_2/tokenizer.json or tokenizer_2/spiece.model"),
        ("vae/diffusion_pytorch_model.safetensors", "vae/*.safetensors or vae/*.bin"),
        ("projection_model/diffusion_pytorch_model.safetensors", "projection_model/*.safetensors"),
        ("vocoder/model.safetensors", "vocoder/*.safetensors"),
    ],
)
def test_a_missing_tokenizer_or_weights_file_makes_the_model_missing(models, removed, missing):
    (models / "audioldm2-music" / removed).unlink()
    mdir = ModelDir(models)
    assert not mdir.is_present("audioldm2-music")
    assert any(m.startswith(missing) for m in mdir.missing_files("audioldm2-music"))
    with pytest.raises(FileNotFoundError, match="not installed in .*: missing "):
        mdir.require("audioldm2-music")


def test_the_v1_base_needs_the_clap_tokenizer_and_the_music_model_does_not(models):
    (models / "audioldm2-music/tokenizer/tokenizer.json").unlink()  # audioldm2 links to it in the debug build
    mdir = ModelDir(models)
    assert mdir.is_present("audioldm2-music")
    assert mdir.missing_files("audioldm2") == ["tokenizer/tokenizer.json or tokenizer/vocab.json"]


def test_a_tokenizer_of_special_tokens_only_is_refused_naming_its_folder(models):
    from transformers import AutoTokenizer

    folder = models / "audioldm2-music/tokenizer_2"
    (folder / "tokenizer.json").unlink()
    # what transformers builds without the vocabulary, saved as if it were the real one
    AutoTokenizer.from_pretrained(folder, local_files_only=True).save_pretrained(folder)
    assert ModelDir(models).is_present("audioldm2-music")
    with pytest.raises(DamagedModelFile) as refused:
        load_audioldm2_components(models / "audioldm2-music")
    assert refused.value.path == folder
    message = str(refused.value)
    assert message.startswith(f"{folder} cannot be loaded, it is damaged or incomplete (the tokenizer holds ")
    assert "only the special ones" in message and "\n" not in message


def test_a_tokenizer_larger_than_its_text_encoder_is_refused(models):
    folder = models / "audioldm2-music/tokenizer"
    shutil.copy(models / "audioldm2-music/tokenizer_2/tokenizer.json", folder / "tokenizer.json")
    shutil.copy(
        models / "audioldm2-music/tokenizer_2/tokenizer_config.json", folder / "tokenizer_config.json"
    )
    with pytest.raises(
        DamagedModelFile, match=r"the tokenizer holds 105 tokens, but its text encoder has 100"
    ):
        load_audioldm2_components(models / "audioldm2-music", clap=True)


def test_damaged_weights_are_listed_without_loading_them(models):
    unet = models / "audioldm2-music/unet/diffusion_pytorch_model.safetensors"
    checkpoint = models / "imagebind/imagebind_debug.pth"
    _cut(unet, 2 / 3)
    _cut(checkpoint, 1 / 2)
    mdir = ModelDir(models)
    assert mdir.is_present("audioldm2-music") and mdir.is_present("imagebind")  # every file is there
    [(path, reason)] = mdir.damaged_files("audioldm2-music")
    assert path == unet and "but its header describes" in reason
    [(path, reason)] = mdir.damaged_files("imagebind")
    assert path == checkpoint and "lacks the zip directory torch writes at its end" in reason
    assert mdir.damaged_files("clip-vit-large-patch14") == []
    report = mdir.damage_report("imagebind")
    assert report is not None and report.startswith(f"{checkpoint} (it is ")
    assert f"--model-dir {models} --only imagebind --force" in report

    rows = {row.key: row for row in mdir.status()}
    assert rows["audioldm2-music"].present
    assert rows["audioldm2-music"].as_dict()["damaged"][0].startswith(f"{unet} (it is ")
    lines = status_lines(mdir)
    assert any(line.split()[:2] == ["imagebind", "DAMAGED"] for line in lines), lines
    assert any(line.split()[:2] == ["clip-vit-large-patch14", "present"] for line in lines), lines
    assert f"damaged or incomplete: {checkpoint} (it is " in "\n".join(lines)
    assert lines[-1].startswith("damaged: audioldm2-music, audioldm2, imagebind; copy them again")


def test_the_whole_debug_directory_reads_as_undamaged(debug_model_dir):
    mdir = ModelDir(debug_model_dir)
    assert {key: mdir.damaged_files(key) for key in mdir.entries} == {key: [] for key in mdir.entries}
