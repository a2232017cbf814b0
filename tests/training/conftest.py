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
