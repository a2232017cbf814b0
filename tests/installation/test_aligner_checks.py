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

import yaml
from small_exhibit import small_exhibit_spec


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


def test_doctor_warns_that_an_aligner_without_a_recorded_sha256_is_not_verified(tmp_path, repo_root):
    """It said "weights match their recorded sha256" of an aligner whose config.json records none."""
    from art2mus.models.debug import build_debug_model_dir

    models = build_debug_model_dir(tmp_path / "models", encoders=("imagebind",))
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
