"""The unseen artworks a room remembers: one rectified crop (PNG) per artwork and ``unseen.json``.

Only the crop of the picture is ever written, never a whole camera frame (visitors' faces stay out).
An artwork's id comes from its descriptor when it is first seen (``u`` + the DCT hash in hex); a later
sighting whose descriptor is within :data:`MATCH_DISTANCE` of a remembered one is that artwork again,
so its soundscape (keyed by the stored crop's file digest) is found in the cache instead of generated.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2

from art2mus.installation.vision.unseen import PictureDescriptor, UnseenSighting

logger = logging.getLogger(__name__)

INDEX_FILENAME = "unseen.json"
#: descriptors closer than this are the same picture (the same work from another angle, in other light)
MATCH_DISTANCE = 0.32


@dataclass
class UnseenArtwork:
    """A remembered unseen artwork: ``id``, its descriptor, when first and last seen (Unix time), and
    how many times it was seen."""

    id: str
    descriptor: PictureDescriptor
    first_seen: float
    last_seen: float
    sightings: int = 1

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
        )


class UnseenStore:
    """The remembered unseen artworks in ``directory`` (at most ``remember``; the least recently seen
    are forgotten, their crops deleted).

    Raises:
        ValueError: ``unseen.json`` exists but cannot be read (named, with what was expected).
    """

    def __init__(self, directory: Path, remember: int = 50, *, clock=time.time):
        self.directory = Path(directory)
        self.remember = remember
        self._clock = clock
        self._lock = threading.Lock()
        self.artworks: dict[str, UnseenArtwork] = {}
        path = self.directory / INDEX_FILENAME
        if path.is_file():
            try:
                data = json.loads(path.read_text())
                self.artworks = {a["id"]: UnseenArtwork.from_json(a) for a in data["artworks"]}
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}: not an unseen-artworks index ({{\"artworks\": [...]}}): {exc}") from exc

    def crop_path(self, artwork_id: str) -> Path:
        return self.directory / f"{artwork_id}.png"

    def match(self, descriptor: PictureDescriptor) -> UnseenArtwork | None:
        """The remembered artwork nearest ``descriptor`` within :data:`MATCH_DISTANCE`, or None."""
        best = min(self.artworks.values(), key=lambda a: a.descriptor.distance(descriptor), default=None)
        if best is None or best.descriptor.distance(descriptor) > MATCH_DISTANCE:
            return None
        return best

    def name(self, sighting: UnseenSighting) -> str:
        """The id of the artwork in ``sighting``: a remembered one, or a new one (its crop written)."""
        with self._lock:
            now = self._clock()
            known = self.match(sighting.descriptor)
            if known is not None:
                known.last_seen, known.sightings = now, known.sightings + 1
                self._save()
                return known.id
            artwork_id = f"u{sighting.descriptor.bits:016x}"
            while artwork_id in self.artworks:  # the same hash, yet too far apart: another picture
                artwork_id += "x"
            self.directory.mkdir(parents=True, exist_ok=True)
            if not cv2.imwrite(str(self.crop_path(artwork_id)), sighting.crop):
                raise OSError(f"cannot write the unseen artwork's crop {self.crop_path(artwork_id)}")
            self.artworks[artwork_id] = UnseenArtwork(artwork_id, sighting.descriptor, now, now)
            self._forget_oldest()
            self._save()
            logger.info("remembered a new unseen artwork %s (%d remembered)", artwork_id, len(self.artworks))
            return artwork_id

    def forget(self, artwork_id: str) -> None:
        with self._lock:
            self.artworks.pop(artwork_id, None)
            self.crop_path(artwork_id).unlink(missing_ok=True)
            self._save()

    def _forget_oldest(self) -> None:
        while len(self.artworks) > self.remember:
            oldest = min(self.artworks.values(), key=lambda a: a.last_seen)
            del self.artworks[oldest.id]
            self.crop_path(oldest.id).unlink(missing_ok=True)
            logger.info("forgot the unseen artwork %s (seen least recently)", oldest.id)

    def _save(self) -> None:
        path = self.directory / INDEX_FILENAME
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.partial")
        tmp.write_text(json.dumps({"artworks": [a.to_json() for a in self.artworks.values()]}, indent=1) + "\n")
        os.replace(tmp, path)

    def listing(self) -> list[dict]:
        """Each remembered artwork as JSON, with its crop's path; most recently seen first."""
        with self._lock:
            ordered = sorted(self.artworks.values(), key=lambda a: a.last_seen, reverse=True)
            return [{**a.to_json(), "crop": str(self.crop_path(a.id))} for a in ordered]


def unseen_dir(exhibit) -> Path:
    """``unseen.dir`` of the exhibit, relative to its YAML file."""
    directory = Path(exhibit.unseen.dir)
    return directory if directory.is_absolute() else exhibit.base_dir / directory
