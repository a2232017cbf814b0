"""The demo collection: eight procedurally painted artworks, other generated paintings for
distractors and benchmarks, synthetic camera views, and the demo camera-walk video with its
ground-truth timeline. Everything is deterministic (seeded).

``python -m art2mus.exhibits.demo_collection`` repaints the committed files in ``exhibits/demo``. It
lives beside the exhibit it paints, outside the daemon's package: the daemon and ``art2mus demo`` only
read the files."""

from art2mus.exhibits.demo_collection.artworks import (
    DEMO_ARTWORKS,
    DemoArtwork,
    GeneratedArtwork,
    demo_artwork,
    demo_artwork_path,
    demo_exhibit_dir,
    render_demo_artwork,
    render_generated_artworks,
    write_demo_artworks,
)
from art2mus.exhibits.demo_collection.walk import (
    WalkTimeline,
    WalkVideo,
    default_walk_path,
    default_walk_script,
    ensure_walk_video,
    walk_timeline,
    write_walk_video,
)

__all__ = [
    "DEMO_ARTWORKS",
    "DemoArtwork",
    "GeneratedArtwork",
    "demo_artwork",
    "demo_artwork_path",
    "demo_exhibit_dir",
    "render_demo_artwork",
    "render_generated_artworks",
    "write_demo_artworks",
    "WalkTimeline",
    "WalkVideo",
    "default_walk_path",
    "default_walk_script",
    "ensure_walk_video",
    "walk_timeline",
    "write_walk_video",
]
