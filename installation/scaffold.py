"""A first exhibit file from a folder of photos (``art2mus init``), kept in step as photos are added.

:func:`find_artworks` reads the folder: each image file directly in it is one artwork, each sub-folder
holding images is one artwork with several reference photos; everything else is skipped with a reason
(:class:`SkippedFile`). The id comes from the file or folder name (lowercase, ``-`` for anything else,
made unique); the title from the photo's embedded metadata when Pillow is installed and the photo has
any, else from the name; artist and year only from metadata written for the artwork shown (the IPTC
``ArtworkOrObject`` fields in XMP), never from the photograph's own (:func:`photo_metadata`).

:func:`init_exhibit` writes a new file (the JSON Schema comment for editors, the collection, one entry
per artwork, and every other section with its defaults as comments) or, when the file exists, adds only
the photos that neither it nor the files it includes name yet: a new photo in an artwork's sub-folder
goes to that artwork's ``images``. A photo the recognition index could not use (unreadable, too few
keypoints, too large) or that ``art2mus validate`` would refuse as showing the same picture as another
artwork's photo (the same file, or a re-encoded, resized or cropped copy: it would leave its artwork out
of recognition) is skipped, not added. The YAML is
edited round-trip (ruamel.yaml), so a curator's edits, comments and order survive every re-run; a file
that does not parse is reported at its line and left as it is.
"""

from __future__ import annotations

import copy
import io
import logging
import os
import re
import unicodedata
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError as RoundTripError

from art2mus.installation.config.problems import Problem, display_path, sort_problems
from art2mus.installation.config.source import Node, SourceReader

logger = logging.getLogger(__name__)

#: file suffixes taken as photos (what the recognition index decodes)
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".bmp")
#: image formats a curator's folder often holds that the recognition index cannot decode
UNSUPPORTED_IMAGE_SUFFIXES = (
    *(".heic", ".heif", ".avif", ".gif", ".jxl", ".jp2", ".svg", ".psd", ".ico"),
    *(".raw", ".dng", ".cr2", ".cr3", ".nef", ".arw", ".orf", ".rw2", ".raf"),
)
#: files an operating system leaves in folders, not worth a line
SYSTEM_FILES = ("thumbs.db", "desktop.ini")
#: the sections not written as commented defaults (every other one is: a new section appears by itself)
NOT_COMMENTED = ("version", "include", "collection", "artworks")
SCHEMA_URL = "https://raw.githubusercontent.com/art2mus/art2mus/main/exhibits/exhibit.schema.json"
#: largest XMP packet parsed (a photo's is a few kilobytes; a larger one is not worth the time)
MAX_XMP_BYTES = 1024 * 1024

#: why a photo cannot be used, or None: see :func:`recognition_check`
PhotoCheck = Callable[[Path], "str | None"]
#: of photos given as (artwork key, path) in exhibit order, each that shows the same picture as an earlier
#: photo of another artwork, with that photo: see :func:`same_picture_check`
SamePictureCheck = Callable[[list[tuple[str, Path]]], dict[Path, Path]]


@dataclass
class FoundArtwork:
    """An artwork found in the photos folder: the file or folder ``name`` it was found as, its photos
    (absolute), and, once it is added, its id and the metadata found in its first usable photo."""

    name: str
    photos: list[Path]
    id: str = ""
    title: str = ""
    artist: str = ""
    year: int | None = None


@dataclass(frozen=True)
class SkippedFile:
    """A file or folder of the photos folder that init did not add, and why: a sentence that is the same
    for every file skipped for the same reason, so that a long list can be shown as a count."""

    path: Path
    reason: str


@dataclass
class InitResult:
    """What :func:`init_exhibit` did: the file, the ids it added, the ids already there (in it and in the
    files it includes), the photos added to artworks already there (by id), and what it skipped."""

    path: Path
    created: bool
    added: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    extended: dict[str, list[Path]] = field(default_factory=dict)
    skipped: list[SkippedFile] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.created or bool(self.added or self.extended)


class InitError(ValueError):
    """Nothing was written: ``problems`` are the lines that say why (``file:line:col`` ones for an exhibit
    that cannot be read), ``skipped`` what the photos folder held that could not be used."""

    def __init__(self, problems: list[str], skipped: list[SkippedFile] | None = None):
        self.problems = problems
        self.skipped = skipped or []
        super().__init__("\n".join(problems))


def _stem(name: str) -> str:
    """A photo's name without its extension; a folder's name whole (``st. ives`` has no extension)."""
    path = Path(name)
    return path.stem if path.suffix.lower() in PHOTO_SUFFIXES else path.name


def artwork_id(name: str, taken: set[str]) -> str:
    """A valid, unused artwork id from a file or folder name: ``"Mona Lisa (2).JPG"`` -> ``mona-lisa-2``,
    ``"Café_Nuit.png"`` -> ``cafe_nuit`` (accents dropped: ids are ASCII)."""
    ascii_name = unicodedata.normalize("NFKD", _stem(name)).encode("ascii", "ignore").decode()
    base = re.sub(r"[^a-z0-9_]+", "-", ascii_name.lower()).strip("-_")[:60] or "artwork"
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}-{n}", n + 1
    taken.add(candidate)
    return candidate


def title_from_name(name: str) -> str:
    """A title from a file or folder name, as written: ``"café-nuit.png"`` -> ``Café nuit``, ``"日の出.png"``
    -> ``日の出``, ``"Mona Lisa (2).JPG"`` -> ``Mona Lisa (2)``; ``-`` and ``_`` read as spaces."""
    words = " ".join(re.sub(r"[-_]+", " ", unicodedata.normalize("NFC", _stem(name))).split())
    return words[:1].upper() + words[1:]


def _is_photo(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in PHOTO_SUFFIXES and not path.name.startswith(".")


def _not_worth_a_line(path: Path) -> bool:
    return path.name.startswith(".") or path.name.lower() in SYSTEM_FILES


def _not_a_photo(path: Path) -> SkippedFile:
    suffix = path.suffix.lower()
    if suffix in UNSUPPORTED_IMAGE_SUFFIXES:
        reason = f"{suffix} is not a format the recognition reads: export it as .jpg or .png"
    else:
        reason = f"not a photo (init reads {', '.join(PHOTO_SUFFIXES)})"
    return SkippedFile(path, reason)


def _entries(folder: Path) -> list[Path]:
    return sorted((p for p in folder.iterdir() if not _not_worth_a_line(p)), key=lambda p: p.name.lower())


def find_artworks(photos_dir: Path) -> tuple[list[FoundArtwork], list[SkippedFile]]:
    """One artwork per photo directly in ``photos_dir``, one per sub-folder of photos; sorted by name.

    Also what is not taken, and why: files that are not photos (in ``photos_dir`` and in the artworks'
    folders), folders inside an artwork's folder, and folders with no photo directly in them (their
    photos one folder too deep, or none). Hidden and system files are left out silently."""
    found: list[FoundArtwork] = []
    skipped: list[SkippedFile] = []
    for entry in _entries(photos_dir):
        if not entry.is_dir():
            if _is_photo(entry):
                found.append(FoundArtwork(entry.name, [entry.absolute()]))
            else:
                skipped.append(_not_a_photo(entry))
            continue
        try:
            inside = _entries(entry)
        except OSError as exc:
            skipped.append(SkippedFile(entry, f"cannot read the folder ({exc.strerror or exc})"))
            continue
        photos = [p.absolute() for p in inside if _is_photo(p)]
        folders = [p for p in inside if p.is_dir()]
        skipped += [_not_a_photo(p) for p in inside if not p.is_dir() and not _is_photo(p)]
        if photos:
            found.append(FoundArtwork(entry.name, photos))
            skipped += [
                SkippedFile(p, "a folder inside an artwork's folder: only the photos directly in it are used")
                for p in folders
            ]
        else:
            skipped.append(SkippedFile(entry, _empty_folder_reason(folders, photos_dir)))
    return found, skipped


def _empty_folder_reason(folders: list[Path], photos_dir: Path) -> str:
    """Why a folder with no photo directly in it is not an artwork."""
    deeper = []
    for folder in folders:
        try:
            if any(_is_photo(p) for p in folder.iterdir()):
                deeper.append(folder.name)
        except OSError:
            continue
    if not deeper:
        return "no photos in it"
    shown = ", ".join(deeper[:3]) + (", ..." if len(deeper) > 3 else "")
    return (
        f"its photos are one folder too deep (in {shown}): an artwork is a photo or a folder of photos "
        f"directly in {display_path(photos_dir)}; move those folders up, or run init on this folder"
    )


# --------------------------------------------------------------------------------------------------
# Metadata

_RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
_DC = "{http://purl.org/dc/elements/1.1/}"
_IPTC_EXT = "{http://iptc.org/std/Iptc4xmpExt/2008-02-29/}"
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


def photo_metadata(path: Path) -> dict:
    """``{"title", "artist", "year"}`` of the artwork a photo shows, from the photo's embedded metadata
    (only the keys found; empty when none, or no Pillow).

    A reference photo's metadata mostly describes the photograph: EXIF ``Artist``, IPTC by-line, XMP
    ``dc:creator`` and PNG ``Author`` name the photographer, EXIF ``DateTimeOriginal`` and PNG
    ``Creation Time`` the day it was taken; none of them is read, as an artist or year on the wall label
    that is the photographer's or the shoot's is worse than ``Unknown``. The artwork's own artist and
    year come only from the IPTC Extension's ``ArtworkOrObject`` (XMP ``AOCreator``, ``AODateCreated``),
    written for the work shown. Its title comes from ``AOTitle``, else from the picture's title or
    caption (XMP ``dc:title``, IPTC object name, EXIF ``XPTitle``/``ImageDescription``, PNG ``Title``),
    which for a photo of one artwork names that artwork.
    """
    try:
        from PIL import Image, IptcImagePlugin
    except ImportError:
        return {}
    try:
        with Image.open(path) as image:
            exif = image.getexif()
            info = dict(image.info)
            iptc = IptcImagePlugin.getiptcinfo(image) or {}
    except (OSError, ValueError, SyntaxError) as exc:
        logger.debug("no metadata from %s: %s", path, exc)
        return {}
    xmp = _xmp_tree(info.get("xmp") or info.get("XML:com.adobe.xmp") or b"", path)
    work = xmp.find(f".//{_IPTC_EXT}ArtworkOrObject//{_RDF}li") if xmp is not None else None
    meta: dict[str, Any] = {
        "title": _xmp_value(work, f"{_IPTC_EXT}AOTitle")
        or _xmp_value(xmp, f"{_DC}title")
        or _text(iptc.get((2, 5), b""))
        or _text(exif.get(0x9C9B, b""))
        or _text(exif.get(0x010E, ""))
        or _text(info.get("Title", "")),
        "artist": _xmp_value(work, f"{_IPTC_EXT}AOCreator"),
    }
    year = re.match(r"\s*(-?\d{1,5})\b", _xmp_value(work, f"{_IPTC_EXT}AODateCreated"))
    if year and -40000 <= int(year.group(1)) <= 2200:  # ArtworkConfig.year's bounds
        meta["year"] = int(year.group(1))
    # the fields' own limit (ArtworkConfig: 300 characters); a caption's first line is its title
    return {k: v.splitlines()[0][:300] if isinstance(v, str) else v for k, v in meta.items() if v}


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        encoding = "utf-16-le" if value[1:2] == b"\0" else "utf-8"
        value = value.decode(encoding, "replace").rstrip("\0")
    if isinstance(value, list):
        value = value[0].decode("utf-8", "replace") if value else ""
    return str(value).strip()


def _xmp_tree(packet: bytes | str, path: Path) -> ET.Element | None:
    """The XMP packet parsed (entities such as ``&amp;`` decoded), or None when absent or not XML.

    XMP never has a DTD, so one with ``<!DOCTYPE`` or ``<!ENTITY`` is not read: no entity expands."""
    data = (packet.encode("utf-8") if isinstance(packet, str) else bytes(packet)).strip(b"\0 \t\r\n")
    if not data or len(data) > MAX_XMP_BYTES or b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        return None
    try:
        return ET.fromstring(data)
    except ET.ParseError as exc:
        logger.debug("unreadable XMP in %s: %s", path, exc)
        return None


def _xmp_value(scope: ET.Element | None, name: str) -> str:
    """The first value of the XMP property ``name`` (``{namespace}local``) in ``scope``: an attribute
    (``<rdf:Description dc:title="...">``) or an element; of a language alternative the ``x-default``
    one, of a list (``rdf:Seq``, ``rdf:Bag``) every item, joined with ``, ``."""
    if scope is None:
        return ""
    for node in scope.iter():
        if node.get(name):
            return node.get(name, "").strip()
        if node.tag != name:
            continue
        for container in node:
            items = container.findall(f"{_RDF}li")
            if container.tag == f"{_RDF}Alt" and items:
                chosen = next((li for li in items if li.get(_XML_LANG) == "x-default"), items[0])
                return "".join(chosen.itertext()).strip()
            if items:
                return ", ".join(t for li in items if (t := "".join(li.itertext()).strip()))
        return "".join(node.itertext()).strip()
    return ""


# --------------------------------------------------------------------------------------------------
# Which photos can be used


def recognition_check(recognition: dict | None = None) -> PhotoCheck:
    """A :data:`PhotoCheck` as the recognition index and ``art2mus validate`` judge a photo, with the
    exhibit's ``recognition:`` section (its defaults when there is none or it is not valid: ``validate``
    reports that). A photo with an error there (unreadable, too large, under ``MIN_KEYPOINTS``) cannot
    be used; a weak one (few keypoints, small) can, and is graded in ``init``'s quality table."""
    from art2mus.installation.vision.index import FeatureSettings, ReferencePhoto
    from art2mus.installation.vision.photo_check import (
        ADVICE,
        ERROR,
        MAX_FILE_BYTES,
        MAX_PIXELS,
        MIN_KEYPOINTS,
        inspect_photo,
    )

    config = _recognition_config(recognition)
    settings = FeatureSettings.from_config(config)
    # one sentence per kind of error, without the photo's name, so that many can be counted in one line
    reasons = {
        "unreadable": "not a readable image (damaged, or not what its name says): export it again",
        "too_large": (
            f"too large for a reference photo (over {MAX_PIXELS // 1_000_000} megapixels or "
            f"{MAX_FILE_BYTES // 2**20} MB): export it at about 2000 px"
        ),
        "keypoints": (
            f"fewer than {MIN_KEYPOINTS} keypoints, so it cannot be recognised (is it blank, out of focus "
            f"or tiny?): {ADVICE}"
        ),
    }

    def why_unusable(path: Path) -> str | None:
        report, _ = inspect_photo(ReferencePhoto("", path=path), settings)
        error = next((f for f in report.findings if f.severity == ERROR), None)
        return None if error is None else reasons.get(error.kind, error.message)

    return why_unusable


def _recognition_config(recognition: dict | None):
    """The exhibit's ``recognition:`` section, or its defaults when there is none or it is not valid."""
    import pydantic

    from art2mus.installation.config.vision import RecognitionConfig

    try:
        return RecognitionConfig.model_validate(recognition or {})
    except pydantic.ValidationError:
        return RecognitionConfig()


def same_picture_check(recognition: dict | None = None) -> SamePictureCheck:
    """A :data:`SamePictureCheck` that is ``art2mus validate``'s ``duplicate`` error (identical files, or
    most keypoints matching: a re-encoded or resized copy, a camera's crop of the same work), with the
    exhibit's ``recognition:`` settings: a photo it names would leave its artwork out of recognition."""
    from art2mus.installation.vision.index import FeatureSettings, ReferencePhoto
    from art2mus.installation.vision.photo_check import check_references

    config = _recognition_config(recognition)
    settings = FeatureSettings.from_config(config)

    def same_pictures(photos: list[tuple[str, Path]]) -> dict[Path, Path]:
        refs = [ReferencePhoto(key, path=path) for key, path in photos]
        check = check_references(
            refs, settings, lookalike_inliers=config.accept_inliers, shortlist=config.shortlist
        )
        return {
            f.path: f.other
            for f in check.findings
            if f.kind == "duplicate" and f.path is not None and f.other is not None
        }

    return same_pictures


@dataclass
class _Listed:
    """What an existing exhibit and the files it includes list: each artwork id with the file it is
    written in, and the artwork of each photo (resolved path); its ``recognition:`` section."""

    files: dict[str, Path] = field(default_factory=dict)
    owner: dict[Path, str] = field(default_factory=dict)
    recognition: dict | None = None


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return path


def _kind_of(value: Any) -> str:
    """What a YAML value is, as a curator reads it: ``a list``, ``the text 'oops'``."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return f"the number {value}"
    return f"the text {str(value)[:60]!r}"


def _read_listed(output: Path) -> _Listed:
    """The artworks of the exhibit at ``output`` and its includes, read as the config loader reads them;
    :class:`InitError` with ``file:line:col`` problems when a file cannot be read or parsed, or the
    exhibit or its ``artworks`` is not what init can add to."""
    reader = SourceReader()
    root = reader.read(output)
    if reader.problems or root is None:
        problems = sort_problems(reader.problems) or [Problem(output, 1, 1, "", "could not be read")]
        raise InitError([str(p) for p in problems])
    if not isinstance(root.value, dict):
        raise InitError(
            [
                str(
                    Problem(
                        output,
                        root.line,
                        root.col,
                        "",
                        "expected an exhibit (a mapping of sections such as `collection:` and "
                        f"`artworks:`), found {_kind_of(root.to_data())}",
                    )
                )
            ]
        )
    listed = _Listed()
    recognition = root.value.get("recognition")
    listed.recognition = recognition.to_data() if recognition is not None else None
    artworks: Node | None = root.value.get("artworks")
    if artworks is None or artworks.value is None:
        return listed
    if not isinstance(artworks.value, list):
        problem = Problem(
            artworks.file,
            artworks.line,
            artworks.col,
            "artworks",
            "expected a list of artworks (`- id: ...` entries, or `[]` for none), "
            f"found {_kind_of(artworks.to_data())}",
        )
        raise InitError([str(problem)])
    for art in artworks.value:
        if not isinstance(art.value, dict) or "id" not in art.value:
            continue  # `validate` reports it; init adds only what no artwork names
        art_id = str(art.value["id"].value)
        listed.files.setdefault(art_id, art.file)
        images = art.value.get("images")
        # a list of paths, or one path (`images: photos/a.png`)
        named = [] if images is None else images.value if isinstance(images.value, list) else [images]
        for image in named:
            if isinstance(image.value, str) and image.value.strip():
                written = Path(image.value).expanduser()
                # relative to the file it is written in, as the config loader resolves it
                listed.owner.setdefault(_resolved(image.file.parent / written), art_id)
    return listed


class _SameFiles:
    """Which photo file is byte for byte another artwork's: the validator's ``duplicate`` error. Only
    files of equal size are read and hashed, so a re-run with a few new photos reads only those."""

    def __init__(self) -> None:
        self._by_size: dict[int, list[tuple[Path, str]]] = {}

    def add(self, path: Path, owner: str) -> None:
        try:
            size = path.stat().st_size
        except OSError:
            return
        self._by_size.setdefault(size, []).append((path, owner))

    def other_owner(self, path: Path, owner: str) -> tuple[Path, str] | None:
        """The first photo of another artwork with ``path``'s bytes, and its owner."""
        from art2mus.common.digests import file_sha256

        try:
            same_size = self._by_size.get(path.stat().st_size, [])
            digest = file_sha256(path) if any(o != owner for _, o in same_size) else None
            for other, other_owner in same_size:
                if other_owner != owner and file_sha256(other) == digest:
                    return other, other_owner
        except OSError:
            return None
        return None


# --------------------------------------------------------------------------------------------------
# Writing


def _commented_defaults() -> str:
    """Every section but the collection and the artworks, with its defaults, as YAML comments."""
    from art2mus.installation.config.exhibit import ExhibitConfig

    defaults = ExhibitConfig().model_dump(mode="json", exclude_none=True)
    lines = ["", "# Every other section, with its defaults (exhibits/README.md explains each field)."]
    lines.append("# Uncomment and change what this room needs; `art2mus validate` checks the file.")
    for name in (n for n in ExhibitConfig.model_fields if n not in NOT_COMMENTED):
        text = yaml.safe_dump({name: _type_first(defaults[name])}, sort_keys=False, default_flow_style=False)
        lines += ["#"] + [f"# {line}" if line else "#" for line in text.rstrip().splitlines()]
    return "\n".join(lines) + "\n"


def _type_first(value):
    """A section with its ``type:`` first, as a curator writes it (nested sections too)."""
    if not isinstance(value, dict):
        return value
    ordered = {"type": value["type"]} if "type" in value else {}
    ordered.update({k: _type_first(v) for k, v in value.items() if k != "type"})
    return ordered


def _relative(path: Path, base: Path) -> str:
    return Path(os.path.relpath(path, base)).as_posix()


def schema_reference() -> str:
    """What the ``# yaml-language-server: $schema=`` line names: the installed schema as a ``file://`` URI,
    or :data:`SCHEMA_URL` when this install has none. A URI and not a path relative to the exhibit, so that
    the file can be copied (to ``/etc/art2mus/exhibit.yaml``, as the README's service install does) and
    editors still find it; and not a bare absolute path, which yaml-language-server reads up to the first
    space (a URI has none: ``%20``), resolving only one without a ``file:`` or ``http`` start."""
    schema = Path(__file__).resolve().parent.parent / "exhibits" / "exhibit.schema.json"
    return schema.as_uri() if schema.is_file() else SCHEMA_URL


def _new_file_text(photos_dir: Path) -> str:
    return (
        f"# yaml-language-server: $schema={schema_reference()}\n"
        f"#\n# Made by `art2mus init {photos_dir.name}`: one artwork per photo (or per folder of photos).\n"
        "# Run `art2mus init` again after adding photos: new ones are added, nothing here is overwritten.\n"
        "version: 1\n\ncollection:\n"
        f"  name: {yaml.safe_dump(photos_dir.name.replace('_', ' ').strip() or 'My collection').splitlines()[0]}\n"
        "  timezone: UTC\n\nartworks: []\n" + _commented_defaults()
    )


def _artwork_entry(art: FoundArtwork, base: Path) -> CommentedMap:
    entry = CommentedMap()
    entry["id"] = art.id
    entry["title"] = art.title or art.id.replace("-", " ").replace("_", " ").capitalize()
    entry["artist"] = art.artist or "Unknown"
    if art.year is not None:
        entry["year"] = art.year
    images = CommentedSeq(_relative(p, base) for p in art.photos)
    images.fa.set_flow_style()
    entry["images"] = images
    return entry


def _append_image(images: CommentedSeq, image: str) -> None:
    """Append to a block list, keeping comment lines written below its last item below the new one
    (ruamel keeps them with the last item's end-of-line comment, which would put them above it)."""
    last = len(images) - 1
    images.append(image)
    comment = images.ca.items.get(last, [None])[0]
    if images.fa.flow_style() or comment is None or "\n" not in comment.value.rstrip("\n"):
        return
    own_line, below = comment.value.split("\n", 1)
    moved = copy.copy(comment)
    comment.value, moved.value = own_line + "\n", "\n" + below
    images.ca.items[last + 1] = [moved, None, None, None]


def _round_trip() -> YAML:
    rt = YAML()
    rt.preserve_quotes = True
    rt.indent(mapping=2, sequence=4, offset=2)
    rt.width = 4096  # a path is never folded
    return rt


def _load_round_trip(rt: YAML, text: str, output: Path) -> Any:
    try:
        return rt.load(text)
    except RoundTripError as exc:  # what the config loader's parser accepted and ruamel does not
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        detail = getattr(exc, "problem", None) or str(exc)
        raise InitError([str(Problem(output, line, col, "", f"YAML syntax: {detail}"))]) from None


def _max_images() -> int:
    """The most photos one artwork may have (``ArtworkConfig.images``' own limit)."""
    from art2mus.installation.config.exhibit import ArtworkConfig

    limits = [m.max_length for m in ArtworkConfig.model_fields["images"].metadata if hasattr(m, "max_length")]
    return min(limits, default=10**6)


@dataclass
class _Candidates:
    """New photos of one artwork of the folder that passed the photo check: ``owner`` is the id of the
    artwork they join (``entry``, its ``images``), or a key for a new artwork, and ``already`` its count
    of photos."""

    art: FoundArtwork
    owner: str
    photos: list[Path]
    entry: Any = None
    images: Any = None
    already: int = 0


#: photo formats that keep every pixel as taken: of two new photos of the same picture and size, one of these
#: is kept rather than a JPEG's re-encoding
LOSSLESS_SUFFIXES = (".png", ".tif", ".tiff", ".bmp")


def _preference(photo: Path) -> tuple[int, bool, str]:
    """Sort key of new photos, the one to keep first where they show the same picture: the most pixels, then
    a lossless format, then by name (a photo whose size cannot be read counts as no pixels)."""
    try:
        from PIL import Image

        with Image.open(photo) as image:
            pixels = image.width * image.height
    except Exception:  # noqa: BLE001 - any unreadable header (or no Pillow) ranks the photo last
        pixels = 0
    return -pixels, photo.suffix.lower() not in LOSSLESS_SUFFIXES, str(photo)


@dataclass
class _Same:
    """Why a new photo is skipped as showing what another artwork's photo shows: ``other`` is that photo,
    ``owner`` its artwork's id or new artwork's key, ``file`` whether it is the same file (else the same
    picture)."""

    other: Path
    owner: str
    file: bool

    def why(self, ids: dict[str, str]) -> str:
        artwork = ids.get(self.owner, self.owner)
        if self.file:
            return f"the same file as {display_path(self.other)} (artwork {artwork!r})"
        return (
            f"shows the same picture as {display_path(self.other)} (artwork {artwork!r}), which would "
            "leave its artwork out of recognition: if it is another view of that work, add it to "
            "that artwork's images"
        )


def _same_as_another(
    plans: list[_Candidates],
    same_files: _SameFiles,
    same_pictures: dict[Path, Path],
    accepted: dict[Path, str],
) -> dict[Path, _Same]:
    """The new photos that are another artwork's file or picture, each with what it shows. Photos are taken
    in :func:`_preference` order, so of two new photos of one picture the larger (then the lossless) one is
    kept, whichever name comes first; ``same_pictures`` must be :data:`SamePictureCheck`'s answer for the
    photos in that order. ``accepted`` (the artwork of each photo in the exhibit) and ``same_files`` gain
    the photos that are not skipped."""
    owners = {photo: plan.owner for plan in plans for photo in plan.photos}
    same: dict[Path, _Same] = {}
    for photo in sorted(owners, key=_preference):
        owner = owners[photo]
        file = same_files.other_owner(photo, owner)
        other = same_pictures.get(photo)
        if file is not None:
            same[photo] = _Same(file[0], file[1], True)
        elif other is not None and accepted.get(other, owner) != owner:
            same[photo] = _Same(other, accepted[other], False)
        else:
            same_files.add(photo, owner)
            accepted[photo] = owner
    return same


def init_exhibit(
    photos_dir: Path,
    output: Path,
    *,
    check_photo: PhotoCheck | None = None,
    same_picture: SamePictureCheck | None = None,
) -> InitResult:
    """Write ``output`` from the photos in ``photos_dir``, or add the photos it does not name yet.

    Args:
        photos_dir: the folder of photos (see :func:`find_artworks`).
        output: the exhibit file to write or add to. An existing one is read with what it includes (the
            artworks and photos listed there count as present); one that cannot be parsed raises.
        check_photo: why a photo cannot be used, or None; default :func:`recognition_check` with the
            exhibit's recognition settings. A photo it refuses is skipped.
        same_picture: which new photos show the same picture as another artwork's photo (in the exhibit
            or added before them); default :func:`same_picture_check`. Such a photo is skipped.

    Raises:
        InitError: nothing was written: the exhibit cannot be read, or it would have no artwork.
        OSError: the folder or the file cannot be read or written.
    """
    photos_dir, output = photos_dir.absolute(), Path(os.path.normpath(output.absolute()))
    if not photos_dir.is_dir():
        raise InitError([f"{display_path(photos_dir)}: not a folder of photos"])
    created = not output.exists()
    listed = _Listed() if created else _read_listed(output)
    rt = _round_trip()
    text = _new_file_text(photos_dir) if created else output.read_text(encoding="utf-8")
    data = _load_round_trip(rt, text, output)
    if data is None:  # a file of comments only: they stay, above a new exhibit
        text = text.rstrip("\n") + "\n\n" + _new_file_text(photos_dir)
        data = _load_round_trip(rt, text, output)
    if not isinstance(data, CommentedMap):  # _read_listed refuses these first; kept for safety
        raise InitError([f"{display_path(output)}: expected an exhibit (a mapping of sections)"])
    artworks = data.get("artworks")
    if artworks is None:
        artworks = data["artworks"] = CommentedSeq()
    entries = {str(a.get("id")): a for a in artworks if isinstance(a, dict)}
    check = check_photo or recognition_check(listed.recognition)
    base = output.parent
    found, skipped = find_artworks(photos_dir)
    result = InitResult(output, created, kept=sorted(listed.files), skipped=skipped)
    taken = set(listed.files)
    same_files = _SameFiles()
    for photo, owner in listed.owner.items():
        same_files.add(photo, owner)
    plans: list[_Candidates] = []
    for art in found:
        owners = [listed.owner[r] for r in map(_resolved, art.photos) if r in listed.owner]
        new = [p for p in art.photos if _resolved(p) not in listed.owner]
        if not new:
            continue
        owner = owners[0] if owners else f"\0{art.name}"  # a new artwork's key until it has an id
        entry = entries.get(owner) if owners else None
        if owners and (entry is None or listed.files.get(owner) != output):
            written = listed.files.get(owner, output)
            reason = (
                f"its artwork {owner!r} is written in {display_path(written)}: add it to the images there"
            )
            result.skipped += [SkippedFile(p, reason) for p in new]
            continue
        images = entry.get("images") if entry is not None else None
        if entry is not None and not isinstance(images, list):
            result.skipped += [SkippedFile(p, f"artwork {owner!r} has no list of `images:`") for p in new]
            continue
        plan = _Candidates(art, owner, [], entry, images, len(images) if images is not None else 0)
        for photo in new:
            why = check(photo)
            if why is None:
                plan.photos.append(photo)
            else:
                result.skipped.append(SkippedFile(photo, why))
        if plan.photos:
            plans.append(plan)
    # the new photos after those in the exhibit, the one to keep first where two show the same picture
    new_photos = sorted((p for plan in plans for p in plan.photos), key=_preference)
    owner_of = {p: plan.owner for plan in plans for p in plan.photos}
    in_order = list(listed.owner.items()) + [(p, owner_of[p]) for p in new_photos]
    several = len({owner for _, owner in in_order}) > 1
    same_pictures = (
        (same_picture or same_picture_check(listed.recognition))([(owner, path) for path, owner in in_order])
        if plans and several
        else {}
    )
    same = _same_as_another(plans, same_files, same_pictures, dict(listed.owner))
    most = _max_images()
    ids: dict[str, str] = {}  # a new artwork's key -> its id
    too_many: set[Path] = set()
    for plan in plans:
        usable = []
        for photo in plan.photos:
            if photo in same:
                continue
            if plan.already + len(usable) >= most:
                too_many.add(photo)
                continue
            usable.append(photo)
        if not usable:
            continue
        owner, art = plan.owner, plan.art
        if plan.entry is not None:
            for photo in usable:
                _append_image(plan.images, _relative(photo, base))
            result.extended[owner] = usable
        else:
            art.photos = usable
            art.id = ids[owner] = artwork_id(art.name, taken)
            meta = photo_metadata(usable[0])
            art.title = meta.get("title") or title_from_name(art.name)
            art.artist, art.year = meta.get("artist", ""), meta.get("year")
            artworks.append(_artwork_entry(art, base))
            result.added.append(art.id)
    for plan in plans:  # once every new artwork has its id, which a skipped photo's line names
        for photo in plan.photos:
            if photo in same:
                result.skipped.append(SkippedFile(photo, same[photo].why(ids)))
            elif photo in too_many:
                result.skipped.append(SkippedFile(photo, f"an artwork holds at most {most} photos"))
    if not listed.files and not result.added:
        what = "nothing" if not result.skipped else f"only the {len(result.skipped)} skipped above"
        raise InitError(
            [
                f"{display_path(photos_dir)}: no photo to make an artwork of, so {display_path(output)} is "
                f"{'not written' if created else 'unchanged'}: an artwork is a photo "
                f"({', '.join(PHOTO_SUFFIXES)}) or a folder of photos directly in "
                f"{display_path(photos_dir)}; found {what}"
            ],
            result.skipped,
        )
    if result.changed:
        if isinstance(artworks, CommentedSeq):
            artworks.fa.set_block_style()
        buffer = io.StringIO()
        rt.dump(data, buffer)
        output.parent.mkdir(parents=True, exist_ok=True)
        tmp = output.with_name(f".{output.name}.{os.getpid()}.tmp")
        tmp.write_text(buffer.getvalue(), encoding="utf-8")
        tmp.replace(output)
    return result
