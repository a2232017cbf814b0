"""Shared training fixtures: a small manifest of demo artworks paired with synthetic music."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import soundfile

#: the demo exhibit's artworks the manifest pairs (in its order)
ARTWORKS = ("amber-fields", "city-at-six", "hills-of-orvale", "night-over-the-village")


@pytest.fixture(scope="module")
def manifest(tmp_path_factory, repo_root) -> Path:
    """Four demo artworks, each with 2.5 s of its own chord at 22.05 kHz, in a CSV manifest."""
    folder = tmp_path_factory.mktemp("pairs")
    (folder / "music").mkdir()
    rows = []
    for k, artwork in enumerate(ARTWORKS):
        t = np.arange(int(2.5 * 22050)) / 22050
        f0 = 110.0 * 2 ** (k * 3 / 12)
        wave = sum(0.2 * np.sin(2 * np.pi * f0 * m * t) for m in (1, 1.25, 1.5))
        soundfile.write(folder / "music" / f"{artwork}.wav", wave.astype(np.float32), 22050)
        rows.append(
            {
                "id": artwork,
                "image": str(repo_root / f"exhibits/demo/artworks/{artwork}.png"),
                "audio": f"music/{artwork}.wav",
            }
        )
    path = folder / "pairs.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["id", "image", "audio"])
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture
def train_job():
    """``train_job(pairs, models, out, **changes)``: the :class:`~art2mus.training.train_job.TrainJob` of a
    quick run (one epoch, 1 s segments, the CPU); ``changes`` set any other field."""
    from art2mus.training.train_job import TrainJob

    def make(pairs: Path, models: Path, out: Path, **changes) -> TrainJob:
        settings = dict(
            pairs=pairs, music_dir=None, gap_images=None, model_dir=models, out_dir=out, encoder="imagebind",
            tokens=1, init_aligner=None, profile=None, epochs=1, batch_size=4, accumulation=1, lr=1e-4,
            snr_gamma=None, loss_guidance=1.0, audio_norm="none", embedding_noise=None, segment_seconds=1.0,
            max_segments=6, val_fraction=0.25, patience=0, seed=0, device="cpu", mixed_precision=None,
            resume=False, overwrite=False,
        )  # fmt: skip
        return TrainJob(**{**settings, **changes})

    return make
