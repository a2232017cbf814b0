"""``art2mus record``: the exhibit's camera (here a video file played in real time) written to a clip."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from click.testing import CliRunner

from art2mus.installation.cli import main


def _numbered_video(path: Path, frames: int, fps: float) -> None:
    """Frame k is uniformly grey at level 10 + 8 k, so a recorded frame says which source frame it was."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (160, 120))
    for k in range(frames):
        writer.write(np.full((120, 160, 3), 10 + 8 * k, np.uint8))
    writer.release()


def test_record_writes_the_camera_at_its_pace(tmp_path: Path) -> None:
    _numbered_video(tmp_path / "camera.avi", 30, 10.0)
    exhibit = tmp_path / "exhibit.yaml"
    exhibit.write_text(
        "artworks:\n  - id: a\n    images: [a.png]\n"
        "camera: {type: video, path: camera.avi, fps: 10, loop: false}\n"
    )
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((64, 64, 3), np.uint8))
    out = tmp_path / "clip.mp4"
    result = CliRunner().invoke(main, ["record", str(exhibit), "-o", str(out), "--duration", "1.5"])
    assert result.exit_code == 0, result.output
    assert f"wrote {out}: 1.5 s, 160x120, 10 fps" in result.output
    capture = cv2.VideoCapture(str(out))
    levels = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        levels.append(float(frame.mean()))
    capture.release()
    assert len(levels) == 15
    # the camera's frames in order, at its own pace: never backwards, and several distinct ones
    assert all(b >= a - 2 for a, b in zip(levels[:-1], levels[1:], strict=True))
    assert levels[-1] - levels[0] > 8 * 5
    assert not (tmp_path / "clip.partial.mp4").exists()
