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


def _recorded_levels(path: Path) -> list[float]:
    """Each frame of the video at ``path``, as its mean grey level."""
    capture = cv2.VideoCapture(str(path))
    levels = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        levels.append(float(frame.mean()))
    capture.release()
    return levels


def _record_numbered_video(tmp_path: Path, camera: str, duration: str) -> tuple[Path, str]:
    """``art2mus record`` of a 10 fps numbered video as the camera section ``camera`` (flow YAML, inside
    the braces, after ``type: video, path: camera.avi``): the clip and the command's output."""
    _numbered_video(tmp_path / "camera.avi", 30, 10.0)
    exhibit = tmp_path / "exhibit.yaml"
    exhibit.write_text(
        f"artworks:\n  - id: a\n    images: [a.png]\ncamera: {{type: video, path: camera.avi, {camera}}}\n"
    )
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((64, 64, 3), np.uint8))
    out = tmp_path / "clip.mp4"
    result = CliRunner().invoke(main, ["record", str(exhibit), "-o", str(out), "--duration", duration])
    assert result.exit_code == 0, result.output
    return out, result.output


def test_record_writes_the_camera_at_its_pace(tmp_path: Path) -> None:
    out, output = _record_numbered_video(tmp_path, "fps: 10, loop: false", "1.5")
    assert f"wrote {out}: 1.5 s, 160x120, 10 fps" in output
    levels = _recorded_levels(out)
    assert len(levels) == 15
    # the camera's frames in order, at its own pace: never backwards, and several distinct ones
    assert all(b >= a - 2 for a, b in zip(levels[:-1], levels[1:], strict=True))
    assert levels[-1] - levels[0] > 8 * 5
    assert not (tmp_path / "clip.partial.mp4").exists()
