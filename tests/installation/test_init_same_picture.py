"""``art2mus init`` and a photo that shows the same picture as another artwork's, not as the same file: a
re-encoded or resized copy, or the real photo of a work that ``unseen promote`` added from a camera crop.
``validate`` refuses such a photo (it leaves its artwork out of recognition), so init skips it, and init's
"valid" is validate's own verdict on the file it wrote."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2

ART2MUS = [sys.executable, "-m", "art2mus.installation.cli"]


def art2mus(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*ART2MUS, *args], cwd=cwd, capture_output=True, text=True, timeout=600)


def copy_of(source: Path, target: Path, scale: float = 0.8) -> None:
    """The same picture as ``source`` in another file: resized and re-encoded (JPEG for ``.jpg``)."""
    image = cv2.imread(str(source))
    assert image is not None
    cv2.imwrite(str(target), cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA))


def curators_folder(tmp_path: Path, repo_root: Path) -> Path:
    """``a.png``, ``blue-grid.png`` and ``triptych/{left,right}.jpg``, right.jpg showing a.png's picture."""
    art = repo_root / "exhibits/demo/artworks"
    photos = tmp_path / "photos"
    (photos / "triptych").mkdir(parents=True)
    copy_of(art / "amber-fields.png", photos / "a.png", 1.0)
    copy_of(art / "city-at-six.png", photos / "blue-grid.png", 1.0)
    copy_of(art / "hills-of-orvale.png", photos / "triptych" / "left.jpg", 1.0)
    copy_of(art / "amber-fields.png", photos / "triptych" / "right.jpg")
    return photos


def test_a_photo_showing_another_artworks_picture_is_skipped(tmp_path: Path, repo_root: Path) -> None:
    curators_folder(tmp_path, repo_root)
    init = art2mus("init", "photos", cwd=tmp_path)
    assert init.returncode == 0, init.stdout + init.stderr
    assert "skipped photos/triptych/right.jpg: shows the same picture as photos/a.png (artwork 'a')" in (
        init.stderr
    )
    assert "wrote exhibit.yaml: 3 artworks added, 0 kept, 1 skipped" in init.stdout
    # README.md quotes this line whole (it stopped at "(artwork 'a')")
    line = next(x for x in init.stderr.splitlines() if "skipped photos/triptych/right.jpg" in x)
    readme = " ".join((repo_root / "README.md").read_text().split())
    assert f"`{line.strip()}`" in readme, line
    text = (tmp_path / "exhibit.yaml").read_text()
    assert "images: [photos/triptych/left.jpg]" in text and "right.jpg" not in text
    assert "exhibit.yaml: valid; next:" in init.stdout
    validate = art2mus("validate", "exhibit.yaml", cwd=tmp_path)
    assert validate.returncode == 0, validate.stderr


def test_init_says_valid_only_when_validate_does(tmp_path: Path, repo_root: Path) -> None:
    photos = curators_folder(tmp_path, repo_root)
    (photos / "triptych" / "right.jpg").unlink()
    assert art2mus("init", "photos", cwd=tmp_path).returncode == 0
    # the curator adds the copy to the triptych by hand: the triptych is still recognised (left.jpg),
    # but validate refuses the file, and so would the unit's ExecStartPre
    exhibit = tmp_path / "exhibit.yaml"
    text = exhibit.read_text()
    exhibit.write_text(text.replace("[photos/triptych/left.jpg]", "[photos/triptych/left.jpg, right.jpg]"))
    copy_of(photos / "a.png", tmp_path / "right.jpg")
    validate = art2mus("validate", "exhibit.yaml", cwd=tmp_path)
    assert validate.returncode == 1 and "shows the same picture as" in validate.stderr
    again = art2mus("init", "photos", cwd=tmp_path)
    assert again.returncode == 1, again.stdout
    assert "valid" not in again.stdout
    assert "artworks[2].images[1]: right.jpg (artwork 'triptych') shows the same picture as" in again.stderr
    assert "exhibit.yaml: 1 problem, as `art2mus validate` reports them" in again.stderr


def test_rerun_after_promote_does_not_add_the_works_photo_as_another_artwork(
    tmp_path: Path, repo_root: Path
) -> None:
    photos = curators_folder(tmp_path, repo_root)
    (photos / "triptych" / "right.jpg").unlink()
    assert art2mus("init", "photos", cwd=tmp_path).returncode == 0
    # what `unseen promote` adds: the camera's crop as artworks/unseen-1.jpg and an entry for it
    (tmp_path / "artworks").mkdir()
    art = repo_root / "exhibits/demo/artworks"
    copy_of(art / "portrait-of-a-clerk.png", tmp_path / "artworks" / "unseen-1.jpg", 0.5)
    exhibit = tmp_path / "exhibit.yaml"
    text = exhibit.read_text()
    end = text.index("\n# Every other section")
    entry = (
        "  - id: unseen-1\n    title: Unseen 1\n    artist: Unknown\n    images: [artworks/unseen-1.jpg]\n"
    )
    exhibit.write_text(text[:end] + entry + text[end:])
    # then the curator photographs the work and puts the photo with the others
    copy_of(art / "portrait-of-a-clerk.png", photos / "clerk.png", 1.0)
    again = art2mus("init", "photos", cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert (
        "skipped photos/clerk.png: shows the same picture as artworks/unseen-1.jpg (artwork 'unseen-1')"
    ) in again.stderr
    assert "unchanged: exhibit.yaml: 0 artworks added, 4 kept, 1 skipped" in again.stdout
    assert "clerk" not in exhibit.read_text()
    # nor is a photo the file already lists added again, from whichever folder init reads
    from_artworks = art2mus("init", "artworks", cwd=tmp_path)
    assert "unchanged: exhibit.yaml: 0 artworks added, 4 kept" in from_artworks.stdout, from_artworks.stderr
    assert exhibit.read_text().count("unseen-1.jpg") == 1


def _kept_and_skipped(
    tmp_path: Path, repo_root: Path, amber: tuple[str, float], copy: tuple[str, float]
) -> tuple[str, list[tuple[str, str]]]:
    """init on ``photos/`` holding two new photos of amber-fields (name, scale) and city.png."""
    from art2mus.installation.scaffold import init_exhibit

    photos = tmp_path / "photos"
    photos.mkdir()
    art = repo_root / "exhibits/demo/artworks"
    for name, scale in (amber, copy):
        copy_of(art / "amber-fields.png", photos / name, scale)
    copy_of(art / "city-at-six.png", photos / "city.png", 1.0)
    result = init_exhibit(photos, tmp_path / "exhibit.yaml")
    return (tmp_path / "exhibit.yaml").read_text(), [(s.path.name, s.reason) for s in result.skipped]


def test_of_two_new_photos_of_one_picture_the_larger_is_kept(tmp_path: Path, repo_root: Path) -> None:
    """init kept amber-copy.jpg (480x600 JPEG) by its name and skipped the original amber-fields.png
    (640x800)."""
    text, skipped = _kept_and_skipped(
        tmp_path, repo_root, ("amber-fields.png", 1.0), ("amber-copy.jpg", 0.75)
    )
    assert "photos/amber-fields.png" in text and "amber-copy" not in text
    assert [name for name, _ in skipped] == ["amber-copy.jpg"]
    assert skipped[0][1].startswith("shows the same picture as ")
    assert "photos/amber-fields.png (artwork 'amber-fields'), which would" in skipped[0][1]


def test_of_two_new_photos_of_one_picture_and_size_the_lossless_is_kept(
    tmp_path: Path, repo_root: Path
) -> None:
    text, skipped = _kept_and_skipped(tmp_path, repo_root, ("b-amber.png", 1.0), ("a-amber.jpg", 1.0))
    assert "photos/b-amber.png" in text and "a-amber" not in text
    assert [name for name, _ in skipped] == ["a-amber.jpg"]
    assert "(artwork 'b-amber')" in skipped[0][1]
