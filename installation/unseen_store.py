"""The unseen artworks a room remembers: one rectified crop (JPEG) per artwork and ``unseen.json``.

Only the crop of the picture is ever written, never a whole camera frame (visitors' faces stay out).
An artwork's id comes from its descriptor when it is first seen (``u`` + the DCT hash in hex); a later
sighting whose descriptor is within :data:`MATCH_DISTANCE` of a remembered one is that artwork again,
so its soundscape (keyed by the stored crop's file digest) is found in the cache instead of generated.

The crop is kept at the picture's size in the frame, up to
:data:`~art2mus.installation.vision.unseen.KEEP_LONG_SIDE` (a painting filling half a 1080p frame: 927
x 720 px, about 115 KB; in the demo's 640 x 360 frame: 309 x 240 px, 20 KB), because it is the
artwork's image for good: :func:`promote` makes that very file the reference photo, so the
promoted artwork's soundscape is the one visitors heard (the same file, seed and settings: the same
cache entry). Crops a store wrote before as PNG are read and promoted as they are.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from art2mus.common.whole_files import fsync_directory
from art2mus.installation.vision.unseen import PictureDescriptor, UnseenSighting, describe

logger = logging.getLogger(__name__)

INDEX_FILENAME = "unseen.json"
#: descriptors closer than this are the same picture (the same work from another angle, in other light)
MATCH_DISTANCE = 0.32
#: the crops' format: JPEG at this quality is an eighth of the PNG's size at 927 x 720 px (113 KiB
#: against 961) and the photo checks count as many keypoints in it (278 against 270)
CROP_SUFFIX = ".jpg"
CROP_JPEG_QUALITY = 92
#: the crops' format before they were kept at the picture's size: still read, never written
LEGACY_CROP_SUFFIX = ".png"
#: damaged index files the daemon moved aside (``unseen.json.corrupt-<local time>``): the newest kept
KEEP_DAMAGED = 3
#: ids of artworks promoted to the exhibit that the index still names (with their photo), the newest kept
KEEP_PROMOTED = 50


@dataclass
class UnseenArtwork:
    """A remembered unseen artwork: ``id``, its descriptor, when first and last seen (Unix time), how
    many times it was seen, whether it is ``ignored`` (``art2mus unseen ignore``: the room treats the
    picture as nothing, never giving it a soundscape) and the cache entries its soundscape was stored
    under (``{"dir", "format", "key"}``: removed with it)."""

    id: str
    descriptor: PictureDescriptor
    first_seen: float
    last_seen: float
    sightings: int = 1
    ignored: bool = False
    cached: list[dict] = field(default_factory=list)

    def to_json(self) -> dict:
        data = asdict(self)
        data["descriptor"] = self.descriptor.to_json()
        return data

    @classmethod
    def from_json(cls, data: dict) -> UnseenArtwork:
        return cls(
            str(data["id"]),
            PictureDescriptor.from_json(data["descriptor"]),
            float(data["first_seen"]),
            float(data["last_seen"]),
            int(data.get("sightings", 1)),
            bool(data.get("ignored", False)),
            [dict(c) for c in data.get("cached", []) if isinstance(c, dict)],
        )


@dataclass(frozen=True)
class UnseenCrop:
    """The image an unseen artwork's soundscape is made from: its crop's file (``path``), or its JPEG
    bytes held in memory for this run (``jpeg``: the folder refused the file). Both give the same digest
    for the same bytes, so the same cache key. ``on_cached(cache, key)`` records a cache entry made from
    it, so that forgetting the artwork removes the entry too."""

    path: Path | None = None
    jpeg: bytes | None = None
    on_cached: Callable[[Any, str], None] | None = None

    def digest(self) -> str:
        """SHA-256 (hex) of the image's bytes. Raises OSError when the file cannot be read."""
        if self.path is not None:
            from art2mus.installation.cache import image_digest

            return image_digest(self.path)
        assert self.jpeg is not None
        return hashlib.sha256(self.jpeg).hexdigest()

    def rgb(self) -> np.ndarray:
        """RGB uint8 ``(H, W, 3)``, decoded as :func:`~art2mus.installation.soundscapes.read_rgb` does."""
        from art2mus.installation.soundscapes import read_rgb

        if self.path is not None:
            return read_rgb(self.path)
        assert self.jpeg is not None
        image = cv2.imdecode(np.frombuffer(self.jpeg, np.uint8), cv2.IMREAD_COLOR)
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


class UnseenStore:
    """The remembered unseen artworks in ``directory`` (at most ``remember``, ignored ones aside; the
    least recently seen are forgotten, their crops deleted and their cached soundscapes removed).

    ``set_aside_damaged`` is the daemon's way: the store is a list of optional extras, so an index file
    that cannot be read (a power cut while it was written, a bad edit) is moved aside with one warning
    and the artworks are described again from their crops in the folder (at most ``remember``), instead
    of not starting at all. A crop already on disk for an id is never overwritten: its file digest is
    its soundscape's cache key.

    A folder that refuses the crops (read-only, full) costs no sound: a crop that cannot be stored is
    held in memory for as long as this store lives (:meth:`crop` gives it), with one warning naming the
    folder and the cause.

    Raises:
        ValueError: ``unseen.json`` exists but cannot be read (named, with what was expected), unless
            ``set_aside_damaged``.
    """

    def __init__(
        self, directory: Path, remember: int = 50, *, clock=time.time, set_aside_damaged: bool = False
    ):
        self.directory = Path(directory)
        self.remember = remember
        self._clock = clock
        self._lock = threading.Lock()
        self.artworks: dict[str, UnseenArtwork] = {}
        #: artworks another process (``art2mus unseen promote``) took out of the store while this one held
        #: them: still named when seen (their soundscape plays on until a reload lists them), never
        #: remembered again
        self.removed_elsewhere: dict[str, PictureDescriptor] = {}
        #: artwork id -> the reference photo ``promote`` made of its crop (the same bytes): its image once
        #: the crop is gone, so a daemon that has not reloaded yet finds its soundscape in the cache
        self.promoted: dict[str, str] = {}
        #: the JPEGs of crops the folder refused: this process's only copy
        self._held: dict[str, bytes] = {}
        self._storage_problem_told = False
        self._index_stamp: tuple[int, int] | None = None  # the index file as this store last read or wrote it
        path = self.directory / INDEX_FILENAME
        if path.is_file():
            self._index_stamp = _stamp(path)
            try:
                self.artworks, self.promoted = _read_index(path)
            except ValueError as exc:
                if not set_aside_damaged:
                    raise
                self._set_aside(path, exc)
                self._rebuild_from_crops()

    def _set_aside(self, path: Path, problem: ValueError) -> None:
        """Move the damaged index ``path`` to ``<name>.corrupt-<local time>`` (the newest
        :data:`KEEP_DAMAGED` kept, for a technician to look at), with one warning naming both."""
        stamp = time.strftime("%Y%m%dT%H%M%S", time.localtime(self._clock()))
        aside = path.with_name(f"{path.name}.corrupt-{stamp}")
        for n in range(2, 100):
            if not aside.exists():
                break
            aside = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
        try:
            os.replace(path, aside)
        except OSError as exc:
            logger.warning(
                "%s; starting with no unseen artwork remembered (it could not be moved aside: %s; it is "
                "replaced when the next one is remembered)",
                problem,
                exc,
            )
            return
        self._index_stamp = None
        logger.warning(
            "%s; moved it aside to %s and starting with no unseen artwork remembered", problem, aside.name
        )
        damaged = sorted(path.parent.glob(f"{path.name}.corrupt-*"))
        for old in damaged[:-KEEP_DAMAGED]:
            old.unlink(missing_ok=True)

    def _rebuild_from_crops(self) -> None:
        """Remember again the artworks whose crops are in the folder (after a damaged index): each crop
        described afresh, seen when its file was written; beyond ``remember`` the oldest are forgotten.
        Left unlisted, they stayed on disk for ever, outside the cap."""
        self.artworks = crops_in(self.directory)
        if not self.artworks:
            return
        self._forget_oldest()
        self._save()
        logger.warning(
            "unseen artworks: described again the %d crops in %s (their soundscapes are found in the cache "
            "as before)",
            len(self.artworks),
            self.directory,
        )

    def crop_path(self, artwork_id: str) -> Path:
        """The crop's file: ``<id>.jpg``, or ``<id>.png`` where an older store wrote that."""
        legacy = self.directory / f"{artwork_id}{LEGACY_CROP_SUFFIX}"
        return legacy if legacy.is_file() else self.directory / f"{artwork_id}{CROP_SUFFIX}"

    def crop(self, artwork_id: str) -> UnseenCrop | None:
        """The image ``artwork_id``'s soundscape is made from: the crop held in memory, its file, or the
        reference photo it was promoted to (the same bytes) once the file is gone; None when none is left
        (never for an id :meth:`name` gave this store)."""
        note = functools.partial(self._note_cached, artwork_id)
        held = self._held.get(artwork_id)
        if held is not None:
            return UnseenCrop(jpeg=held, on_cached=note)
        path = self.crop_path(artwork_id)
        if path.is_file():
            return UnseenCrop(path=path, on_cached=note)
        photo = self.promoted.get(artwork_id)
        if photo is not None and Path(photo).is_file():
            return UnseenCrop(path=Path(photo))  # the exhibit's now: its cache entry is not this store's
        return None

    def match(self, descriptor: PictureDescriptor) -> UnseenArtwork | None:
        """The remembered artwork nearest ``descriptor`` within :data:`MATCH_DISTANCE`, or None."""
        best = min(self.artworks.values(), key=lambda a: a.descriptor.distance(descriptor), default=None)
        if best is None or best.descriptor.distance(descriptor) > MATCH_DISTANCE:
            return None
        return best

    def name(self, sighting: UnseenSighting) -> str | None:
        """The id of the artwork in ``sighting``: a remembered one, or a new one (its crop written); None
        for an ignored one (the room treats it as nothing)."""
        with self._lock:
            self._follow_changes_elsewhere()
            now = self._clock()
            known = self.match(sighting.descriptor)
            if known is None:
                gone = self._removed_match(sighting.descriptor)
                if gone is not None:  # promoted or forgotten while the daemon runs: not written back
                    if self.crop(gone) is None:  # forgotten: this sighting's crop, for this run only
                        self._held[gone] = _encode_crop(sighting.crop)
                    return gone
            if known is not None:
                if known.ignored:
                    return None
                known.last_seen, known.sightings = now, known.sightings + 1
                crop = self.crop_path(known.id)
                if known.id not in self._held and not _readable_image(crop):
                    # its soundscape is made from the crop: without one, each sighting failed to play
                    logger.warning(
                        "unseen artwork %s: its crop %s is missing or cannot be read; storing this "
                        "sighting's crop in its place",
                        known.id,
                        crop,
                    )
                    self._write_crop(known.id, sighting.crop)
                self._save()
                return known.id
            artwork_id = f"u{sighting.descriptor.bits:016x}"
            while artwork_id in self.artworks:  # the same hash, yet too far apart: another picture
                artwork_id += "x"
            if _readable_image(self.crop_path(artwork_id)):
                # left by an index that was lost: its digest keys the soundscape the room played for it
                logger.info("unseen artwork %s: keeping its crop from before", artwork_id)
            else:
                self._write_crop(artwork_id, sighting.crop)
            self.artworks[artwork_id] = UnseenArtwork(artwork_id, sighting.descriptor, now, now)
            self._forget_oldest()
            self._save()
            # the journal shows warnings: a curator wants to read that a picture got music of its own
            logger.warning(
                "remembered a new unseen artwork %s (%d remembered): it plays a soundscape of its own "
                "(art2mus unseen list|promote|ignore)",
                artwork_id,
                len(self.artworks),
            )
            return artwork_id

    def _write_crop(self, artwork_id: str, crop) -> None:
        """Store ``crop`` (BGR) as the artwork's JPEG, on disk before the index names it: after a power
        cut the index never lists a cut-off crop. A damaged PNG an older store wrote is replaced. When
        the folder refuses it, the JPEG is held in memory instead (see the class docstring)."""
        jpeg = _encode_crop(crop)
        path = self.directory / f"{artwork_id}{CROP_SUFFIX}"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            _write_durably(path, jpeg)
            (self.directory / f"{artwork_id}{LEGACY_CROP_SUFFIX}").unlink(missing_ok=True)
        except OSError as exc:
            self._held[artwork_id] = jpeg
            self._storage_problem(exc)
            return
        self._held.pop(artwork_id, None)

    def _storage_problem(self, exc: OSError) -> None:
        """One warning per store: the folder refused a crop or the index (read-only, full)."""
        if self._storage_problem_told:
            return
        self._storage_problem_told = True
        logger.warning(
            "cannot store unseen artworks in %s (%s): their crops are held in memory, so they still get "
            "their soundscapes until the installation stops, and are not remembered after it (art2mus "
            "doctor checks the folder)",
            self.directory,
            exc.strerror or exc,
        )

    def _note_cached(self, artwork_id: str, cache: Any, key: str) -> None:
        """Record that ``artwork_id``'s soundscape is in ``cache`` (a SoundscapeCache) under ``key``."""
        entry = {"dir": str(cache.directory), "format": cache.audio_format, "key": key}
        with self._lock:
            artwork = self.artworks.get(artwork_id)
            if artwork is None or entry in artwork.cached:
                return
            artwork.cached.append(entry)
            self._save()

    def _follow_changes_elsewhere(self) -> None:
        """Follow what another process changed in the index file since this store last read or wrote it:
        artworks it removed (``art2mus unseen promote|forget|clear`` while the daemon runs; the daemon
        wrote them back at their next sighting, and a promoted artwork came back to the list) are let go
        of, those it marked ignored are ignored here too."""
        path = self.directory / INDEX_FILENAME
        stamp = _stamp(path) if path.is_file() else None
        if stamp == self._index_stamp:
            return
        try:
            on_disk, promoted = _read_index(path) if stamp is not None else ({}, {})
        except ValueError:
            return  # being rewritten, or damaged: this store's own list stands
        self.promoted.update(promoted)
        removed = [
            a
            for a in self.artworks
            if a not in on_disk and a not in self._held and not self.crop_path(a).exists()
        ]
        for artwork_id in removed:
            self.removed_elsewhere[artwork_id] = self.artworks.pop(artwork_id).descriptor
            logger.info(
                "unseen artwork %s was promoted or forgotten elsewhere; no longer remembered", artwork_id
            )
        for artwork_id, artwork in on_disk.items():
            if artwork.ignored and artwork_id in self.artworks and not self.artworks[artwork_id].ignored:
                self.artworks[artwork_id].ignored = True
                logger.warning("unseen artwork %s is ignored from now on (art2mus unseen ignore)", artwork_id)
        self._index_stamp = stamp

    def reloaded(self, remember: int) -> None:
        """A reload of the exhibit goes on with this store (its folder unchanged; ``remember`` the new
        exhibit's). The store a reload built read the index while it was prepared: the pictures this one
        remembered or saw again meanwhile were missing from it, dropped from the index at its next save
        (their crops left behind). What the curator changed in the index (``art2mus unseen
        forget|ignore|promote``), before the reload or during its preparation, takes effect now, as at a
        start: a forgotten or promoted artwork seen again is remembered anew (a promoted one is listed
        by the new exhibit, so recognised instead)."""
        with self._lock:
            self.remember = remember
            self._follow_changes_elsewhere()
            self.removed_elsewhere.clear()

    def _removed_match(self, descriptor: PictureDescriptor) -> str | None:
        """The id of an artwork removed elsewhere that ``descriptor`` shows, or None."""
        near = [(d.distance(descriptor), a) for a, d in self.removed_elsewhere.items()]
        best = min(near, default=None)
        return best[1] if best is not None and best[0] <= MATCH_DISTANCE else None

    def forget(self, artwork_id: str, promoted_to: Path | None = None) -> None:
        """Forget ``artwork_id``: its entry, its crop and its cached soundscapes; or, ``promoted_to`` a
        reference photo, its entry and crop only (the promoted artwork plays that very cache entry), the
        photo recorded so that a running daemon finds its image."""
        with self._lock:
            artwork = self.artworks.pop(artwork_id, None)
            self.crop_path(artwork_id).unlink(missing_ok=True)
            self._held.pop(artwork_id, None)
            if promoted_to is not None:
                self.promoted[artwork_id] = str(promoted_to)
            elif artwork is not None:
                _remove_cached(artwork)
            self._save()

    def ignore(self, artwork_id: str) -> None:
        """Mark ``artwork_id`` ignored (kept, so the picture is known again, and never given a soundscape);
        its cached soundscapes are removed. Raises KeyError when it is not remembered."""
        with self._lock:
            artwork = self.artworks[artwork_id]
            artwork.ignored = True
            _remove_cached(artwork)
            artwork.cached = []
            self._save()

    def _forget_oldest(self) -> None:
        while True:
            counted = [a for a in self.artworks.values() if not a.ignored]
            if len(counted) <= self.remember:
                return
            oldest = min(counted, key=lambda a: a.last_seen)
            del self.artworks[oldest.id]
            self.crop_path(oldest.id).unlink(missing_ok=True)
            self._held.pop(oldest.id, None)
            _remove_cached(oldest)  # 3-7 MB of FLAC each, else kept until the cache's size limit
            logger.info("forgot the unseen artwork %s (seen least recently)", oldest.id)

    def _save(self) -> None:
        """Write the index; a folder that refuses it is told once (the store carries on in memory)."""
        path = self.directory / INDEX_FILENAME
        promoted = dict(list(self.promoted.items())[-KEEP_PROMOTED:])
        document = {"artworks": [a.to_json() for a in self.artworks.values()], "promoted": promoted}
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            _write_durably(path, (json.dumps(document, indent=1) + "\n").encode())
            self._index_stamp = _stamp(path)
        except OSError as exc:
            self._storage_problem(exc)

    def listing(self) -> list[dict]:
        """Each remembered artwork as JSON (its cache entries left out), with its crop's path; most
        recently seen first."""
        with self._lock:
            self._follow_changes_elsewhere()
            ordered = sorted(self.artworks.values(), key=lambda a: a.last_seen, reverse=True)
            shown = [{k: v for k, v in a.to_json().items() if k != "cached"} for a in ordered]
            return [{**a, "crop": str(self.crop_path(a["id"]))} for a in shown]


def crops_in(directory: Path) -> dict[str, UnseenArtwork]:
    """The artworks whose crops are in ``directory`` (``u*.jpg``, ``u*.png``), described from the crops,
    seen when the file was written; unreadable ones are left out."""
    found: dict[str, UnseenArtwork] = {}
    for path in sorted([*directory.glob(f"u*{CROP_SUFFIX}"), *directory.glob(f"u*{LEGACY_CROP_SUFFIX}")]):
        image = cv2.imread(str(path))
        if image is None or path.stem in found:
            continue
        seen = path.stat().st_mtime
        found[path.stem] = UnseenArtwork(path.stem, describe(image), seen, seen)
    return found


def _remove_cached(artwork: UnseenArtwork) -> None:
    """Remove the cache entries ``artwork``'s soundscape was stored under."""
    from art2mus.installation.cache import SoundscapeCache

    for entry in artwork.cached:
        try:
            SoundscapeCache(Path(entry["dir"]), audio_format=entry["format"]).remove(entry["key"])
        except (KeyError, TypeError, ValueError) as exc:
            logger.warning("unseen artwork %s: cannot remove its cache entry %s: %s", artwork.id, entry, exc)


def _encode_crop(crop: np.ndarray) -> bytes:
    """``crop`` (BGR) as the stored JPEG's bytes."""
    ok, jpeg = cv2.imencode(CROP_SUFFIX, crop, [cv2.IMWRITE_JPEG_QUALITY, CROP_JPEG_QUALITY])
    if not ok:
        raise ValueError(f"cannot encode an unseen artwork's crop of shape {crop.shape}")
    return jpeg.tobytes()


def _read_index(path: Path) -> tuple[dict[str, UnseenArtwork], dict[str, str]]:
    """The artworks in the index file ``path``, and the promoted ones' photos. Raises ValueError naming
    the file and the problem."""
    try:
        data = json.loads(path.read_text())
        artworks = {a["id"]: UnseenArtwork.from_json(a) for a in data["artworks"]}
        return artworks, {str(k): str(v) for k, v in data.get("promoted", {}).items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        raise ValueError(f'{path}: not an unseen-artworks index ({{"artworks": [...]}}): {exc}') from exc


def _readable_image(path: Path) -> bool:
    """Whether ``path`` is an image OpenCV decodes (at an eighth of its size: a few milliseconds)."""
    return path.is_file() and cv2.imread(str(path), cv2.IMREAD_REDUCED_GRAYSCALE_8) is not None


def _write_durably(path: Path, data: bytes) -> None:
    """Write ``path`` whole (a temporary file, flushed to disk, renamed over it, the rename flushed too):
    the store is rewritten at every sighting, and a power cut must leave the old file or the new one,
    never an empty one."""
    tmp = path.with_name(path.name + ".partial")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):  # a full disk left it empty: not one per retry
            tmp.unlink(missing_ok=True)
        raise
    fsync_directory(path.parent)


def _stamp(path: Path) -> tuple[int, int]:
    """The index file's modification time and inode: a rewrite by another process (a rename) changes it."""
    st = path.stat()
    return st.st_mtime_ns, st.st_ino


def unseen_dir(exhibit: Any) -> Path:
    """``unseen.dir`` of the exhibit, relative to its YAML file."""
    directory = Path(exhibit.unseen.dir)
    return directory if directory.is_absolute() else exhibit.base_dir / directory


def promote(exhibit: Any, artwork_id: str, new_id: str | None = None, title: str | None = None) -> Path:
    """Make the remembered unseen artwork ``artwork_id`` (``unseen:`` before it, as the director and the
    panel name it, or not) a regular artwork of ``exhibit``: its crop is copied to
    ``artworks/<new id>.jpg`` (``.png`` for a crop an older store wrote) beside the YAML file as its
    reference photo, and an entry (id, title, image, soundscape) is appended to the YAML's ``artworks``
    list, which is edited round-trip (comments and layout stay). It is then forgotten as unseen. Returns
    the photo.

    The soundscape is the one the room played for it: ``unseen.generator``, ``unseen.duration`` and the
    seed of its unseen id (:func:`~art2mus.installation.unseen_sound.unseen_request`), looping, from the
    same image file; so its cache key is the one the unseen soundscape was stored under, and the next
    start plays that very rendering.

    Raises:
        KeyError: no such unseen artwork.
        ValueError: the new id is taken or not a valid artwork id, the YAML has no ``artworks`` list, or
            another photo is at ``artworks/<new id>`` already (a curator's own photo is not replaced).
    """
    import io
    import re
    import shutil

    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    from art2mus.installation.config.exhibit import ARTWORK_ID_PATTERN
    from art2mus.installation.unseen_sound import unseen_request
    from art2mus.installation.vision.unseen import UNSEEN_PREFIX

    artwork_id = artwork_id.removeprefix(UNSEEN_PREFIX)
    store = UnseenStore(unseen_dir(exhibit), exhibit.unseen.remember)
    if artwork_id not in store.artworks:
        known = ", ".join(store.artworks) or "none"
        raise KeyError(f"no unseen artwork {artwork_id!r} in {store.directory}; remembered: {known}")
    new_id = new_id or f"unseen-{artwork_id}"
    if not re.match(ARTWORK_ID_PATTERN, new_id):
        raise ValueError(f"{new_id!r} is not an artwork id (lowercase letters, digits, '-' or '_')")
    if any(a.id == new_id for a in exhibit.artworks):
        raise ValueError(f"{exhibit.source_file}: an artwork {new_id!r} exists already; give another id")
    yaml_path = Path(exhibit.source_file)
    yaml = YAML()  # round-trip: comments, order and quoting survive
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)  # the layout of the example exhibits
    yaml.width = 4096  # folded text is not re-wrapped
    document = yaml.load(yaml_path.read_text())
    artworks = document.get("artworks") if document is not None else None
    if artworks is None or not hasattr(artworks, "append"):
        raise ValueError(f"{yaml_path}: no `artworks:` list to add {new_id!r} to")
    crop = store.crop_path(artwork_id)
    photo = yaml_path.parent / "artworks" / f"{new_id}{crop.suffix}"
    if photo.exists() and photo.read_bytes() != crop.read_bytes():
        raise ValueError(
            f"{photo} exists already and is another photo; move it away or give another id (--id)"
        )
    photo.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(crop, photo)  # the same bytes: the same image digest in the soundscape's cache key
    images = CommentedSeq([f"artworks/{photo.name}"])
    images.fa.set_flow_style()
    played = unseen_request(exhibit, artwork_id)  # loops, like an artwork's soundscape by default
    soundscape = CommentedMap(
        generator=exhibit.unseen.generator, seed=played.seed, duration=played.duration_s
    )
    soundscape.fa.set_flow_style()
    title = title or f"Unlisted artwork {artwork_id}"
    artworks.append(CommentedMap(id=new_id, title=title, images=images, soundscape=soundscape))
    text = io.StringIO()
    yaml.dump(document, text)
    # the daemon reads it at every start: a power cut soon after must leave the old YAML or the new one
    _write_durably(yaml_path, text.getvalue().encode())
    store.forget(artwork_id, promoted_to=photo)
    logger.info("promoted unseen artwork %s to %s (%s)", artwork_id, new_id, photo)
    return photo
