"""A synthetic camera walk past an exhibit's own artworks (``art2mus walk``), to preview a collection
with ``art2mus simulate`` before the room's camera is installed.

The walk is the demo's (:mod:`art2mus.exhibits.demo_collection.walk`): a hand-held camera walks along a
wall on which each artwork's first usable reference photo hangs in a frame, stops before each (some
from the side, up to ~40 degrees), with light drift, motion blur, passers-by, sensor noise and
stretches of empty wall. Its timeline JSON (``<video>.json``) says which artwork is in view when.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2

from art2mus.exhibits.demo_collection.walk import WalkVideo, walk_script, write_walk_video

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class HungPhoto:
    """An artwork as the walk hangs it: its id, photo size in pixels (the aspect ratio), year or None."""

    id: str
    width: int
    height: int
    year: int | None = None


def exhibit_walk(exhibit: Any, output: Path, excluded: set[str] = frozenset()) -> WalkVideo:
    """Render the walk past ``exhibit``'s artworks in file order to ``output`` (mp4v) and its timeline to
    ``<output>.json``; artworks in ``excluded`` or whose first photo cannot be read are left off the wall.
    About 0.3 s of rendering per second of walk on one core."""
    artworks, images = [], []
    for artwork in exhibit.artworks:
        if artwork.id in excluded:
            continue
        image = cv2.imread(str(artwork.images[0]), cv2.IMREAD_COLOR)
        if image is None:
            logger.warning("walk: %s cannot be read; %r is left off the wall", artwork.images[0], artwork.id)
            continue
        artworks.append(HungPhoto(artwork.id, image.shape[1], image.shape[0], artwork.year))
        images.append(image)
    if not artworks:
        raise ValueError("no artwork has a readable photo to hang on the walk's wall")
    return write_walk_video(Path(output), walk_script(artworks, images))
