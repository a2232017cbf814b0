"""Exhibit files that used to crash, hang or blow up the loader: each ends in positioned problems, or loads.

The classes come from issue 10's fuzzing of the demo exhibit and issue 12's opening hours; the
fuzz test (test_config_fuzz.py) looks for new ones.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import cv2
import jsonschema
import numpy as np
import pytest
import soundfile
import yaml

from art2mus.installation.config import ExhibitConfig, ExhibitError, load_exhibit, validate_exhibit
from art2mus.installation.config.source import MAX_DEPTH, MAX_FILE_BYTES
from art2mus.installation.config.summary import json_schema

ARTWORK = "artworks: [{id: a1, images: [a.png]}]\n"


@pytest.fixture
def room(tmp_path: Path) -> Path:
    cv2.imwrite(str(tmp_path / "a.png"), np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8))
    return tmp_path


def write(path: Path, text: str | bytes) -> Path:
    data = text if isinstance(text, bytes) else textwrap.dedent(text).lstrip("\n").encode("utf-8")
    path.write_bytes(data)
    return path


def only_problem(path: Path) -> tuple[int | None, int | None, str, str]:
    config, problems = validate_exhibit(path)
    assert config is None and len(problems) == 1, [str(p) for p in problems]
    p = problems[0]
    assert p.line is not None and p.col is not None, str(p)
    return p.line, p.col, p.field, p.message


# -- YAML structure ------------------------------------------------------------------------------


def test_merge_key_merges_defaults_and_written_keys_win(room: Path) -> None:
    path = write(room / "exhibit.yaml", """
        artworks:
          - &base {id: a1, images: [a.png], soundscape: {duration: 12, seed: 3}}
          - <<: *base
            id: a2
        presence:
          <<: [{dwell_seconds: 2.0, hold_seconds: 9.0}, {dwell_seconds: 5.0}]
          hold_seconds: 7.0
    """)
    config = load_exhibit(path)
    assert [a.id for a in config.artworks] == ["a1", "a2"]
    assert config.artworks[1].soundscape.duration == 12 and config.artworks[1].soundscape.seed == 3
    assert (config.presence.dwell_seconds, config.presence.hold_seconds) == (2.0, 7.0)


def test_x_keys_hold_anchors_as_the_readme_writes_them_and_are_never_read(room: Path) -> None:
    """exhibits/README.md's `x-defaults: &d {...}` then `<<: *d`, in the top file and in an included one;
    an unknown key without the prefix is still refused (``defaults:`` was, as the README then wrote it)."""
    write(room / "east.yaml", """
        x-slow: &slow {duration: 30, seed: 9}
        artworks:
          - {id: a2, images: [a.png], soundscape: {<<: *slow, seed: 4}}
    """)
    path = write(room / "exhibit.yaml", """
        include: east.yaml
        x-defaults: &d {duration: 12, seed: 3}
        artworks:
          - {id: a1, images: [a.png], soundscape: *d}
    """)
    config = load_exhibit(path)
    sounds = {a.id: (a.soundscape.duration, a.soundscape.seed) for a in config.artworks}
    assert sounds == {"a1": (12, 3), "a2": (30, 4)}
    jsonschema.validate({"x-defaults": {"duration": 12}, "artworks": []}, json_schema())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"defaults": {"duration": 12}}, json_schema())
    write(room / "exhibit.yaml", "defaults: &d {duration: 12}\n" + ARTWORK)
    assert "unknown field 'defaults'" in only_problem(room / "exhibit.yaml")[3]


def test_merge_key_of_a_plain_value_is_a_positioned_problem(room: Path) -> None:
    path = write(room / "exhibit.yaml", ARTWORK + "presence:\n  <<: 3\n")
    line, col, _, message = only_problem(path)
    assert (line, col) == (3, 7) and "`<<` (merge key) needs a mapping" in message


def test_an_alias_bomb_is_refused_at_once(room: Path) -> None:
    lines = ['b0: &b0 ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    lines += [f"b{i}: &b{i} [" + ", ".join([f"*b{i - 1}"] * 9) + "]" for i in range(1, 10)]  # 9**10 strings
    path = write(room / "exhibit.yaml", "\n".join(lines) + "\n")
    started = time.perf_counter()
    line, _, _, message = only_problem(path)
    assert time.perf_counter() - started < 2.0
    assert line == 6 and "expands to more than" in message  # b5 holds 9**6 > 500,000 values


@pytest.mark.parametrize("style", ["block", "flow"])
def test_thousand_deep_nesting_is_refused_with_its_line(room: Path, style: str) -> None:
    if style == "block":
        text = "collection:\n" + "".join(" " * (i + 1) + f"k{i}:\n" for i in range(1000))
    else:
        text = "collection: " + "[" * 1000 + "]" * 1000 + "\n"
    line, _, _, message = only_problem(write(room / "exhibit.yaml", text))
    if style == "block":
        assert line == MAX_DEPTH + 1 and f"nested more than {MAX_DEPTH} levels" in message
    else:
        assert line == 1 and "depth" in message


def test_a_second_document_unknown_alias_tags_and_complex_keys(room: Path) -> None:
    assert "second YAML document" in only_problem(write(room / "e1.yaml", ARTWORK + "---\nversion: 1\n"))[3]
    assert "no anchor &nowhere" in only_problem(write(room / "e2.yaml", ARTWORK + "idle: *nowhere\n"))[3]
    tagged = only_problem(write(room / "e3.yaml", ARTWORK + "idle: !!python/object:os.system x\n"))
    assert tagged[0] == 2 and "unsupported YAML tag" in tagged[3]
    assert "a key must be plain text" in only_problem(write(room / "e4.yaml", ARTWORK + "? [a]\n: b\n"))[3]


# -- bytes and files -------------------------------------------------------------------------------


def test_non_utf8_and_control_characters_are_reported_by_line(room: Path) -> None:
    text = ARTWORK.encode() + b"collection:\n  name: Caf\xe9\n  description: a\x07b\n  institution: \x00\n"
    _, problems = validate_exhibit(write(room / "exhibit.yaml", text))
    assert [(p.line, p.col) for p in problems] == [(3, 12), (4, 17), (5, 16)]
    assert "not UTF-8 text (byte 0xe9)" in problems[0].message
    assert "U+0007" in problems[1].message and "U+0000" in problems[2].message
    utf16 = only_problem(write(room / "u16.yaml", ARTWORK.encode("utf-16")))
    assert utf16[:2] == (1, 1) and "UTF-16" in utf16[3]
    # the exhibit's photo given instead of its YAML file: one sentence, not a problem per line of bytes
    png = only_problem(write(room / "photo.png", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40))
    assert png[:2] == (1, 1) and png[3] == "this is a PNG image, not a YAML text file: give the exhibit's .yaml file"
    elf = only_problem(write(room / "art2mus", b"\x7fELF" + bytes(64) + b"text" * 100))
    assert elf[3] == "this is binary data, not a YAML text file: give the exhibit's .yaml file"


@pytest.mark.timeout(60)
def test_includes_of_a_fifo_a_device_and_a_huge_file_do_not_hang_or_read_them(room: Path) -> None:
    os.mkfifo(room / "fifo")
    with (room / "huge.yaml").open("wb") as huge:
        huge.truncate(MAX_FILE_BYTES + 1)  # sparse: costs no disk
    path = write(room / "exhibit.yaml", ARTWORK + "include: [fifo, /dev/zero, huge.yaml, .]\n")
    _, problems = validate_exhibit(path)
    assert [(p.line, p.field) for p in problems] == [(2, "include")] * 4
    messages = [p.message for p in problems]
    assert "fifo is not a regular file" in messages[0] and "/dev/zero is not a regular file" in messages[1]
    assert "larger than 1024 KB" in messages[2] and "found a folder" in messages[3]


def test_referenced_devices_long_names_and_nul_bytes_are_problems_not_crashes(room: Path) -> None:
    path = write(room / "exhibit.yaml", f"""
        artworks: [{{id: a1, images: [a.png], audio: /dev/zero}}]
        camera: {{type: video, path: {"v" * 300}.mp4}}
        cache: {{dir: ".art2mus/\\0cache"}}
        idle: {{source: file, path: "{"d/" * 2500}x.wav"}}
    """)
    found = {p.field: (p.line, p.message) for p in validate_exhibit(path)[1]}
    assert found["artworks[0].audio"] == (1, "/dev/zero is not a regular file (a device, pipe or socket)")
    assert found["camera.path"][0] == 2 and "is 304 bytes long; at most 255" in found["camera.path"][1]
    assert found["cache.dir"][0] == 3 and "NUL" in found["cache.dir"][1]
    assert found["idle.path"][0] == 4 and "at most 4096" in found["idle.path"][1]


def test_an_empty_exhibit_is_a_problem_at_its_first_line(room: Path) -> None:
    for text in ("", "# only a comment\n", "collection: {name: Empty}\n"):
        line, _, field, message = only_problem(write(room / "exhibit.yaml", text))
        assert (line, field) == (1, "artworks") and "no artworks" in message


def test_load_exhibit_raises_only_exhibit_error(room: Path) -> None:
    with pytest.raises(ExhibitError) as caught:
        load_exhibit(write(room / "exhibit.yaml", b"\xff\xfe\x00"))
    assert all(p.line is not None for p in caught.value.problems)
    with pytest.raises(ExhibitError):
        load_exhibit(room / "nul\0name.yaml")


# -- values ----------------------------------------------------------------------------------------


def test_bad_dates_and_timezones_are_positioned(room: Path) -> None:
    path = write(room / "exhibit.yaml", ARTWORK + textwrap.dedent("""
        collection: {timezone: Europe}
        schedule:
          closed_dates: [2026-13-45, 2026-02-30, "2026-12-25 10:00", 2026-12-24]
    """))
    found = {p.field: (p.line, p.message) for p in validate_exhibit(path)[1]}
    assert found["collection.timezone"] == (3, "unknown timezone 'Europe'; expected an IANA name such as Europe/Rome or UTC")
    assert found["schedule.closed_dates[0]"] == (5, "'2026-13-45' is not a date: month must be in 1..12")
    assert found["schedule.closed_dates[1]"][1] == "'2026-02-30' is not a date: day is out of range for month"
    assert "year-month-day" in found["schedule.closed_dates[2]"][1]
    assert "schedule.closed_dates[3]" not in found


@pytest.mark.parametrize("directive", ["", "%YAML 1.1\n---\n"])
def test_opening_hours_as_people_write_them(room: Path, directive: str) -> None:
    path = write(room / "exhibit.yaml", directive + ARTWORK + textwrap.dedent("""
        schedule:
          periods:
            - {days: tue-sun, open: 9:00, close: 17:30}
            - {days: Monday, open: "9:15", close: "12:00:00"}
          closed_dates: [2026-12-25]
          prerender_at: 3:00
    """))
    config = load_exhibit(path)
    first, second = config.schedule.periods
    assert first.days == ["tue", "wed", "thu", "fri", "sat", "sun"]
    assert (first.open, first.close) == (dt.time(9, 0), dt.time(17, 30))
    assert (second.days, second.open, second.close) == (["mon"], dt.time(9, 15), dt.time(12, 0))
    assert config.schedule.closed_dates == [dt.date(2026, 12, 25)]
    assert config.schedule.prerender_at == dt.time(3, 0)


def test_a_yaml11_readers_sexagesimal_and_dates_are_understood_by_the_model(room: Path) -> None:
    """Data read by a YAML 1.1 library (PyYAML) rather than our loader: 9:00 arrives as 540, dates as dates."""
    data = yaml.safe_load("schedule: {periods: [{open: 9:00, close: 17:30}], closed_dates: [2026-12-25]}")
    assert data["schedule"]["periods"][0]["open"] == 540 and isinstance(data["schedule"]["closed_dates"][0], dt.date)
    with pytest.raises(ValueError, match=r"unquoted 9:00 into 540: quote it"):
        ExhibitConfig.model_validate(data)
    data["schedule"]["periods"][0].update(open="9:00", close="17:30")
    assert ExhibitConfig.model_validate(data).schedule.closed_dates == [dt.date(2026, 12, 25)]


def test_bad_hours_say_what_a_time_looks_like(room: Path) -> None:
    path = write(room / "exhibit.yaml", ARTWORK + "schedule:\n  periods: [{open: 25:00, close: noon}]\n")
    found = {p.field: p.message for p in validate_exhibit(path)[1]}
    assert "'25:00' is not a time of day" in found["schedule.periods[0].open"]
    assert "like \"9:00\" or \"18:30\"" in found["schedule.periods[0].close"]


def test_json_schema_accepts_documented_day_ranges_and_hours_and_rejects_nonsense() -> None:
    schema = json_schema()
    for period in ({"days": "tue-sun", "open": "9:00", "close": "18:30"}, {"days": ["mon", "wed-fri"]},
                   {"days": "Monday, thu-sat"}):
        jsonschema.validate({"schedule": {"periods": [period]}}, schema)
    for period in ({"days": "funday"}, {"days": ["mon-"]}, {"open": "25:00"}, {"open": 540}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({"schedule": {"periods": [period]}}, schema)
    for include in ("rooms/east.yaml", ["rooms/east.yaml", "rooms/west.yaml"]):  # the README's, and a list
        jsonschema.validate({"include": include}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"include": 3}, schema)
    committed = json.loads((Path(__file__).resolve().parents[2] / "exhibits" / "exhibit.schema.json").read_text())
    assert committed == schema


def test_nan_infinity_and_huge_numbers_are_refused(room: Path) -> None:
    path = write(room / "exhibit.yaml", ARTWORK + "audio: {master_volume: .nan, crossfade_seconds: .inf}\nartworks: []\n")
    _, problems = validate_exhibit(path)
    assert any("duplicate key 'artworks'" in p.message for p in problems)
    path = write(room / "exhibit.yaml", ARTWORK + f"audio: {{master_volume: .nan}}\nidle: {{seed: {'9' * 5000}}}\n")
    found = {p.field: p.message for p in validate_exhibit(path)[1]}
    assert found["audio.master_volume"] == "must be a finite number, got nan"
    assert found["idle.seed"].startswith("must be a whole number, got '9999") and "(5002 characters)" in found["idle.seed"]


# -- media and secrets that would stop the start -----------------------------------------------------


@pytest.mark.parametrize(
    ("samples", "expected"),
    [
        (np.array([0.1, np.nan, 0.2] * 100, dtype=np.float32), "holds NaN or infinite samples (first at 0.000 s)"),
        (np.array([0.1] * 4800 + [np.inf], dtype=np.float32), "holds NaN or infinite samples (first at 0.100 s)"),
        (np.array([0.1, 3e30, -0.2] * 100, dtype=np.float32), "holds samples up to 3e+30 (corrupt float data"),
    ],
)
def test_fixed_audio_with_nan_inf_or_corrupt_floats_fails_validation(room: Path, samples, expected) -> None:
    soundfile.write(room / "fixed.wav", samples, 48000, subtype="FLOAT")
    path = write(room / "exhibit.yaml", "artworks: [{id: a1, images: [a.png], audio: fixed.wav}]\n")
    line, _, field, message = only_problem(path)
    assert (line, field) == (1, "artworks[0].audio") and expected in message


def test_a_good_float_wav_passes(room: Path) -> None:
    soundfile.write(room / "fixed.wav", np.full(4800, 0.5, dtype=np.float32), 48000, subtype="FLOAT")
    assert load_exhibit(write(room / "exhibit.yaml", "artworks: [{id: a1, images: [a.png], audio: fixed.wav}]\n"))


@pytest.mark.parametrize(
    ("panel", "token_bytes", "expected"),
    [
        ('{token: ""}', None, "is empty: an empty token would leave the control panel open"),
        ("{token: '   '}", None, "is empty: an empty token would leave the control panel open"),
        ("{host: 0.0.0.0, token_file: token.txt}", b" \n\t\n", "is empty: an empty token would leave the control panel open"),
        ("{token_file: token.txt}", b"s\xe9cret\n", "is not UTF-8 text (byte 0xe9 on line 1)"),
        ("{token_file: token.txt}", b"x" * 70000, "a token is one line of text"),
    ],
)
def test_blank_or_unreadable_tokens_are_refused(room: Path, panel: str, token_bytes, expected) -> None:
    if token_bytes is not None:
        (room / "token.txt").write_bytes(token_bytes)
    line, _, field, message = only_problem(write(room / "exhibit.yaml", ARTWORK + f"control_panel: {panel}\n"))
    assert line == 2 and field.startswith("control_panel.token") and expected in message


# -- the command -------------------------------------------------------------------------------------


@pytest.mark.timeout(120)
def test_art2mus_validate_reports_hostile_files_with_positions_and_exit_1(room: Path) -> None:
    """What ExecStartPre runs: a FIFO include, an alias bomb and a blank token end in exit 1, not a traceback."""
    os.mkfifo(room / "fifo")
    bomb = "".join(f"b{i}: &b{i} [" + ", ".join([f"*b{i - 1}"] * 9 if i else ['"x"'] * 9) + "]\n" for i in range(12))
    cases = {
        "fifo.yaml": (ARTWORK + "include: fifo\n", "fifo.yaml:2:10 include: "),
        "bomb.yaml": (bomb + ARTWORK, "bomb.yaml:6:"),
        "token.yaml": (ARTWORK + "control_panel: {token: ' '}\n", "token.yaml:2:24 control_panel.token: is empty"),
    }
    art2mus = Path(sys.executable).with_name("art2mus")
    for name, (text, expected) in cases.items():
        write(room / name, text)
        result = subprocess.run(
            [str(art2mus), "validate", name, "--json"], cwd=room, capture_output=True, text=True, timeout=60, check=False
        )
        assert result.returncode == 1 and "Traceback" not in result.stderr, (name, result.stderr[-2000:])
        report = json.loads(result.stdout)
        assert not report["valid"] and all(p["line"] and p["col"] for p in report["problems"])
        result = subprocess.run([str(art2mus), "validate", name], cwd=room, capture_output=True, text=True, timeout=60, check=False)
        assert result.returncode == 1 and result.stderr.startswith(expected), (name, result.stderr[:500])
