"""ImageAligner: shapes, save/load round trip, and refusal against the wrong encoder or language model."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest
import torch

from art2mus.models.aligner import (
    ALIGNER_FORMAT_VERSION,
    AlignerMismatchError,
    ImageAligner,
    VisualConditioningExtractor,
    import_v1_aligner,
)
from art2mus.models.encoders.base import EncoderSpec

pytestmark = pytest.mark.usefixtures("single_torch_thread")


def _aligner(n_tokens: int = 4, output_norm: str = "none", seed: int = 0) -> ImageAligner:
    torch.manual_seed(seed)
    return ImageAligner(
        "tiny", 12, lm_dim=24, n_tokens=n_tokens, hidden_dim=32, output_norm=output_norm
    ).eval()


@pytest.mark.parametrize("n_tokens", [1, 4])
def test_maps_embeddings_to_tokens_of_the_language_model_width(n_tokens):
    aligner = _aligner(n_tokens)
    tokens = aligner(torch.nn.functional.normalize(torch.randn(3, 12), dim=-1))
    assert tokens.shape == (3, n_tokens, 24)
    # the published layout: Linear -> Tanh -> Linear
    assert isinstance(aligner.proj_in, torch.nn.Linear) and isinstance(aligner.act, torch.nn.Tanh)
    assert aligner.proj_out.out_features == n_tokens * 24


def test_tokens_differ_per_image_and_per_token():
    aligner = _aligner(4)
    tokens = aligner(torch.nn.functional.normalize(torch.randn(2, 12), dim=-1))
    assert not torch.allclose(tokens[0], tokens[1])
    assert not torch.allclose(tokens[0, 0], tokens[0, 1])


def test_layernorm_option_normalises_each_token():
    tokens = _aligner(4, output_norm="layernorm")(torch.randn(5, 12))
    assert torch.allclose(tokens.mean(-1), torch.zeros(5, 4), atol=1e-5)
    assert torch.allclose(tokens.std(-1, unbiased=False), torch.ones(5, 4), atol=1e-3)


def test_input_is_l2_normalised_so_embedding_scale_does_not_matter():
    aligner = _aligner(1)
    x = torch.randn(2, 12)
    assert torch.allclose(aligner(x), aligner(7.5 * x), atol=1e-6)


def test_wrong_embedding_width_is_a_clear_error():
    with pytest.raises(ValueError, match=r"\(batch, 12\).*got \(2, 10\)"):
        _aligner()(torch.randn(2, 10))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n_tokens": 0}, "n_tokens"),
        ({"n_tokens": 65}, "between 1 and 64"),
        ({"output_norm": "batchnorm"}, "output_norm"),
        ({"embedding_dim": -3}, "embedding_dim"),
    ],
)
def test_bad_constructor_arguments_are_named(kwargs, message):
    args = {"encoder_name": "tiny", "embedding_dim": 12, "lm_dim": 24, "n_tokens": 1} | kwargs
    with pytest.raises(ValueError, match=message):
        ImageAligner(**args)


def test_save_and_load_round_trip_gives_identical_tokens(tmp_path):
    aligner = _aligner(4, output_norm="layernorm", seed=3)
    folder = aligner.save(tmp_path / "a4", metadata={"steps": 10})
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]
    document = json.loads((folder / "config.json").read_text())
    assert document["format_version"] == ALIGNER_FORMAT_VERSION
    assert document["encoder"] == {"name": "tiny", "dim": 12}
    assert document["config"]["lm_dim"] == 24 and document["config"]["n_tokens"] == 4
    assert document["metadata"] == {"steps": 10}
    loaded = ImageAligner.load(folder, encoder_spec=EncoderSpec("tiny", 12), lm_dim=24)
    x = torch.randn(3, 12)
    assert torch.equal(loaded(x), aligner(x))
    assert loaded.config == aligner.config


def _trained_and_imported(folder: Path) -> list[Path]:
    """An aligner saved as ``train`` saves one, and a v1 checkpoint imported as ``models import-v1`` does."""
    _aligner(1).save(folder / "trained")
    torch.manual_seed(1)
    state = {
        "projection1.weight": torch.randn(48, 12),
        "projection1.bias": torch.zeros(48),
        "projection2.weight": torch.randn(2 * 24, 48),
        "projection2.bias": torch.zeros(2 * 24),
    }
    torch.save(state, folder / "v1.pt")
    import_v1_aligner(folder / "v1.pt", folder / "imported", encoder_name="tiny", lm_dim=24)
    return [folder / "trained", folder / "imported"]


@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o077, 0o600)], ids=["022", "077"])
def test_a_saved_or_imported_aligner_gets_the_writers_umask_like_any_file(tmp_path, umask, mask, mode):
    """safetensors' save_file makes 0600 files whatever the umask; an aligner's files get 0666 less it."""
    umask(mask)
    for folder in _trained_and_imported(tmp_path):
        assert {p.name: p.stat().st_mode & 0o777 for p in folder.iterdir()} == {
            "config.json": mode,
            "model.safetensors": mode,
        }


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to switch users")
def test_an_aligner_trained_as_root_loads_for_the_daemons_user(umask):
    """A curator trains or imports an aligner as root (umask 022, as a shell gives it); the daemon, running as
    its own user, loads it instead of failing on a 0600 model.safetensors."""
    umask(0o022)
    folder = Path(tempfile.mkdtemp(prefix="art2mus-aligners-"))  # pytest's tmp_path is closed to other users
    try:
        folder.chmod(0o755)
        aligners = _trained_and_imported(folder)
        pid = os.fork()
        if pid == 0:  # the daemon's user: nobody
            code = 3
            try:
                os.setgroups([])
                os.setgid(65534)
                os.setuid(65534)
                for aligner in aligners:
                    ImageAligner.load(aligner, encoder_spec=EncoderSpec("tiny", 12), lm_dim=24)
                code = 0
            except Exception:  # noqa: BLE001 - reported through the exit code
                code = 1
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, "the daemon's user could not load the aligner"
    finally:
        shutil.rmtree(folder)


def test_loading_against_another_encoder_is_refused_with_both_names(tmp_path):
    folder = _aligner().save(tmp_path / "a")
    with pytest.raises(
        AlignerMismatchError, match=r"'tiny' \(dim 12\).*'clip-vit-large-patch14' \(dim 768\)"
    ):
        ImageAligner.load(folder, encoder_spec=EncoderSpec("clip-vit-large-patch14", 768))
    # same name, other width (a different build of the same family) is refused too
    with pytest.raises(AlignerMismatchError):
        ImageAligner.load(folder, encoder_spec=EncoderSpec("tiny", 16))


def test_loading_against_another_language_model_width_is_refused(tmp_path):
    folder = _aligner().save(tmp_path / "a")
    with pytest.raises(AlignerMismatchError, match="24-d tokens.*768-d"):
        ImageAligner.load(folder, lm_dim=768)


def test_newer_format_version_is_refused(tmp_path):
    folder = _aligner().save(tmp_path / "a")
    document = json.loads((folder / "config.json").read_text())
    document["format_version"] = ALIGNER_FORMAT_VERSION + 1
    (folder / "config.json").write_text(json.dumps(document))
    with pytest.raises(ValueError, match="format_version .* not supported"):
        ImageAligner.load(folder)


def test_missing_or_foreign_files_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.json"):
        ImageAligner.load(tmp_path / "nothing")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "config.json").write_text(json.dumps({"_class_name": "UNet"}))
    with pytest.raises(ValueError, match="not an art2mus aligner config"):
        ImageAligner.load(tmp_path / "other")
    folder = _aligner().save(tmp_path / "a")
    (folder / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        ImageAligner.load(folder)


def test_weights_that_do_not_fit_the_config_are_refused(tmp_path):
    folder = _aligner(4).save(tmp_path / "a")
    _aligner(1).save(tmp_path / "b")
    document = json.loads((folder / "config.json").read_text())
    (tmp_path / "b" / "config.json").write_text(json.dumps(document))
    # the recorded hash catches the swap first ...
    with pytest.raises(ValueError, match=r"b/model.safetensors are corrupted or were replaced"):
        ImageAligner.load(tmp_path / "b")
    # ... and a folder from before hashes were recorded still fails on the shapes
    del document["weights_sha256"]
    (tmp_path / "b" / "config.json").write_text(json.dumps(document))
    with pytest.raises(ValueError, match=r"(?s)do not match its config.*size mismatch"):
        ImageAligner.load(tmp_path / "b")


def test_extractor_pairs_encoder_and_aligner(tiny_encoder_class, artworks):
    encoder = tiny_encoder_class()
    extractor = VisualConditioningExtractor(encoder, _aligner(4))
    tokens = extractor(artworks[:2])
    assert tokens.shape == (2, 4, 24)
    assert torch.allclose(tokens, extractor.tokens(encoder.encode_images(artworks[:2])))
    with pytest.raises(AlignerMismatchError, match="'tiny' .* 'other'"):
        VisualConditioningExtractor(tiny_encoder_class(name="other"), _aligner(4))
