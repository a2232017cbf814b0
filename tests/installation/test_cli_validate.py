"""``art2mus validate``: the reference photos' warnings beside the problems, each at its ``images`` entry."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import cv2
import pytest
from click.testing import CliRunner

from art2mus.installation.cli import main

SMALL = "px is small for the photo of"


@pytest.fixture
def photos(tmp_path: Path, repo_root: Path) -> Path:
    """Two demo paintings at 200 px (small: a warning, not an error) in ``tmp_path/img``."""
    (tmp_path / "img").mkdir()
    for name in ("amber-fields", "city-at-six"):
        painting = cv2.imread(str(repo_root / f"exhibits/demo/artworks/{name}.png"))
        cv2.imwrite(str(tmp_path / f"img/{name}.png"), cv2.resize(painting, (200, 250)))
    return tmp_path


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def _validate(*args: str):
    return CliRunner().invoke(main, ["validate", *map(str, args)])


def test_photo_warnings_show_beside_the_problems_at_their_images_entry(photos: Path) -> None:
    """An error elsewhere, and an artwork whose entry is not valid: the valid artwork's small photo is
    still warned about, at ``file:line:col`` of its ``images`` entry, in the text and in ``--json``; the
    invalid artwork's photo is checked once its entry is valid."""
    exhibit = _write(
        photos / "exhibit.yaml",
        """
        artworks:
          - id: a1
            images: [img/amber-fields.png]
          - id: a2
            year: soon
            images: [img/city-at-six.png]
        audio: {crossfade_seconds: -3}
        """,
    )
    result = _validate(exhibit)
    assert result.exit_code == 1, result.output
    assert f"{exhibit}:5:11 artworks[1].year: must be a whole number" in result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1, result.stderr
    assert warnings[0].startswith(f"warning: {exhibit}:3:14 artworks[0].images[0]: ") and SMALL in warnings[0]
    assert result.stderr.splitlines()[-1] == f"{exhibit}: 2 problems"

    report = json.loads(_validate(exhibit, "--json").stdout)
    assert not report["valid"] and len(report["problems"]) == 2
    (warning,) = report["warnings"]
    assert {k: warning[k] for k in ("file", "line", "col", "field")} == {
        "file": str(exhibit),
        "line": 3,
        "col": 14,
        "field": "artworks[0].images[0]",
    }
    assert SMALL in warning["message"] and "'a1'" in warning["message"]


def test_photo_warnings_show_beside_a_cross_check_problem(photos: Path) -> None:
    """Every entry valid on its own, the exhibit not (an unknown generator): both photos are warned about."""
    exhibit = _write(
        photos / "exhibit.yaml",
        """
        artworks:
          - {id: a1, images: [img/amber-fields.png], soundscape: {generator: nowhere}}
          - {id: a2, images: [img/city-at-six.png]}
        """,
    )
    report = json.loads(_validate(exhibit, "--json").stdout)
    assert [p["field"] for p in report["problems"]] == ["artworks[0].soundscape.generator"]
    assert [(w["line"], w["field"]) for w in report["warnings"]] == [
        (2, "artworks[0].images[0]"),
        (3, "artworks[1].images[0]"),
    ]


def test_a_valid_exhibits_warnings_name_the_included_file_and_line(photos: Path) -> None:
    room = _write(
        photos / "rooms/east.yaml",
        """
        artworks:
          - id: east-1
            images: [../img/city-at-six.png]
        """,
    )
    exhibit = _write(
        photos / "exhibit.yaml",
        """
        include: [rooms/east.yaml]
        artworks:
          - {id: a1, images: [img/amber-fields.png]}
        """,
    )
    result = _validate(exhibit)
    assert result.exit_code == 0, result.output
    assert f"warning: {room}:3:14 artworks[0].images[0]: " in result.stderr
    assert f"warning: {exhibit}:3:23 artworks[1].images[0]: " in result.stderr
    report = json.loads(_validate(exhibit, "--json").stdout)
    assert report["valid"] and [(w["file"], w["line"]) for w in report["warnings"]] == [
        (str(room), 3),
        (str(exhibit), 3),
    ]
