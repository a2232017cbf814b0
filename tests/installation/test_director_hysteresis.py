"""The director's hysteresis and its opening hours: a visitor flickering between two artworks does not
swing the room back and forth, one walking on is followed at once; closing is silence whatever the
control panel fixed, and opening and closing fade over ``schedule.ramp_seconds``."""

from __future__ import annotations

import numpy as np

from art2mus.installation.director import CLOSED_KEY, Director
from art2mus.installation.soundscapes import IDLE_KEY, SoundscapeLibrary
from art2mus.installation.vision.pipeline import ARTWORK, NONE, VisionDecision

#: the decisions of `art2mus simulate` over /tmp/sweep-audio's flicker.mp4 (amber-fields and city-at-six
#: alternating every 1-3 s): who the camera chose from when, until 62.6 s + 7 s
FLICKER = [
    (4.6, "a"), (6.6, "b"), (9.6, "a"), (14.6, "b"), (16.6, "a"), (18.6, "b"), (21.6, "a"), (26.6, "b"),
    (28.6, "a"), (30.6, "b"), (33.6, "a"), (38.6, "b"), (40.6, "a"), (42.6, "b"), (45.6, "a"),
    (50.6, "b"), (52.6, "a"), (54.6, "b"), (57.6, "a"), (62.6, "b"),
]  # fmt: skip


class _Engine:
    """Stands in for the audio engine: records the director's commands with their fade lengths."""

    def __init__(self, crossfade_seconds: float = 4.0):
        self.crossfade_seconds = crossfade_seconds
        self.commands: list[tuple] = []

    def set_idle(self, clip, gain_db=0.0):
        pass

    def play_idle(self, crossfade_s=None):
        self.commands.append(("play_idle", crossfade_s))

    def play(self, clip, crossfade_s=None, gain_db=0.0):
        self.commands.append(("play", clip, crossfade_s))

    def fade_to_silence(self, seconds=None):
        self.commands.append(("silence", seconds))


def _director(crossfade_s: float = 4.0) -> tuple[Director, _Engine]:
    engine = _Engine(crossfade_s)
    library = SoundscapeLibrary(clips={k: f"clip-{k}" for k in "abcd"}, idle="clip-idle")
    director = Director(engine, library, idle_after_s=3.0)
    director.start(0.0)
    return director, engine


def _follow(director: Director, changes: list[tuple[float, str | None]], until: float) -> list[tuple]:
    """Feed a decision every 0.1 s, ``changes`` saying from when the camera chooses whom (None: nobody)."""
    for t in np.round(np.arange(0.0, until, 0.1), 1):
        chosen = [who for since, who in changes if since <= t]
        who = chosen[-1] if chosen else None
        decision = VisionDecision(t, ARTWORK, who, 20) if who else VisionDecision(t, NONE)
        director.update(decision, float(t))
    return [(e.t, e.what) for e in director.events if e.reason == "camera"]


def test_a_visitor_flickering_between_two_artworks_does_not_swing_the_room():
    director, _ = _director()
    switches = _follow(director, FLICKER, 69.6)
    # before: all 20 choices were played, one every 2-5 s; now a return waits for a whole crossfade of
    # the camera's choice (the 5 s stays of amber), and a choice made in a crossfade waits too
    assert len(switches) <= 6, switches
    gaps = np.diff([t for t, _ in switches])
    assert (gaps >= 4.0).all(), switches  # never a new crossfade before the last one has ended


def test_a_visitor_walking_on_is_followed_as_soon_as_the_camera_chooses():
    director, _ = _director()
    walk = [(7.2, "a"), (13.6, "b"), (21.2, "c"), (28.4, None), (45.4, "d"), (51.8, "a")]
    switches = _follow(director, walk, 60.0)
    assert switches == [(7.2, "a"), (13.6, "b"), (21.2, "c"), (45.4, "d"), (51.8, "a")]  # "a" 38 s later


def test_a_return_or_a_choice_within_the_crossfade_waits_a_whole_crossfade():
    director, _ = _director()
    # "b" chosen 2 s after "a" began: the crossfade to "a" is under way, so "b" must stand 4 s
    assert _follow(director, [(1.0, "a"), (3.0, "b")], 8.0) == [(1.0, "a"), (7.0, "b")]
    # back to "a", heard until 7 s: a return, which must stand 4 s too, even long after the crossfade
    director, _ = _director()
    assert _follow(director, [(1.0, "a"), (3.0, "b"), (20.0, "a")], 30.0) == [
        (1.0, "a"),
        (7.0, "b"),
        (24.0, "a"),
    ]


def test_closing_silences_the_room_over_the_ramp_whatever_the_control_panel_fixed():
    director, engine = _director()
    director.set_override("a", 5.0)
    director.set_open(False, 10.0, 20.0)  # the panel's choice was left on at closing time
    assert director.closed and director.playing is None and director.override is None
    assert engine.commands[-1] == ("silence", 20.0)  # faded over the ramp, not played all night
    assert (director.events[-1].what, director.events[-1].reason) == (CLOSED_KEY, "closed")
    # a test while closed: the panel plays "b"; following the camera again fades out over the ramp too
    director.set_override("b", 100.0)
    assert engine.commands[-1] == ("play", "clip-b", None)
    director.set_override(None, 110.0)
    assert director.playing is None and engine.commands[-1] == ("silence", 20.0)


def test_opening_fades_in_over_the_ramp():
    director, engine = _director()
    director.set_open(False, 10.0, 20.0)
    director.set_open(True, 100.0, 20.0)
    assert director.playing == IDLE_KEY and engine.commands[-1] == ("play_idle", 20.0)
    # what the panel fixed while closed is what opens, over the ramp, and then it stays
    director.set_open(False, 200.0, 20.0)
    director.set_override("c", 210.0)
    director.set_open(True, 300.0, 20.0)
    assert director.playing == "c" and engine.commands[-1] == ("play", "clip-c", 20.0)
    assert director.override == "c"
