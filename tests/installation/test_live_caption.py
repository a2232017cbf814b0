"""The live view's caption says when the artwork it names is only held: the debounced decision keeps a
chosen artwork for presence.hold_seconds (6 s) after it is last seen, and the caption read
'city-at-six  score 31' over a frame that showed the still life, with no outline drawn."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from art2mus.installation.telemetry import Telemetry
from art2mus.installation.vision.pipeline import VisionDecision
from art2mus.installation.vision.sources import Frame

FRAME = Frame(np.full((120, 160, 3), 90, np.uint8), 12.0, 120)
OUTLINE = np.array([[10, 10], [150, 10], [150, 110], [10, 110]], np.float32)


def _found(artwork_id: str | None, score: float = 0.0) -> SimpleNamespace:
    """A recognition result: what the latest recognition found in the frame (None: nothing)."""
    return SimpleNamespace(artwork_id=artwork_id, score=score, outline=OUTLINE if artwork_id else None)


def test_the_caption_says_held_and_what_this_frame_shows_when_recognition_disagrees():
    telemetry = Telemetry()
    city = VisionDecision(12.0, "artwork", "city-at-six", 31.0)
    telemetry.observe_frame(FRAME, city, _found("city-at-six", 31.0), False)
    assert telemetry.caption() == "city-at-six  score 31  | nobody"
    telemetry.observe_frame(FRAME, city, _found("still-life-with-flowers", 25.0), True)
    assert telemetry.caption() == "city-at-six (held) | this frame: still-life-with-flowers  | visitor"
    telemetry.observe_frame(FRAME, city, _found(None), None)
    assert telemetry.caption() == "city-at-six (held) | this frame: nothing"
    assert telemetry.snapshot_jpeg() is not None  # the live view draws this caption
    # an unseen artwork is found by its frame, not by the recognizer: never "held" for that
    unseen = VisionDecision(12.0, "artwork", "unseen:u45853f3f3e4a4a30")
    telemetry.observe_frame(FRAME, unseen, _found(None), None)
    assert telemetry.caption() == "unseen:u45853f3f3e4a4a30  score 0"
    telemetry.observe_frame(FRAME, VisionDecision(12.0, "none"), _found(None), None)
    assert telemetry.caption() == "none"
