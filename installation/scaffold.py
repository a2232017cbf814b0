"""A first exhibit file from a folder of photos (``art2mus init``), kept in step as photos are added.

:func:`find_artworks` reads the folder: each image file directly in it is one artwork, each sub-folder
holding images is one artwork with several reference photos. The id comes from the file or folder name
(lowercase, ``-`` for anything else, made unique); title, artist and year come from the photo's
embedded metadata when Pillow is installed and the photo has any (EXIF ``ImageDescription``/``XPTitle``,
``Artist``, ``DateTimeOriginal``; IPTC object name and by-line; XMP ``dc:title``/``dc:creator``; PNG
``Title``/``Author`` text).

:func:`init_exhibit` writes a new file (the JSON Schema comment for editors, the collection, one entry
per artwork, and every other section with its defaults as comments) or, when the file exists, adds only
the photos it does not name yet. The YAML is edited round-trip (ruamel.yaml), so a curator's edits,
comments and order survive every re-run.
"""

from __future__ import annotations

import io
import logging
import os
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

logger = logging.getLogger(__name__)

#: file suffixes taken as photos
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".bmp")
#: sections written as commented defaults, in this order
#: the sections not written as commented defaults (every other one is: a new section appears by itself)
NOT_COMMENTED = ("version", "include", "collection", "artworks")
SCHEMA_URL = "https://raw.githubusercontent.com/art2mus/art2mus/main/exhibits/exhibit.schema.json"


@dataclass
class FoundArtwork:
    """An artwork found in the photos folder: its id, photos (absolute), and metadata found in them."""

    id: str
    photos: list[Path]
    title: str = ""
    artist: str = ""
    year: int | None = None


@dataclass
class InitResult:
    """What :func:`init_exhibit` did: the file, the ids it added, the ids already there, every photo."""

    path: Path
    created: bool
    added: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)


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


def find_artworks(photos_dir: Path, taken: Iterable[str] = ()) -> list[FoundArtwork]:
    """One artwork per photo directly in ``photos_dir``, one per sub-folder of photos; sorted by name."""
    used = set(taken)
    found = []
    for entry in sorted(photos_dir.iterdir(), key=lambda p: p.name.lower()):
        if entry.name.startswith("."):
            continue
        photos = sorted(p for p in entry.iterdir() if _is_photo(p)) if entry.is_dir() else [entry]
        if not photos or not all(map(_is_photo, photos)):
            continue
        meta = photo_metadata(photos[0])
        meta["title"] = meta.get("title") or title_from_name(entry.name)
        found.append(FoundArtwork(artwork_id(entry.name, used), [p.absolute() for p in photos], **meta))
    return found


def photo_metadata(path: Path) -> dict:
    """``{"title", "artist", "year"}`` from a photo's embedded metadata (empty when none, or no Pillow)."""
    try:
        from PIL import Image, IptcImagePlugin
    except ImportError:
        return {}
    meta: dict = {}
    try:
        with Image.open(path) as image:
            exif = image.getexif()
            info = dict(image.info)
            iptc = IptcImagePlugin.getiptcinfo(image) or {}
    except (OSError, ValueError, SyntaxError) as exc:
        logger.debug("no metadata from %s: %s", path, exc)
        return {}
    xmp = info.get("xmp") or info.get("XML:com.adobe.xmp") or b""
    xmp = xmp.decode("utf-8", "replace") if isinstance(xmp, bytes) else str(xmp)

    def xmp_value(tag: str) -> str:
        match = re.search(rf"<dc:{tag}>.*?<rdf:li[^>]*>(.*?)</rdf:li>", xmp, re.S)
        return match.group(1).strip() if match else ""

    def text(value) -> str:
        if isinstance(value, bytes):
            encoding = "utf-16-le" if value[1:2] == b"\0" else "utf-8"
            value = value.decode(encoding, "replace").rstrip("\0")
        if isinstance(value, list):
            value = value[0].decode("utf-8", "replace") if value else ""
        return str(value).strip()

    meta["title"] = (
        xmp_value("title")
        or text(iptc.get((2, 5), b""))
        or text(exif.get(0x9C9B, b""))
        or text(exif.get(0x010E, ""))
        or text(info.get("Title", ""))
    )
    meta["artist"] = (
        xmp_value("creator")
        or text(iptc.get((2, 80), b""))
        or text(exif.get(0x013B, ""))
        or text(info.get("Author", ""))
    )
    date = text(exif.get_ifd(0x8769).get(0x9003, "")) if hasattr(exif, "get_ifd") else ""
    year = re.match(r"(\d{4})", date or text(info.get("Creation Time", "")))
    meta["year"] = int(year.group(1)) if year else None
    return {k: v[:300] if isinstance(v, str) else v for k, v in meta.items() if v}


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


def _new_file_text(photos_dir: Path, output: Path) -> str:
    schema = _relative(
        Path(__file__).resolve().parent.parent / "exhibits" / "exhibit.schema.json", output.parent
    )
    schema = schema if (output.parent / schema).exists() else SCHEMA_URL
    return (
        f"# yaml-language-server: $schema={schema}\n"
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


def init_exhibit(photos_dir: Path, output: Path) -> InitResult:
    """Write ``output`` from the photos in ``photos_dir``, or add the photos it does not name yet."""
    photos_dir, output = photos_dir.absolute(), output.absolute()
    if not photos_dir.is_dir():
        raise ValueError(f"{photos_dir}: not a folder of photos")
    created = not output.exists()
    text = _new_file_text(photos_dir, output) if created else output.read_text(encoding="utf-8")
    rt = YAML()
    rt.preserve_quotes = True
    rt.indent(mapping=2, sequence=4, offset=2)
    rt.width = 4096  # a path is never folded
    data = rt.load(text)
    if not isinstance(data, CommentedMap):
        raise ValueError(
            f"{output}: expected an exhibit (a mapping of sections), found {type(data).__name__}"
        )
    artworks = data.get("artworks")
    if artworks is None:
        artworks = data["artworks"] = CommentedSeq()
    base = output.parent
    named = {
        (base / str(image)).resolve()
        for art in artworks
        if isinstance(art, dict)
        for image in (art.get("images") or [])
    }
    taken = {str(art.get("id")) for art in artworks if isinstance(art, dict)}
    result = InitResult(output, created, kept=sorted(taken))
    for art in find_artworks(photos_dir, taken):
        if any(p.resolve() in named for p in art.photos):
            continue
        artworks.append(_artwork_entry(art, base))
        result.added.append(art.id)
    if created or result.added:
        if isinstance(artworks, CommentedSeq):
            artworks.fa.set_block_style()
        buffer = io.StringIO()
        rt.dump(data, buffer)
        output.parent.mkdir(parents=True, exist_ok=True)
        tmp = output.with_name(f".{output.name}.{os.getpid()}.tmp")
        tmp.write_text(buffer.getvalue(), encoding="utf-8")
        tmp.replace(output)
    return result
