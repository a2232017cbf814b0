"""Synthetic test images for the procedural sonifier (deterministic, small, drawn with numpy/OpenCV)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest


def _gradient(h: int, w: int, top: tuple[int, int, int], bottom: tuple[int, int, int]) -> np.ndarray:
    t = np.linspace(0.0, 1.0, h)[:, None, None]
    image = (1 - t) * np.array(top, float) + t * np.array(bottom, float)
    return np.broadcast_to(image, (h, w, 3)).round().astype(np.uint8)


def make_images() -> dict[str, np.ndarray]:
    """Six RGB uint8 images with clearly different character."""
    h, w = 240, 320
    rng = np.random.default_rng(7)
    images = {}
    images["dusk"] = _gradient(h, w, (250, 170, 60), (120, 30, 20))
    x = np.arange(w)[None, :]
    y = np.arange(h)[:, None]
    waves = 0.5 + 0.5 * np.sin(x / 9.0 + 3.0 * np.sin(y / 17.0))
    images["sea"] = np.stack([20 + 30 * waves, 80 + 60 * waves, 150 + 90 * waves], axis=2).astype(np.uint8)
    checker = (((y // 12) + (x // 12)) % 2) * 235 + 10
    images["grid"] = np.repeat(checker[:, :, None], 3, axis=2).astype(np.uint8)
    meadow = np.clip(rng.normal(0, 40, (h, w, 3)) + np.array([60, 150, 50]), 0, 255)
    images["meadow"] = meadow.astype(np.uint8)
    night = np.full((h, w, 3), (15, 20, 45), np.uint8)
    cv2.circle(night, (250, 70), 28, (245, 235, 180), -1)
    images["night"] = night
    images["grey"] = np.full((h, w, 3), 128, np.uint8)
    return images


@pytest.fixture(scope="session")
def test_images() -> dict[str, np.ndarray]:
    return make_images()
