"""A generator that cannot load (a truncated UNet in the model directory): the room plays its fallback, the
log says why once for the whole start, and the status and the panel's attention say it too."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
import yaml
from small_exhibit import small_exhibit_spec

from art2mus.installation.config import load_exhibit
from art2mus.installation.gallery import Gallery
from art2mus.kiosk_ui.insight import attention

#: the demo's eight artworks
ARTWORKS = tuple(sorted(p.stem for p in (Path(__file__).parents[2] / "exhibits/demo/artworks").glob("*.png")))


@pytest.fixture(scope="module")
def damaged_models(tmp_path_factory) -> Path:
    """A debug model directory (CLIP only) whose UNet weights were cut short by an interrupted copy."""
    from art2mus.models.debug import build_debug_model_dir

    models = build_debug_model_dir(tmp_path_factory.mktemp("models") / "models", encoders=("clip",))
    unet = models / "audioldm2-music/unet/diffusion_pytorch_model.safetensors"
    weights = unet.read_bytes()
    (models.parent / "unet.safetensors").write_bytes(weights)  # the good copy, for the technician's fix
    unet.write_bytes(weights[: len(weights) // 2])
    return models


def _gallery(tmp_path: Path, repo_root: Path, models: Path, artworks: tuple[str, ...] = ARTWORKS) -> Gallery:
    """The demo's ``artworks``, each on the art2mus generator (fallback: procedural)."""
    spec = small_exhibit_spec(tmp_path, repo_root, dict.fromkeys(artworks))
    for artwork in spec["artworks"]:
        artwork["soundscape"]["generator"] = "art2mus"
    spec["generators"] = {
        "procedural": {"type": "procedural"},
        "art2mus": {
            "type": "art2mus",
            "model_dir": str(models),
            "encoder": "clip",
            "aligner": str(models / "aligners/debug-clip-4tok"),
            "device": "cpu",
            "steps": 2,
            "fallback": "procedural",
        },
    }
    path = tmp_path / "exhibit.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return Gallery(load_exhibit(path))


def test_a_damaged_model_is_logged_once_for_the_start_and_shown_in_the_status(
    tmp_path, repo_root, damaged_models, caplog, capfd
):
    """Each artwork logged the same cause three times (the generator process, its supervisor, the
    soundscapes): 24 long warnings for 8 artworks, 300 for 100. And nothing in /api/status or on the panel
    said that the whole room played procedural bridges instead of the model."""
    caplog.set_level(logging.INFO)
    gallery = _gallery(tmp_path, repo_root, damaged_models)
    gallery.init_audio()
    try:
        library = gallery.init_soundscapes()
        assert gallery.worker.wait_idle(120), gallery.worker.status()
        for result in gallery._early_results:  # what the running room does with them: keep the bridges
            gallery.soundscape_source(gallery.exhibit).generated_clip(result, gallery.engine)
        assert set(library.made_by.values()) == {"procedural"}
        status = gallery.status()
    finally:
        gallery.close()
    cause = "diffusion_pytorch_model.safetensors cannot be loaded"
    # the generator process logs to the daemon's stderr; the daemon's own records are in caplog
    from_process = [line for line in capfd.readouterr().err.splitlines() if cause in line]
    from_daemon = [r for r in caplog.records if r.levelno >= logging.WARNING and cause in r.getMessage()]
    assert len(from_process) + len(from_daemon) == 1, (from_process, [r.getMessage() for r in from_daemon])
    assert "generator 'art2mus' cannot load" in (from_process + [r.getMessage() for r in from_daemon])[0]

    generation = status["generation"]
    (problem,) = generation["problems"]
    assert problem.startswith("generator 'art2mus' cannot load: DamagedModelFile: ")
    assert cause in problem and problem.endswith("; its fallback 'procedural' plays for 8 artworks")
    assert list(generation["cannot_load"]) == ["art2mus"]
    assert [c for c in attention(status) if "cannot load" in c] == [problem]


def test_a_generator_that_loads_again_leaves_the_status(tmp_path, repo_root, damaged_models):
    """The model copied in again: the nightly retry renders, and the status no longer says it cannot load."""
    models = tmp_path / "models"
    shutil.copytree(damaged_models, models, symlinks=True)
    gallery = _gallery(tmp_path, repo_root, models, ARTWORKS[:1])
    gallery.init_audio()
    try:
        gallery.init_soundscapes()
        assert gallery.worker.wait_idle(120)
        assert list(gallery.status()["generation"]["cannot_load"]) == ["art2mus"]
        shutil.copy2(
            damaged_models.parent / "unet.safetensors",
            models / "audioldm2-music/unet/diffusion_pytorch_model.safetensors",
        )
        assert gallery.retry_bridges() == ["amber-fields"]
        assert gallery.worker.wait_idle(120)
        generation = gallery.status()["generation"]
        assert generation["cannot_load"] == {} and generation["problems"] == [], generation
    finally:
        gallery.close()


def test_a_start_whose_jobs_fail_faster_than_they_are_sent_builds_the_generator_once(tmp_path):
    """A job that failed before the next was submitted began a new batch: a model that cannot load was
    built again, and its cause logged again, for many artworks of a large collection (each bridge takes a
    moment to render between two submits). A start's jobs now share the batch it asked for."""
    from test_generation_worker import TONE, _job

    from art2mus.installation.generation_worker import GenerationWorker

    results: list = []
    worker = GenerationWorker(tmp_path / "cache", backends=TONE, on_result=results.append)
    settings = {"fail": "build", "marker_dir": str(tmp_path)}
    try:
        batch = worker.new_batch()
        for name, level in (("a", 10), ("b", 20), ("c", 30)):
            worker.submit(_job(name, level, settings, f"k{level}"), batch)
            assert worker.wait_idle(120), worker.status()  # each fails before the next is sent
        assert len(list(tmp_path.glob("build-*"))) == 1
        assert [(r.ok, r.cannot_load) for r in results] == [(False, True)] * 3
        worker.submit(_job("d", 40, settings, "k40"), worker.new_batch())  # the nightly retry builds again
        assert worker.wait_idle(120)
        assert len(list(tmp_path.glob("build-*"))) == 2
    finally:
        worker.stop()
