"""prerender's last lines say which soundscapes failed and why, not only how many."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from click.testing import CliRunner

from art2mus.installation.cli import main


def _broken_model_exhibit(tmp_path: Path, repo_root: Path, count: int) -> Path:
    """``count`` artworks (work-01, ...) on the art2mus generator with an empty model folder: each fails."""
    (tmp_path / "no-models").mkdir()
    picture = str(repo_root / "exhibits/demo/artworks/amber-fields.png")
    spec = {
        "artworks": [
            {
                "id": f"work-{n:02d}",
                "images": [picture],
                "soundscape": {"generator": "art2mus", "duration": 2},
            }
            for n in range(1, count + 1)
        ],
        "generators": {
            "procedural": {"type": "procedural"},
            "art2mus": {"type": "art2mus", "model_dir": str(tmp_path / "no-models")},
        },
        "camera": {"type": "video", "path": str(repo_root / "exhibits/demo/camera/walk.mp4")},
        "idle": {"duration": 2},
        "audio": {"output": {"type": "null"}},
        "cache": {"dir": str(tmp_path / "cache")},
    }
    path = tmp_path / "exhibit.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_the_summary_names_the_failed_soundscapes_and_why(tmp_path, repo_root):
    """'100 rendered, 0 already cached, 1 failed -> ...' did not say which: the curator searched 101 lines.
    The summary now names the first 10 with their reasons, and how many more."""
    exhibit = _broken_model_exhibit(tmp_path, repo_root, 12)
    text = CliRunner().invoke(main, ["prerender", str(exhibit)])
    assert text.exit_code == 1, text.output
    last = text.stdout.splitlines()
    names = ", ".join(f"work-{n:02d}" for n in range(1, 11))
    assert last[-1] == f"1 rendered, 0 already cached, 12 failed ({names} and 2 more) -> {tmp_path / 'cache'}"
    reasons = last[-11:-1]
    assert [line.split()[1] for line in reasons] == [f"work-{n:02d}" for n in range(1, 11)]
    assert all(line.startswith("failed: ") and "not installed" in line for line in reasons), reasons
    data = CliRunner().invoke(main, ["prerender", str(exhibit), "--json"])
    summary = json.loads(data.stdout.splitlines()[-1])["summary"]
    assert [f["what"] for f in summary["failures"]] == [f"work-{n:02d}" for n in range(1, 11)]
    assert all("not installed" in f["error"] for f in summary["failures"]) and summary["failed"] == 12
