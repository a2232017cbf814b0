"""The museum's path for the published aligners, through the real commands: ``art2mus models import-v1``,
an exhibit whose ``art2mus`` generator names the imported aligner, ``art2mus prerender`` and ``art2mus
render --artwork`` play it through the ``art2mus-v1`` profile; importing other weights under the same name
makes ``prerender`` render again instead of answering "cached"."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import soundfile
import torch
import yaml
from click.testing import CliRunner

from art2mus.installation.cli import main

ARTWORK = "amber-fields"


def _run(*args: object) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, [str(a) for a in args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def _v1_checkpoint(path: Path, embedding_dim: int, lm_dim: int, seed: int) -> Path:
    """A v1 ``ImageProjectionLayer`` state dict (4 tokens) of random weights, as v1's code saves it."""
    torch.manual_seed(seed)
    layer = torch.nn.Sequential()
    layer.add_module("projection1", torch.nn.Linear(embedding_dim, 2 * lm_dim))
    layer.add_module("act1", torch.nn.Tanh())
    layer.add_module("projection2", torch.nn.Linear(2 * lm_dim, 4 * lm_dim))
    torch.save(layer.state_dict(), path)
    return path


def _model_dir(debug_model_dir: Path, root: Path) -> Path:
    """The session's debug networks, with an aligners folder of this test's own."""
    models = root / "models"
    (models / "aligners").mkdir(parents=True)
    for part in debug_model_dir.iterdir():
        if part.name != "aligners":
            (models / part.name).symlink_to(part.resolve(), target_is_directory=part.is_dir())
    return models


def _exhibit(root: Path, models: Path, repo_root: Path) -> Path:
    demo = repo_root / "exhibits/demo"
    spec = {
        "artworks": [
            {
                "id": ARTWORK,
                "images": [str(demo / f"artworks/{ARTWORK}.png")],
                "soundscape": {"generator": "art2mus", "duration": 1},
            }
        ],
        "camera": {"type": "video", "path": str(demo / "camera/walk.mp4")},
        "idle": {"source": "silence"},
        "audio": {"output": {"type": "null"}},
        # the aligner's installed name, as import-v1 prints it; no profile: the aligner's config.json names it
        "generators": {
            "procedural": {"type": "procedural"},
            "art2mus": {
                "type": "art2mus",
                "model_dir": str(models),
                "aligner": "published",
                "device": "cpu",
                "steps": 2,
            },
        },  # fmt: skip
        "cache": {"dir": str(root / "cache")},
        "control_panel": {"enabled": False},
    }
    path = root / "exhibit.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def _prerender(exhibit: Path) -> list[dict]:
    code, out, err = _run("prerender", exhibit, "--json")
    assert code == 0, out + err
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")][:-1]


def _entry(cache: Path, exclude: set[str] = frozenset()) -> tuple[str, dict]:
    (sidecar,) = [p for p in cache.glob("*.json") if p.stem not in exclude]
    return sidecar.stem, json.loads(sidecar.read_text())


def test_an_imported_v1_aligner_renders_through_its_profile_and_a_new_one_re_renders(
    debug_model_dir, tmp_path, repo_root, single_torch_thread
):
    from art2mus.models.debug.audioldm2 import DEBUG_GPT2_DIM
    from art2mus.models.encoders import load_image_encoder

    spec = load_image_encoder("imagebind", debug_model_dir / "imagebind").spec
    models = _model_dir(debug_model_dir, tmp_path)
    first = _v1_checkpoint(tmp_path / "art2mus_4_img_proj_layer.pt", spec.dim, DEBUG_GPT2_DIM, seed=1)
    imported = (
        "--name",
        "published",
        "--model-dir",
        models,
        "--encoder",
        spec.name,
        "--lm-dim",
        DEBUG_GPT2_DIM,
    )
    code, out, err = _run("models", "import-v1", first, *imported)
    assert code == 0, out + err
    assert "generators.<name>.aligner to published (`aligner: published`" in out
    code, out, err = _run("models", "list", "--model-dir", models)
    assert code == 0 and "published" in out and "no licence" in out, out
    exhibit = _exhibit(tmp_path, models, repo_root)

    assert [(r["what"], r["generator"], r["status"]) for r in _prerender(exhibit)] == [
        (ARTWORK, "art2mus", "rendered")
    ]
    key, entry = _entry(tmp_path / "cache")
    made = entry["metadata"]
    assert made["profile"] == "art2mus-v1" and made["aligner"].endswith("published")
    # the profile's defaults, as v1's __call__ runs: its prompts, 3 candidates ranked by ImageBind
    assert made["support_prompt"] == "Music representing the content of this artwork"
    assert made["negative_prompt"] == "Low quality." and made["num_waveforms"] == 3
    assert made["score"] is not None and made["steps"] == 2  # the exhibit's steps win
    assert [r["status"] for r in _prerender(exhibit)] == ["cached"]

    # `render --artwork` makes the same soundscape as the one prerender cached (24-bit FLAC there)
    code, out, err = _run(
        "render", exhibit, "--artwork", ARTWORK, "-o", tmp_path / "one.wav", "--format", "float"
    )
    assert code == 0, out + err
    rendered, rate = soundfile.read(tmp_path / "one.wav", dtype="float32")
    cached, cached_rate = soundfile.read(tmp_path / "cache" / f"{key}.flac", dtype="float32")
    assert rate == cached_rate == 16000 and rendered.shape == cached.shape
    assert np.abs(rendered - cached).max() <= 2.0**-22 and np.abs(rendered).max() > 0.01

    # new weights at the same name (a retrained or corrected aligner): the cache must notice
    second = _v1_checkpoint(tmp_path / "other.pt", spec.dim, DEBUG_GPT2_DIM, seed=2)
    code, out, err = _run("models", "import-v1", second, *imported)
    assert code == 1 and "--force" in out + err  # an import never replaces an aligner silently
    code, out, err = _run("models", "import-v1", second, *imported, "--force")
    assert code == 0, out + err
    assert [r["status"] for r in _prerender(exhibit)] == ["rendered"]
    new_key, new_entry = _entry(tmp_path / "cache", exclude={key})
    assert new_key != key and new_entry["metadata"]["profile"] == "art2mus-v1"
    again, _ = soundfile.read(tmp_path / "cache" / f"{new_key}.flac", dtype="float32")
    assert again.shape == cached.shape and np.abs(again - cached).max() > 1e-3  # other weights, other music
    assert [r["status"] for r in _prerender(exhibit)] == ["cached"]
