"""The reference photo checks: keypoints, the same picture under two artworks, size."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from art2mus.installation.vision.index import ReferencePhoto
from art2mus.installation.vision.photo_check import ERROR, WARNING, check_references


def _painting(repo_root: Path, name: str) -> np.ndarray:
    return cv2.imread(str(repo_root / "exhibits/demo/artworks" / f"{name}.png"))


def test_distinct_paintings_pass_and_bad_photos_are_named(repo_root: Path, tmp_path: Path) -> None:
    amber, city = _painting(repo_root, "amber-fields"), _painting(repo_root, "city-at-six")
    resized = cv2.resize(city, None, fx=0.6, fy=0.6, interpolation=cv2.INTER_AREA)  # not the same bytes
    tiny = cv2.resize(amber, (200, 250), interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(tmp_path / "blank.png"), np.full((600, 800, 3), 90, np.uint8))
    refs = [
        ReferencePhoto("amber", image=amber),
        ReferencePhoto("city", image=city),
        ReferencePhoto("blank", path=tmp_path / "blank.png"),
        ReferencePhoto("city-again", image=resized),
        ReferencePhoto("amber-small", image=tiny),
        ReferencePhoto("missing", path=tmp_path / "missing.jpg"),
    ]
    check = check_references(refs)
    by_id = {p.artwork_id: p for p in check.photos}
    assert by_id["amber"].findings == [] and by_id["city"].findings == []
    assert by_id["amber"].keypoints >= 400 and by_id["amber"].quality == "good"
    (blank,) = by_id["blank"].findings
    assert (blank.kind, blank.severity) == (
        "keypoints",
        ERROR,
    ) and "has 0 keypoints; at least 20" in blank.message
    (again,) = by_id["city-again"].findings
    assert (
        (again.kind, again.severity) == ("duplicate", ERROR) and again.score is not None and again.score > 50
    )
    assert "artwork 'city'" in again.message
    kinds = {(f.kind, f.severity) for f in by_id["amber-small"].findings}
    assert ("too_small", WARNING) in kinds and ("duplicate", ERROR) in kinds
    (missing,) = by_id["missing"].findings
    assert missing.kind == "unreadable" and "missing.jpg" in missing.message
    assert set(check.excluded) == {"blank", "city-again", "amber-small", "missing"}
    assert [r.artwork_id for r in check.usable] == ["amber", "city"]


def test_a_smaller_index_side_does_not_grade_the_same_photos_weaker(repo_root: Path) -> None:
    # The museum-scale default describes references at 240 px; the grades a curator sees (weak / fair /
    # good) were calibrated at 480 px and must not change with the index's size.
    from art2mus.installation.vision.index import FeatureSettings

    names = ["hills-of-orvale", "amber-fields", "city-at-six"]
    refs = [ReferencePhoto(n, image=_painting(repo_root, n)) for n in names]
    small = check_references(refs, FeatureSettings(reference_long_side=240, reference_levels=1))
    large = check_references(refs, FeatureSettings(reference_long_side=480, reference_levels=1))
    assert [p.quality for p in small.photos] == [p.quality for p in large.photos]
    assert [p.keypoints for p in small.photos] == [p.keypoints for p in large.photos]
    assert all(p.findings == [] for p in small.photos), [p.findings for p in small.photos]
