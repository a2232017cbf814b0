"""The exhibit schema: every kind of error at the right line, includes, path resolution."""

from __future__ import annotations

import datetime as dt
import os
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest
import soundfile

from art2mus.installation.config import ExhibitError, load_exhibit, validate_exhibit


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


@pytest.fixture
def gallery(tmp_path: Path) -> Path:
    """A folder with two readable images, a WAV file and a broken image."""
    rng = np.random.default_rng(0)
    (tmp_path / "img").mkdir()
    for name in ("a.png", "b.jpg"):
        cv2.imwrite(str(tmp_path / "img" / name), rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
    (tmp_path / "img" / "broken.png").write_bytes(b"\x89PNG not really")
    soundfile.write(tmp_path / "tone.wav", np.zeros(4800, dtype=np.float32), 48000)
    return tmp_path


def problems_of(path: Path) -> list[tuple[int | None, str, str]]:
    _, problems = validate_exhibit(path)
    return [(p.line, p.field, p.message) for p in problems]


def test_minimal_exhibit_fills_every_default(gallery: Path) -> None:
    path = write(gallery / "exhibit.yaml", """
        artworks:
          - id: a1
            images: [img/a.png]
    """)
    config = load_exhibit(path)
    assert config.artworks[0].soundscape.duration == 30.0
    assert config.audio.output.type == "pyaudio"
    assert config.generators["procedural"].type == "procedural"
    assert config.control_panel.host == "127.0.0.1"
    assert config.source_file == path.absolute()
    assert config.files == (path.absolute(),)


def test_the_null_output_may_be_written_without_quotes(gallery: Path) -> None:
    # unquoted, YAML reads `null` as the empty value: exhibits/README.md lists the output as `type: null`
    for written in ("null", '"null"', "~"):
        path = write(gallery / "exhibit.yaml", f"""
            artworks:
              - id: a1
                images: [img/a.png]
            audio:
              output: {{type: {written}}}
        """)
        assert load_exhibit(path).audio.output.type == "null", written
    path = write(gallery / "exhibit.yaml", """
        artworks:
          - id: a1
            images: [img/a.png]
        audio:
          output: {type: nul}
    """)
    assert problems_of(path) == [(5, "audio.output", "type must be one of 'pyaudio', 'wav', 'null', got 'nul'")]


def test_a_misspelled_field_in_a_section_chosen_by_type_gets_a_suggestion(gallery: Path) -> None:
    path = write(gallery / "exhibit.yaml", """
        artworks:
          - id: a1
            images: [img/a.png]
        camera: {type: video, lop: false, path: tone.wav}
        audio:
          output: {type: wav, pth: out.wav}
        generators:
          procedural: {type: procedural, smaple_rate: 48000}
    """)
    unknown = [(line, field, message) for line, field, message in problems_of(path) if "unknown" in message]
    assert [(line, field, message.split(";")[0]) for line, field, message in unknown] == [
        (4, "camera.lop", "unknown field 'lop' (did you mean 'loop'?)"),
        (6, "audio.output.pth", "unknown field 'pth' (did you mean 'path'?)"),
        (8, "generators.procedural.smaple_rate", "unknown field 'smaple_rate' (did you mean 'sample_rate'?)"),
    ]
    assert "; expected one of: fps, height, loop, path," in unknown[0][2]


@pytest.mark.parametrize(
    ("snippet", "line", "field", "expected"),
    [
        ("    soundscape: {duration: -5}\n", 4, "artworks[0].soundscape.duration", "must be > 0 seconds, got -5"),
        ("    soundscape: {seed: many}\n", 4, "artworks[0].soundscape.seed", "must be a whole number, got 'many'"),
        ("    colour: red\n", 4, "artworks[0].colour", "unknown field 'colour'"),
        ("    titel: Sky\n", 4, "artworks[0].titel", "did you mean 'title'?"),
        ("    soundscape: {loop: sometimes}\n", 4, "artworks[0].soundscape.loop", "must be true or false"),
        ("    year: 2500\n", 4, "artworks[0].year", "must be <= 2200, got 2500"),
    ],
)
def test_each_error_names_its_line_field_and_expectation(
    gallery: Path, snippet: str, line: int, field: str, expected: str
) -> None:
    path = write(gallery / "exhibit.yaml", "artworks:\n  - id: a1\n    images: [img/a.png]\n" + snippet)
    found = problems_of(path)
    assert len(found) == 1, found
    assert found[0][0] == line
    assert found[0][1] == field
    assert expected in found[0][2]


def test_all_problems_are_reported_in_one_pass_in_file_order(gallery: Path) -> None:
    path = write(gallery / "exhibit.yaml", """
        collection:
          name: Test
        artworks:
          - id: a1
            images: [img/a.png]
            soundscape:
              duration: -5
          - id: a2
            title: 12
            images: [img/missing.png]
            soundscape: {seed: abc, colour: red}
          - id: a3
            images: [img/broken.png]
        camera:
          type: webcam
    """)
    _, problems = validate_exhibit(path)
    text = [str(p) for p in problems]
    name = "exhibit.yaml"
    assert [(p.line, p.field) for p in problems] == [
        (7, "artworks[0].soundscape.duration"),
        (9, "artworks[1].title"),
        (10, "artworks[1].images[0]"),
        (11, "artworks[1].soundscape.seed"),
        (11, "artworks[1].soundscape.colour"),
        (13, "artworks[2].images[0]"),
        (15, "camera"),
    ]
    assert text[0].endswith(f"{name}:7:17 artworks[0].soundscape.duration: must be > 0 seconds, got -5")
    assert "file not found" in text[2] and "missing.png" in text[2]
    assert "not a readable image" in text[5]
    assert "type must be one of 'device', 'path', 'stream', 'video', got 'webcam'" in text[6]


def test_missing_required_field_points_at_its_parent(gallery: Path) -> None:
    path = write(gallery / "exhibit.yaml", """
        artworks:
          - title: No id
            images: [img/a.png]
    """)
    assert problems_of(path) == [(2, "artworks[0].id", "is required")]


def test_yaml_syntax_error_and_duplicate_key_report_position(gallery: Path) -> None:
    bad = write(gallery / "bad.yaml", "artworks:\n  - id: a1\n    images: [img/a.png\n")
    line, field, message = problems_of(bad)[0]
    assert field == "" and message.startswith("YAML syntax") and line == 4
    dup = write(gallery / "dup.yaml", "collection:\n  name: a\n  name: b\n")
    assert problems_of(dup)[0][0] == 3 and "duplicate key" in problems_of(dup)[0][2]
    assert "(a tab" not in message
    tabbed = write(gallery / "tab.yaml", "artworks:\n  - id: a1\n    images: [img/a.png]\n\tcamera: {}\n")
    assert problems_of(tabbed) == [
        (4, "", "YAML syntax: while scanning for the next token found character that cannot start any token "
         "(a tab: YAML indents with spaces only)")
    ]


def test_cross_references_duplicate_ids_unknown_generator_overlapping_hours(gallery: Path) -> None:
    path = write(gallery / "exhibit.yaml", """
        artworks:
          - {id: a1, images: [img/a.png]}
          - {id: a1, images: [img/b.jpg], soundscape: {generator: magic}}
        schedule:
          periods:
            - {days: mon-fri, open: "10:00", close: "18:00"}
            - {days: [fri, sat], open: "17:00", close: "22:00", volume: 0.5}
    """)
    found = problems_of(path)
    assert (3, "artworks[1].id") == found[0][:2] and "duplicate artwork id 'a1'" in found[0][2]
    assert (3, "artworks[1].soundscape.generator") == found[1][:2] and "expected a key of `generators`: procedural" in found[1][2]
    assert found[2][:2] == (7, "schedule.periods[1]") and "overlaps schedule.periods[0] on fri" in found[2][2]


def test_periods_over_midnight_overlap_the_next_days_hours(gallery: Path) -> None:
    """A Friday-night event 20:00-02:00 runs into Saturday: compared as if it ended at midnight, an overlap
    with Saturday's early hours (or Friday's own evening) passed, and the first period listed won."""
    path = write(gallery / "exhibit.yaml", """
        artworks:
          - {id: a1, images: [img/a.png]}
        schedule:
          periods:
            - {days: fri, open: "20:00", close: "02:00", volume: 0.6}
            - {days: [sat], open: "00:00", close: "03:00"}
            - {days: fri, open: "21:00", close: "22:00"}
            - {days: sun, open: "23:00", close: "01:00"}
            - {days: mon, open: "00:30", close: "04:00"}
            - {days: sat, open: "03:00", close: "24:00"}
    """)
    found = problems_of(path)
    assert [(line, field) for line, field, _ in found] == [
        (6, "schedule.periods[1]"), (7, "schedule.periods[2]"), (9, "schedule.periods[4]")
    ]
    assert "overlaps schedule.periods[0] on sat" in found[0][2]
    assert "overlaps schedule.periods[0] on fri" in found[1][2]
    assert "overlaps schedule.periods[3] on mon" in found[2][2]  # Sunday night into Monday
    # periods that only meet at midnight (or at 03:00) do not overlap
    meeting = write(gallery / "meeting.yaml", """
        artworks:
          - {id: a1, images: [img/a.png]}
        schedule:
          periods:
            - {days: fri, open: "20:00", close: "24:00"}
            - {days: sat, open: "00:00", close: "03:00"}
            - {days: sat, open: "03:00", close: "02:00"}
    """)
    assert problems_of(meeting) == []


def test_model_rules_timezone_hours_token_idle(gallery: Path) -> None:
    path = write(gallery / "exhibit.yaml", """
        collection: {timezone: Mars/Olympus}
        schedule:
          periods: [{open: "10:00", close: "10:00"}]
        control_panel: {host: 0.0.0.0}
        idle: {source: file}
        recognition: {accept_inliers: 10, keep_inliers: 20}
    """)
    found = {field: message for _, field, message in problems_of(path)}
    assert "unknown timezone 'Mars/Olympus'" in found["collection.timezone"]
    assert "close (10:00) is the same as open: a period needs a length" in found["schedule.periods[0]"]
    assert "set `token` or `token_file`" in found["control_panel"]
    assert "source 'file' needs a `path`" in found["idle"]
    assert "keep_inliers (20) must not exceed accept_inliers (10)" in found["recognition"]


def test_a_period_may_close_at_24_00_or_after_midnight(gallery: Path) -> None:
    """A Friday-night event 20:00-02:00 had to be two periods with a fade at midnight: "24:00" was refused
    (hours go to 23) and a close before the open too."""
    path = write(gallery / "exhibit.yaml", """
        artworks: [{id: a1, images: [img/a.png]}]
        schedule:
          periods:
            - {days: fri, open: "20:00", close: "24:00"}
            - {days: thu, open: "20:00", close: "02:00"}
            - {days: sun, open: "00:00", close: "24:00:00"}
    """)
    periods = load_exhibit(path).schedule.periods
    assert [(p.open, p.close) for p in periods] == [
        (dt.time(20), dt.time(0)),
        (dt.time(20), dt.time(2)),
        (dt.time(0), dt.time(0)),
    ]
    refused = write(gallery / "bad.yaml", """
        schedule:
          periods: [{open: "24:00", close: "02:00"}, {open: "10:00", close: "24:01"}]
          prerender_at: "24:00"
    """)
    found = {field: message for _, field, message in problems_of(refused)}
    assert "hours go to 23" in found["schedule.periods[0].open"]
    assert "'24:01' is not a time of day" in found["schedule.periods[1].close"]
    assert "hours go to 23" in found["schedule.prerender_at"]


def test_days_accept_ranges_and_wrap_around(gallery: Path) -> None:
    path = write(gallery / "exhibit.yaml", """
        artworks: [{id: a1, images: [img/a.png]}]
        schedule:
          periods:
            - {days: "fri-mon", open: "10:00", close: "12:00"}
            - {days: [tue, wed-thu], open: "10:00", close: "12:00"}
    """)
    config = load_exhibit(path)
    assert config.schedule.periods[0].days == ["fri", "sat", "sun", "mon"]
    assert config.schedule.periods[1].days == ["tue", "wed", "thu"]


def test_includes_merge_append_override_and_resolve_paths_per_file(gallery: Path) -> None:
    write(gallery / "rooms" / "east.yaml", """
        include: [../shared/audio.yaml]
        artworks:
          - {id: east-1, images: [../img/a.png]}
        collection: {name: From the room}
    """)
    write(gallery / "shared" / "audio.yaml", """
        audio: {crossfade_seconds: 7, output: {type: wav, path: out/mix.wav}}
    """)
    top = write(gallery / "exhibit.yaml", """
        include: rooms/east.yaml
        collection: {name: Main}
        artworks:
          - {id: main-1, images: [img/b.jpg], audio: tone.wav}
    """)
    config = load_exhibit(top)
    assert [a.id for a in config.artworks] == ["east-1", "main-1"]
    assert config.collection.name == "Main"
    assert config.audio.crossfade_seconds == 7
    assert config.artworks[0].images[0] == (gallery / "img" / "a.png").absolute()
    assert config.artworks[1].audio == (gallery / "tone.wav").absolute()
    # a path written in shared/audio.yaml resolves against shared/
    assert config.audio.output.path == (gallery / "shared" / "out" / "mix.wav").absolute()
    assert {p.name for p in config.files} == {"exhibit.yaml", "east.yaml", "audio.yaml"}


def test_errors_in_included_files_name_that_file_and_line(gallery: Path) -> None:
    write(gallery / "rooms" / "west.yaml", "artworks:\n  - id: w1\n    images: [../img/a.png]\n    year: soon\n")
    top = write(gallery / "exhibit.yaml", "include: [rooms/west.yaml]\n")
    _, problems = validate_exhibit(top)
    assert len(problems) == 1
    assert problems[0].file.name == "west.yaml" and problems[0].line == 4
    assert problems[0].field == "artworks[0].year"


def test_include_cycle_and_missing_include(gallery: Path) -> None:
    write(gallery / "a.yaml", "include: b.yaml\n")
    write(gallery / "b.yaml", "include: a.yaml\n")
    _, problems = validate_exhibit(gallery / "a.yaml")
    assert len(problems) == 1 and "include cycle" in problems[0].message
    top = write(gallery / "exhibit.yaml", "collection: {name: x}\ninclude:\n  - nowhere.yaml\n")
    _, problems = validate_exhibit(top)
    assert [(p.line, p.field) for p in problems] == [(3, "include")]
    assert "file not found" in problems[0].message


def test_paths_are_absolute_and_home_is_expanded(gallery: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(gallery))
    path = write(gallery / "sub" / "exhibit.yaml", """
        artworks:
          - {id: a1, images: ["~/img/a.png", ../img/b.jpg]}
        cache: {dir: cache}
    """)
    config = load_exhibit(path)
    assert config.artworks[0].images == [gallery / "img" / "a.png", (gallery / "img" / "b.jpg").absolute()]
    assert config.cache.dir == gallery / "sub" / "cache"
    # defaults resolve against the exhibit's folder too
    assert config.recognition.index_dir == gallery / "sub" / ".art2mus"


def test_load_exhibit_raises_with_every_problem(gallery: Path) -> None:
    path = write(gallery / "exhibit.yaml", "artworks: [{id: Bad Id, images: []}]\n")
    with pytest.raises(ExhibitError) as caught:
        load_exhibit(path)
    fields = [p.field for p in caught.value.problems]
    assert fields == ["artworks[0].id", "artworks[0].images"]
    assert "needs at least 1 item, got 0" in str(caught.value)


def test_unreadable_audio_and_video_are_detected(gallery: Path) -> None:
    (gallery / "noise.wav").write_bytes(b"RIFF....WAVEfmt garbage")
    (gallery / "cam.mp4").write_bytes(b"\x00" * 100)
    path = write(gallery / "exhibit.yaml", """
        artworks: [{id: a1, images: [img/a.png], audio: noise.wav}]
        camera: {type: video, path: cam.mp4}
    """)
    found = {field: message for _, field, message in problems_of(path)}
    assert "not a readable audio file" in found["artworks[0].audio"]
    assert "not a readable video" in found["camera.path"]


def test_a_read_only_exhibit_folder_under_systemd_names_where_the_daemon_may_write(
    gallery: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The unit's exhibit lives in /etc/art2mus, read-only to the daemon (ProtectSystem=strict): its default
    folders (cache, index, unseen crops beside the YAML file) are refused by `validate`, the unit's
    ExecStartPre, saying where the service may write; moved there, the exhibit is valid."""
    etc, state = gallery / "etc", gallery / "var-lib-art2mus"
    state.mkdir()
    real_access = os.access

    def read_only_etc(path, mode, *args, **kwargs):  # root may write anywhere: the sandbox is what refuses
        if mode & os.W_OK and Path(path).is_relative_to(etc):
            return False
        return real_access(path, mode, *args, **kwargs)

    monkeypatch.setattr("art2mus.installation.config.files.os.access", read_only_etc)
    monkeypatch.setenv("STATE_DIRECTORY", f"{state}:{gallery / 'other-state'}")
    exhibit = write(etc / "exhibit.yaml", f"artworks: [{{id: a1, images: [{gallery}/img/a.png]}}]\n")
    found = {field: message for _, field, message in problems_of(exhibit)}
    assert set(found) == {"recognition.index_dir", "unseen.dir", "cache.dir"}
    for message in found.values():
        assert f"{etc} is not writable by " in message
        assert message.endswith(f" (this service may write only under {state}: put the folder there)")
    write(
        exhibit,
        f"""
        artworks: [{{id: a1, images: [{gallery}/img/a.png]}}]
        cache: {{dir: {state}/cache}}
        recognition: {{index_dir: {state}}}
        unseen: {{dir: {state}/unseen}}
        """,
    )
    assert problems_of(exhibit) == []


def test_an_output_folder_this_user_may_not_write_is_a_warning_and_the_exhibit_still_runs(
    gallery: Path, repo_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cache folder that `art2mus prerender` created as root, under the daemon's writable state folder:
    the daemon may read it (it plays what is cached) but keeps nothing new, so validate (the unit's
    ExecStartPre) and run warn, naming the field; the exhibit stays valid, so the room still plays."""
    import pwd  # noqa: PLC0415

    from click.testing import CliRunner  # noqa: PLC0415

    from art2mus.installation.cli import main  # noqa: PLC0415
    from art2mus.installation.config.files import unwritable_folders  # noqa: PLC0415

    state = gallery / "state"
    (state / "cache").mkdir(parents=True)
    real_access = os.access

    def roots_cache(path, mode, *args, **kwargs):
        if mode & os.W_OK and Path(path) == state / "cache":
            return False
        return real_access(path, mode, *args, **kwargs)

    monkeypatch.setattr("art2mus.installation.config.files.os.access", roots_cache)
    monkeypatch.setenv("STATE_DIRECTORY", str(state))
    painting = repo_root / "exhibits/demo/artworks/amber-fields.png"  # a photo the photo checks accept
    exhibit = write(
        gallery / "exhibit.yaml",
        f"""
        artworks: [{{id: a1, images: [{painting}]}}]
        cache: {{dir: {state}/cache}}
        recognition: {{index_dir: {state}}}
        unseen: {{dir: {state}/unseen}}
        """,
    )
    assert problems_of(exhibit) == []
    warnings = unwritable_folders(load_exhibit(exhibit))
    assert len(warnings) == 1
    user = pwd.getpwuid(os.geteuid()).pw_name
    assert warnings[0].startswith(f"cache.dir: this user ({user}) may not write {state / 'cache'} (owned by ")
    assert "put the folder there" not in warnings[0]  # it is there already: the fix is a chown (or chmod)
    result = CliRunner().invoke(main, ["validate", str(exhibit)])
    assert result.exit_code == 0, result.output
    # at the field, as a problem would be
    assert f"warning: {exhibit}:2:14 {warnings[0]}" in result.stderr and f"{exhibit}: valid" in result.stdout



def test_validates_summary_gives_a_video_its_own_size_and_a_camera_what_it_asks_for(repo_root):
    """A video file plays at its own size and rate: the summary said `640x480 @ 15 fps` for it (the camera
    defaults), while `record` wrote the file's 640x360."""
    from art2mus.installation.config.summary import summary_rows
    from art2mus.installation.vision.sources import DeviceCameraConfig

    demo = load_exhibit(repo_root / "exhibits/demo/exhibit.yaml")
    rows = dict(summary_rows(demo))
    assert rows["camera"].endswith("(loop, real time), its own size and rate") and "fps" not in rows["camera"]
    device = demo.model_copy(update={"camera": DeviceCameraConfig(index=2, width=1280, height=720, fps=10)})
    assert dict(summary_rows(device))["camera"] == "device #2, 1280x720 @ 10 fps"
