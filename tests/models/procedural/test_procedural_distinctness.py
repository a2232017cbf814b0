"""Distinctness on the demo artworks: different images give different music, similar images similar music.

Audio is compared with :func:`audio_descriptor` (chroma, spectral centroid statistics, flatness,
onsets, level modulation, width, band balance); images with a generic descriptor that the sonifier does
not use (L*a*b* means and spreads, gradient statistics), so the test does not grade the mapping with
its own yardstick.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from scipy.stats import spearmanr

from art2mus.exhibits.demo_collection import DEMO_ARTWORKS, demo_artwork_path
from art2mus.models.generator import GenerationRequest
from art2mus.models.procedural import ProceduralGenerator
from art2mus.models.procedural.measures import audio_descriptor, descriptor_distances

RATE = 48000
DURATION = 8.0
SEEDS = (0, 1)


def _image_descriptor(image: np.ndarray) -> np.ndarray:
    small = cv2.resize(image, (256, max(1, round(256 * image.shape[0] / image.shape[1]))), interpolation=cv2.INTER_AREA)
    lab = cv2.cvtColor(small.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab).reshape(-1, 3)
    grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float32)
    grad = np.hypot(cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1))
    return np.concatenate([lab.mean(axis=0), lab.std(axis=0), [grad.mean(), grad.std()]])


def _perturbed(image: np.ndarray) -> np.ndarray:
    """The same artwork photographed again: slightly smaller, a touch brighter, with sensor noise."""
    h, w = image.shape[:2]
    smaller = cv2.resize(image, (int(w * 0.8), int(h * 0.8)), interpolation=cv2.INTER_AREA)
    noise = np.random.default_rng(0).normal(0.0, 4.0, smaller.shape)
    return np.clip(smaller.astype(np.float64) * 1.03 + noise, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def renders():
    images = []
    for art in DEMO_ARTWORKS:
        bgr = cv2.imread(str(demo_artwork_path(art.id)))
        assert bgr is not None, f"demo artwork {art.id} missing"
        images.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    generator = ProceduralGenerator()

    def describe(image, seed):
        return audio_descriptor(generator.generate(image, GenerationRequest(duration_s=DURATION, seed=seed)).waveform, RATE)

    descriptors, labels = [], []
    for index, image in enumerate(images):
        for seed in SEEDS:
            descriptors.append(describe(image, seed))
            labels.append(index)
    # Re-photographed copies, rendered with the first seed, at the end.
    for index, image in enumerate(images):
        descriptors.append(describe(_perturbed(image), SEEDS[0]))
        labels.append(-1 - index)
    return images, np.array(descriptors), np.array(labels)


def test_audio_distance_follows_image_distance(renders):
    images, descriptors, labels = renders
    originals = labels >= 0
    audio = descriptor_distances(descriptors[originals])
    labels = labels[originals]
    n = len(images)
    image_vectors = np.array([_image_descriptor(image) for image in images])
    z = (image_vectors - image_vectors.mean(axis=0)) / image_vectors.std(axis=0)
    image_distance = np.sqrt(((z[:, None, :] - z[None, :, :]) ** 2).sum(axis=2))
    audio_distance = np.array([[audio[np.ix_(labels == a, labels == b)].mean() for b in range(n)] for a in range(n)])
    upper = np.triu_indices(n, 1)
    rho = spearmanr(audio_distance[upper], image_distance[upper]).statistic
    print(f"Spearman correlation of audio and image distances: {rho:.3f}")
    assert rho > 0.3, f"Spearman correlation of audio and image distances: {rho:.3f}"


def test_two_seeds_of_one_artwork_are_closer_than_any_other_artwork(renders):
    _, descriptors, labels = renders
    originals = labels >= 0
    distance = descriptor_distances(descriptors[originals])
    labels = labels[originals]
    for index in np.unique(labels):
        same = np.flatnonzero(labels == index)
        other = np.flatnonzero(labels != index)
        within = distance[np.ix_(same, same)].max()
        between = distance[np.ix_(same, other)].min()
        assert within < between, f"{DEMO_ARTWORKS[index].id}: seeds {within:.3f} apart, nearest other {between:.3f}"


def test_a_rephotographed_artwork_sounds_like_itself(renders):
    _, descriptors, labels = renders
    distance = descriptor_distances(descriptors)
    first_seed = np.flatnonzero((labels >= 0) & (np.arange(len(labels)) % len(SEEDS) == 0))
    for index in range(len(DEMO_ARTWORKS)):
        copy = int(np.flatnonzero(labels == -1 - index)[0])
        original = int(first_seed[index])
        others = [int(i) for i in first_seed if i != original]
        assert distance[copy, original] < distance[copy, others].min(), DEMO_ARTWORKS[index].id
