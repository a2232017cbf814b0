"""The debouncer: dwell before choosing, hold before dropping, accept/keep hysteresis, flicker immunity."""

from __future__ import annotations

import pytest

from art2mus.installation.config.vision import PresenceConfig, RecognitionConfig
from art2mus.installation.vision.debounce import ArtworkDebouncer

STEP = 0.2  # seconds between recognitions, as in the demo exhibit
HOLD = 3.1  # not a multiple of STEP, so no recognition falls exactly on the end of a hold


def _debouncer(**overrides) -> ArtworkDebouncer:
    kwargs = {"dwell_s": 1.0, "hold_s": HOLD, "accept_score": 15, "keep_score": 10}
    return ArtworkDebouncer(**(kwargs | overrides))


def _feed(debouncer: ArtworkDebouncer, start: float, seconds: float, artwork: str | None, score: float):
    """Feed the same recognition every STEP from ``start`` for ``seconds``; [(t, chosen), ...]."""
    out = []
    for i in range(round(seconds / STEP)):
        t = round(start + i * STEP, 6)
        out.append((t, debouncer.update(artwork, score, t)))
    return out


def _first_time(decisions, artwork):
    return next((t for t, chosen in decisions if chosen == artwork), None)


def test_an_artwork_is_chosen_only_after_the_dwell():
    debouncer = _debouncer()
    decisions = _feed(debouncer, 0.0, 3.0, "a", 30)
    chosen_at = _first_time(decisions, "a")
    assert chosen_at == pytest.approx(1.0)
    assert all(chosen is None for t, chosen in decisions if t < chosen_at)
    assert all(chosen == "a" for t, chosen in decisions if t >= chosen_at)


def test_a_chosen_artwork_is_held_while_missed_then_dropped():
    debouncer = _debouncer()
    _feed(debouncer, 0.0, 2.0, "a", 30)  # chosen at 1.0, last seen at 1.8
    missed = _feed(debouncer, 2.0, 4.0, None, 0)
    held = [t for t, chosen in missed if chosen == "a"]
    dropped = [t for t, chosen in missed if chosen is None]
    assert held and dropped
    assert max(held) < 1.8 + HOLD < min(dropped)
    assert min(dropped) == pytest.approx(5.0)  # the first recognition more than HOLD after the last sighting


def test_a_new_artwork_needs_accept_score_but_a_chosen_one_is_kept_at_keep_score():
    # between keep (10) and accept (15): never enough to start ...
    weak = _debouncer()
    assert all(chosen is None for _, chosen in _feed(weak, 0.0, 5.0, "a", 12))
    # ... but enough to keep an artwork chosen at full score, well past the hold time
    strong = _debouncer()
    _feed(strong, 0.0, 2.0, "a", 30)
    kept = _feed(strong, 2.0, 5.0, "a", 12)
    assert all(chosen == "a" for _, chosen in kept)
    # below keep it counts as missed: dropped after the hold
    below = _feed(strong, 7.0, 5.0, "a", 8)
    assert below[0][1] == "a" and below[-1][1] is None
    assert _first_time(below, None) == pytest.approx(10.0)  # last kept at 6.8, + HOLD, on the 0.2 s grid


def test_keep_score_continues_a_dwell_that_accept_score_started():
    debouncer = _debouncer(min_hits=2)
    debouncer.update("a", 30, 0.0)
    debouncer.update("a", 30, 0.2)
    decisions = _feed(debouncer, 0.4, 1.6, "a", 11)  # weaker views while the visitor stays
    assert _first_time(decisions, "a") == pytest.approx(1.0)


def test_a_one_frame_flicker_neither_starts_nor_ends_anything():
    debouncer = _debouncer()
    # a single stray sighting of "b" in an empty room does not start it
    decisions = _feed(debouncer, 0.0, 1.0, None, 0)
    decisions.append((1.0, debouncer.update("b", 40, 1.0)))
    decisions += _feed(debouncer, 1.2, 4.0, None, 0)
    assert all(chosen is None for _, chosen in decisions)
    # a single missed frame in the middle of a dwell does not restart it
    flicker = _debouncer()
    seen = _feed(flicker, 10.0, 0.6, "a", 30)
    seen.append((10.6, flicker.update(None, 0, 10.6)))
    seen += _feed(flicker, 10.8, 1.0, "a", 30)
    assert _first_time(seen, "a") == pytest.approx(11.0)
    # a single frame of another artwork while "a" is chosen changes nothing
    after = [(11.8, flicker.update("b", 40, 11.8))] + _feed(flicker, 12.0, 2.0, "a", 30)
    assert all(chosen == "a" for _, chosen in after)
    # nor does a single frame with nothing
    after = [(14.0, flicker.update(None, 0, 14.0))] + _feed(flicker, 14.2, 1.0, "a", 30)
    assert all(chosen == "a" for _, chosen in after)


def test_a_switch_between_two_artworks():
    debouncer = _debouncer()
    first = _feed(debouncer, 0.0, 3.0, "a", 30)
    second = _feed(debouncer, 3.0, 3.0, "b", 30)
    switched_at = _first_time(second, "b")
    # "b" dwells for dwell_s from its first sighting; "a" was last seen 1.2 s before: more than half a dwell
    assert switched_at == pytest.approx(4.0)
    assert _first_time(first, "a") == pytest.approx(1.0)
    assert all(chosen == "a" for t, chosen in second if t < switched_at)
    assert all(chosen == "b" for t, chosen in second if t >= switched_at)


def test_two_artworks_alternating_in_one_view_do_not_swap_back_and_forth():
    debouncer = _debouncer()
    _feed(debouncer, 0.0, 2.0, "a", 30)
    changes = []
    previous = debouncer.current
    for i in range(30):  # a and b take turns, frame by frame, for 6 s
        t = 2.0 + i * STEP
        chosen = debouncer.update("a" if i % 2 else "b", 30, t)
        if chosen != previous:
            changes.append((t, chosen))
            previous = chosen
    assert changes == []


def test_time_going_back_resets_the_state():
    debouncer = _debouncer()
    _feed(debouncer, 10.0, 2.0, "a", 30)
    assert debouncer.current == "a"
    assert debouncer.update("a", 30, 0.0) is None  # a looping video started again


def test_from_config_and_bad_arguments():
    presence = PresenceConfig(dwell_seconds=2.0, hold_seconds=5.0)
    recognition = RecognitionConfig(accept_inliers=20, keep_inliers=12)
    debouncer = ArtworkDebouncer.from_config(presence, recognition)
    assert (debouncer.dwell_s, debouncer.hold_s, debouncer.accept_score, debouncer.keep_score) == (
        2.0,
        5.0,
        20,
        12,
    )
    with pytest.raises(ValueError, match="hold_s"):
        ArtworkDebouncer(dwell_s=3.0, hold_s=1.0)
    with pytest.raises(ValueError, match="keep_score"):
        ArtworkDebouncer(accept_score=10, keep_score=12)


def test_defaults_in_code_are_the_exhibits():
    in_code = ArtworkDebouncer()
    daemon = ArtworkDebouncer.from_config(PresenceConfig(), RecognitionConfig())
    assert (in_code.dwell_s, in_code.hold_s, in_code.accept_score, in_code.keep_score) == (
        daemon.dwell_s,
        daemon.hold_s,
        daemon.accept_score,
        daemon.keep_score,
    )
