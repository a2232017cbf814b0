"""A small exhibit spec for tests: demo artworks with short soundscapes, the walk video as camera, no sound card."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def small_exhibit_spec(tmp_path: Path, repo_root: Path, audio: dict[str, Path | None]) -> dict[str, Any]:
    """Artwork id (a demo artwork) -> its fixed audio file, or None for a 2 s procedural soundscape."""
    demo = repo_root / "exhibits/demo"
    artworks = []
    for artwork_id, file in audio.items():
        entry: dict[str, Any] = {"id": artwork_id, "images": [str(demo / f"artworks/{artwork_id}.png")]}
        entry.update({"audio": str(file)} if file is not None else {"soundscape": {"duration": 2}})
        artworks.append(entry)
    return {
        "artworks": artworks,
        "camera": {"type": "video", "path": str(demo / "camera/walk.mp4")},
        "recognition": {"index_dir": str(tmp_path / "index")},
        "idle": {"duration": 2},
        "audio": {"output": {"type": "null"}},
        "cache": {"dir": str(tmp_path / "cache")},
        "control_panel": {"enabled": False},
    }
