"""``python -m art2mus.exhibits.demo_collection``: rewrite the demo artworks (and the walk video)."""

from __future__ import annotations

import logging

from art2mus.exhibits.demo_collection.artworks import write_demo_artworks
from art2mus.exhibits.demo_collection.walk import write_walk_video

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    write_demo_artworks()
    write_walk_video()
