"""``art2mus record`` of a video camera writes it at the video's own fps, each frame once: a 10 fps file
was written at the camera section's default 15 fps, a third of the frames repeated."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from test_recording import _record_numbered_video, _recorded_levels

from art2mus.installation.vision.recording import record_camera
from art2mus.installation.vision.sources import CameraSource, Frame, FrameStream


def test_a_video_camera_is_recorded_at_its_own_fps_without_repeats(tmp_path: Path) -> None:
    # no `fps:`: the section's default (15) is what a live camera would be asked for, not the video's
    out, output = _record_numbered_video(tmp_path, "loop: false", "2")
    assert f"wrote {out}: 2.0 s, 160x120, 10 fps (20 distinct camera frames)" in output
    capture = cv2.VideoCapture(str(out))
    assert capture.get(cv2.CAP_PROP_FPS) == 10
    capture.release()
    levels = _recorded_levels(out)
    assert len(levels) == 20
    # each source frame once, in order (frame k is grey level 10 + 8 k)
    steps = np.diff(levels)
    assert (steps > 4).all() and (steps < 12).all(), levels


class _LiveCamera(CameraSource):
    """A live camera promising ``nominal_fps`` and delivering ``real_fps``; frame k is grey level k."""

    def __init__(self, nominal_fps: float | None, real_fps: float):
        self.name, self.nominal_fps, self.real_fps = "camera #9", nominal_fps, real_fps

    def open(self) -> FrameStream:
        camera = self

        class Stream(FrameStream):
            index, start = 0, time.monotonic()

            def read(self) -> Frame:
                time.sleep(max(0.0, self.start + self.index / camera.real_fps - time.monotonic()))
                frame = Frame(np.full((24, 32, 3), self.index, np.uint8), time.monotonic(), self.index)
                self.index += 1
                return frame

            def close(self) -> None:
                pass

        return Stream()


@pytest.mark.parametrize(
    ("nominal", "real", "fps", "written", "distinct"),
    [
        (20.0, 20.0, 15.0, 30, 30),  # at its configured fps: each frame once
        (None, 10.0, 10.0, 15, 15),  # a camera that promises none: the fps given
        (20.0, 10.0, 15.0, 30, 15),  # half as fast as it promised: each frame twice, the room's pace
    ],
)
def test_a_live_camera_is_recorded_at_its_configured_fps(
    tmp_path: Path, nominal: float | None, real: float, fps: float, written: int, distinct: int
) -> None:
    clip = record_camera(_LiveCamera(nominal, real), tmp_path / "clip.mp4", 1.5, fps=fps)
    assert (clip.fps, clip.frames) == (nominal or fps, written)
    assert abs(clip.distinct_frames - distinct) <= 1
