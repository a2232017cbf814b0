"""The committed exhibit files: the demo validates, and the schema and field reference match the code."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from ruamel.yaml import YAML

from art2mus.installation.config import load_exhibit
from art2mus.installation.config.reference import BEGIN, END, field_reference_markdown
from art2mus.installation.config.summary import json_schema

REPO = Path(__file__).resolve().parents[2]


def test_demo_exhibit_validates_and_uses_every_demo_artwork(demo_exhibit_path: Path) -> None:
    from art2mus.exhibits.demo_collection import DEMO_ARTWORKS

    config = load_exhibit(demo_exhibit_path)
    assert [a.id for a in config.artworks] == [a.id for a in DEMO_ARTWORKS]
    for artwork, demo in zip(config.artworks, DEMO_ARTWORKS, strict=True):
        assert (artwork.title, artwork.artist, artwork.year) == (demo.title, demo.artist, demo.year)
        assert artwork.soundscape.generator == "procedural"
    assert config.camera.type == "video" and config.camera.path.is_file()
    assert set(config.generators) == {"procedural"}


def test_committed_json_schema_matches_the_models() -> None:
    committed = json.loads((REPO / "exhibits" / "exhibit.schema.json").read_text())
    assert committed == json_schema(), "run: art2mus validate --schema > exhibits/exhibit.schema.json"


def test_json_schema_accepts_the_demo_and_rejects_unknown_keys(demo_exhibit_path: Path) -> None:
    schema = json_schema()
    data = json.loads(json.dumps(YAML(typ="safe").load(demo_exhibit_path.read_text()), default=str))
    jsonschema.validate(data, schema)
    data["artworks"][0]["colour"] = "red"
    with pytest.raises(jsonschema.ValidationError, match="colour"):
        jsonschema.validate(data, schema)


def test_field_reference_in_exhibits_readme_is_current() -> None:
    text = (REPO / "exhibits" / "README.md").read_text()
    generated = text.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    assert generated == field_reference_markdown().strip(), "run: python -m art2mus.installation.config.reference"
    for section in ("`artworks[].soundscape`", "`camera (type: video)`", "`audio.output (type: wav)`",
                    "`generators.<name> (type: art2mus)`", "`schedule.periods[]`", "`control_panel`"):
        assert f"### {section}" in text


def _art2mus() -> list[str]:
    exe = Path(sys.executable).with_name("art2mus")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "art2mus.installation.cli"]


def test_validate_command_exit_codes_and_lines(tmp_path: Path, demo_exhibit_path: Path) -> None:
    ok = subprocess.run([*_art2mus(), "validate", str(demo_exhibit_path)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert "valid" in ok.stdout and "artworks" in ok.stdout and "8:" in ok.stdout

    # A broken copy: wrong type, unknown key, missing image, negative duration.
    folder = tmp_path / "demo"
    shutil.copytree(demo_exhibit_path.parent, folder, ignore=shutil.ignore_patterns(".art2mus"))
    path = folder / "exhibit.yaml"
    lines = path.read_text().splitlines()

    def line_of(text: str) -> int:
        return next(i for i, line in enumerate(lines) if text in line)

    i = line_of("year: 1961")
    lines[i] = lines[i].replace("1961", "nineteen-sixty-one")
    j = line_of("title: Composition with Signals")
    lines.insert(j + 1, "    colour: red")
    k = line_of("images: [artworks/hills-of-orvale.png]")
    lines[k] = lines[k].replace("hills-of-orvale.png", "hills-of-nowhere.png")
    m = line_of("seed: 57")
    lines[m] = lines[m].replace("duration: 40", "duration: -5")
    path.write_text("\n".join(lines) + "\n")

    bad = subprocess.run([*_art2mus(), "validate", str(path)], capture_output=True, text=True, cwd=tmp_path)
    assert bad.returncode == 1
    err = bad.stderr.splitlines()
    assert any(f"exhibit.yaml:{i + 1}:" in e and "artworks[0].year: must be a whole number" in e for e in err), err
    assert any(f"exhibit.yaml:{j + 2}:" in e and "artworks[1].colour: unknown field 'colour'" in e for e in err), err
    assert any(f"exhibit.yaml:{k + 1}:" in e and "artworks[2].images[0]: file not found" in e for e in err), err
    assert any(
        f"exhibit.yaml:{m + 1}:" in e and "artworks[3].soundscape.duration: must be > 0 seconds, got -5" in e for e in err
    ), err
    assert err[-1].endswith("4 problems")


def test_validate_json_output_and_schema_flag(demo_exhibit_path: Path) -> None:
    result = subprocess.run([*_art2mus(), "validate", "--json", str(demo_exhibit_path)], capture_output=True, text=True)
    payload = json.loads(result.stdout)
    assert payload["valid"] is True and payload["problems"] == []
    schema = subprocess.run([*_art2mus(), "validate", "--schema"], capture_output=True, text=True, check=True)
    assert json.loads(schema.stdout)["title"] == "art2mus exhibit"
