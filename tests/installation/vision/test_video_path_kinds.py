"""A camera video path that is no file says what it is: a FIFO or a folder read "video file not found"."""

from __future__ import annotations

import os

import pytest

from art2mus.installation.vision.sources import CameraError, VideoFileSource


def test_a_fifo_is_named_as_a_fifo(tmp_path):
    fifo = tmp_path / "camera.mp4"
    os.mkfifo(fifo)
    with pytest.raises(CameraError) as refused:
        VideoFileSource(fifo).open()  # and does not hang opening it
    assert str(refused.value) == f"{fifo} is a FIFO/named pipe, not a video file"


def test_a_folder_is_named_as_a_folder(tmp_path):
    folder = tmp_path / "camera.mp4"
    folder.mkdir()
    with pytest.raises(CameraError) as refused:
        VideoFileSource(folder).open()
    assert str(refused.value) == f"{folder} is a folder, not a video file"


def test_a_device_is_named_as_a_device_with_the_camera_type_for_it():
    with pytest.raises(CameraError) as refused:
        VideoFileSource("/dev/null").open()
    assert (
        str(refused.value)
        == "/dev/null is a device, not a video file (a camera by its device path is type: path)"
    )


def test_a_missing_file_is_still_not_found(tmp_path):
    with pytest.raises(CameraError) as refused:
        VideoFileSource(tmp_path / "gone.mp4").open()
    assert str(refused.value) == f"{tmp_path / 'gone.mp4'}: video file not found"
