"""What a trained aligner's config.json records of its run: enough to reproduce it, and where it came from."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from art2mus.training.train_job import run_train_job


@pytest.fixture(scope="module")
def debug_models(tmp_path_factory) -> Path:
    import torch

    from art2mus.models.debug import build_debug_model_dir

    torch.set_num_threads(1)
    return build_debug_model_dir(tmp_path_factory.mktemp("models") / "models", encoders=("imagebind",))


def _v1_checkpoint(path: Path, embedding_dim: int, lm_dim: int) -> Path:
    """A random-weight v1 ``ImageProjectionLayer`` state dict (4 tokens), as v1's code saves it."""
    import torch

    shapes = {"projection1": (2 * lm_dim, embedding_dim), "projection2": (4 * lm_dim, 2 * lm_dim)}
    state = {f"{k}.weight": 0.1 * torch.randn(shape) for k, shape in shapes.items()}
    torch.save({**state, **{f"{k}.bias": torch.zeros(shape[0]) for k, shape in shapes.items()}}, path)
    return path


def _metadata(folder: Path) -> dict:
    return json.loads((folder / "config.json").read_text())["metadata"]


def test_fine_tuning_an_imported_v1_aligner_carries_its_origin_and_licence_forward(
    debug_models, manifest, tmp_path, train_job, monkeypatch
):
    """The sweep's report: a fine-tuned v1 aligner was listed 'origin: trained locally', its licence
    'see the aligner's training data', while the v1 weights it came from have no licence stated."""
    from click.testing import CliRunner

    from art2mus.installation.cli import main
    from art2mus.models.debug import DEBUG_GPT2_DIM
    from art2mus.models.model_dir import ModelDir

    models = tmp_path / "models"  # the session's networks, aligners of this test's own
    (models / "aligners").mkdir(parents=True)
    for part in debug_models.iterdir():
        if part.name != "aligners":
            (models / part.name).symlink_to(part.resolve(), target_is_directory=part.is_dir())
    spec = ModelDir(models).encoder_spec("imagebind")
    checkpoint = _v1_checkpoint(tmp_path / "good.pt", spec.dim, DEBUG_GPT2_DIM)
    runner = CliRunner()
    imported = runner.invoke(
        main, ["models", "import-v1", str(checkpoint), "--model-dir", str(models), "--name", "v1-good"]
    )
    assert imported.exit_code == 0, imported.output
    v1 = _metadata(models / "aligners" / "v1-good")

    monkeypatch.chdir(tmp_path)  # a relative --model-dir, as the sweep gave it
    outcome = run_train_job(
        train_job(
            manifest,
            Path("models"),
            tmp_path / "run",
            tokens=None,
            init_aligner="v1-good",
            profile="art2mus-v1",
        )
    )
    record = _metadata(outcome.result.best_dir)
    weights = json.loads((models / "aligners" / "v1-good" / "config.json").read_text())["weights_sha256"]
    assert record["init"] == {
        "aligner": "v1-good",
        "path": str(models / "aligners" / "v1-good"),
        "weights_sha256": weights,
        "origin": v1["origin"],
        "licence": v1["licence"],
        "source_sha256": v1["source_sha256"],
    }
    assert record["origin"] == f"fine-tuned locally from {v1['origin']}"
    assert record["licence"] == f"derived from {v1['origin']}: {v1['licence']}"
    assert record["model_dir"] == str(models)  # absolute, as pairs_file (before: "models")

    import shutil

    shutil.copytree(outcome.result.best_dir, models / "aligners" / "ft")
    listed = runner.invoke(main, ["models", "list", "--model-dir", str(models), "--json"])
    assert listed.exit_code == 0, listed.output
    ft = next(m for m in json.loads(listed.output)["models"] if m["key"] == "aligners/ft")
    assert ft["licence"].startswith("derived from Art2Mus v1 checkpoint good.pt: ")
    assert "trained locally" not in ft["description"]

    # fine-tuned again: one "fine-tuned from", one "derived from"
    again = run_train_job(train_job(manifest, models, tmp_path / "again", tokens=None, init_aligner="ft"))
    assert (_metadata(again.result.best_dir)["origin"], _metadata(again.result.best_dir)["licence"]) == (
        record["origin"],
        record["licence"],
    )


def test_the_record_holds_every_setting_that_changes_the_result(debug_models, manifest, tmp_path, train_job):
    """The sweep's report: --audio-norm and --segment-seconds were not recorded, so the record could not
    reproduce the run."""
    outcome = run_train_job(
        train_job(
            manifest, debug_models, tmp_path / "run", audio_norm="v1", segment_seconds=0.5, max_segments=3
        )
    )
    record = _metadata(outcome.result.best_dir)
    assert {
        k: record[k] for k in ("audio_norm", "segment_seconds", "max_segments", "encoder", "processes")
    } == {
        "audio_norm": "v1",
        "segment_seconds": 0.5,
        "max_segments": 3,
        "encoder": "imagebind",
        "processes": 1,
    }
    assert record["pairs_file"] == str(manifest.absolute()) and record["model_dir"] == str(
        debug_models.absolute()
    )
    assert "init" not in record and "origin" not in record
