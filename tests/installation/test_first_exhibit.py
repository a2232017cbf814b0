"""From a folder of photos to a playing room, as a curator does it: ``init`` -> ``validate`` -> ``walk`` ->
``prerender`` -> ``simulate``, and the same room with a blank, a duplicate and an unreadable photo.

The photos are six of the demo's paintings (PNG files); the commands run as real processes.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest

ART2MUS = [sys.executable, "-m", "art2mus.installation.cli"]
SIX = [
    "amber-fields",
    "city-at-six",
    "composition-with-signals",
    "evening-regatta",
    "hills-of-orvale",
    "night-over-the-village",
]
#: what a test room needs besides the scaffold: short soundscapes, the walk as camera, a WAV file
ROOM = """
camera: {type: video, path: walk.mp4}
audio:
  output: {type: wav, path: room.wav}
idle: {duration: 4}
"""


def art2mus(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([*ART2MUS, *args], cwd=cwd, capture_output=True, text=True, timeout=600)
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def six_photos(folder: Path, repo_root: Path) -> Path:
    photos = folder / "photos"
    photos.mkdir(parents=True)
    for name in SIX:
        shutil.copy(repo_root / "exhibits/demo/artworks" / f"{name}.png", photos)
    return photos


def add_bad_photos(photos: Path) -> None:
    """A blank wall, the same file as another artwork, and a file that is not an image."""
    cv2.imwrite(str(photos / "blank-wall.png"), np.full((600, 800, 3), 200, np.uint8))
    shutil.copy(photos / "amber-fields.png", photos / "copy-of-amber.png")
    (photos / "broken.jpg").write_bytes(b"this is not a JPEG\n")


def list_artworks(exhibit: Path, folder: str, names: list[str]) -> None:
    """Add an artwork per photo to the exhibit by hand, as a curator may (``init`` skips photos it cannot
    use): at the end of its ``artworks`` list."""
    text = exhibit.read_text()
    entries = "".join(f"  - id: {Path(n).stem}\n    images: [{folder}/{n}]\n" for n in names)
    end = text.index("\n# Every other section")
    exhibit.write_text(text[:end] + entries + text[end:])


@pytest.fixture(scope="module")
def room(tmp_path_factory, repo_root) -> Path:
    """Six photos, ``init`` and ``walk`` run once for the module (the walk takes about a minute)."""
    folder = tmp_path_factory.mktemp("first-exhibit")
    six_photos(folder, repo_root)
    art2mus("init", "photos", "-o", "exhibit.yaml", cwd=folder)
    walked = art2mus("walk", "exhibit.yaml", "-o", "walk.mp4", cwd=folder)
    # the walk names the next step, which simulates the whole walk (the test below runs it)
    assert "next: art2mus simulate exhibit.yaml --video walk.mp4 -o mix.wav" in walked.stdout
    return folder


def test_photos_to_simulate_in_three_commands(room: Path) -> None:
    text = (room / "exhibit.yaml").read_text()
    assert text.startswith("# yaml-language-server: $schema=")
    assert "# recognition:\n#   features: sift" in text  # the other sections, commented with defaults
    valid = art2mus("validate", "exhibit.yaml", cwd=room)
    assert "exhibit.yaml: valid" in valid.stdout
    timeline = json.loads((room / "walk.json").read_text())
    walked = [s["artwork_id"] for s in timeline["segments"] if s["kind"] == "artwork"]
    assert walked == SIX
    assert any(s["kind"] == "empty" for s in timeline["segments"])
    prerender = art2mus("prerender", "exhibit.yaml", cwd=room)
    assert prerender.returncode == 0
    out = art2mus("simulate", "exhibit.yaml", "--video", "walk.mp4", "-o", "mix.wav", "--json", cwd=room)
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    played = [event["play"] for event in lines if "play" in event]
    assert [p for p in played if p != "idle"] == walked
    # no --duration: the whole walk, once through (the last artworks were cut off at a fixed 60 s)
    assert lines[-1]["summary"]["seconds"] == pytest.approx(
        timeline["frame_count"] / timeline["fps"], abs=0.03
    )


def test_init_twice_keeps_edits_and_adds_new_photos(tmp_path: Path, repo_root: Path) -> None:
    photos = six_photos(tmp_path, repo_root)
    (photos / "Mona Lisa (2)").mkdir()
    shutil.copy(photos / "city-at-six.png", photos / "Mona Lisa (2)" / "front.png")
    (photos / "city-at-six.png").unlink()
    first = art2mus("init", "photos", cwd=tmp_path)
    assert "wrote exhibit.yaml: 6 artworks added, 0 kept" in first.stdout
    path = tmp_path / "exhibit.yaml"
    text = path.read_text()
    assert "- id: mona-lisa-2" in text and "images: [photos/Mona Lisa (2)/front.png]" in text
    edited = text.replace("title: Amber fields", "title: Amber Fields at Dusk  # from the wall label")
    edited = edited.replace("artworks:\n", "artworks:\n  # hung in room 2, east wall\n", 1)
    assert edited != text
    path.write_text(edited)
    shutil.copy(repo_root / "exhibits/demo/artworks/still-life-with-flowers.png", photos / "Still Life.png")
    second = art2mus("init", "photos", cwd=tmp_path)
    assert "updated exhibit.yaml: 1 artwork added, 6 kept" in second.stdout
    after = path.read_text()
    assert after.startswith(edited.rstrip("\n").split("\n# Every other section")[0][:200])
    assert "title: Amber Fields at Dusk  # from the wall label" in after
    assert "  # hung in room 2, east wall\n" in after
    assert "- id: still-life\n" in after and after.count("- id: amber-fields") == 1
    third = art2mus("init", "photos", cwd=tmp_path)
    assert "unchanged: exhibit.yaml: 0 artworks added, 7 kept" in third.stdout
    assert path.read_text() == after


def test_photo_names_in_any_script_keep_their_letters_in_the_titles(tmp_path: Path) -> None:
    from art2mus.installation.config import load_exhibit
    from art2mus.installation.scaffold import init_exhibit

    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(3)
    names = ["Café_Nuit.png", "café-nuit.jpg", "日の出.png", "st. ives"]
    for name in names:
        target = photos / name / "front.png" if name == "st. ives" else photos / name
        target.parent.mkdir(exist_ok=True)
        cv2.imencode(target.suffix, rng.integers(0, 255, (480, 640, 3), np.uint8))[1].tofile(target)
    init_exhibit(photos, tmp_path / "exhibit.yaml")
    text = (tmp_path / "exhibit.yaml").read_text()
    from art2mus.installation.config.exhibit import ExhibitConfig

    sections = [n for n in ExhibitConfig.model_fields if n not in ("version", "include", "collection", "artworks")]
    assert "unseen" in sections and [s for s in sections if f"\n# {s}:\n" not in text] == []  # each, commented
    found = {a.id: a.title for a in load_exhibit(tmp_path / "exhibit.yaml").artworks}
    # titles as the names are written; ids in ASCII (accents dropped), a name with no Latin letter "artwork"
    assert found == {"cafe_nuit": "Café Nuit", "cafe-nuit": "Café nuit", "artwork": "日の出", "st-ives": "St. ives"}


def test_bad_photos_are_named_by_validate_and_doctor(tmp_path: Path, repo_root: Path) -> None:
    photos = six_photos(tmp_path, repo_root)
    add_bad_photos(photos)
    init = art2mus("init", "photos", cwd=tmp_path)  # it skips them, and says why
    assert "blank-wall" not in init.stdout and "skipped photos/blank-wall.png: fewer than 20 keypoints" in init.stderr
    list_artworks(tmp_path / "exhibit.yaml", "photos", ["blank-wall.png", "copy-of-amber.png", "broken.jpg"])
    lines = (tmp_path / "exhibit.yaml").read_text().splitlines()
    line_of = {
        name: 1 + next(i for i, t in enumerate(lines) if f"photos/{name}" in t)
        for name in ("blank-wall.png", "copy-of-amber.png", "broken.jpg")
    }
    bad = art2mus("validate", "exhibit.yaml", cwd=tmp_path, check=False)
    assert bad.returncode == 1
    err = bad.stderr
    assert f"exhibit.yaml:{line_of['blank-wall.png']}:" in err and "has 0 keypoints; at least 20" in err
    assert (
        f"exhibit.yaml:{line_of['broken.jpg']}:" in err and "not a readable image: photos/broken.jpg" in err
    )
    assert f"exhibit.yaml:{line_of['copy-of-amber.png']}:" in err
    assert (
        "photos/copy-of-amber.png (artwork 'copy-of-amber') is the same file as photos/amber-fields.png"
        in err
    )
    assert err.rstrip().endswith("3 problems")
    doctor = art2mus("doctor", "exhibit.yaml", "--json", cwd=tmp_path, check=False)
    assert doctor.returncode == 1
    checks = {c["check"]: c for c in map(json.loads, doctor.stdout.splitlines())}
    assert checks["exhibit"]["status"] == "ok"
    assert {k for k, c in checks.items() if k.startswith("photo:") and c["status"] == "fail"} == {
        "photo:blank-wall",
        "photo:broken",
        "photo:copy-of-amber",
    }
    assert "same file as photos/amber-fields.png" in checks["photo:copy-of-amber"]["detail"]


def test_run_with_bad_photos_plays_the_others(room: Path, tmp_path: Path) -> None:
    """The daemon starts, leaves the three bad artworks out of recognition, plays the walk's artworks
    and lists the problems on the control panel."""
    for name in ("photos", "walk.mp4"):
        (tmp_path / name).symlink_to(room / name)
    shutil.copy(room / "exhibit.yaml", tmp_path / "exhibit.yaml")
    bad = tmp_path / "bad-photos"
    bad.mkdir()
    shutil.copy(room / "photos/amber-fields.png", bad / "amber-fields.png")  # what copy-of-amber copies
    add_bad_photos(bad)
    (bad / "amber-fields.png").unlink()
    list_artworks(tmp_path / "exhibit.yaml", "bad-photos", ["blank-wall.png", "broken.jpg", "copy-of-amber.png"])
    with (tmp_path / "exhibit.yaml").open("a") as fh:
        fh.write(ROOM)
    process = subprocess.Popen(
        [*ART2MUS, "run", "exhibit.yaml", "--json", "--duration", "60", "--panel-port", "0"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out: list[str] = []
    err: list[str] = []
    for stream, lines in ((process.stdout, out), (process.stderr, err)):
        threading.Thread(
            target=lambda s=stream, ls=lines: ls.extend(iter(s.readline, "")), daemon=True
        ).start()
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and process.poll() is None:
            if any('"city-at-six"' in line for line in out):
                break
            time.sleep(0.2)
        played = [event["play"] for event in map(json.loads, out) if "play" in event]
        assert played[:3] == ["idle", "amber-fields", "city-at-six"], "".join(out + err)[-4000:]
        url = next(line.split(": ", 1)[1].strip() for line in err if line.startswith("control panel: "))
        artworks = json.loads(urllib.request.urlopen(url + "api/artworks", timeout=10).read())
        problems = {a["id"]: a["problems"] for a in artworks if a["problems"]}
        assert set(problems) == {"blank-wall", "broken", "copy-of-amber"}
        assert "has 0 keypoints" in problems["blank-wall"][0]
        status = json.loads(urllib.request.urlopen(url + "api/status", timeout=10).read())
        assert set(status["problems"]) == set(problems)
        assert any("'broken' is left out of recognition" in line for line in err)
    finally:
        process.terminate()
        process.wait(timeout=60)


@pytest.mark.parametrize(
    ("text", "first_line"),
    [
        ("artworks: [\n  - id: x\n", "broken.yaml:2:3 YAML syntax: "),
        ("collection:\n  name: Room\n timezone: UTC\n", "broken.yaml:3:2 YAML syntax: "),
        (
            "artworks: oops\n",
            "broken.yaml:1:11 artworks: expected a list of artworks (`- id: ...` entries, or `[]` for none), "
            "found the text 'oops'",
        ),
        (
            "- id: x\n",
            "broken.yaml:1:1 expected an exhibit (a mapping of sections such as `collection:` and `artworks:`), "
            "found a list",
        ),
    ],
    ids=["syntax", "indentation", "artworks-not-a-list", "a-list"],
)
def test_init_names_the_line_of_an_exhibit_it_cannot_add_to_and_leaves_it(
    tmp_path: Path, repo_root: Path, text: str, first_line: str
) -> None:
    six_photos(tmp_path, repo_root)
    (tmp_path / "broken.yaml").write_text(text)
    init = art2mus("init", "photos", "-o", "broken.yaml", cwd=tmp_path, check=False)
    assert init.returncode == 1 and "Traceback" not in init.stderr, init.stderr
    assert init.stderr.startswith(first_line), init.stderr
    assert (tmp_path / "broken.yaml").read_text() == text
    if "YAML syntax" in first_line:  # the same line as `validate` gives
        validate = art2mus("validate", "broken.yaml", cwd=tmp_path, check=False)
        assert validate.stderr.splitlines()[0] == init.stderr.splitlines()[0]


def test_a_new_photo_in_an_artworks_folder_joins_its_images(tmp_path: Path, repo_root: Path) -> None:
    artworks = repo_root / "exhibits/demo/artworks"
    views = tmp_path / "photos" / "still-life-views"
    views.mkdir(parents=True)
    shutil.copy(artworks / "still-life-with-flowers.png", views / "front.png")
    shutil.copy(artworks / "amber-fields.png", tmp_path / "photos")
    art2mus("init", "photos", cwd=tmp_path)
    path = tmp_path / "exhibit.yaml"
    edited = path.read_text().replace(
        "images: [photos/still-life-views/front.png]",
        "images:\n      - photos/still-life-views/front.png  # the front\n    # more views below",
    )
    path.write_text(edited)
    shutil.copy(artworks / "portrait-of-a-clerk.png", views / "side.png")
    second = art2mus("init", "photos", cwd=tmp_path)
    assert "updated exhibit.yaml: 0 artworks added, 2 kept, 1 photo added to still-life-views\n" in second.stdout
    assert "still-life-views         good        742 keypoints     600x800  photos/still-life-views/side.png" in (
        second.stdout
    )
    after = path.read_text()
    assert (
        "    images:\n      - photos/still-life-views/front.png  # the front\n"
        "      - photos/still-life-views/side.png\n    # more views below\n"
    ) in after
    assert after.count("- id: ") == 2
    third = art2mus("init", "photos", cwd=tmp_path)
    assert "unchanged: exhibit.yaml: 0 artworks added, 2 kept\n" in third.stdout and path.read_text() == after


def test_artworks_in_included_files_count_as_present(tmp_path: Path, repo_root: Path) -> None:
    photos = six_photos(tmp_path, repo_root)
    (photos / "evening").mkdir()
    shutil.move(photos / "evening-regatta.png", photos / "evening" / "one.png")
    art2mus("init", "photos", cwd=tmp_path)
    path = tmp_path / "exhibit.yaml"
    text = path.read_text()
    # two artworks move to a room file, one under another id than init would give it
    (tmp_path / "rooms").mkdir()
    moved = ["  - id: city-at-six\n    title: City at six\n    artist: Unknown\n    images: [photos/city-at-six.png]\n"]
    moved.append("  - id: regatta\n    title: Evening\n    artist: Unknown\n    images: [photos/evening/one.png]\n")
    evening = "  - id: evening\n    title: Evening\n    artist: Unknown\n    images: [photos/evening/one.png]\n"
    assert moved[0] in text and evening in text
    text = text.replace(moved[0], "").replace(evening, "")
    (tmp_path / "rooms" / "east.yaml").write_text("artworks:\n" + "".join(m.replace("photos/", "../photos/") for m in moved))
    path.write_text(text.replace("version: 1\n", "version: 1\ninclude: rooms/east.yaml\n"))
    before = path.read_text()
    shutil.copy(photos / "amber-fields.png", photos / "evening" / "two.png")  # the same file: skipped too
    shutil.copy(repo_root / "exhibits/demo/artworks/still-life-with-flowers.png", photos / "evening" / "three.png")
    again = art2mus("init", "photos", cwd=tmp_path)
    assert "unchanged: exhibit.yaml: 0 artworks added, 6 kept, 2 skipped" in again.stdout
    assert path.read_text() == before
    assert (
        "skipped photos/evening/three.png: its artwork 'regatta' is written in rooms/east.yaml: add it to the "
        "images there"
    ) in again.stderr
    assert "skipped photos/evening/two.png" in again.stderr
    assert "exhibit.yaml: valid" in art2mus("validate", "exhibit.yaml", cwd=tmp_path).stdout


def test_unusable_photos_and_other_files_are_skipped_with_why(tmp_path: Path, repo_root: Path) -> None:
    photos = six_photos(tmp_path, repo_root)
    add_bad_photos(photos)
    (photos / "IMG_0001.heic").write_bytes(b"\0\0\0\x18ftypheic")
    shutil.copy(photos / "city-at-six.png", photos / "animated.gif")
    (photos / "notes.txt").write_text("hang the amber one higher\n")
    (photos / ".DS_Store").write_bytes(b"\0")
    (photos / "Room B" / "Birch").mkdir(parents=True)
    shutil.copy(repo_root / "exhibits/demo/artworks/portrait-of-a-clerk.png", photos / "Room B" / "Birch" / "a.png")
    (photos / "empty").mkdir()
    weak = np.full((600, 800, 3), 200, np.uint8)  # a few dark shapes on a wall: weak, but recognisable
    rng = np.random.default_rng(1)
    for x, y in rng.integers(50, 500, (20, 2)):
        cv2.rectangle(weak, (int(x) + 200, int(y)), (int(x) + 240, int(y) + 30), (30, 30, 30), -1)
    cv2.imwrite(str(photos / "sketch.png"), weak)
    init = art2mus("init", "photos", cwd=tmp_path)
    assert "wrote exhibit.yaml: 7 artworks added, 0 kept, 8 skipped\n" in init.stdout
    assert re.search(r"sketch +weak +\d+ keypoints", init.stdout)
    err = init.stderr
    for line in (
        "skipped photos/animated.gif: .gif is not a format the recognition reads: export it as .jpg or .png",
        "skipped photos/blank-wall.png: fewer than 20 keypoints, so it cannot be recognised",
        "skipped photos/broken.jpg: not a readable image",
        "skipped photos/copy-of-amber.png: the same file as photos/amber-fields.png (artwork 'amber-fields')",
        "skipped photos/empty: no photos in it",
        "skipped photos/IMG_0001.heic: .heic is not a format",
        "skipped photos/notes.txt: not a photo (init reads .jpg, .jpeg, .png, .tif, .tiff, .webp, .bmp)",
        "skipped photos/Room B: its photos are one folder too deep (in Birch)",
    ):
        assert "\n" + line in "\n" + err, err
    assert ".DS_Store" not in err
    text = (tmp_path / "exhibit.yaml").read_text()
    assert "broken" not in text and "blank-wall" not in text and "copy-of-amber" not in text
    assert "exhibit.yaml: valid" in art2mus("validate", "exhibit.yaml", cwd=tmp_path).stdout


def test_many_skipped_files_are_counted_by_reason(tmp_path: Path, capsys) -> None:
    from art2mus.installation.cli.init import echo_skipped
    from art2mus.installation.scaffold import SkippedFile

    skipped = [SkippedFile(tmp_path / f"note{i}.txt", "not a photo") for i in range(12)]
    skipped.append(SkippedFile(tmp_path / "a.gif", ".gif is not a format the recognition reads"))
    echo_skipped(skipped)
    assert capsys.readouterr().err.splitlines() == [
        f"skipped 12 files ({tmp_path}/note0.txt, {tmp_path}/note1.txt, {tmp_path}/note2.txt, ...): not a photo",
        f"skipped {tmp_path}/a.gif: .gif is not a format the recognition reads",
    ]


@pytest.mark.parametrize("layout", ["empty", "too deep", "only bad"])
def test_init_writes_no_exhibit_without_artworks(tmp_path: Path, repo_root: Path, layout: str) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    if layout == "too deep":
        (photos / "Room A" / "Amber").mkdir(parents=True)
        shutil.copy(repo_root / "exhibits/demo/artworks/amber-fields.png", photos / "Room A" / "Amber" / "front.png")
    elif layout == "only bad":
        (photos / "broken.jpg").write_bytes(b"this is not a JPEG\n")
    init = art2mus("init", "photos", cwd=tmp_path, check=False)
    assert init.returncode == 1 and not (tmp_path / "exhibit.yaml").exists()
    last = init.stderr.splitlines()[-1]
    assert last.startswith(
        "photos: no photo to make an artwork of, so exhibit.yaml is not written: an artwork is a photo (.jpg, "
    ), init.stderr
    assert last.endswith("found nothing" if layout == "empty" else "found only the 1 skipped above")
    if layout == "too deep":
        assert "skipped photos/Room A: its photos are one folder too deep (in Amber)" in init.stderr


def test_metadata_names_the_artwork_not_the_photograph(tmp_path: Path) -> None:
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    from art2mus.installation.scaffold import init_exhibit, photo_metadata

    def xmp(work: str = "") -> str:
        return (
            '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
            '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" '
            'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/">'
            '<dc:title><rdf:Alt><rdf:li xml:lang="fr">Soir</rdf:li><rdf:li xml:lang="x-default">Evening &amp; '
            "Regatta</rdf:li></rdf:Alt></dc:title><dc:creator><rdf:Seq><rdf:li>Jo Photographer</rdf:li></rdf:Seq>"
            f"</dc:creator>{work}</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end=\"w\"?>"
        )

    photos = tmp_path / "photos"
    photos.mkdir()
    picture = Image.fromarray(np.random.default_rng(5).integers(0, 255, (480, 640, 3), np.uint8))
    # a JPEG as a camera writes it: the photographer, the day of the shoot, a caption
    exif = picture.getexif()
    exif[0x013B] = "Jo Photographer"
    exif[0x010E] = "Harbour at dusk"
    exif.get_ifd(0x8769)[0x9003] = "2021:05:01 10:00:00"
    picture.save(photos / "harbour.jpg", exif=exif, quality=95)
    # a PNG with XMP: the photo's creator in dc:creator and PNG Author, the work's in IPTC ArtworkOrObject
    work = (
        '<Iptc4xmpExt:ArtworkOrObject><rdf:Bag><rdf:li rdf:parseType="Resource"><Iptc4xmpExt:AOCreator><rdf:Seq>'
        "<rdf:li>Mira Okafor</rdf:li></rdf:Seq></Iptc4xmpExt:AOCreator><Iptc4xmpExt:AODateCreated>1911-03"
        "</Iptc4xmpExt:AODateCreated></rdf:li></rdf:Bag></Iptc4xmpExt:ArtworkOrObject>"
    )
    for name, packet in (("regatta.png", xmp(work)), ("regatta-photo.png", xmp())):
        info = PngInfo()
        info.add_itxt("XML:com.adobe.xmp", packet)
        info.add_text("Author", "Jo Photographer")
        info.add_text("Creation Time", "2021-05-01")
        # each photo its own picture: init skips one showing another artwork's (validate refuses it)
        picture = Image.fromarray(np.random.default_rng(len(name)).integers(0, 255, (480, 640, 3), np.uint8))
        picture.save(photos / name, pnginfo=info)
    assert photo_metadata(photos / "harbour.jpg") == {"title": "Harbour at dusk"}
    assert photo_metadata(photos / "regatta.png") == {"title": "Evening & Regatta", "artist": "Mira Okafor", "year": 1911}
    assert photo_metadata(photos / "regatta-photo.png") == {"title": "Evening & Regatta"}
    init_exhibit(photos, tmp_path / "exhibit.yaml")
    text = (tmp_path / "exhibit.yaml").read_text()
    assert "Jo Photographer" not in text and "2021" not in text
    assert "title: Evening & Regatta\n    artist: Mira Okafor\n    year: 1911\n" in text
    assert "title: Harbour at dusk\n    artist: Unknown\n    images" in text


def test_an_artwork_gets_no_more_photos_than_it_may_hold(tmp_path: Path) -> None:
    from art2mus.installation.config.exhibit import ArtworkConfig
    from art2mus.installation.scaffold import init_exhibit

    most = ArtworkConfig.model_fields["images"].metadata[-1].max_length
    views = tmp_path / "photos" / "many-views"
    views.mkdir(parents=True)
    for i in range(most + 2):
        (views / f"view-{i:03d}.png").write_bytes(b"a photo %d" % i)
    result = init_exhibit(tmp_path / "photos", tmp_path / "exhibit.yaml", check_photo=lambda path: None)
    assert result.added == ["many-views"]
    assert [(s.path.name, s.reason) for s in result.skipped] == [
        (f"view-{i:03d}.png", f"an artwork holds at most {most} photos") for i in (most, most + 1)
    ]
    assert (tmp_path / "exhibit.yaml").read_text().count("photos/many-views/view-") == most
