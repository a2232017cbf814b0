"""Shared fixtures for the vision tests: one recognition index of the demo artworks per session."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from recognition_settings import TUNED

from art2mus.exhibits.demo_collection import DEMO_ARTWORKS, demo_artwork_path, render_demo_artwork
from art2mus.installation.config.vision import RecognitionConfig
from art2mus.installation.vision.index import FeatureSettings, RecognitionIndex, ReferencePhoto
from art2mus.installation.vision.recognizer import ArtworkRecognizer


@pytest.fixture(scope="session", autouse=True)
def _one_opencv_thread():
    # 2-core CI machines: OpenCV's own threads only add contention to pytest's work
    previous = cv2.getNumThreads()
    cv2.setNumThreads(1)
    yield
    cv2.setNumThreads(previous)


@pytest.fixture(scope="session")
def demo_references() -> list[ReferencePhoto]:
    return [ReferencePhoto(a.id, path=demo_artwork_path(a)) for a in DEMO_ARTWORKS]


@pytest.fixture(scope="session")
def demo_index(demo_references) -> RecognitionIndex:
    # the index the daemon builds with the exhibit's default settings
    return RecognitionIndex.build(demo_references, FeatureSettings.from_config(RecognitionConfig()))


@pytest.fixture(scope="session")
def demo_recognizer(demo_index) -> ArtworkRecognizer:
    return ArtworkRecognizer(demo_index, TUNED)


@pytest.fixture(scope="session")
def demo_paintings() -> dict[str, np.ndarray]:
    return {a.id: render_demo_artwork(a) for a in DEMO_ARTWORKS}
