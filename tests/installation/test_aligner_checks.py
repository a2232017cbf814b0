"""What ``validate`` and ``doctor`` say of an art2mus generator's aligner: every one that cannot load, or
whose weights cannot be verified, is said before a soundscape is rendered (the room played its fallback
without a word)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from small_exhibit import small_exhibit_spec

from art2mus.installation.config import validate_exhibit


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    """A debug model directory (ImageBind only) for the validate tests; they change only copies."""
    from art2mus.models.debug import build_debug_model_dir

    return build_debug_model_dir(tmp_path_factory.mktemp("models") / "models", encoders=("imagebind",))


def _exhibit(root: Path, repo_root: Path, model_dir: Path, aligner: Path | None) -> Path:
    """One demo artwork played by an art2mus generator on the CPU, with ``aligner`` (None: unset)."""
    spec = small_exhibit_spec(root, repo_root, {"amber-fields": None})
    spec["artworks"][0]["soundscape"]["generator"] = "art2mus"
    art2mus = {"type": "art2mus", "model_dir": str(model_dir), "device": "cpu"}
    spec["generators"] = {"procedural": {"type": "procedural"}, "art2mus": art2mus}
    if aligner is not None:
        art2mus["aligner"] = str(aligner)
    path = root / "exhibit.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def _line(exhibit: Path, starts: str) -> int:
    """The line of ``exhibit`` that starts with ``starts`` (1-based)."""
    return next(i for i, line in enumerate(exhibit.read_text().splitlines(), 1) if line.startswith(starts))


def test_doctor_warns_that_an_aligner_without_a_recorded_sha256_is_not_verified(models, tmp_path, repo_root):
    """It said "weights match their recorded sha256" of an aligner whose config.json records none."""
    unrecorded = tmp_path / "unrecorded"
    shutil.copytree(models / "aligners/debug-imagebind-4tok", unrecorded)
    document = json.loads((unrecorded / "config.json").read_text())
    del document["weights_sha256"]
    (unrecorded / "config.json").write_text(json.dumps(document))
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "xdg"), "HOME": str(tmp_path)}
    doctor = [sys.executable, "-m", "art2mus.installation.cli", "doctor", "--json"]
    exhibit = _exhibit(tmp_path, repo_root, models, unrecorded)
    proc = subprocess.run([*doctor, str(exhibit)], env=env, capture_output=True, text=True, timeout=120)
    checks = {item["check"]: item for item in map(json.loads, proc.stdout.splitlines())}
    aligner = checks["aligner:art2mus"]
    assert aligner["status"] == "warn", aligner
    assert "no sha256 recorded in its config.json: weights not verified" in aligner["detail"]
    assert "match" not in aligner["detail"]


def test_doctor_warns_of_damaged_model_weights_naming_the_file(models, tmp_path, repo_root):
    """A truncated UNet had every file doctor looked for: it said OK, and only a rendering found it. Headers
    and sizes are read, not the weights, so this stays fast on 5 GB of real weights."""
    damaged = tmp_path / "models"
    shutil.copytree(models, damaged, symlinks=True)
    unet = damaged / "audioldm2-music/unet/diffusion_pytorch_model.safetensors"
    weights = unet.read_bytes()
    unet.write_bytes(weights[: len(weights) * 2 // 3])  # an interrupted copy
    exhibit = _exhibit(tmp_path, repo_root, damaged, damaged / "aligners/debug-imagebind-4tok")
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "xdg"), "HOME": str(tmp_path)}
    doctor = [sys.executable, "-m", "art2mus.installation.cli", "doctor", "--json", str(exhibit)]
    proc = subprocess.run(doctor, env=env, capture_output=True, text=True, timeout=120)
    checks = {item["check"]: item for item in map(json.loads, proc.stdout.splitlines())}
    found = checks["models:art2mus"]
    assert found["status"] == "warn", found
    assert found["detail"].startswith(
        f"{unet} (it is {len(weights) * 2 // 3} bytes, but its header describes {len(weights)}"
    )
    assert "--only audioldm2-music --force" in found["detail"]
    assert found["detail"].endswith("its fallback 'procedural' will play")


def test_an_aligner_whose_config_or_dimensions_do_not_fit_is_a_problem_at_its_field(
    models, tmp_path, repo_root
):
    edited = tmp_path / "edited"
    shutil.copytree(models / "aligners/debug-imagebind-4tok", edited)
    document = json.loads((edited / "config.json").read_text())
    document["config"]["n_tokens"] = 1
    (edited / "config.json").write_text(json.dumps(document))
    exhibit = _exhibit(tmp_path, repo_root, models, edited)
    _, problems = validate_exhibit(exhibit)
    assert [(p.field, p.line) for p in problems] == [
        ("generators.art2mus.aligner", _line(exhibit, "    aligner:"))
    ]
    assert (
        "describes 1 x 24-d tokens" in problems[0].message
        and "proj_out.weight (96, 32)" in problems[0].message
    )

    from art2mus.models.aligner import ImageAligner

    wide = ImageAligner("imagebind_debug", 40, lm_dim=768, hidden_dim=8).save(tmp_path / "wide")
    _, problems = validate_exhibit(_exhibit(tmp_path, repo_root, models, wide))
    assert [p.field for p in problems] == ["generators.art2mus.aligner"]
    assert (
        "produces 768-d tokens, but the language model (GPT-2) of audioldm2-music in" in problems[0].message
    )
    huge = ImageAligner("imagebind_huge", 1024, lm_dim=24, hidden_dim=8).save(tmp_path / "huge")
    _, problems = validate_exhibit(_exhibit(tmp_path, repo_root, models, huge))
    assert "is 'imagebind_debug' (40-d)" in problems[0].message
    _, problems = validate_exhibit(
        _exhibit(tmp_path, repo_root, models, models / "aligners/debug-imagebind-4tok")
    )
    assert problems == []


def test_an_unset_aligner_that_cannot_be_chosen_lists_the_candidates(models, tmp_path, repo_root):
    """Two aligners fit the debug ImageBind and none is `default`: render failed 'several aligners fit';
    validate said valid. A `default` link settles it, and the default aligner is checked like a set one."""
    own = shutil.copytree(models, tmp_path / "own", symlinks=True)
    exhibit = _exhibit(tmp_path, repo_root, own, None)
    _, problems = validate_exhibit(exhibit)
    at_generator = _line(exhibit, "    type: art2mus")  # the generator's mapping
    assert [(p.field, p.line) for p in problems] == [("generators.art2mus.aligner", at_generator)]
    said = problems[0].message
    assert "aligner is unset and several aligners fit encoder 'imagebind_debug'" in said
    assert "debug-imagebind-1tok, debug-imagebind-4tok; choose one with `aligner:`" in said
    assert f"ln -sfn debug-imagebind-1tok {own / 'aligners/default'}" in said

    (own / "aligners/default").symlink_to("debug-imagebind-4tok", target_is_directory=True)
    assert validate_exhibit(exhibit)[1] == []
    document = json.loads((own / "aligners/debug-imagebind-4tok/config.json").read_text())
    document["config"]["lm_dim"] = 12
    (own / "aligners/debug-imagebind-4tok/config.json").write_text(json.dumps(document))
    _, problems = validate_exhibit(exhibit)
    assert problems[0].message.startswith(f"the default aligner {own / 'aligners/default'}: ")


def test_no_encoder_installed_is_left_to_doctor(tmp_path, repo_root):
    (tmp_path / "empty").mkdir()
    assert validate_exhibit(_exhibit(tmp_path, repo_root, tmp_path / "empty", None))[1] == []


def test_an_aligner_that_cannot_load_is_a_warning_as_run_and_its_generator_s_fallback_plays(
    models, tmp_path, repo_root
):
    """A truncated aligner failed ``validate --as-run`` (the unit's ExecStartPre, for ever) and ``run``: the
    whole room stayed silent, while a damaged UNet or a missing encoder played the generator's fallback."""
    from click.testing import CliRunner

    from art2mus.installation.cli import main
    from art2mus.installation.config.files import model_warnings

    truncated = tmp_path / "truncated"
    shutil.copytree(models / "aligners/debug-imagebind-4tok", truncated)
    weights = truncated / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    exhibit = _exhibit(tmp_path, repo_root, models, truncated)
    line = _line(exhibit, "    aligner:")

    plain = CliRunner().invoke(main, ["validate", str(exhibit)])
    assert plain.exit_code == 1 and f"{exhibit}:{line}:" in plain.output  # plain validate: still an error

    as_run = CliRunner().invoke(main, ["validate", "--as-run", str(exhibit)])
    assert as_run.exit_code == 0, as_run.output
    [warning] = [text for text in as_run.output.splitlines() if text.startswith("warning: ")]
    assert warning.startswith(f"warning: {exhibit}:{line}:")
    assert f"generators.art2mus.aligner: {weights} is " in warning
    assert warning.endswith("(run starts: generator 'art2mus' plays its fallback 'procedural' instead)")

    # what `run` loads at its start: the exhibit, and the same sentence for its log
    config, problems = validate_exhibit(
        exhibit, audio_may_fail=True, photos_may_fail=True, models_may_fail=True
    )
    assert problems == [] and config is not None
    [logged] = model_warnings(config)
    assert logged.startswith(f"generators.art2mus.aligner: {weights} is ") and logged.endswith(
        "'procedural' instead)"
    )
    # a missing aligner folder is the same: the generator cannot start, its fallback plays
    shutil.rmtree(truncated)
    config, problems = validate_exhibit(exhibit, models_may_fail=True)
    assert problems == [] and model_warnings(config)[0].startswith(
        "generators.art2mus.aligner: folder not found"
    )
    assert [p.field for p in validate_exhibit(exhibit)[1]] == ["generators.art2mus.aligner"]
