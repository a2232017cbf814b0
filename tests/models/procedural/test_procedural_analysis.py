"""Image analysis of the procedural sonifier: each feature responds to what it claims to measure."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from art2mus.models.procedural.analysis import PROFILE_BANDS, analyse_image


def test_light_colour_and_warmth(test_images):
    f = {name: analyse_image(image) for name, image in test_images.items()}
    assert f["night"].brightness < 0.25 < f["grey"].brightness
    assert f["grey"].saturation == pytest.approx(0.0, abs=1e-3)
    assert f["dusk"].saturation > 0.5 and f["sea"].saturation > 0.3
    assert f["dusk"].warmth > 0.5 > -0.5 > f["sea"].warmth
    assert f["grey"].warmth == pytest.approx(0.0, abs=1e-3)
    # Hue of the mean colour: the dusk is orange-red, the sea blue (L*a*b* hue angles).
    assert 20 < f["dusk"].hue_deg < 90
    assert 200 < f["sea"].hue_deg < 320


def test_edges_texture_and_contrast(test_images):
    f = {name: analyse_image(image) for name, image in test_images.items()}
    assert f["grey"].edge_density == pytest.approx(0.0, abs=1e-6)
    assert f["grey"].contrast == pytest.approx(0.0, abs=1e-6)
    assert f["grid"].edge_density > f["sea"].edge_density > f["dusk"].edge_density
    assert f["meadow"].texture > f["sea"].texture > f["dusk"].texture
    assert f["grid"].contrast > 0.8 > f["dusk"].contrast


def test_composition_follows_the_weight():
    image = np.full((200, 300, 3), 40, np.uint8)
    cv2.circle(image, (250, 150), 30, (250, 250, 250), -1)
    f = analyse_image(image)
    assert f.centre_x > 0.3 and f.centre_y > 0.2
    assert f.spread < 0.6
    mirrored = analyse_image(image[:, ::-1].copy())
    assert mirrored.centre_x == pytest.approx(-f.centre_x, abs=1e-6)
    assert f.symmetry < 0.6
    centred = np.full((200, 300, 3), 40, np.uint8)
    cv2.circle(centred, (150, 100), 30, (250, 250, 250), -1)
    assert analyse_image(centred).symmetry > 0.95


def test_horizontal_profiles_scan_left_to_right():
    image = np.zeros((100, 400, 3), np.uint8)
    image[:, :, :] = np.linspace(0, 255, 400).astype(np.uint8)[None, :, None]
    image[:, 300:, :] = np.where((np.arange(100)[:, None] // 4) % 2 == 0, 255, 0)[:, :, None].astype(np.uint8)
    f = analyse_image(image)
    assert len(f.column_lightness) == len(f.column_activity) == PROFILE_BANDS
    left = f.column_lightness[: PROFILE_BANDS // 2]
    assert np.all(np.diff(left) > 0)
    # The striped right quarter is where the edges are.
    assert np.argmax(f.column_activity) >= 3 * PROFILE_BANDS // 4


def test_periodic_stripes_are_regular():
    stripes = np.repeat(((np.arange(320) // 20) % 2 * 200 + 30).astype(np.uint8)[None, :], 120, axis=0)
    regular = analyse_image(np.repeat(stripes[:, :, None], 3, axis=2))
    rng = np.random.default_rng(0)
    blotches = np.zeros((120, 320, 3), np.uint8)
    for x in np.sort(rng.choice(320, 6, replace=False)):
        blotches[:, x : x + 5] = 255
    irregular = analyse_image(blotches)
    assert regular.rhythm_regularity > 0.7 > irregular.rhythm_regularity


def test_resolution_and_format_barely_matter(test_images):
    image = test_images["sea"]
    big = cv2.resize(image, (1280, 960), interpolation=cv2.INTER_CUBIC)
    a, b = analyse_image(image).summary_vector(), analyse_image(big).summary_vector()
    assert np.abs(a - b).max() < 0.08
    grey = analyse_image(test_images["grey"][:, :, 0])
    assert grey.saturation == pytest.approx(0.0, abs=1e-3)
    rgba = np.concatenate([image, np.full(image.shape[:2] + (1,), 255, np.uint8)], axis=2)
    assert np.allclose(analyse_image(rgba).summary_vector(), a)


def test_features_are_json_and_deterministic(test_images):
    f = analyse_image(test_images["meadow"])
    assert json.loads(json.dumps(f.to_dict())) == f.to_dict()
    assert analyse_image(test_images["meadow"]) == f
    assert len(f.palette_lab) == len(f.palette_weights) == 5
    assert sum(f.palette_weights) == pytest.approx(1.0)


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.zeros((10, 10, 3), np.float32), "dtype uint8"),
        (np.zeros((10, 10, 2), np.uint8), "shape"),
        (np.zeros((2, 10, 3), np.uint8), "at least 4x4"),
        ([[0, 1], [2, 3]], "numpy array"),
    ],
)
def test_bad_images_are_refused_with_a_reason(bad, message):
    with pytest.raises(ValueError, match=message):
        analyse_image(bad)
