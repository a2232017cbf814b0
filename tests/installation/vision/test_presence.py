"""Presence: motion by background subtraction on synthetic frames, external sensor events with a hold."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from art2mus.installation.config.vision import PresenceConfig
from art2mus.installation.vision.presence import MotionDetector, PresenceMonitor, SensorInput

FPS = 10.0


class _Clock:
    def __init__(self, t: float = 0.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


def _wall(rng: np.random.Generator, height: int = 240, width: int = 320) -> np.ndarray:
    """A textured gallery wall (BGR)."""
    base = cv2.resize(rng.integers(60, 200, (12, 16, 3), dtype=np.uint8), (width, height))
    return cv2.GaussianBlur(base, (0, 0), 8)


def _with_noise(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Camera sensor noise (sigma 3 grey levels): a static scene is never bit-identical."""
    return np.clip(image.astype(np.int16) + rng.normal(0, 3, image.shape).astype(np.int16), 0, 255).astype(
        np.uint8
    )


def _static_frames(n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    wall = _wall(rng)
    return [_with_noise(wall, rng) for _ in range(n)]


def _moving_blob_frames(n: int, seed: int = 0) -> list[np.ndarray]:
    """A dark visitor-sized blob (about 6 % of the frame) walking across the static wall."""
    rng = np.random.default_rng(seed)
    wall = _wall(rng)
    frames = []
    for i in range(n):
        frame = wall.copy()
        x = 20 + 12 * i
        cv2.rectangle(frame, (x, 60), (x + 40, 180), (25, 20, 30), -1)
        frames.append(_with_noise(frame, rng))
    return frames


def test_a_static_scene_shows_no_motion_after_warm_up():
    detector = MotionDetector(warmup_frames=10)
    fractions = [detector.update(f) for f in _static_frames(60)]
    assert fractions[:10] == [0.0] * 10  # warm-up: nothing counts
    assert max(fractions[10:]) < 0.01


def test_a_moving_blob_is_motion():
    detector = MotionDetector(warmup_frames=10)
    for frame in _static_frames(30):
        detector.update(frame)
    fractions = [detector.update(f) for f in _moving_blob_frames(20)]
    assert min(fractions[2:]) > 0.02, fractions


def test_motion_presence_follows_the_visitor_and_holds_for_motion_hold():
    clock = _Clock()
    monitor = PresenceMonitor(MotionDetector(), motion_min_area=0.01, motion_hold_s=2.0, clock=clock)
    t = 0.0
    for frame in _static_frames(40):
        monitor.update_frame(frame, t)
        t += 1 / FPS
    assert not monitor.state(t).present
    for frame in _moving_blob_frames(20):
        if monitor.wants(t):
            last_blob_sample = t  # the motion detector sees one frame every SAMPLE_S
        monitor.update_frame(frame, t)
        t += 1 / FPS
    state = monitor.state(t)
    assert state.present and state.motion and state.motion_fraction > 0.01 and state.sensors == ()
    last_motion = None
    for frame in _static_frames(50):  # the visitor has gone: the wall again
        sampled = monitor.wants(t)
        monitor.update_frame(frame, t)
        if sampled and monitor.state(t).motion_fraction >= 0.01:
            last_motion = t
        t += 1 / FPS
    assert not monitor.state(t).present
    assert last_motion is None or last_motion < t - 3.0
    last_motion = last_motion if last_motion is not None else last_blob_sample
    # presence holds for motion_hold_s after the last frame with motion, and not longer
    assert monitor.state(last_motion + 1.9).present
    assert not monitor.state(last_motion + 2.1).present


def test_a_sensor_event_is_presence_for_sensor_hold_seconds():
    clock = _Clock(100.0)
    monitor = PresenceMonitor(None, sensor_hold_s=20.0, clock=clock)
    assert not monitor.state().present
    monitor.report_sensor_event("pir-1")
    for now, present in ((100.0, True), (110.0, True), (119.9, True), (120.1, False), (200.0, False)):
        clock.t = now
        state = monitor.state()
        assert state.present is present, now
        assert state.sensors == (("pir-1",) if present else ())
        assert not state.motion


def test_a_new_sensor_event_extends_the_hold_and_an_empty_report_ends_it():
    clock = _Clock(0.0)
    sensors = SensorInput(hold_s=5.0, clock=clock)
    sensors.report("pir-1")
    clock.t = 4.0
    sensors.report("pir-1")
    sensors.report("door", at=4.0)
    assert sensors.active(8.5) == ["door", "pir-1"]
    assert sensors.active(9.5) == []
    sensors.report("pir-1", at=10.0)
    sensors.report("pir-1", present=False, at=11.0)
    assert sensors.active(11.5) == []
    with pytest.raises(ValueError, match="sensor_id"):
        sensors.report("")
    with pytest.raises(ValueError, match="hold_s"):
        SensorInput(hold_s=-1)


def test_from_config_uses_the_presence_section():
    config = PresenceConfig(
        motion=False, sensor_hold_seconds=7.0, motion_hold_seconds=1.5, motion_min_area=0.05
    )
    monitor = PresenceMonitor.from_config(config, clock=_Clock())
    assert monitor.motion is None
    assert (monitor.sensors.hold_s, monitor.motion_hold_s, monitor.motion_min_area) == (7.0, 1.5, 0.05)
    assert PresenceMonitor.from_config(PresenceConfig()).motion is not None


def test_the_motion_detector_sees_one_frame_every_sample_interval():
    """A 10 fps camera: the motion detector sees every other frame (PresenceMonitor.SAMPLE_S, 0.2 s), a
    frame it declines may be fed as None, and a looping video's restart is looked at at once; a visitor
    walking through is still presence."""
    seen = []

    class Counting(MotionDetector):
        def update(self, image):
            seen.append(image is not None)
            return super().update(image)

    monitor = PresenceMonitor(Counting(), motion_min_area=0.01, motion_hold_s=2.0, clock=_Clock())
    t, wanted = 0.0, []
    for frame in _static_frames(40) + _moving_blob_frames(20):
        wanted.append(monitor.wants(t))
        monitor.update_frame(frame if wanted[-1] else None, t)
        t = round(t + 1 / FPS, 6)
    assert wanted == [True, False] * 30
    assert len(seen) == 30 and all(seen)
    assert monitor.state(t).present
    assert monitor.wants(0.0)  # the video restarted
    with pytest.raises(ValueError, match="wants the frame"):
        monitor.update_frame(None, 0.0)


def test_presence_samples_by_frame_time_whatever_the_frame_rate():
    """30 fps: one frame in six; 2 fps: every frame (each is 0.5 s after the last)."""
    for fps, expected in ((30.0, 10), (2.0, 60)):
        monitor = PresenceMonitor(MotionDetector(), clock=_Clock())
        looked = 0
        for i, frame in enumerate(_static_frames(60)):
            t = i / fps
            looked += monitor.wants(t)
            monitor.update_frame(frame, t)
        assert looked == expected, (fps, looked)
