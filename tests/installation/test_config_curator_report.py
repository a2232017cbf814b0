"""What a curator following exhibits/README.md found: cross-references in the same pass as field
problems, suggestions for misspelt references, wording of times and overlaps, a single image path,
time defaults as the docs write them."""

from __future__ import annotations

import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest

from art2mus.installation.config import load_exhibit, validate_exhibit
from art2mus.installation.config.exhibit import ArtworkConfig, ExhibitConfig, OpeningPeriodConfig
from art2mus.installation.config.summary import json_schema


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def problems_of(path: Path) -> list[tuple[int | None, str, str]]:
    _, problems = validate_exhibit(path, check_files=False)
    return [(p.line, p.field, p.message) for p in problems]


def test_an_unknown_generator_comes_in_the_same_pass_as_a_bad_duration(tmp_path: Path) -> None:
    """`soundscape: {generator: procedual, duration: -5}` reported only the duration; the unknown generator
    appeared once the duration was mended (the README promises every problem in one pass)."""
    path = write(tmp_path / "exhibit.yaml", """
        artworks:
          - id: a1
            images: [a.png]
            soundscape: {generator: procedual, duration: -5}
          - {id: a1, images: [b.png]}
        idle: {generator: gpu, gain_db: 5}
        schedule:
          periods:
            - {days: mon, open: "10:00", close: "18:00"}
            - {days: mon, open: "12:00", close: "20:00", volume: 2}
            - {days: mon, open: "11:00", close: "12:00"}
    """)
    found = problems_of(path)
    fields = [field for _, field, _ in found]
    assert fields == [
        "artworks[0].soundscape.generator",
        "artworks[0].soundscape.duration",
        "artworks[1].id",
        "idle.generator",
        "idle.gain_db",
        "schedule.periods[1].volume",
        "schedule.periods[2]",
    ]
    assert found[0][:1] == (4,) and found[0][2].startswith("unknown generator 'procedual'")
    assert "duplicate artwork id 'a1'" in found[2][2]
    assert found[3][2].startswith("unknown generator 'gpu'")
    # a period that is not valid on its own takes no part in the overlap check
    assert "overlaps schedule.periods[0] on mon" in found[6][2]


def test_no_reference_is_guessed_where_the_value_or_its_mapping_is_wrong(tmp_path: Path) -> None:
    """A generator that is itself wrong, a default beside a misspelt key and an unreadable `generators`
    section give no second problem."""
    path = write(tmp_path / "exhibit.yaml", """
        artworks:
          - {id: a1, images: [a.png], soundscape: {generator: ""}}
          - {id: a2, images: [a.png], soundscape: {generatr: gpu}}
        idle: {generator: gpu}
        generators:
          gpu: {type: procedural, sample_rate: 1}
    """)
    assert [field for _, field, _ in problems_of(path)] == [
        "artworks[0].soundscape.generator",
        "artworks[1].soundscape.generatr",
        "generators.gpu.sample_rate",
    ]
    unreadable = write(tmp_path / "unreadable.yaml", """
        artworks:
          - {id: a1, images: [a.png], soundscape: {generator: gpu, duration: -5}}
        generators: [gpu]
    """)
    assert [field for _, field, _ in problems_of(unreadable)] == ["artworks[0].soundscape.duration", "generators"]


def test_a_misspelt_generator_or_artwork_id_gets_a_suggestion(tmp_path: Path) -> None:
    """Field names had `(did you mean ...?)`; a misspelt generator's key had none."""
    path = write(tmp_path / "exhibit.yaml", """
        artworks:
          - {id: a1, images: [a.png], soundscape: {generator: procedual}}
        generators:
          procedural: {type: procedural}
          gpu: {type: art2mus, fallback: procedurl}
    """)
    assert [message for _, _, message in problems_of(path)] == [
        "unknown generator 'procedual' (did you mean 'procedural'?); expected a key of `generators`: gpu, procedural",
        "must name another generator (one of: procedural), got 'procedurl' (did you mean 'procedural'?)",
    ]
    config = load_exhibit(write(tmp_path / "good.yaml", "artworks: [{id: sky-1, images: [a.png]}]\n"), check_files=False)
    with pytest.raises(KeyError, match=r"no artwork 'sky1' in this exhibit \(did you mean 'sky-1'\?\); known ids: sky-1"):
        config.artwork("sky1")


def test_a_close_out_of_range_says_24_00_is_allowed(tmp_path: Path) -> None:
    """`close: 25:00` said hours go to 23, though a close may be "24:00" (the end of the day)."""
    path = write(tmp_path / "exhibit.yaml", """
        artworks: [{id: a1, images: [a.png]}]
        schedule:
          periods: [{open: "25:00", close: "25:00"}]
    """)
    assert problems_of(path) == [
        (3, "schedule.periods[0].open", "'25:00' is not a time of day: hours go to 23, minutes to 59"),
        (
            3,
            "schedule.periods[0].close",
            "'25:00' is not a time of day: hours go to 23, minutes to 59, or \"24:00\" for the end of the day",
        ),
    ]


def test_an_overlap_names_each_day_once_monday_first(tmp_path: Path) -> None:
    """`overlaps schedule.periods[1] on thu, fri, sat, mon, thu, fri`: days written twice were repeated."""
    path = write(tmp_path / "exhibit.yaml", """
        artworks: [{id: a1, images: [a.png]}]
        schedule:
          periods:
            - {days: mon-sun, open: "10:00", close: "12:00"}
            - {days: [thu-sat, mon, thu, fri], open: "11:00", close: "13:00"}
    """)
    assert problems_of(path) == [
        (
            5,
            "schedule.periods[1]",
            "overlaps schedule.periods[0] on mon, thu, fri, sat: which volume applies would be ambiguous",
        )
    ]


def test_images_may_be_a_single_path(tmp_path: Path) -> None:
    """`images: photos/broken-glass.png` was refused (`must be a list`), though `include:` takes a path or a
    list; a problem with that photo is placed at the path, in the file it was written in."""
    (tmp_path / "rooms" / "photos").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "rooms" / "photos" / "glass.png"), np.full((48, 64, 3), 128, np.uint8))
    write(tmp_path / "rooms" / "east.yaml", """
        artworks:
          - id: glass
            images: photos/glass.png
          - id: gone
            images:   photos/gone.png
    """)
    path = write(tmp_path / "exhibit.yaml", "include: rooms/east.yaml\n")
    config, problems = validate_exhibit(path)
    assert config is None
    assert [(p.file.name, p.line, p.col, p.field) for p in problems] == [("east.yaml", 5, 15, "artworks[1].images[0]")]
    assert problems[0].message == f"file not found: {tmp_path / 'rooms' / 'photos' / 'gone.png'}"
    (tmp_path / "rooms" / "photos" / "gone.png").write_bytes((tmp_path / "rooms" / "photos" / "glass.png").read_bytes())
    config = load_exhibit(path)
    assert config.artworks[0].images == [tmp_path / "rooms" / "photos" / "glass.png"]
    assert ArtworkConfig(id="a1", images="a.png").images == [Path("a.png")]


def test_time_defaults_read_as_the_docs_write_them() -> None:
    """`validate --schema` and the commented defaults of `art2mus init` showed 03:00:00, 10:00:00, 18:00:00
    where the docs write 3:00 and 9:00."""
    schema = json_schema()
    period = schema["$defs"]["OpeningPeriodConfig"]["properties"]
    assert (period["open"]["default"], period["close"]["default"]) == ("10:00", "18:00")
    assert schema["$defs"]["ScheduleConfig"]["properties"]["prerender_at"]["default"] == "3:00"
    # what `art2mus init` writes as commented defaults is this dump
    assert ExhibitConfig().model_dump(mode="json")["schedule"]["prerender_at"] == "3:00"
    late = OpeningPeriodConfig(open="20:00:30", close="24:00").model_dump(mode="json")
    assert (late["open"], late["close"]) == ("20:00:30", "24:00")
    assert OpeningPeriodConfig.model_validate(late) == OpeningPeriodConfig(open="20:00:30", close="24:00")


def test_the_schema_explains_what_yaml_1_1_makes_of_an_unquoted_time() -> None:
    """exhibits/README.md says the schema explains the 540 an unquoted 9:00 becomes under YAML 1.1: it said
    nothing of it."""
    defs = json_schema()["$defs"]
    for section, name in (("OpeningPeriodConfig", "open"), ("OpeningPeriodConfig", "close"), ("ScheduleConfig", "prerender_at")):
        description = defs[section]["properties"][name]["description"]
        assert "YAML 1.1 turns an unquoted 9:00 into the number 540" in description, name
    readme = Path(__file__).resolve().parents[2] / "exhibits" / "README.md"
    assert "which the schema explains" in readme.read_text(encoding="utf-8")


def test_an_unknown_generator_is_a_problem_while_its_feature_is_off(tmp_path: Path) -> None:
    """`unseen: {generator: nope}` validated while unseen pictures were off, and failed the day they were
    turned on; the default generator of a feature that is off is not checked (`procedural` need not exist)."""
    path = write(tmp_path / "exhibit.yaml", """
        artworks: [{id: a1, images: [a.png]}]
        unseen: {generator: nope}
        idle: {source: silence, generator: procedurl}
    """)
    assert problems_of(path) == [
        (2, "unseen.generator", "unknown generator 'nope'; expected a key of `generators`: procedural"),
        (
            3,
            "idle.generator",
            "unknown generator 'procedurl' (did you mean 'procedural'?); expected a key of `generators`: procedural",
        ),
    ]
    # the same in a file the schema rejects
    write(tmp_path / "exhibit.yaml", path.read_text(encoding="utf-8") + "audio: {channels: 3}\n")
    assert [field for _, field, _ in problems_of(path)] == ["unseen.generator", "idle.generator", "audio.channels"]
    quiet = write(tmp_path / "quiet.yaml", """
        artworks: [{id: a1, images: [a.png], soundscape: {generator: quiet}}]
        idle: {source: silence}
        generators: {quiet: {type: procedural}}
    """)
    assert problems_of(quiet) == []


def test_init_counts_a_photo_named_by_a_single_path_as_present(tmp_path: Path) -> None:
    """With `images: photos/glass.png` valid, `art2mus init` run again added that photo back as a new artwork
    (`glass-2`, the same file as `glass`): it read only lists of images."""
    from art2mus.installation.scaffold import init_exhibit

    (tmp_path / "photos").mkdir()
    cv2.imwrite(str(tmp_path / "photos" / "glass.png"), np.random.default_rng(1).integers(0, 255, (480, 640, 3), np.uint8))
    path = write(tmp_path / "exhibit.yaml", """
        artworks:
          - id: glass
            images: photos/glass.png
    """)
    before = path.read_text(encoding="utf-8")
    result = init_exhibit(tmp_path / "photos", path)
    assert (result.added, result.kept) == ([], ["glass"])
    assert path.read_text(encoding="utf-8") == before


def test_the_summary_writes_the_pre_render_time_as_the_docs_do() -> None:
    """validate's summary said 'pre-render at 03:00 (UTC)' where the docs, schema and init write 3:00."""
    from art2mus.installation.config.summary import describe_schedule

    assert "; pre-render at 3:00 (" in describe_schedule(ExhibitConfig())
    late = ExhibitConfig.model_validate({"schedule": {"prerender_at": "23:30"}})
    assert "; pre-render at 23:30 (" in describe_schedule(late)
