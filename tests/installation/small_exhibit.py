"""A small exhibit spec for tests: demo artworks with short soundscapes, the walk video as camera, no sound card."""

from __future__ import annotations

from collections.abc import Iterable
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


def procedural_exhibit(tmp_path: Path, repo_root: Path, artwork_ids: Iterable[str], duration: float) -> Path:
    """``tmp_path/exhibit.yaml``: the demo artworks ``artwork_ids`` and the idle ambience, procedural soundscapes
    of ``duration`` seconds (a longer one keeps a process busy for longer), the cache in ``tmp_path/cache``."""
    import yaml

    spec = small_exhibit_spec(tmp_path, repo_root, dict.fromkeys(artwork_ids))
    for artwork in spec["artworks"]:
        artwork["soundscape"]["duration"] = duration
    spec["idle"]["duration"] = duration
    path = tmp_path / "exhibit.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path
