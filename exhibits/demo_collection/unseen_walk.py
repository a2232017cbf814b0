"""A walk with an artwork that is NOT in the demo exhibit: for the ``unseen:`` behaviour.

Rendered like the demo walk (:mod:`.walk`): the camera stops before a listed artwork (amber-fields), then
before a painting in the demo styles that the exhibit does not list (a new loan), then along empty wall,
and comes back to the new loan from the side.
"""

from __future__ import annotations

from art2mus.exhibits.demo_collection.artworks import DemoArtwork, demo_artwork
from art2mus.exhibits.demo_collection.walk import HungArtwork, Keyframe, WalkScript

#: the painting that is hung but not listed in the exhibit
NEW_LOAN = DemoArtwork("new-loan", "A New Loan", "Unlisted Painter", 1931, "landscape", 90_001, 800, 600)

#: (start, end) seconds of each stop: listed artwork, new loan, empty wall, new loan from the side
STOPS = {"listed": (2.5, 7.5), "unseen": (10.5, 16.5), "wall": (19.5, 24.5), "unseen-again": (28.0, 34.0)}


def unseen_walk_script() -> WalkScript:
    """~36 s at 10 fps, 640x360: amber-fields, the new loan, empty wall, the new loan again at ~30 degrees."""
    listed = demo_artwork("amber-fields")
    hung = []
    for art, cx in ((listed, 3.0), (NEW_LOAN, 6.0)):
        scale = 1.05 / max(art.width, art.height)
        hung.append(HungArtwork(art, cx, 1.5, art.width * scale, art.height * scale))
    kf = [
        Keyframe(0.0, 2.0, 2.1, 2.0),
        Keyframe(2.5, 3.0, 2.1, 3.0),
        Keyframe(7.5, 3.05, 2.15, 3.0),
        Keyframe(10.5, 6.0, 2.0, 6.0),
        Keyframe(16.5, 6.05, 2.05, 6.0),
        Keyframe(19.5, 10.0, 2.3, 10.0),
        Keyframe(24.5, 10.3, 2.3, 10.3),
        Keyframe(28.0, 7.0, 1.9, 6.0),
        Keyframe(34.0, 7.05, 1.95, 6.0),
        Keyframe(36.0, 7.1, 2.0, 6.0),
    ]
    return WalkScript(hung=hung, keyframes=kf, passers_by=[], wall_length_m=12.0, seed=777)
