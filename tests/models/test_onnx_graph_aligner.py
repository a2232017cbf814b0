"""An ONNX export that carries an aligner says which one, and that aligner is the one played.

Before: two training runs' aligners (both ``runs/*/best``) were exported to the same
``onnx/imagebind_debug-best``, the second replacing the first without a word, and ``encoder.json`` did not
say which aligner it held; an exhibit with ``encoder: onnx`` played whatever ``aligner:`` named through
torch (validate said nothing about another aligner), and with ``aligner:`` unset refused, listing every
aligner of the model directory.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from art2mus.installation.cli import main
from art2mus.models.aligner import ImageAligner
from art2mus.models.art2mus_generator import Art2MusGenerator, Art2MusGeneratorConfig
from art2mus.models.generator import GenerationRequest
from art2mus.models.model_dir import aligner_identity


def _export(models: Path, aligner: Path, *more: str):
    return CliRunner().invoke(
        main, ["models", "export-onnx", "--model-dir", str(models), "--aligner", str(aligner), *more]
    )


@pytest.fixture(scope="module")
def runs(debug_model_dir, tmp_path_factory) -> dict[str, Path]:
    """A copy of the debug model directory, two training runs' aligners (``runs/a/best``: the debug 4-token
    aligner's weights, ``runs/b/best``: others) and their exports with the default names."""
    root = tmp_path_factory.mktemp("graph-aligner")
    models = root / "models"
    shutil.copytree(debug_model_dir, models, symlinks=True)
    a, b = root / "runs/a/best", root / "runs/b/best"
    shutil.copytree(models / "aligners/debug-imagebind-4tok", a)
    other = ImageAligner.load(a)
    with torch.no_grad():
        for parameter in other.parameters():
            parameter.add_(0.5)
    other.save(b)
    exported = {}
    for name, folder in (("a", a), ("b", b)):
        result = _export(models, folder)
        assert result.exit_code == 0, result.output
        exported[name] = Path(result.output.strip().splitlines()[-1].split()[1])
    return {"models": models, "a": a, "b": b, "export_a": exported["a"], "export_b": exported["b"]}


def test_two_runs_best_aligners_export_to_two_folders_that_say_which_aligner(runs):
    assert runs["export_a"] == runs["models"] / "onnx/imagebind_debug-a-best"
    assert runs["export_b"] == runs["models"] / "onnx/imagebind_debug-b-best"
    for name in ("a", "b"):
        record = json.loads((runs[f"export_{name}"] / "encoder.json").read_text())["aligner"]
        assert record == {"source": str(runs[name].absolute()), **aligner_identity(runs[name])}
        assert record["conditioning_profile"] == "art2mus-music"


def test_an_export_of_another_aligner_is_not_replaced_without_force(runs, tmp_path):
    out = tmp_path / "export"
    shutil.copytree(runs["export_a"], out)
    refused = _export(runs["models"], runs["b"], "--out", str(out))
    assert refused.exit_code == 1
    digest_a, digest_b = (aligner_identity(runs[n])["weights_sha256"][:12] for n in ("a", "b"))
    assert refused.output == (
        f"Error: {out} holds an export of another aligner: {runs['a'].absolute()} (sha256 {digest_a}) (this one: "
        f"{runs['b'].absolute()} (sha256 {digest_b})); give another --out, or --force to replace it\n"
    )
    assert json.loads((out / "encoder.json").read_text())["aligner"]["source"] == str(runs["a"].absolute())
    forced = _export(runs["models"], runs["b"], "--out", str(out), "--force")
    assert forced.exit_code == 0, forced.output
    assert json.loads((out / "encoder.json").read_text())["aligner"]["source"] == str(runs["b"].absolute())


def _settings(runs, aligner: Path | None) -> dict:
    config = Art2MusGeneratorConfig(
        model_dir=runs["models"], encoder="onnx", encoder_path=runs["export_a"], aligner=aligner, device="cpu"
    )
    return config.settings()


def test_with_aligner_unset_the_graphs_aligner_plays_its_tokens_and_keys_the_cache(runs, monkeypatch):
    settings = _settings(runs, None)
    generator = Art2MusGenerator(**{**settings, "steps": 2, "guidance_scale": 1.0})
    assert generator.aligner_path == runs["a"].absolute()
    assert generator.pipeline.graph_tokens
    calls = []
    embed_and_align = type(generator.pipeline.encoder).embed_and_align

    def spy(self, images):
        calls.append(len(images))
        return embed_and_align(self, images)

    monkeypatch.setattr(type(generator.pipeline.encoder), "embed_and_align", spy)
    image = np.random.default_rng(0).integers(0, 255, (64, 80, 3), dtype=np.uint8)
    sound = generator.generate(image, GenerationRequest(duration_s=0.5, seed=1, loop=False))
    assert calls == [1] and sound.metadata["aligner"] == str(runs["a"].absolute())
    # the graph's aligner keys the cache as the same aligner named does: one identity, its sha256 and profile
    named = Art2MusGenerator.cache_identity(_settings(runs, runs["a"]))
    assert Art2MusGenerator.cache_identity(settings) == named
    assert named["aligner_identity"] == [{"name": "best", **aligner_identity(runs["a"])}]


def test_an_aligner_of_other_weights_beside_the_graph_is_refused_naming_both(runs):
    from art2mus.installation.config.files import model_findings

    config = Art2MusGeneratorConfig(
        model_dir=runs["models"],
        encoder="onnx",
        encoder_path=runs["export_a"],
        aligner=runs["b"],
        device="cpu",
    )
    digest_a, digest_b = (aligner_identity(runs[n])["weights_sha256"][:12] for n in ("a", "b"))
    expected = (
        f"aligner {runs['b']} (weights sha256 {digest_b}) is not the aligner the ONNX graph at "
        f"{runs['export_a']} carries and plays ({runs['a'].absolute()}, sha256 {digest_a})"
    )
    findings = model_findings({"art2mus": config})
    assert [loc for loc, _ in findings] == [("generators", "art2mus", "aligner")]
    assert findings[0][1].startswith(expected)
    with pytest.raises(ValueError, match="is not the aligner the ONNX graph"):
        Art2MusGenerator(**config.settings())
    unset = Art2MusGeneratorConfig(
        model_dir=runs["models"], encoder="onnx", encoder_path=runs["export_a"], device="cpu"
    )
    assert model_findings({"art2mus": unset}) == []


def test_a_graph_whose_aligner_is_nowhere_is_named(runs, tmp_path):
    export = tmp_path / "export"
    shutil.copytree(runs["export_b"], export)
    document = json.loads((export / "encoder.json").read_text())
    document["aligner"]["source"] = str(tmp_path / "gone")
    (export / "encoder.json").write_text(json.dumps(document))
    config = Art2MusGeneratorConfig(
        model_dir=runs["models"], encoder="onnx", encoder_path=export, device="cpu"
    )
    from art2mus.installation.config.files import model_findings

    ((loc, message),) = model_findings({"art2mus": config})
    assert loc == ("generators", "art2mus", "aligner")
    assert message.startswith(
        f"the ONNX graph at {export} carries aligner {tmp_path / 'gone'} (weights sha256 "
    )


def test_doctor_checks_the_graphs_aligner_when_aligner_is_unset(runs):
    """doctor checked the encoder's default aligner (aligners/default), not the one the graph carries and plays."""
    from art2mus.installation.health import _default_aligner
    from art2mus.models.model_dir import ModelDir

    config = Art2MusGeneratorConfig(
        model_dir=runs["models"], encoder="onnx", encoder_path=runs["export_b"], device="cpu"
    )
    assert _default_aligner(ModelDir(runs["models"]), config) == runs["b"].resolve()
    # and says which it is (it said 'the default aligner', the model directory's aligners/default)
    from types import SimpleNamespace

    from art2mus.installation.health import check_models

    (check,) = [
        c
        for c in check_models(SimpleNamespace(generators={"art2mus": config}))
        if c.name.startswith("aligner:")
    ]
    assert check.detail.startswith(
        f"the ONNX graph's aligner (aligner: unset): {runs['b'].resolve()}: weights match"
    )
